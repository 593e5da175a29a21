//! The README's main job: `dropbox-post demo` posts the example study, re-posts it with
//! everything skipped, and lists what landed.

use crate::harness::TestEnv;

#[test]
fn demo_runs_end_to_end() {
    let env = TestEnv::new();
    let work = env.path("demo");
    let out = env
        .cmd()
        .args(["demo", "--workdir"])
        .arg(&work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");

    // The remote tree lists every posted file with its Dropbox content hash.
    let weights = std::fs::read(work.join("study/exp00000/model/weights.bin")).unwrap();
    let hash = dropbox_wire::content_hash::content_hash(&weights);
    let line = stdout
        .lines()
        .find(|l| l.ends_with("/dropbox-post-demo/exp00000/model/weights.bin"))
        .unwrap_or_else(|| panic!("weights.bin not listed:\n{stdout}"));
    assert!(line.contains(&hash), "{line}");
    assert!(
        stdout.contains("/dropbox-post-demo/summary.csv"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/dropbox-post-demo/exp00000/result/fold 1/metrics-ü.csv"),
        "{stdout}"
    );

    // What landed on the emulator's disk is byte for byte what the study holds.
    let landed = work.join("dropbox");
    let found = walkdir::WalkDir::new(&landed)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "weights.bin")
        .expect("weights.bin stored by the emulator");
    assert_eq!(std::fs::read(found.path()).unwrap(), weights);

    // The first post uploaded the study; the second found nothing to upload.
    let totals: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("total: "))
        .collect();
    assert_eq!(totals.len(), 2, "{stderr}");
    assert!(
        totals[0].starts_with("total: 11 uploaded, 0 unchanged, 0 failed"),
        "{}",
        totals[0]
    );
    assert!(
        totals[1].starts_with("total: 0 uploaded, 11 unchanged, 0 failed"),
        "{}",
        totals[1]
    );
}
