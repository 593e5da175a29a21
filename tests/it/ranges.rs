//! Issue 23, part 3: `get` fetches a file of two ranges (32 MiB) or more as 16 MiB ranges
//! in parallel, each written in place, every request pinned to the listed revision, and the
//! whole file checked by its content hash before it lands. Against the real emulator for
//! what Dropbox does (sizes at the edges, faults, a file replaced mid-get), and against a
//! test server for what a hostile or broken one might (wrong ranges, cut bodies).

use std::process::Output;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use reqwest::StatusCode as Status;

use crate::harness::{
    Emulator, Hook, HostileServer, Seen, Study, TOKEN, TestEnv, assert_success, block_on,
    file_metadata, hash, pattern, stderr, tree,
};

/// The client's range size.
const RANGE: usize = 16 << 20;

fn get(study: &Study, url: &str, args: &[&str]) -> Output {
    study
        .remote_at(url, &[&["get"], args].concat())
        .output()
        .unwrap()
}

fn upload(env: &TestEnv, path: &str, data: &[u8]) {
    let (status, answer) = block_on(env.emulator().upload(path, data));
    assert_eq!(status, Status::OK, "{path}: {answer}");
}

#[test]
fn files_at_the_edges_of_the_range_size_land_byte_for_byte_in_as_many_requests() {
    let env = TestEnv::with_emulator(&["-v"]);
    let study = env.study();
    let emu = env.emulator();
    let files = [
        ("empty", 0, 1),
        ("one", 1, 1),
        ("under", 2 * RANGE - 1, 1),
        ("at", 2 * RANGE, 2),
        ("over", 2 * RANGE + 1, 3),
    ];
    for (i, (name, size, _)) in files.iter().enumerate() {
        upload(&env, &format!("/big/{name}"), &pattern(*size, i as u64));
    }
    let out = get(&study, &emu.url, &["/big", "copy", "-v"]);
    assert_success(&out);
    for (i, (name, size, _)) in files.iter().enumerate() {
        let got = std::fs::read(study.path(&format!("copy/{name}"))).unwrap();
        assert!(got == pattern(*size, i as u64), "{name} differs");
    }
    let requests: usize = files.iter().map(|f| f.2).sum();
    assert_eq!(emu.requests("files/download"), requests, "{}", emu.log());
    assert_eq!(emu.log().matches("files/download -> 206").count(), 5);
    let text = stderr(&out);
    assert!(
        text.contains("/big/over: 33554433 bytes in 3 ranges"),
        "{text}"
    );
    assert!(!text.contains("/big/under: "), "{text}");
}

#[test]
fn ranges_refused_or_whose_answer_is_lost_are_asked_again_and_the_file_lands_whole() {
    let env = TestEnv::new();
    let study = env.study();
    let data = pattern(3 * RANGE + 12_345, 9);
    let mut emu = Emulator::start(&["-v"]);
    let (status, answer) = block_on(emu.upload("/big/f.bin", &data));
    assert_eq!(status, Status::OK, "{answer}");
    emu.restart(&[
        "-v",
        "--seed",
        "7",
        "--error-rate",
        "0.3",
        "--lose-answer",
        "files/download:2",
        "--lose-answer",
        "files/download:4",
    ]);
    assert_success(&get(&study, &emu.url, &["/big/f.bin", "f.bin"]));
    assert!(std::fs::read(study.path("f.bin")).unwrap() == data);
    // 4 ranges, each answered once in full, after some refusals and two answers lost.
    let log = emu.log();
    assert_eq!(log.matches("files/download -> 206").count(), 4, "{log}");
    assert!(log.contains("files/download -> 5"), "{log}");
    assert_eq!(log.matches("dropping its answer").count(), 2, "{log}");
}

#[test]
fn answers_cut_half_way_go_on_from_the_bytes_they_wrote() {
    let cuts = ["files/download:1", "files/download:3", "files/download:5"];
    let flags = [&["-v"][..], &cuts.map(|c| ["--cut-answer", c]).concat()].concat();
    let env = TestEnv::with_emulator(&flags);
    let study = env.study();
    // One byte (cut before it: asked again whole), one MiB (asked again from half-way),
    // and three ranges, the first cut half-way.
    let files = [("one", 1), ("mid", 1 << 20), ("big", 2 * RANGE + 5)];
    for (i, (name, size)) in files.iter().enumerate() {
        upload(&env, &format!("/cut/{name}"), &pattern(*size, i as u64));
    }
    let emu = env.emulator();
    for (i, (name, size)) in files.iter().enumerate() {
        assert_success(&get(&study, &emu.url, &[&format!("/cut/{name}"), name]));
        assert!(std::fs::read(study.path(name)).unwrap() == pattern(*size, i as u64));
    }
    let log = emu.log();
    assert_eq!(
        log.matches("cutting its answer half-way").count(),
        3,
        "{log}"
    );
    assert_eq!(emu.requests("files/download"), 2 + 2 + 4, "{log}");
}

