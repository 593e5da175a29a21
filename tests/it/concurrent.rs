//! Big files go up in parallel pieces through concurrent upload sessions.

use std::time::{Duration, Instant};

use crate::harness::{TestEnv, assert_same_files, assert_success, json_of, pattern};

const MIB: usize = 1 << 20;
/// 10 chunks of 4 MiB: past the 4 chunks from which a file goes up concurrently.
const BIG: usize = 40 * MIB;

/// While the first piece is held, the others are appended and acknowledged: the pieces are
/// in flight together, and the closing one waits for every other.
#[test]
fn a_big_file_goes_up_in_parallel_pieces() {
    let route = "files/upload_session/append_v2";
    let hold = format!("{route}:1");
    let env = TestEnv::with_emulator(&["-v", "--hold", &hold]);
    let study = env.study();
    let emu = env.emulator();
    study.write("out/big.bin", pattern(BIG, 1));
    study.config(&[("folder", "out", "/C")]);
    let post = study.post_command(&emu.url, &["--chunk-size", "4", "--json"]);
    let out = emu.race(post, || {
        // The eight other pieces before the closing one.
        let deadline = Instant::now() + Duration::from_secs(60);
        while emu.requests(route) < 8 {
            assert!(Instant::now() < deadline, "{}", emu.log());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            emu.requests(route),
            8,
            "the closing piece waits for the held one"
        );
    });
    assert_success(&out);
    assert_eq!(json_of(&out)["totals"]["uploaded"], 1);
    assert_same_files(&study.path("out"), &emu.file("/C"));
    assert_eq!(emu.requests(route), 10);
}

/// Sizes at and around a multiple of the piece size land byte for byte, each through one
/// empty `start` (a concurrent session carries no data there) and 4 MiB-aligned pieces (the
/// emulator refuses others), committed together.
#[test]
fn sizes_at_and_off_a_multiple_of_the_piece_land_whole() {
    let env = TestEnv::with_emulator(&["-v"]);
    let study = env.study();
    let emu = env.emulator();
    for (name, len) in [("exact", BIG), ("over", BIG + 1), ("under", BIG - 1)] {
        study.write(&format!("out/{name}.bin"), pattern(len, len as u64));
    }
    study.config(&[("folder", "out", "/C")]);
    let json = study.post_json(&["--chunk-size", "4"]);
    assert_eq!(json["totals"]["uploaded"], 3, "{json}");
    assert_same_files(&study.path("out"), &emu.file("/C"));
    let count = |route: &str| emu.requests(&format!("files/upload_session/{route}"));
    assert_eq!(count("start"), 3);
    assert_eq!(emu.bytes_in("/2/files/upload_session/start"), 0);
    // 10 pieces, 11 (the last of one byte) and 10 (the last one byte short).
    assert_eq!(count("append_v2"), 31);
    assert_eq!(count("finish_batch_v2"), 1);
}

/// Failed and cut requests, and a piece whose answer was lost after Dropbox stored it, are
/// retried piece by piece: the file lands whole, once.
#[test]
fn faults_leave_a_big_file_whole_and_committed_once() {
    let env = TestEnv::with_emulator(&[
        "--lose-answer",
        "files/upload_session/append_v2:3",
        "--seed",
        "5",
        "--error-rate",
        "0.15",
        "--cut-rate",
        "0.05",
    ]);
    let study = env.study();
    let emu = env.emulator();
    study.write("out/big.bin", pattern(BIG + 3, 2));
    study.config(&[("folder", "out", "/faulty")]);
    let json = study.post_json(&["--chunk-size", "4", "--mode", "add"]);
    assert_eq!(json["totals"]["uploaded"], 1, "{json}");
    // Same bytes, and no "big (1).bin" copy.
    assert_same_files(&study.path("out"), &emu.file("/faulty"));
}

/// The file is rewritten (same size, other bytes) while its first piece is held: the pieces
/// already hashed no longer match what would be read, the file is no longer as walked, and
/// it fails with a line that says so; nothing is committed.
#[test]
fn a_file_rewritten_while_its_pieces_go_up_is_not_committed() {
    let env = TestEnv::with_emulator(&["-v", "--hold", "files/upload_session/append_v2:1"]);
    let study = env.study();
    let emu = env.emulator();
    study.write("out/big.bin", pattern(BIG, 3));
    study.config(&[("folder", "out", "/C")]);
    let post = study.post_command(&emu.url, &["--chunk-size", "4"]);
    let out = emu.race(post, || {
        std::thread::sleep(Duration::from_millis(20));
        study.write("out/big.bin", pattern(BIG, 4));
    });
    assert!(!out.status.success());
    let err = crate::harness::stderr(&out);
    assert!(
        err.contains("big.bin") && err.contains("changed while being"),
        "{err}"
    );
    assert!(!emu.file("/C/big.bin").exists());
}

/// The file is cut short while its pieces stream from it: they can no longer be read as
/// they are sent. That is the file changing, said at once, not Dropbox out of reach, retried
/// for half a minute.
#[test]
fn a_file_cut_short_while_its_pieces_go_up_fails_at_once() {
    let env = TestEnv::with_emulator(&["-v", "--hold", "files/upload_session/append_v2:1"]);
    let study = env.study();
    let emu = env.emulator();
    study.write("out/big.bin", pattern(BIG, 5));
    study.config(&[("folder", "out", "/C")]);
    // Every piece in flight at once, at 10 MiB/s together: seconds of streaming.
    let args = ["--chunk-size", "4", "--jobs", "16", "--bwlimit", "10M"];
    let post = study.post_command(&emu.url, &args);
    let began = Instant::now();
    let out = emu.race(post, || {
        std::thread::sleep(Duration::from_millis(500));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(study.path("out/big.bin"));
        file.unwrap().set_len(0).unwrap();
    });
    let took = began.elapsed();
    assert!(!out.status.success());
    let err = crate::harness::stderr(&out);
    assert!(err.contains("big.bin") && err.contains("changed"), "{err}");
    assert!(!err.contains("cannot reach"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}: {err}");
    assert!(!emu.file("/C/big.bin").exists());
}
