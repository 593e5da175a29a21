#!/usr/bin/env python3
"""librec-auto's encrypt.py, backed by dropbox-post: seal a Dropbox credential.

    python3 encrypt.py --key token.txt --encrypted keys/dropbox.enc [--password PW]
forwards to `dropbox-post encrypt`, passing the password through the environment
(DROPBOX_POST_PASSWORD) instead of the child's argv; without one, dropbox-post prompts.
"""

import sys

from dropbox_post_shim import run

if __name__ == "__main__":
    sys.exit(run("encrypt", sys.argv[1:]))
