"""The librec-auto way, as a benchmark contender: the official Dropbox Python SDK uploading a
file or a folder tree with one `files_upload` per file, sequentially, as librec-auto's
dropbox_post.py does (files opened in binary mode, which fixes its text-mode bug).

    python sdk_upload.py BASE_URL LOCAL DEST      (token in $DROPBOX_TOKEN)

The SDK only builds https://{api,content}.dropboxapi.com URLs; its route URL is pointed at
the emulator's plain-HTTP base URL instead.
"""

import os
import sys

import dropbox
from dropbox.files import WriteMode


def main():
    base, local, dest = sys.argv[1:4]

    def route_url(self, hostname, route_name):
        return f"{base}/2/{route_name}"

    dropbox.Dropbox._get_route_url = route_url
    dbx = dropbox.Dropbox(os.environ["DROPBOX_TOKEN"])
    if os.path.isfile(local):
        files = [(local, os.path.basename(local))]
    else:
        files = [
            (os.path.join(d, name), os.path.relpath(os.path.join(d, name), local))
            for d, _, names in os.walk(local)
            for name in sorted(names)
        ]
    for path, rel in files:
        with open(path, "rb") as f:
            dbx.files_upload(f.read(), f"{dest}/{rel}", WriteMode.overwrite, mute=True)


if __name__ == "__main__":
    main()
