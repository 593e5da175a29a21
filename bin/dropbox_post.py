#!/usr/bin/env python3
"""librec-auto post script: publish study results to Dropbox with dropbox-post.

librec-auto runs it from the study directory as
    python3 dropbox_post.py config.xml --option=file --encrypted_key=keys/x.enc
        --path=post/r.csv --dest=/folder [--password=PW]
and this forwards the arguments to `dropbox-post post`, passing the password through the
environment (DROPBOX_POST_PASSWORD) instead of the child's argv. The binary is
$DROPBOX_POST_BIN, else the one installed with this script (pip), else `dropbox-post` on
PATH, else ../target/release/dropbox-post.
"""

import sys

from dropbox_post_shim import run

if __name__ == "__main__":
    sys.exit(run("post", sys.argv[1:]))
