"""The official Dropbox Python SDK's own transfer helper (`dropbox.file_transfer`, 12.2.5+) as
a benchmark contender for one big file: `Uploader` (sequential, or a concurrent session with
`parallel_uploads`) and `Downloader` (with `parallel_downloads`: ranged reads).

    python sdk_transfer.py up   BASE_URL LOCAL_FILE DEST_FOLDER PARALLEL
    python sdk_transfer.py down BASE_URL DROPBOX_FILE LOCAL_FILE PARALLEL
                                                       (token in $DROPBOX_TOKEN)

PARALLEL 0 or 1 is the helper's sequential path. The SDK only builds
https://{api,content}.dropboxapi.com URLs; its route URL is pointed at the emulator's
plain-HTTP base URL instead.
"""

import os
import sys

import dropbox
from dropbox import file_transfer
from dropbox.files import CommitInfo, WriteMode


def main():
    direction, base, source, target, parallel = sys.argv[1:6]
    parallel = int(parallel)

    def route_url(self, hostname, route_name):
        return f"{base}/2/{route_name}"

    dropbox.Dropbox._get_route_url = route_url
    dbx = dropbox.Dropbox(os.environ["DROPBOX_TOKEN"])
    if direction == "up":
        commit = CommitInfo(f"{target}/{os.path.basename(source)}", WriteMode.overwrite,
                            mute=True)
        options = file_transfer.UploadOptions(parallel_uploads=parallel)
        file_transfer.Uploader(dbx).upload(file_transfer.FileUpload(source), commit, options)
    elif direction == "down":
        options = file_transfer.DownloadOptions(parallel_downloads=parallel)
        file_transfer.Downloader(dbx).download(source, file_transfer.File(target), options)
    else:
        raise SystemExit(f"sdk_transfer.py: {direction!r}: expected up or down")


if __name__ == "__main__":
    main()