/// A file replaced once its first range is in: the ranges asked after name a revision that
/// is gone, so the file fails, named, and never lands mixed; the rest of the get goes on.
/// (Dropbox keeps old revisions, so there every range would bring the old version.)
#[test]
fn a_file_replaced_mid_get_fails_alone_and_never_lands_mixed() {
    let env = TestEnv::with_emulator(&["-v"]);
    let study = env.study();
    let emu = env.emulator();
    let (status, old) = block_on(emu.upload("/big/f.bin", &pattern(3 * RANGE, 1)));
    assert_eq!(status, Status::OK, "{old}");
    upload(&env, "/big/small.txt", b"small");
    // A second writer, just before the second request for the listed revision goes on.
    let rev = old["rev"].as_str().unwrap().to_string();
    let (pinned, upload) = (format!("rev:{rev}"), emu.route("files/upload"));
    let asked = AtomicUsize::new(0);
    let hook: Hook = Box::new(move |seen: &Seen| {
        let second = seen.arg["path"] == pinned.as_str() && asked.fetch_add(1, SeqCst) == 1;
        let upload = upload.clone();
        Box::pin(async move {
            if second {
                let r = reqwest::Client::new().post(upload).bearer_auth(TOKEN);
                let r = r.header(
                    "Dropbox-API-Arg",
                    r#"{"path":"/big/f.bin","mode":"overwrite"}"#,
                );
                let r = r.header("Content-Type", "application/octet-stream");
                let sent = r.body(pattern(3 * RANGE, 2)).send().await.unwrap();
                assert!(sent.status().is_success());
            }
        })
    });
    let proxy = HostileServer::proxy(&emu.url, hook);
    let out = get(&study, &proxy.url, &["/big", "copy"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(6), "{text}");
    let gone = format!("failed: /big/f.bin -> copy/f.bin: revision {rev} is no longer");
    assert!(text.contains(&gone), "{text}");
    assert!(text.contains("1 of 2 files failed"), "{text}");
    assert_eq!(tree(&study.path("copy")), ["small.txt"]);
    assert_eq!(
        std::fs::read(study.path("copy/small.txt")).unwrap(),
        b"small"
    );
}

// ---- A test server that answers ranges as it is told ------------------------------------

/// How the test server answers a `Range` request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// As Dropbox does, but each range's first answer is cut half-way through its body.
    CutOnce,
    /// 200 with the whole file, whatever is asked.
    Whole,
    /// The first range as asked, then the whole file.
    WholeAfterFirst,
    /// A `Content-Range` one byte off.
    OffByOne,
    /// No `Content-Range`.
    Unnamed,
    /// One byte more than the range.
    Long,
    /// One byte less than the range.
    Short,
    /// 416 for every range but the first.
    Unsatisfiable,
}

