"""Conformance of `dropbox-post emulate` with the official Dropbox Python SDK.

The SDK validates every response against the Stone schema, so a call that returns here
returned a well-formed response. Run with the SDK venv's python (tests/conformance/venv.sh):

    DROPBOX_POST_BIN=target/debug/dropbox-post target/sdk-venv/bin/python -m unittest \
        discover -s tests/conformance

The SDK builds only https URLs (route URLs, the OAuth token URL, the refresh URL are all
hard-coded `https://{host}/…`), so the client gets a requests session that sends https
requests for the emulator's host to the emulator (plain http, or https with `emulate --tls`),
and refuses every other https request so nothing can reach the real Dropbox. The session
ignores the environment: requests lets REQUESTS_CA_BUNDLE override `session.verify` (and the
SDK's `ca_certs=`), which is why a local CA seemed not to work with the SDK.
"""

import atexit
import datetime
import hashlib
import os
import secrets
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

TOKEN = "conformance-" + secrets.token_hex(8)
APP_KEY = "conformance-app"
# Short enough that tokens from the refresh token expire within a test.
TOKEN_LIFETIME = 2
BLOCK = 4 * 1024 * 1024

dropbox = None  # imported in setUpModule, once the host variables point at the emulator
MAIN = None  # the emulator most tests use
SDK_HOST = None  # the host:port the SDK's URLs name (MAIN's)


def content_hash(data):
    """Dropbox content hash: SHA-256 of the SHA-256 of each 4 MiB block."""
    blocks = b"".join(hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK))
    return hashlib.sha256(blocks).hexdigest()


