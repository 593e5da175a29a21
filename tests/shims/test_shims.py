"""Tests for the librec-auto shims in bin/, against a fake dropbox-post that records how
it was run. Run with `python3 -m unittest discover -s tests/shims` (cargo test does)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

BIN = Path(__file__).resolve().parents[2] / "bin"
SECRET = "s3cret pass with spaces"

# Records argv and the password env var, then exits with $FAKE_EXIT.
FAKE = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "password": os.environ.get("DROPBOX_POST_PASSWORD")}}, f)
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


class ShimTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.fake = self.write_fake(self.tmp / "fake" / "dropbox-post")
        self.record = self.tmp / "record.json"
        self.env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1",
            "FAKE_RECORD": str(self.record),
            "DROPBOX_POST_BIN": str(self.fake),
        }

    @staticmethod
    def write_fake(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(FAKE)
        path.chmod(0o755)
        return path

    def run_shim(self, script, *args, shim_dir=BIN, **env):
        return subprocess.run(
            [sys.executable, str(shim_dir / script), *args],
            env={**self.env, **env},
            cwd=self.tmp,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def recorded(self):
        return json.loads(self.record.read_text())

    def assert_forwarded(self, result, argv, password):
        self.assertEqual(result.returncode, 0, result.stderr)
        record = self.recorded()
        self.assertEqual(record["argv"], argv)
        self.assertEqual(record["password"], password)
        if password:
            self.assertFalse(any(password in a for a in record["argv"]), record["argv"])

    LIBREC_ARGS = [
        "config.xml",
        "--option=file",
        "--encrypted_key=keys/dropbox.enc",
        "--path=post/summary.csv",
        "--dest=/study-results",
    ]

    def test_post_password_forms_go_to_the_environment(self):
        for form in (
            [f"--password={SECRET}"],
            ["--password", SECRET],
            ["-k", SECRET],
            [f"-k{SECRET}"],
            [f"--key_password={SECRET}"],
            ["--key_password", SECRET],
        ):
            with self.subTest(form=form):
                # librec-auto appends the password last; put it first as well to check order.
                for args in (self.LIBREC_ARGS + form, form + self.LIBREC_ARGS):
                    result = self.run_shim("dropbox_post.py", *args)
                    self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS, SECRET)

    def test_post_without_password_sets_nothing(self):
        result = self.run_shim("dropbox_post.py", *self.LIBREC_ARGS)
        self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS, None)

    def test_exported_password_is_kept_and_argv_wins(self):
        result = self.run_shim(
            "dropbox_post.py", *self.LIBREC_ARGS, DROPBOX_POST_PASSWORD="from-env"
        )
        self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS, "from-env")
        result = self.run_shim(
            "dropbox_post.py",
            *self.LIBREC_ARGS,
            f"--password={SECRET}",
            DROPBOX_POST_PASSWORD="from-env",
        )
        self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS, SECRET)

    def test_empty_password_flag_keeps_the_exported_password(self):
        result = self.run_shim(
            "dropbox_post.py", *self.LIBREC_ARGS, "--password=", DROPBOX_POST_PASSWORD="from-env"
        )
        self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS, "from-env")

    def test_password_in_a_short_flag_cluster_goes_to_the_environment(self):
        # Issue 21 (18): -k is the one short flag with a value; flags before it in a cluster
        # are kept, the password never reaches the child's argv.
        for form, kept in (
            (["-vk", SECRET], ["-v"]),
            ([f"-vk{SECRET}"], ["-v"]),
            ([f"-vvk{SECRET}"], ["-vv"]),
            ([f"-vk={SECRET}"], ["-v"]),
        ):
            with self.subTest(form=form):
                result = self.run_shim("dropbox_post.py", *self.LIBREC_ARGS, *form)
                self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS + kept, SECRET)

    def test_empty_and_relative_path_entries_are_not_searched(self):
        # Issue 21 (18): an empty PATH entry means the current folder, where a hostile
        # study could ship its own dropbox-post.
        self.write_fake(self.tmp / "dropbox-post")
        self.write_fake(self.tmp / "rel" / "dropbox-post")
        shims = self.copy_shims()
        for path in (":/usr/bin:/bin", "/usr/bin::/bin", ".:/bin", "rel:/bin", "/bin:"):
            with self.subTest(path=path):
                result = self.run_shim(
                    "dropbox_post.py", *self.LIBREC_ARGS, shim_dir=shims,
                    DROPBOX_POST_BIN="", PATH=path,
                )
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertIn("dropbox-post binary not found", result.stderr)
                self.assertFalse(self.record.exists())

    def test_exit_codes_pass_through(self):
        for code in (0, 1, 3, 4, 6):
            with self.subTest(code=code):
                result = self.run_shim("dropbox_post.py", *self.LIBREC_ARGS, FAKE_EXIT=str(code))
                self.assertEqual(result.returncode, code)

    def test_password_flag_without_value_is_a_usage_error(self):
        for flag in ("--password", "-k", "--key_password"):
            with self.subTest(flag=flag):
                result = self.run_shim("dropbox_post.py", *self.LIBREC_ARGS, flag)
                self.assertEqual(result.returncode, 2)
                self.assertIn(f"{flag} needs a value", result.stderr)
                self.assertFalse(self.record.exists())

    def test_encrypt_forwards_librec_flags(self):
        args = ["--key", "token.txt", "--encrypted", "keys/dropbox.enc"]
        result = self.run_shim("encrypt.py", *args, "--password", SECRET)
        self.assert_forwarded(result, ["encrypt"] + args, SECRET)
        result = self.run_shim("encrypt.py", *args)
        self.assert_forwarded(result, ["encrypt"] + args, None)

    def test_binary_found_on_path(self):
        on_path = self.write_fake(self.tmp / "path-bin" / "dropbox-post")
        result = self.run_shim(
            "dropbox_post.py",
            *self.LIBREC_ARGS,
            DROPBOX_POST_BIN="",
            PATH=f"{on_path.parent}:/usr/bin:/bin",
        )
        self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS, None)

    def copy_shims(self):
        """The shims in a checkout of their own: ROOT/bin, with no ROOT/target."""
        shims = self.tmp / "checkout" / "bin"
        shutil.copytree(BIN, shims, ignore=shutil.ignore_patterns("__pycache__"))
        return shims

    def test_binary_found_in_the_checkout_release_build(self):
        shims = self.copy_shims()
        self.write_fake(shims.parent / "target" / "release" / "dropbox-post")
        result = self.run_shim(
            "dropbox_post.py", *self.LIBREC_ARGS, shim_dir=shims, DROPBOX_POST_BIN=""
        )
        self.assert_forwarded(result, ["post"] + self.LIBREC_ARGS, None)

    def installed_shims(self, prefix):
        """The shims where a wheel puts them under an install prefix."""
        shims = prefix / "share" / "dropbox-post" / "librec-auto"
        shutil.copytree(BIN, shims, ignore=shutil.ignore_patterns("__pycache__"))
        return shims

    def test_binary_of_its_own_install_comes_before_path(self):
        on_path = self.write_fake(self.tmp / "path-bin" / "dropbox-post")
        for binary in ("bin/dropbox-post", "Scripts/dropbox-post.exe",
                       "Python312/Scripts/dropbox-post.exe"):
            with self.subTest(binary=binary):
                prefix = self.tmp / binary.replace("/", "-")
                shims = self.installed_shims(prefix)
                own = self.write_fake(prefix / binary)
                own.write_text(FAKE.replace('"argv": sys.argv[1:]', '"argv": ["own"] + sys.argv[1:]'))
                result = self.run_shim(
                    "dropbox_post.py",
                    *self.LIBREC_ARGS,
                    shim_dir=shims,
                    DROPBOX_POST_BIN="",
                    PATH=f"{on_path.parent}:/usr/bin:/bin",
                )
                self.assert_forwarded(result, ["own", "post"] + self.LIBREC_ARGS, None)

    def test_installed_shims_without_their_binary_use_path(self):
        on_path = self.write_fake(self.tmp / "path-bin" / "dropbox-post")
        shims = self.installed_shims(self.tmp / "prefix")
        result = self.run_shim(
            "encrypt.py", "--key", "t", shim_dir=shims, DROPBOX_POST_BIN="",
            PATH=f"{on_path.parent}:/usr/bin:/bin",
        )
        self.assert_forwarded(result, ["encrypt", "--key", "t"], None)

    def test_binary_not_found(self):
        shims = self.copy_shims()
        for script in ("dropbox_post.py", "encrypt.py"):
            with self.subTest(script=script):
                result = self.run_shim(
                    script, "--password=x", shim_dir=shims, DROPBOX_POST_BIN=""
                )
                self.assertEqual(result.returncode, 1)
                lines = result.stderr.splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertIn(f"{script}: error: dropbox-post binary not found", lines[0])
                self.assertIn("DROPBOX_POST_BIN", lines[0])
                self.assertNotIn("--password=x", lines[0])

    def test_configured_binary_missing(self):
        missing = self.tmp / "nope" / "dropbox-post"
        result = self.run_shim("dropbox_post.py", *self.LIBREC_ARGS, DROPBOX_POST_BIN=str(missing))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(
            result.stderr.strip(),
            f"dropbox_post.py: error: DROPBOX_POST_BIN={missing} is not an executable file; "
            "point it at the dropbox-post binary or unset it",
        )


if __name__ == "__main__":
    unittest.main()