/// The asked range of a `bytes=FIRST-LAST` header.
fn asked(headers: &HeaderMap) -> Option<(usize, usize)> {
    let range = headers
        .get("range")?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (first, last) = range.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// `get_metadata` and `files/download` of `/res/run.bin`, holding `data`, answered as
/// `answer` says; `ranges` records each download's `Range` header.
fn range_server(
    data: Arc<Vec<u8>>,
    answer: Answer,
    ranges: Arc<Mutex<Vec<String>>>,
) -> HostileServer {
    let mut meta = file_metadata("run.bin", "/res/run.bin", data.len() as u64);
    meta["content_hash"] = hash(&data).into();
    let header = meta.to_string();
    let download = post(move |headers: HeaderMap| async move {
        let size = data.len();
        let range = headers
            .get("range")
            .map(|r| r.to_str().unwrap().to_string());
        let again = {
            let mut seen = ranges.lock().unwrap();
            let last = |r: &String| r.rsplit('-').next().map(str::to_string);
            let again = range
                .as_ref()
                .is_some_and(|r| seen.iter().any(|s| last(s) == last(r)));
            seen.push(range.unwrap_or_default());
            again
        };
        let response = Response::builder().header("dropbox-api-result", header.clone());
        let (first, last) = match (answer, asked(&headers)) {
            (Answer::WholeAfterFirst, Some((first, _))) if first > 0 => (0, size - 1),
            (Answer::Unsatisfiable, Some((first, _))) if first > 0 => {
                let all = format!("bytes */{size}");
                let refused = response.status(StatusCode::RANGE_NOT_SATISFIABLE);
                return refused
                    .header("content-range", all)
                    .body(Body::empty())
                    .unwrap();
            }
            (Answer::Whole, _) | (_, None) => (0, size - 1),
            (_, Some(range)) => range,
        };
        let mut body = data[first..=last].to_vec();
        let named = match answer {
            _ if asked(&headers) != Some((first, last)) => {
                return response.status(StatusCode::OK).body(body.into()).unwrap();
            }
            Answer::Unnamed => None,
            Answer::OffByOne => Some(format!("bytes {}-{}/{size}", first + 1, last + 1)),
            Answer::Long => {
                body.push(b'!');
                Some(format!("bytes {first}-{last}/{size}"))
            }
            Answer::Short => {
                body.pop();
                Some(format!("bytes {first}-{last}/{size}"))
            }
            _ => Some(format!("bytes {first}-{last}/{size}")),
        };
        let mut response = response
            .status(StatusCode::PARTIAL_CONTENT)
            .header("content-length", body.len());
        if let Some(named) = named {
            response = response.header("content-range", named);
        }
        if matches!(answer, Answer::CutOnce) && !again {
            // Half the body, then the connection breaks.
            body.truncate(body.len() / 2);
            let broken = Err(std::io::Error::other("cut"));
            let cut = futures_util::stream::iter([Ok(bytes::Bytes::from(body)), broken]);
            return response.body(Body::from_stream(cut)).unwrap();
        }
        response.body(body.into()).unwrap()
    });
    HostileServer::serving(meta, download)
}

#[test]
fn a_range_cut_mid_body_goes_on_from_the_bytes_it_wrote() {
    let env = TestEnv::new();
    let study = env.study();
    let data = Arc::new(pattern(2 * RANGE + 4_194_305, 4));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let server = range_server(data.clone(), Answer::CutOnce, ranges.clone());
    assert_success(&get(&study, &server.url, &["/res/run.bin", "got"]));
    assert!(std::fs::read(study.path("got")).unwrap() == *data);
    // Each range asked whole, then again from past its start (where its body broke off,
    // half-way) to its end.
    let asked = ranges.lock().unwrap().clone();
    assert_eq!(asked.len(), 6, "{asked:?}");
    let size = data.len();
    for (start, last) in [
        (0, RANGE - 1),
        (RANGE, 2 * RANGE - 1),
        (2 * RANGE, size - 1),
    ] {
        assert!(
            asked.contains(&format!("bytes={start}-{last}")),
            "{asked:?}"
        );
        let resumed = asked.iter().find_map(|r| {
            let (first, end) = r.strip_prefix("bytes=")?.split_once('-')?;
            let first: usize = first.parse().ok()?;
            (end == last.to_string() && first != start).then_some(first)
        });
        let half = start + (last - start).div_ceil(2);
        assert!(
            resumed.is_some_and(|r| r > start && r <= half),
            "{start}: {asked:?}"
        );
    }
}

#[test]
fn a_server_that_ignores_ranges_sends_the_file_in_one_answer() {
    let env = TestEnv::new();
    let study = env.study();
    let data = Arc::new(pattern(2 * RANGE, 5));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let server = range_server(data.clone(), Answer::Whole, ranges.clone());
    assert_success(&get(&study, &server.url, &["/res/run.bin", "got"]));
    assert!(std::fs::read(study.path("got")).unwrap() == *data);
    assert_eq!(ranges.lock().unwrap().len(), 1);
}

#[test]
fn a_range_answered_with_other_bytes_fails_its_file_and_writes_nothing() {
    let env = TestEnv::new();
    let study = env.study();
    let data = Arc::new(pattern(2 * RANGE + 1, 6));
    for (answer, says) in [
        (Answer::WholeAfterFirst, "it answered with the whole file"),
        (
            Answer::OffByOne,
            "it answered Content-Range bytes 1-16777216/33554433",
        ),
        (Answer::Unnamed, "it answered with no Content-Range"),
        // Ranges come back in any order: whichever is read first names its own length.
        (Answer::Long, "Dropbox sent more than the"),
        (Answer::Short, "downloaded 33554430 bytes"),
        (Answer::Unsatisfiable, "it answered 416 (not satisfiable)"),
    ] {
        std::fs::create_dir_all(study.path("got")).unwrap();
        let server = range_server(data.clone(), answer, Arc::default());
        let out = get(&study, &server.url, &["/res/run.bin", "got"]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(6), "{answer:?}: {text}");
        assert!(text.contains("failed: /res/run.bin"), "{answer:?}: {text}");
        assert!(text.contains(says), "{answer:?}: {says:?} not in {text}");
        assert!(
            tree(&study.path("got")).is_empty(),
            "{answer:?}: {:?}",
            tree(&study.path("got"))
        );
    }
}