class Emulator:
    """A `dropbox-post emulate` process on 127.0.0.1 with its own root."""

    def __init__(self, *extra):
        binary = os.environ.get("DROPBOX_POST_BIN")
        if not binary:
            raise RuntimeError("set DROPBOX_POST_BIN to the dropbox-post binary")
        self.root = tempfile.mkdtemp(prefix="dropbox-emulator-")
        self.log = log = tempfile.TemporaryFile(mode="w+")
        self.drain = None
        self.proc = subprocess.Popen(
            [
                binary, "emulate", "--root", self.root, "--listen", "127.0.0.1:0",
                "--token", TOKEN, "--app", APP_KEY, *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        atexit.register(self.stop)
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        first = self.proc.stdout.readline() if selector.select(timeout=60) else ""
        if not first.strip():
            self.stop()
            log.seek(0)
            raise RuntimeError(f"the emulator printed no base URL; stderr:\n{log.read()}")
        # Keep draining stdout so the emulator never blocks on a full pipe.
        self.drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self.drain.start()
        self.base = first.strip().rstrip("/")

    def advance_clock(self, secs):
        """Moves the clock of an emulator started with `--test-clock` `secs` forward: what
        expires (sessions, issued tokens) expires without waiting."""
        session = requests.Session()
        session.trust_env = False
        response = session.post(f"{self.base}/test/clock", json={"advance_secs": secs}, timeout=10)
        response.raise_for_status()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.drain:
            self.drain.join(timeout=10)
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


class RefuseAdapter(BaseAdapter):
    def send(self, request, **kwargs):
        raise AssertionError(f"the SDK tried to reach {request.url}, not the emulator")

    def close(self):
        pass


class EmulatorAdapter(HTTPAdapter):
    """Sends https://SDK_HOST/… to the emulator's http base URL, noting each response's
    status and content type."""

    def __init__(self, base, responses):
        super().__init__()
        self.base, self.responses = base, responses

    def send(self, request, **kwargs):
        request.url = self.base + request.url[len(f"https://{SDK_HOST}") :]
        response = super().send(request, **kwargs)
        self.responses.append((response.status_code, response.headers.get("content-type", "")))
        return response


def emulator_session(emulator=None, responses=None, ca=None):
    session = requests.Session()
    # Otherwise REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace session.verify, and proxy variables
    # could route 127.0.0.1 elsewhere.
    session.trust_env = False
    if ca:
        session.verify = ca
    session.mount("https://", RefuseAdapter())
    base = (emulator or MAIN).base
    session.mount(f"https://{SDK_HOST}/", EmulatorAdapter(base, [] if responses is None else responses))
    return session


def setUpModule():
    global dropbox, MAIN, SDK_HOST
    MAIN = Emulator("--token-lifetime", str(TOKEN_LIFETIME), "--test-clock")
    SDK_HOST = urllib.parse.urlsplit(MAIN.base).netloc
    for var in ("DROPBOX_API_HOST", "DROPBOX_API_CONTENT_HOST", "DROPBOX_WEB_HOST"):
        os.environ[var] = SDK_HOST
    import dropbox as sdk

    dropbox = sdk


def tearDownModule():
    MAIN.stop()


def client(**kwargs):
    if "oauth2_refresh_token" not in kwargs:
        kwargs.setdefault("oauth2_access_token", TOKEN)
    return dropbox.Dropbox(session=emulator_session(), max_retries_on_error=0, **kwargs)


class SdkTestCase(unittest.TestCase):
    """Each test works under its own folder so tests do not see each other's files."""

    def setUp(self):
        self.dbx = client()
        self.dir = f"/{self.id().rsplit('.', 1)[-1]}"

    def path(self, name):
        return f"{self.dir}/{name}"

    def upload(self, name, data, **kwargs):
        return self.dbx.files_upload(data, self.path(name), **kwargs)

    def download(self, path):
        metadata, response = self.dbx.files_download(path)
        return metadata, response.content

    def assert_file(self, metadata, path, data):
        self.assertIsInstance(metadata, dropbox.files.FileMetadata)
        self.assertEqual(metadata.path_display, path)
        self.assertEqual(metadata.path_lower, path.lower())
        self.assertEqual(metadata.name, path.rsplit("/", 1)[-1])
        self.assertEqual(metadata.size, len(data))
        self.assertEqual(metadata.content_hash, content_hash(data))
        self.assertTrue(metadata.rev and metadata.id.startswith("id:"), metadata)

    def api_error(self, call, *args, **kwargs):
        """The typed error object of the ApiError the call must raise."""
        with self.assertRaises(dropbox.exceptions.ApiError) as raised:
            call(*args, **kwargs)
        return raised.exception.error

    def assert_upload_conflict(self, error, kind="file"):
        self.assertTrue(error.is_path(), error)
        reason = error.get_path().reason
        self.assertTrue(reason.is_conflict(), reason)
        conflict = reason.get_conflict()
        self.assertTrue(getattr(conflict, f"is_{kind}")(), conflict)


class Account(SdkTestCase):
    def test_current_account(self):
        account = self.dbx.users_get_current_account()
        self.assertIsInstance(account, dropbox.users.FullAccount)
        self.assertTrue(account.account_id.startswith("dbid:"), account.account_id)
        self.assertTrue(account.email)

    def test_bad_token_is_an_auth_error(self):
        bad = dropbox.Dropbox("not-the-token", session=emulator_session())
        with self.assertRaises(dropbox.exceptions.AuthError) as raised:
            bad.users_get_current_account()
        self.assertTrue(raised.exception.error.is_invalid_access_token())


class Uploads(SdkTestCase):
    def test_small_upload_metadata_and_download(self):
        data = b"user,item,score\n1,2,4.5\n"
        metadata = self.upload("small.csv", data)
        self.assert_file(metadata, self.path("small.csv"), data)
        got = self.dbx.files_get_metadata(self.path("small.csv"))
        self.assertEqual(got, metadata)
        downloaded, body = self.download(self.path("small.csv"))
        self.assertEqual(body, data)
        self.assertEqual(downloaded.rev, metadata.rev)

    def test_empty_file(self):
        metadata = self.upload("empty", b"")
        self.assert_file(metadata, self.path("empty"), b"")
        self.assertEqual(self.download(self.path("empty"))[1], b"")

    def test_chunked_upload_session(self):
        data = os.urandom(2 * BLOCK + 12345)
        chunks = [data[:BLOCK], data[BLOCK : 2 * BLOCK], data[2 * BLOCK :]]
        start = self.dbx.files_upload_session_start(chunks[0])
        self.assertIsInstance(start, dropbox.files.UploadSessionStartResult)
        cursor = dropbox.files.UploadSessionCursor(start.session_id, len(chunks[0]))
        self.dbx.files_upload_session_append_v2(chunks[1], cursor)
        cursor.offset += len(chunks[1])
        commit = dropbox.files.CommitInfo(self.path("big/weights.bin"))
        metadata = self.dbx.files_upload_session_finish(chunks[2], cursor, commit)
        self.assert_file(metadata, self.path("big/weights.bin"), data)
        self.assertEqual(self.download(self.path("big/weights.bin"))[1], data)

    def test_session_wrong_offset_is_typed(self):
        start = self.dbx.files_upload_session_start(b"abc")
        cursor = dropbox.files.UploadSessionCursor(start.session_id, 1)
        error = self.api_error(self.dbx.files_upload_session_append_v2, b"def", cursor)
        self.assertTrue(error.is_incorrect_offset(), error)
        self.assertEqual(error.get_incorrect_offset().correct_offset, 3)

    def test_concurrent_session_out_of_order(self):
        concurrent = dropbox.files.UploadSessionType.concurrent
        data = os.urandom(2 * BLOCK + 777)
        start = self.dbx.files_upload_session_start(b"", session_type=concurrent)
        pieces = [(BLOCK, data[BLOCK : 2 * BLOCK], False), (2 * BLOCK, data[2 * BLOCK :], True)]
        pieces.append((0, data[:BLOCK], False))
        for offset, piece, close in pieces:
            cursor = dropbox.files.UploadSessionCursor(start.session_id, offset)
            self.dbx.files_upload_session_append_v2(piece, cursor, close=close)
        cursor = dropbox.files.UploadSessionCursor(start.session_id, len(data))
        commit = dropbox.files.CommitInfo(self.path("concurrent.bin"))
        metadata = self.dbx.files_upload_session_finish(b"", cursor, commit)
        self.assert_file(metadata, self.path("concurrent.bin"), data)
        self.assertEqual(self.download(self.path("concurrent.bin"))[1], data)

    def test_concurrent_session_rules_are_typed(self):
        concurrent = dropbox.files.UploadSessionType.concurrent
        error = self.api_error(
            self.dbx.files_upload_session_start, b"data", session_type=concurrent
        )
        self.assertTrue(error.is_concurrent_session_data_not_allowed(), error)
        start = self.dbx.files_upload_session_start(b"", session_type=concurrent)
        cursor = dropbox.files.UploadSessionCursor(start.session_id, 0)
        error = self.api_error(self.dbx.files_upload_session_append_v2, b"x" * 1000, cursor)
        self.assertTrue(error.is_concurrent_session_invalid_data_size(), error)

    def test_finish_batch_v2(self):
        files = {self.path(f"batch/out-{i}.txt"): f"fold {i}\n".encode() * (i + 1) for i in range(3)}
        self.upload("batch/taken.txt", b"old")
        files[self.path("batch/taken.txt")] = b"new"
        entries = []
        for path, data in files.items():
            session = self.dbx.files_upload_session_start(data, close=True)
            cursor = dropbox.files.UploadSessionCursor(session.session_id, len(data))
            commit = dropbox.files.CommitInfo(path, mode=dropbox.files.WriteMode.add)
            entries.append(dropbox.files.UploadSessionFinishArg(cursor, commit))
        result = self.dbx.files_upload_session_finish_batch_v2(entries)
        self.assertEqual(len(result.entries), len(files))
        for (path, data), entry in zip(files.items(), result.entries):
            if path.endswith("taken.txt"):
                self.assertTrue(entry.is_failure(), entry)
                failure = entry.get_failure()
                self.assertTrue(failure.is_path(), failure)
                self.assertTrue(failure.get_path().is_conflict(), failure)
                self.assertEqual(self.download(path)[1], b"old")
            else:
                self.assertTrue(entry.is_success(), entry)
                self.assert_file(entry.get_success(), path, data)
                self.assertEqual(self.download(path)[1], data)

    def test_wrong_content_hash_is_rejected(self):
        error = self.api_error(
            self.dbx.files_upload, b"data", self.path("x"), content_hash="0" * 64
        )
        self.assertTrue(error.is_content_hash_mismatch(), error)
        self.api_error(self.dbx.files_get_metadata, self.path("x"))

    def test_unicode_paths_with_an_astral_character(self):
        path = self.path("ünïcødé/日本語/résumé 😀.csv")
        data = "naïve,😀\n".encode()
        metadata = self.dbx.files_upload(data, path)
        self.assert_file(metadata, path, data)
        self.assertEqual(metadata.name, "résumé 😀.csv")
        self.assertEqual(self.dbx.files_get_metadata(path).path_display, path)
        self.assertEqual(self.download(path)[1], data)
        listed = self.dbx.files_list_folder(self.path("ünïcødé"), recursive=True)
        self.assertIn(path, {e.path_display for e in listed.entries})
        session = self.dbx.files_upload_session_start(data, close=True)
        cursor = dropbox.files.UploadSessionCursor(session.session_id, len(data))
        batch = self.dbx.files_upload_session_finish_batch_v2(
            [dropbox.files.UploadSessionFinishArg(cursor, dropbox.files.CommitInfo(path + "2"))]
        )
        self.assert_file(batch.entries[0].get_success(), path + "2", data)


class Conflicts(SdkTestCase):
    def setUp(self):
        super().setUp()
        self.original = self.upload("a.txt", b"first")

    def test_add_conflicts_without_autorename(self):
        error = self.api_error(self.upload, "a.txt", b"second", mode=dropbox.files.WriteMode.add)
        self.assert_upload_conflict(error)
        self.assertEqual(self.download(self.path("a.txt"))[1], b"first")

    def test_add_with_autorename_picks_a_new_name(self):
        renamed = self.upload("a.txt", b"second", mode=dropbox.files.WriteMode.add, autorename=True)
        self.assertRegex(renamed.name, r"^a \(\d+\)\.txt$")
        self.assert_file(renamed, f"{self.dir}/{renamed.name}", b"second")
        self.assertEqual(self.download(self.path("a.txt"))[1], b"first")

    def test_identical_content_is_not_a_conflict_unless_strict(self):
        same = self.upload("a.txt", b"first", mode=dropbox.files.WriteMode.add)
        self.assertEqual(same.rev, self.original.rev)
        error = self.api_error(
            self.upload, "a.txt", b"first", mode=dropbox.files.WriteMode.add, strict_conflict=True
        )
        self.assert_upload_conflict(error)

    def test_overwrite_replaces(self):
        new = self.upload("a.txt", b"second!", mode=dropbox.files.WriteMode.overwrite)
        self.assert_file(new, self.path("a.txt"), b"second!")
        self.assertNotEqual(new.rev, self.original.rev)
        self.assertEqual(self.download(self.path("a.txt"))[1], b"second!")

    def test_update_with_the_current_rev(self):
        new = self.upload("a.txt", b"second", mode=dropbox.files.WriteMode.update(self.original.rev))
        self.assert_file(new, self.path("a.txt"), b"second")

    def test_update_with_a_stale_rev(self):
        self.upload("a.txt", b"second", mode=dropbox.files.WriteMode.overwrite)
        stale = dropbox.files.WriteMode.update(self.original.rev)
        error = self.api_error(self.upload, "a.txt", b"third", mode=stale)
        self.assert_upload_conflict(error)
        copy = self.upload("a.txt", b"third", mode=stale, autorename=True)
        self.assertNotEqual(copy.name, "a.txt")
        self.assertEqual(self.download(copy.path_display)[1], b"third")
        self.assertEqual(self.download(self.path("a.txt"))[1], b"second")

    def test_strict_update_of_a_deleted_file(self):
        self.dbx.files_delete_v2(self.path("a.txt"))
        stale = dropbox.files.WriteMode.update(self.original.rev)
        error = self.api_error(self.upload, "a.txt", b"x", mode=stale, strict_conflict=True)
        self.assert_upload_conflict(error)

    def test_folder_in_the_way_is_always_a_conflict(self):
        self.upload("dir/inner.txt", b"x")
        for mode in (dropbox.files.WriteMode.add, dropbox.files.WriteMode.overwrite):
            error = self.api_error(self.upload, "dir", b"x", mode=mode)
            self.assert_upload_conflict(error, "folder")

    def test_file_in_the_way_of_a_parent(self):
        error = self.api_error(self.upload, "a.txt/b.txt", b"x")
        self.assertTrue(error.is_path(), error)
        conflict = error.get_path().reason.get_conflict()
        self.assertTrue(conflict.is_file_ancestor() or conflict.is_file(), conflict)


class Listing(SdkTestCase):
    def test_recursive_listing_with_continue(self):
        files = [f"exp00000/result/out-{i}.txt" for i in range(7)]
        files += ["exp00000/log/run.log", "post/summary.csv", "README.md"]
        for name in files:
            self.upload(name, name.encode())
        result = self.dbx.files_list_folder(self.dir, recursive=True, limit=3)
        entries = list(result.entries)
        pages = 1
        while result.has_more:
            self.assertLessEqual(len(result.entries), 3)
            result = self.dbx.files_list_folder_continue(result.cursor)
            entries += result.entries
            pages += 1
        self.assertGreater(pages, 3)
        got_files = {e.path_display for e in entries if isinstance(e, dropbox.files.FileMetadata)}
        got_dirs = {e.path_display for e in entries if isinstance(e, dropbox.files.FolderMetadata)}
        self.assertEqual(got_files, {self.path(n) for n in files})
        self.assertEqual(
            got_dirs - {self.dir},
            {self.path(d) for d in ("exp00000", "exp00000/result", "exp00000/log", "post")},
        )
        for entry in entries:
            if isinstance(entry, dropbox.files.FileMetadata):
                data = entry.path_display[len(self.dir) + 1 :].encode()
                self.assertEqual(entry.content_hash, content_hash(data))

    def test_listing_is_case_insensitive_and_errors_are_typed(self):
        self.upload("Mixed/File.TXT", b"x")
        listed = self.dbx.files_list_folder(self.path("mixed"))
        self.assertEqual([e.name for e in listed.entries], ["File.TXT"])
        error = self.api_error(self.dbx.files_list_folder, self.path("missing"))
        self.assertTrue(error.is_path() and error.get_path().is_not_found(), error)
        error = self.api_error(self.dbx.files_list_folder, self.path("Mixed/File.TXT"))
        self.assertTrue(error.is_path() and error.get_path().is_not_folder(), error)

    def test_root_listing(self):
        self.upload("x.txt", b"x")
        root = self.dbx.files_list_folder("")
        names = {e.name for e in root.entries}
        while root.has_more:
            root = self.dbx.files_list_folder_continue(root.cursor)
            names |= {e.name for e in root.entries}
        self.assertIn(self.dir[1:], names)

    def test_folder_metadata_and_create_folder(self):
        created = self.dbx.files_create_folder_v2(self.path("Empty Dir"))
        self.assertIsInstance(created.metadata, dropbox.files.FolderMetadata)
        self.assertEqual(created.metadata.path_display, self.path("Empty Dir"))
        got = self.dbx.files_get_metadata(self.path("empty dir"))
        self.assertIsInstance(got, dropbox.files.FolderMetadata)
        self.assertEqual(got.id, created.metadata.id)
        error = self.api_error(self.dbx.files_create_folder_v2, self.path("Empty Dir"))
        self.assertTrue(error.is_path() and error.get_path().is_conflict(), error)


class Deletes(SdkTestCase):
    def test_delete_file_and_folder(self):
        self.upload("tree/a.txt", b"a")
        self.upload("tree/sub/b.txt", b"b")
        deleted = self.dbx.files_delete_v2(self.path("tree/a.txt"))
        self.assertIsInstance(deleted.metadata, dropbox.files.FileMetadata)
        error = self.api_error(self.dbx.files_get_metadata, self.path("tree/a.txt"))
        self.assertTrue(error.is_path() and error.get_path().is_not_found(), error)
        deleted = self.dbx.files_delete_v2(self.path("tree"))
        self.assertIsInstance(deleted.metadata, dropbox.files.FolderMetadata)
        error = self.api_error(self.dbx.files_get_metadata, self.path("tree/sub/b.txt"))
        self.assertTrue(error.get_path().is_not_found(), error)
        error = self.api_error(self.dbx.files_delete_v2, self.path("tree"))
        self.assertTrue(error.is_path_lookup() and error.get_path_lookup().is_not_found(), error)

    def test_parent_rev_deletes_only_that_revision_of_a_file(self):
        old = self.upload("rev/a.txt", b"one")
        new = self.upload("rev/a.txt", b"two", mode=dropbox.files.WriteMode.overwrite)
        error = self.api_error(self.dbx.files_delete_v2, self.path("rev/a.txt"), parent_rev=old.rev)
        self.assertTrue(error.is_path_write() and error.get_path_write().is_conflict(), error)
        error = self.api_error(self.dbx.files_delete_v2, self.path("rev"), parent_rev=new.rev)
        self.assertTrue(error.is_path_lookup() and error.get_path_lookup().is_not_file(), error)
        deleted = self.dbx.files_delete_v2(self.path("rev/a.txt"), parent_rev=new.rev)
        self.assertEqual(deleted.metadata.rev, new.rev)

    def test_download_of_a_missing_file(self):
        error = self.api_error(self.dbx.files_download, self.path("nope.bin"))
        self.assertTrue(error.is_path() and error.get_path().is_not_found(), error)


class DeleteBatch(SdkTestCase):
    def finished(self, launch, emulator_dbx=None):
        """Polls a launched delete batch until it is done; the entries and the number of
        `in_progress` answers seen."""
        dbx = emulator_dbx or self.dbx
        self.assertIsInstance(launch, dropbox.files.DeleteBatchLaunch)
        self.assertTrue(launch.is_async_job_id(), launch)
        waits = 0
        for _ in range(200):
            status = dbx.files_delete_batch_check(launch.get_async_job_id())
            self.assertIsInstance(status, dropbox.files.DeleteBatchJobStatus)
            if not status.is_in_progress():
                break
            waits += 1
            time.sleep(0.05)
        self.assertTrue(status.is_complete(), status)
        return status.get_complete().entries, waits

    def test_each_entry_has_its_result_in_order(self):
        self.upload("tree/a.txt", b"a")
        self.upload("tree/sub/b.txt", b"b")
        self.upload("keep.txt", b"k")
        paths = ["tree/a.txt", "tree/sub", "missing.txt", "tree/sub/b.txt", "Tree"]
        launch = self.dbx.files_delete_batch(
            [dropbox.files.DeleteArg(self.path(p)) for p in paths]
        )
        entries, _ = self.finished(launch)
        self.assertEqual(len(entries), len(paths))
        file, folder, missing, gone, parent = entries
        self.assertTrue(file.is_success(), file)
        self.assertIsInstance(file.get_success().metadata, dropbox.files.FileMetadata)
        self.assertEqual(file.get_success().metadata.path_display, self.path("tree/a.txt"))
        self.assertIsInstance(folder.get_success().metadata, dropbox.files.FolderMetadata)
        for failed in (missing, gone):
            self.assertTrue(failed.is_failure(), failed)
            error = failed.get_failure()
            self.assertTrue(error.is_path_lookup() and error.get_path_lookup().is_not_found(), error)
        # Case-insensitive, like every path.
        self.assertEqual(parent.get_success().metadata.path_lower, self.path("tree").lower())
        error = self.api_error(self.dbx.files_get_metadata, self.path("tree"))
        self.assertTrue(error.get_path().is_not_found(), error)
        self.assertEqual(self.download(self.path("keep.txt"))[1], b"k")

    def test_an_entry_at_another_revision_fails_alone(self):
        old = self.upload("b/x.txt", b"x")
        self.upload("b/x.txt", b"y", mode=dropbox.files.WriteMode.overwrite)
        kept = self.upload("b/k.txt", b"k")
        launch = self.dbx.files_delete_batch([
            dropbox.files.DeleteArg(self.path("b/x.txt"), parent_rev=old.rev),
            dropbox.files.DeleteArg(self.path("b/k.txt"), parent_rev=kept.rev),
        ])
        (changed, deleted), _ = self.finished(launch)
        error = changed.get_failure()
        self.assertTrue(error.is_path_write() and error.get_path_write().is_conflict(), error)
        self.assertTrue(deleted.is_success(), deleted)
        self.assertEqual(self.download(self.path("b/x.txt"))[1], b"y")

    def test_a_malformed_path_fails_alone_and_an_unknown_job_is_typed(self):
        self.upload("x.txt", b"x")
        launch = self.dbx.files_delete_batch(
            [dropbox.files.DeleteArg(self.path("a//b")), dropbox.files.DeleteArg(self.path("x.txt"))]
        )
        (malformed, deleted), _ = self.finished(launch)
        error = malformed.get_failure()
        self.assertTrue(error.is_path_lookup() and error.get_path_lookup().is_malformed_path(), error)
        self.assertTrue(deleted.is_success(), deleted)
        error = self.api_error(self.dbx.files_delete_batch_check, "dbjid:not-a-job")
        self.assertTrue(error.is_invalid_async_job_id(), error)

    def test_a_slow_job_is_in_progress_first(self):
        slow = Emulator("--latency-ms", "100")
        try:
            dbx = dropbox.Dropbox(TOKEN, session=emulator_session(slow))
            for name in "abcde":
                dbx.files_upload(name.encode(), f"/slow/{name}.txt")
            launch = dbx.files_delete_batch(
                [dropbox.files.DeleteArg(f"/slow/{name}.txt") for name in "abcde"]
            )
            entries, waits = self.finished(launch, dbx)
            self.assertGreater(waits, 0)
            self.assertTrue(all(e.is_success() for e in entries), entries)
        finally:
            slow.stop()


class Batches(SdkTestCase):
    """`start_batch` and `append_batch` through the SDK's own methods (issue 23)."""

    def cursor(self, session_id, offset=0):
        return dropbox.files.UploadSessionCursor(session_id, offset)

    def entry(self, session_id, length, offset=0, close=True):
        return dropbox.files.UploadSessionAppendBatchArgEntry(
            self.cursor(session_id, offset), length, close=close
        )

    def test_many_files_in_three_requests(self):
        files = {self.path(f"many/{i}.txt"): os.urandom(100 + 37 * i) for i in range(5)}
        files[self.path("many/empty.txt")] = b""
        ids = self.dbx.files_upload_session_start_batch(len(files)).session_ids
        self.assertEqual(len(set(ids)), len(files))
        body = b"".join(files.values())
        entries = [self.entry(i, len(d)) for i, d in zip(ids, files.values())]
        result = self.dbx.files_upload_session_append_batch(
            body, entries, content_hash=content_hash(body)
        )
        self.assertTrue(all(e.is_success() for e in result.entries), result)
        commits = [
            dropbox.files.UploadSessionFinishArg(
                self.cursor(i, len(d)), dropbox.files.CommitInfo(path)
            )
            for i, (path, d) in zip(ids, files.items())
        ]
        finished = self.dbx.files_upload_session_finish_batch_v2(commits)
        for (path, data), entry in zip(files.items(), finished.entries):
            self.assertTrue(entry.is_success(), entry)
            self.assert_file(entry.get_success(), path, data)
            self.assertEqual(self.download(path)[1], data)

    def test_each_entry_fails_alone_and_typed(self):
        seq = self.dbx.files_upload_session_start_batch(3).session_ids
        (conc,) = self.dbx.files_upload_session_start_batch(
            1, session_type=dropbox.files.UploadSessionType.concurrent
        ).session_ids
        closed = self.dbx.files_upload_session_start(b"abc", close=True).session_id
        entries = [
            self.entry(seq[0], 3),
            self.entry(seq[1], 3, offset=5),
            self.entry(closed, 3, offset=3),
            self.entry("pid_upload_session:0123456789abcdef", 3),
            self.entry(conc, 1000, close=False),
            self.entry(conc, BLOCK, offset=1000, close=False),
            self.entry(seq[2], 0, close=False),
        ]
        body = os.urandom(sum(e.length for e in entries))
        result = self.dbx.files_upload_session_append_batch(body, entries)
        got = result.entries
        self.assertEqual(len(got), len(entries))
        self.assertTrue(got[0].is_success() and got[6].is_success(), got)
        failures = [g.get_failure() for g in got[1:6]]
        self.assertTrue(failures[0].is_incorrect_offset(), failures[0])
        self.assertEqual(failures[0].get_incorrect_offset().correct_offset, 0)
        self.assertTrue(failures[1].is_closed(), failures[1])
        self.assertTrue(failures[2].is_not_found(), failures[2])
        self.assertTrue(failures[3].is_concurrent_session_invalid_data_size(), failures[3])
        self.assertTrue(failures[4].is_concurrent_session_invalid_offset(), failures[4])
        # The first entry's bytes, and only they, are in its session.
        commit = dropbox.files.CommitInfo(self.path("first.bin"))
        metadata = self.dbx.files_upload_session_finish(b"", self.cursor(seq[0], 3), commit)
        self.assert_file(metadata, self.path("first.bin"), body[:3])

    def test_whole_request_errors_are_typed(self):
        ids = self.dbx.files_upload_session_start_batch(2).session_ids
        entries = [self.entry(ids[0], 3), self.entry(ids[1], 3)]
        error = self.api_error(self.dbx.files_upload_session_append_batch, b"abcde", entries)
        self.assertTrue(error.is_length_mismatch(), error)
        error = self.api_error(
            self.dbx.files_upload_session_append_batch,
            b"abcdef",
            entries,
            content_hash=content_hash(b"abcdeg"),
        )
        self.assertTrue(error.is_content_hash_mismatch(), error)
        # Neither touched a session: both still take their first bytes.
        result = self.dbx.files_upload_session_append_batch(b"abcdef", entries)
        self.assertTrue(all(e.is_success() for e in result.entries), result)


class TransferHelpers(SdkTestCase):
    """The SDK 12.2.5 transfer helper: parallel concurrent-session uploads and ranged
    parallel downloads, as the benchmark drives them."""

    def test_parallel_upload_and_download(self):
        from dropbox import file_transfer

        data = os.urandom(3 * BLOCK + 4321)
        path = self.path("parallel.bin")
        uploaded = file_transfer.Uploader(self.dbx).upload(
            file_transfer.BytesUpload(data),
            dropbox.files.CommitInfo(path),
            file_transfer.UploadOptions(parallel_uploads=4),
        )
        self.assert_file(uploaded.metadata, path, data)
        for size, name in ((len(data), "parallel.bin"), (0, "empty.bin")):
            if size == 0:
                self.upload(name, b"")
            target = file_transfer.Bytes()
            file_transfer.Downloader(self.dbx).download(
                self.path(name), target, file_transfer.DownloadOptions(parallel_downloads=4)
            )
            self.assertEqual(target.bytes(), data[:size])

    def test_ranges_are_served_as_http_says(self):
        data = os.urandom(1000)
        self.upload("ranged.bin", data)
        session = emulator_session()
        url = f"https://{SDK_HOST}/2/files/download"
        arg = '{"path": "%s"}' % self.path("ranged.bin")
        headers = {"Authorization": f"Bearer {TOKEN}", "Dropbox-API-Arg": arg}
        for range_, status, body, content_range in (
            ("bytes=10-19", 206, data[10:20], "bytes 10-19/1000"),
            ("bytes=990-", 206, data[990:], "bytes 990-999/1000"),
            ("bytes=-5", 206, data[995:], "bytes 995-999/1000"),
            ("bytes=1000-", 416, b"", "bytes */1000"),
            ("bytes=a-b", 200, data, None),
        ):
            r = session.post(url, headers={**headers, "Range": range_})
            self.assertEqual(r.status_code, status, range_)
            self.assertEqual(r.content, body, range_)
            self.assertEqual(r.headers.get("Content-Range"), content_range, range_)


class ExpiredSessions(unittest.TestCase):
    """Dropbox keeps an upload session 7 days; the emulator's test clock passes them at once."""

    def test_an_expired_session_is_not_found(self):
        short = Emulator("--test-clock")
        try:
            dbx = dropbox.Dropbox(TOKEN, session=emulator_session(short))
            start = dbx.files_upload_session_start(b"abc")
            cursor = dropbox.files.UploadSessionCursor(start.session_id, 3)
            dbx.files_upload_session_append_v2(b"def", cursor)
            cursor.offset = 6
            short.advance_clock(7 * 24 * 3600 + 1)
            with self.assertRaises(dropbox.exceptions.ApiError) as raised:
                dbx.files_upload_session_append_v2(b"ghi", cursor)
            self.assertTrue(raised.exception.error.is_not_found(), raised.exception.error)
            commit = dropbox.files.CommitInfo("/expired.txt")
            with self.assertRaises(dropbox.exceptions.ApiError) as raised:
                dbx.files_upload_session_finish(b"", cursor, commit)
            error = raised.exception.error
            self.assertTrue(error.is_lookup_failed() and error.get_lookup_failed().is_not_found(), error)
        finally:
            short.stop()


class RefreshTokens(unittest.TestCase):
    def refresh_token(self):
        """Offline PKCE flow: authorize (the emulator answers the code) and exchange."""
        flow = dropbox.DropboxOAuth2FlowNoRedirect(
            APP_KEY, use_pkce=True, token_access_type="offline"
        )
        flow.requests_session = emulator_session()
        authorize_url = flow.start()
        self.assertTrue(authorize_url.startswith(f"https://{SDK_HOST}/oauth2/authorize?"))
        response = flow.requests_session.get(authorize_url)
        self.assertEqual(response.status_code, 200, response.text)
        result = flow.finish(response.text.strip())
        self.assertTrue(result.refresh_token)
        self.assertTrue(result.access_token)
        self.assertNotEqual(result.access_token, TOKEN)
        self.assertTrue(result.account_id.startswith("dbid:"))
        return result

    def test_client_from_a_refresh_token_refreshes_itself(self):
        result = self.refresh_token()
        dbx = client(oauth2_refresh_token=result.refresh_token, app_key=APP_KEY)
        first = dbx.users_get_current_account()
        self.assertEqual(first.account_id, result.account_id)
        token = dbx._oauth2_access_token
        self.assertTrue(token)
        # The lifetime is under the SDK's 300 s buffer, so each call refreshes first.
        metadata = dbx.files_upload(b"refreshed", "/refresh/a.txt")
        self.assertEqual(metadata.size, 9)
        self.assertNotEqual(dbx._oauth2_access_token, token)

    def test_expired_token_is_refreshed_on_401(self):
        result = self.refresh_token()
        # Naive UTC, as the SDK compares it with datetime.utcnow().
        expiration = datetime.datetime.utcnow() + datetime.timedelta(days=1)
        dbx = client(
            oauth2_access_token=result.access_token,
            oauth2_access_token_expiration=expiration,
            oauth2_refresh_token=result.refresh_token,
            app_key=APP_KEY,
        )
        # The SDK believes its token is good for a day; the emulator expires it.
        MAIN.advance_clock(TOKEN_LIFETIME + 1)
        stale = dropbox.Dropbox(result.access_token, session=emulator_session())
        with self.assertRaises(dropbox.exceptions.AuthError) as raised:
            stale.users_get_current_account()
        self.assertTrue(raised.exception.error.is_expired_access_token())
        self.assertEqual(dbx.users_get_current_account().account_id, result.account_id)
        self.assertNotEqual(dbx._oauth2_access_token, result.access_token)

    def test_bad_refresh_token(self):
        dbx = client(oauth2_refresh_token="not-a-refresh-token", app_key=APP_KEY)
        with self.assertRaises(dropbox.exceptions.AuthError):
            dbx.users_get_current_account()


class Tls(unittest.TestCase):
    """`emulate --tls`: the SDK over https, trusting only the emulator's generated CA."""

    @classmethod
    def setUpClass(cls):
        cls.ca = tempfile.NamedTemporaryFile(suffix=".pem", delete=False).name
        cls.emulator = Emulator("--tls", "--ca-cert-out", cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.emulator.stop()
        os.unlink(cls.ca)

    def test_sdk_over_https_with_the_emulator_ca(self):
        self.assertTrue(self.emulator.base.startswith("https://"), self.emulator.base)
        dbx = dropbox.Dropbox(TOKEN, session=emulator_session(self.emulator, ca=self.ca))
        data = "über tls 😀".encode()
        metadata = dbx.files_upload(data, "/tls/ü.txt")
        self.assertEqual(metadata.content_hash, content_hash(data))
        self.assertEqual(dbx.files_download("/tls/ü.txt")[1].content, data)

    def test_unknown_ca_is_refused(self):
        dbx = dropbox.Dropbox(TOKEN, session=emulator_session(self.emulator))
        with self.assertRaises(requests.exceptions.SSLError):
            dbx.users_get_current_account()


def is_write_contention(error):
    """409 too_many_write_operations, wherever the route's error union puts it."""
    if getattr(error, "is_too_many_write_operations", lambda: False)():
        return True
    if getattr(error, "is_path", lambda: False)():
        path = error.get_path()
        reason = getattr(path, "reason", path)  # UploadWriteFailed wraps a WriteError
        return getattr(reason, "is_too_many_write_operations", lambda: False)()
    return False


class Faults(unittest.TestCase):
    """The SDK must understand every fault the emulator injects: 5xx (retried by the SDK),
    429 with a JSON RateLimitError or plain text (retried after Retry-After) and typed 409
    too_many_write_operations (retried here)."""

    @classmethod
    def setUpClass(cls):
        cls.emulator = Emulator("--seed", "11", "--error-rate", "0.1", "--rate-limit-rate", "0.25")

    @classmethod
    def tearDownClass(cls):
        cls.emulator.stop()

    def retrying(self, call, *args, **kwargs):
        for _ in range(50):
            try:
                return call(*args, **kwargs)
            except dropbox.exceptions.ApiError as e:
                if not is_write_contention(e.error):
                    raise
                self.contention += 1
        self.fail("still too_many_write_operations after 50 tries")

    def test_sdk_survives_injected_faults(self):
        self.contention = 0
        responses = []
        dbx = dropbox.Dropbox(
            TOKEN,
            session=emulator_session(self.emulator, responses),
            max_retries_on_error=20,
        )
        overwrite = dropbox.files.WriteMode.overwrite
        files = {f"/faults/run/out-{i}.csv": f"{i},{i * i}\n".encode() * 50 for i in range(12)}
        for path, data in files.items():
            self.retrying(dbx.files_upload, data, path, mode=overwrite)
        data = os.urandom(BLOCK + 1000)
        start = self.retrying(dbx.files_upload_session_start, data[:BLOCK])
        cursor = dropbox.files.UploadSessionCursor(start.session_id, BLOCK)
        commit = dropbox.files.CommitInfo("/faults/run/model.bin", mode=overwrite)
        self.retrying(dbx.files_upload_session_finish, data[BLOCK:], cursor, commit)
        files["/faults/run/model.bin"] = data
        self.retrying(dbx.files_create_folder_v2, "/faults/empty")

        result = self.retrying(dbx.files_list_folder, "/faults", recursive=True, limit=4)
        entries = list(result.entries)
        while result.has_more:
            result = self.retrying(dbx.files_list_folder_continue, result.cursor)
            entries += result.entries
        listed = {e.path_display for e in entries if isinstance(e, dropbox.files.FileMetadata)}
        self.assertEqual(listed, set(files))
        for path, expected in files.items():
            self.assertEqual(self.retrying(dbx.files_download, path)[1].content, expected)
        self.retrying(dbx.files_delete_v2, "/faults/empty")

        statuses = {(status, "json" in ctype) for status, ctype in responses}
        self.assertIn((429, True), statuses, responses)
        self.assertIn((429, False), statuses, responses)
        self.assertTrue(any(status >= 500 for status, _ in statuses), responses)
        self.assertGreater(self.contention, 0, responses)



class Sharing(SdkTestCase):
    def test_links_decode_and_already_exists(self):
        self.upload("shared.csv", b"a,b\n")
        link = self.dbx.sharing_create_shared_link_with_settings(self.path("shared.csv"))
        self.assertIsInstance(link, dropbox.sharing.FileLinkMetadata)
        self.assertEqual(link.size, 4)
        self.assertTrue(link.link_permissions.can_revoke)
        error = self.api_error(
            self.dbx.sharing_create_shared_link_with_settings, self.path("shared.csv")
        )
        self.assertTrue(error.is_shared_link_already_exists(), error)
        self.assertEqual(error.get_shared_link_already_exists().get_metadata().url, link.url)
        folder = self.dbx.sharing_create_shared_link_with_settings(self.dir)
        self.assertIsInstance(folder, dropbox.sharing.FolderLinkMetadata)
        listed = self.dbx.sharing_list_shared_links(path=self.path("shared.csv"), direct_only=True)
        self.assertEqual([l.url for l in listed.links], [link.url])
        self.assertFalse(listed.has_more)

class Relocations(SdkTestCase):
    """files/delete (v1), copy_v2 and move_v2, results and errors in the SDK's types."""

    def test_delete_v1_answers_the_metadata(self):
        self.upload("old.txt", b"x")
        with self.assertWarns(DeprecationWarning):
            deleted = self.dbx.files_delete(self.path("old.txt"))
        self.assertIsInstance(deleted, dropbox.files.FileMetadata)
        self.assertEqual(deleted.path_display, self.path("old.txt"))
        with self.assertWarns(DeprecationWarning):
            error = self.api_error(self.dbx.files_delete, self.path("old.txt"))
        self.assertTrue(error.is_path_lookup() and error.get_path_lookup().is_not_found(), error)

    def test_copy_and_move(self):
        original = self.upload("tree/a.csv", b"a,b\n")
        self.upload("tree/sub/b.csv", b"b")
        copied = self.dbx.files_copy_v2(self.path("tree/a.csv"), self.path("copy/a.csv"))
        self.assertIsInstance(copied, dropbox.files.RelocationResult)
        self.assert_file(copied.metadata, self.path("copy/a.csv"), b"a,b\n")
        self.assertNotEqual(copied.metadata.id, original.id)
        moved = self.dbx.files_move_v2(self.path("tree"), self.path("moved"))
        self.assertIsInstance(moved.metadata, dropbox.files.FolderMetadata)
        self.assertEqual(moved.metadata.path_display, self.path("moved"))
        after = self.dbx.files_get_metadata(self.path("moved/a.csv"))
        self.assertEqual(after.id, original.id)
        self.assertEqual(self.download(self.path("moved/sub/b.csv"))[1], b"b")
        renamed = self.dbx.files_copy_v2(self.path("moved/a.csv"), self.path("copy/a.csv"), autorename=True)
        self.assertEqual(renamed.metadata.name, "a (1).csv")

    def test_relocation_errors_are_typed(self):
        self.upload("d/a.txt", b"a")
        self.upload("e/a.txt", b"a")
        error = self.api_error(self.dbx.files_move_v2, self.path("nope"), self.path("x"))
        self.assertTrue(error.is_from_lookup() and error.get_from_lookup().is_not_found(), error)
        error = self.api_error(self.dbx.files_copy_v2, self.path("d/a.txt"), self.path("e/a.txt"))
        self.assertTrue(error.is_to() and error.get_to().is_conflict(), error)
        self.assertTrue(error.get_to().get_conflict().is_file(), error)
        error = self.api_error(self.dbx.files_move_v2, self.path("d"), self.path("d/inner"))
        self.assertTrue(error.is_cant_move_folder_into_itself(), error)
        error = self.api_error(self.dbx.files_move_v2, self.path("d"), self.path("D"))
        self.assertTrue(error.is_duplicated_or_nested_paths(), error)


READER = "reader-" + secrets.token_hex(8)
SECRET_APP, APP_SECRET = "conformance-secret-app", "s3cret-" + secrets.token_hex(4)


class Scopes(unittest.TestCase):
    """Scope refusals decode as AuthError.missing_scope; an authorization may ask for fewer
    scopes, and a refresh may narrow them; check/user and check/app echo."""

    @classmethod
    def setUpClass(cls):
        cls.emulator = Emulator(
            "--token", f"{READER}=files.metadata.read account_info.read",
            "--app", f"{SECRET_APP}:{APP_SECRET}",
        )

    @classmethod
    def tearDownClass(cls):
        cls.emulator.stop()

    def client(self, **kwargs):
        return dropbox.Dropbox(session=emulator_session(self.emulator), max_retries_on_error=0, **kwargs)

    def assert_missing_scope(self, scope, call, *args):
        with self.assertRaises(dropbox.exceptions.AuthError) as raised:
            call(*args)
        error = raised.exception.error
        self.assertIsInstance(error, dropbox.auth.AuthError)
        self.assertTrue(error.is_missing_scope(), error)
        self.assertIsInstance(error.get_missing_scope(), dropbox.auth.TokenScopeError)
        self.assertEqual(error.get_missing_scope().required_scope, scope)

    def flow(self, **kwargs):
        """The PKCE offline flow of the secret-less conformance app on this emulator."""
        flow = dropbox.DropboxOAuth2FlowNoRedirect(APP_KEY, use_pkce=True, token_access_type="offline", **kwargs)
        flow.requests_session = emulator_session(self.emulator)
        response = flow.requests_session.get(flow.start())
        self.assertEqual(response.status_code, 200, response.text)
        return flow.finish(response.text.strip())

    def test_a_token_without_the_scope_is_refused(self):
        dbx = self.client(oauth2_access_token=READER)
        self.assertEqual(dbx.files_list_folder("").entries, [])
        self.assert_missing_scope("files.content.write", dbx.files_upload, b"x", "/x.txt")
        self.assert_missing_scope("files.content.read", dbx.files_download, "/x.txt")
        self.assert_missing_scope("sharing.write", dbx.sharing_create_shared_link_with_settings, "/x")
        self.assertEqual(dbx.check_user("still me").result, "still me")

    def test_authorizations_and_refreshes_narrow_scopes(self):
        first = self.flow(scope=["files.metadata.read"])
        self.assertEqual(first.scope, "files.metadata.read")
        both = self.flow(scope=["files.content.read"], include_granted_scopes="user")
        self.assertEqual(set(both.scope.split()), {"files.metadata.read", "files.content.read"})
        full = self.flow()
        self.assertIn("files.content.write", full.scope.split())
        narrow = self.client(oauth2_refresh_token=full.refresh_token, app_key=APP_KEY, scope=["files.metadata.read"])
        self.assertIsInstance(narrow.files_list_folder(""), dropbox.files.ListFolderResult)
        self.assert_missing_scope("files.content.write", narrow.files_upload, b"x", "/narrow.txt")
        wide = self.client(oauth2_refresh_token=full.refresh_token, app_key=APP_KEY)
        self.assertEqual(wide.files_upload(b"x", "/wide.txt").size, 1)

    def test_check_user_and_check_app(self):
        user = self.client(oauth2_access_token=TOKEN)
        self.assertIsInstance(user.check_user("ping"), dropbox.check.EchoResult)
        self.assertEqual(user.check_user("ping").result, "ping")
        app = self.client(app_key=SECRET_APP, app_secret=APP_SECRET)
        self.assertEqual(app.check_app("pong").result, "pong")
        wrong = self.client(app_key=SECRET_APP, app_secret="not-the-secret")
        with self.assertRaises(dropbox.exceptions.AuthError) as raised:
            wrong.check_app("pong")
        self.assertTrue(raised.exception.error.is_invalid_access_token())


class PathRoots(unittest.TestCase):
    """root_info and Dropbox-API-Path-Root, personal and team (`emulate --team`), each
    answer decoded by the SDK: RootInfo subtypes, PathRoot modes, PathRootError."""

    @classmethod
    def setUpClass(cls):
        cls.team = Emulator("--team")

    @classmethod
    def tearDownClass(cls):
        cls.team.stop()

    def client(self, emulator):
        return dropbox.Dropbox(TOKEN, session=emulator_session(emulator), max_retries_on_error=0)

    def names(self, dbx, path=""):
        return sorted(e.name for e in dbx.files_list_folder(path).entries)

    def test_team_root_home_and_namespace_ids(self):
        dbx = self.client(self.team)
        account = dbx.users_get_current_account()
        info = account.root_info
        self.assertIsInstance(info, dropbox.common.TeamRootInfo)
        self.assertEqual(info.home_path, "/Emma Ulator")
        self.assertNotEqual(info.root_namespace_id, info.home_namespace_id)
        self.assertIsInstance(account.team, dropbox.users.FullTeam)
        self.assertTrue(account.account_type.is_business())
        PathRoot = dropbox.common.PathRoot
        root = dbx.with_path_root(PathRoot.root(info.root_namespace_id))
        home = dbx.with_path_root(PathRoot.home)
        by_id = dbx.with_path_root(PathRoot.namespace_id(info.home_namespace_id))
        placed = root.files_upload(b"team", "/Lab Results/run.csv")
        self.assertEqual(placed.path_display, "/Lab Results/run.csv")
        dbx.files_upload(b"mine", "/mine.csv")
        self.assertEqual(self.names(root), ["Emma Ulator", "Lab Results"])
        self.assertEqual(self.names(home), ["mine.csv"])
        self.assertEqual(self.names(by_id), ["mine.csv"])
        self.assertEqual(root.files_download("/Emma Ulator/mine.csv")[1].content, b"mine")
        error = self.api_error_of(home.files_get_metadata, "/Lab Results/run.csv")
        self.assertTrue(error.is_path() and error.get_path().is_not_found(), error)

    def api_error_of(self, call, *args):
        with self.assertRaises(dropbox.exceptions.ApiError) as raised:
            call(*args)
        return raised.exception.error

    def path_root_error(self, dbx, path_root):
        with self.assertRaises(dropbox.exceptions.PathRootError) as raised:
            dbx.with_path_root(path_root).files_list_folder("")
        error = raised.exception.error
        self.assertIsInstance(error, dropbox.common.PathRootError)
        return error

    def test_refused_roots_are_path_root_errors(self):
        dbx = self.client(self.team)
        info = dbx.users_get_current_account().root_info
        error = self.path_root_error(dbx, dropbox.common.PathRoot.root(info.home_namespace_id))
        self.assertTrue(error.is_invalid_root(), error)
        latest = error.get_invalid_root()
        self.assertIsInstance(latest, dropbox.common.TeamRootInfo)
        self.assertEqual(latest.root_namespace_id, info.root_namespace_id)
        error = self.path_root_error(dbx, dropbox.common.PathRoot.namespace_id("777"))
        self.assertTrue(error.is_no_permission(), error)

    def test_a_personal_account_is_its_own_root(self):
        dbx = self.client(MAIN)
        info = dbx.users_get_current_account().root_info
        self.assertIsInstance(info, dropbox.common.UserRootInfo)
        self.assertEqual(info.root_namespace_id, info.home_namespace_id)
        same = dbx.with_path_root(dropbox.common.PathRoot.root(info.root_namespace_id))
        self.assertIsInstance(same.files_list_folder(""), dropbox.files.ListFolderResult)
        error = self.path_root_error(dbx, dropbox.common.PathRoot.root("1"))
        self.assertIsInstance(error.get_invalid_root(), dropbox.common.UserRootInfo)


class UnknownRoutes(unittest.TestCase):
    def test_an_unknown_route_is_bad_input(self):
        dbx = client()
        with self.assertRaises(dropbox.exceptions.BadInputError) as raised:
            dbx.request_json_object("api", "files/no_such_route", "rpc", None, "user", None)
        self.assertIn("Unknown API function", raised.exception.message)


if __name__ == "__main__":
    unittest.main()
