//! Issue 14, dropbox-post's side: every auth failure a user can cause from the App Console
//! is one line with the remedy, exit 5, nothing written; `post`, `ls`, `get` and `whoami`
//! work in a team space. The emulator's side is `emulator/fidelity.rs`.

use std::process::Output;

use serde_json::json;

use crate::harness::{
    HOME_NS, PASSWORD, ROOT_NS, Study, TOKEN, TestEnv, assert_no_secret, assert_success, block_on,
    files, stderr, stdout,
};

const RESULTS: &[u8] = b"user,item,score\n1,2,4.5\n";

/// Runs `cmd`; no output may show the password.
fn run(cmd: &mut assert_cmd::Command) -> Output {
    let out = cmd.output().unwrap();
    assert_no_secret(&out, &[PASSWORD]);
    out
}

/// A study sealing `credential` whose config posts `out/` (one file) to `dest`, with
/// extra `<param>`s.
fn posting<'e>(
    env: &'e TestEnv,
    credential: &str,
    dest: &str,
    params: &[(&str, &str)],
) -> Study<'e> {
    let study = env.study_sealing(credential);
    study.write("out/results.csv", RESULTS);
    study.config_with(("folder", "out", dest), params);
    study
}

/// Exit 5, and one error line holding every part of `remedy` and none of `secrets`.
#[track_caller]
fn assert_auth_failure(out: &Output, remedy: &[&str], secrets: &[&str]) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(5), "{text}");
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("dropbox-post: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    for part in remedy {
        assert!(
            errors[0].contains(part),
            "{part:?} missing from {}",
            errors[0]
        );
    }
    assert_no_secret(out, secrets);
}

#[track_caller]
fn nothing_stored(env: &TestEnv) {
    assert_eq!(files(&env.emulator().file("/")), Vec::<String>::new());
}

/// A refresh-token credential of app `key:secret`, granted `params` by the env's emulator.
fn refresh_credential(env: &TestEnv, secret: &str, params: &[(&str, &str)]) -> (String, String) {
    let (_, t) = block_on(env.emulator().grant("key", secret, params));
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let credential = json!({"type": "refresh_token", "app_key": "key", "app_secret": secret, "refresh_token": refresh});
    (credential.to_string(), refresh)
}

#[test]
fn a_post_without_files_content_write_exits_5_says_what_to_tick_and_writes_nothing() {
    let env = TestEnv::with_emulator(&["--token", "reader=files.metadata.read account_info.read"]);
    let study = posting(&env, "reader", "/results", &[]);
    let remedy = [
        "files.content.write",
        "Permissions tab",
        "App Console",
        "Submit",
        "`dropbox-post auth`",
        "only to tokens issued after",
    ];
    assert_auth_failure(&run(&mut study.post(&[])), &remedy, &["reader"]);
    nothing_stored(&env);
}

/// Red team (issue 22): a run of several scripts stopped in its first still ends with its
/// total, which shows the scripts that never ran sent nothing.
#[test]
fn a_run_of_several_scripts_stopped_early_still_says_its_total() {
    let env = TestEnv::with_emulator(&["--token", "reader=files.metadata.read account_info.read"]);
    let study = env.study_sealing("reader");
    study.write("out/results.csv", RESULTS);
    study.write("more/results.csv", RESULTS);
    study.config(&[("folder", "out", "/a"), ("folder", "more", "/b")]);
    let out = run(&mut study.post(&[]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\ntotal: 0 uploaded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn get_without_files_content_read_stops_at_the_first_refusal_and_says_it_once() {
    let env = TestEnv::with_emulator(&["--token", "lister=files.metadata.read"]);
    let full = env.study_sealing(TOKEN);
    for n in 0..12 {
        full.write(&format!("out/{n}.csv"), RESULTS);
    }
    full.config_with(("folder", "out", "/results"), &[]);
    assert_success(&run(&mut full.post(&[])));

    let lister = env.study_sealing("lister");
    let out = run(&mut lister.remote(&["get", "/results", "fetched"]));
    assert_auth_failure(
        &out,
        &["files.content.read", "`dropbox-post auth`"],
        &["lister"],
    );
    assert!(!stderr(&out).contains("failed: "), "{}", stderr(&out));
    assert_eq!(files(&lister.path("fetched")), Vec::<String>::new());
}

#[test]
fn a_refresh_grant_without_the_scope_fails_the_same_way() {
    let env = TestEnv::with_emulator(&["--app", "key:secret"]);
    let (credential, refresh) =
        refresh_credential(&env, "secret", &[("scope", "files.metadata.read")]);
    let study = posting(&env, &credential, "/results", &[]);
    let remedy = ["files.content.write", "`dropbox-post auth` again"];
    assert_auth_failure(&run(&mut study.post(&[])), &remedy, &[&refresh, "secret"]);
    nothing_stored(&env);
}

#[test]
fn a_revoked_token_exits_5_and_says_to_seal_a_fresh_one() {
    let env = TestEnv::new();
    let revoked = "sl.revoked-long-ago";
    let study = posting(&env, revoked, "/results", &[]);
    let remedy = ["invalid or was revoked", "`dropbox-post auth`"];
    assert_auth_failure(&run(&mut study.post(&[])), &remedy, &[revoked]);
    assert_auth_failure(&run(&mut study.remote(&["ls"])), &remedy[..1], &[revoked]);
    nothing_stored(&env);
}

#[test]
fn a_wrong_app_secret_exits_5_and_points_at_the_app_settings() {
    let env = TestEnv::with_emulator(&["--app", "key:right-secret"]);
    let (credential, refresh) = refresh_credential(&env, "right-secret", &[]);
    let credential = credential.replace("right-secret", "wrong-secret");
    let study = posting(&env, &credential, "/results", &[]);
    let remedy = ["invalid_client", "app key or app secret", "Settings tab"];
    let secrets = [refresh.as_str(), "wrong-secret", "right-secret"];
    assert_auth_failure(&run(&mut study.post(&[])), &remedy, &secrets);
    nothing_stored(&env);
}

#[test]
fn the_team_space_of_a_personal_account_is_refused_before_anything_is_sent() {
    let env = TestEnv::new();
    let study = posting(&env, TOKEN, "/Lab Results", &[("root", "team")]);
    let remedy = [
        "Emma Ulator <emulator@example.com> is a personal Dropbox account",
        "--root team",
    ];
    assert_auth_failure(&run(&mut study.post(&[])), &remedy, &[TOKEN]);
    nothing_stored(&env);
    let out = run(&mut study.remote(&["whoami", "--root", "team"]));
    assert_auth_failure(&out, &["personal Dropbox account"], &[]);
    // The same account in its own space.
    let out = run(&mut study.remote(&["whoami"]));
    assert_success(&out);
    let root = format!("root:    namespace {HOME_NS} (a personal space: the root is home)");
    assert!(stdout(&out).contains(&root), "{}", stdout(&out));
}

#[test]
fn a_post_into_a_team_folder_lands_under_the_team_root() {
    let env = TestEnv::with_emulator(&["--team"]);
    let landed = |path: &str| std::fs::read(env.emulator().file(path)).ok();
    let study = posting(&env, TOKEN, "/Lab Results/run-1", &[("root", "team")]);
    assert_success(&run(&mut study.post(&[])));
    assert_eq!(
        landed("/Lab Results/run-1/results.csv").as_deref(),
        Some(RESULTS)
    );
    assert_eq!(landed("/Emma Ulator/Lab Results/run-1/results.csv"), None);
    // --root team does the same for a script without the param; home is the default.
    let study = posting(&env, TOKEN, "/Lab Results/run-2", &[]);
    assert_success(&run(&mut study.post(&["--root", "team"])));
    assert_eq!(
        landed("/Lab Results/run-2/results.csv").as_deref(),
        Some(RESULTS)
    );
    assert_success(&run(&mut study.post(&[])));
    assert_eq!(
        landed("/Emma Ulator/Lab Results/run-2/results.csv").as_deref(),
        Some(RESULTS)
    );
    // A re-post in the team space finds what is there and sends nothing.
    let study = posting(&env, TOKEN, "/Lab Results/run-1", &[("root", "Team")]);
    let summary = study.post_json(&[]);
    let totals = &summary["totals"];
    assert_eq!(
        (totals["uploaded"].as_u64(), totals["skipped"].as_u64()),
        (Some(0), Some(1)),
        "{summary}"
    );
}

/// Issue 21 red team: with --root team, the member folder is the member's whole home and
/// a team folder a whole team's: each folder at the top is guarded as / is.
#[test]
fn a_mirror_of_a_folder_at_the_top_of_a_team_space_needs_the_flag() {
    let env = TestEnv::with_emulator(&["--team"]);
    let study = posting(&env, TOKEN, "/Lab Results/run-1", &[("root", "team")]);
    assert_success(&run(&mut study.post(&[])));
    for dest in ["/Emma Ulator", "/Lab Results"] {
        let study = posting(&env, TOKEN, dest, &[("root", "team"), ("delete", "true")]);
        let out = run(&mut study.post(&[]));
        assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("--allow-root-mirror"),
            "{}",
            stderr(&out)
        );
    }
    let kept = std::fs::read(env.emulator().file("/Lab Results/run-1/results.csv"));
    assert_eq!(kept.unwrap(), RESULTS);
}

#[test]
fn ls_get_and_whoami_in_a_team_space() {
    let env = TestEnv::with_emulator(&["--team"]);
    assert_success(&run(&mut posting(
        &env,
        TOKEN,
        "/Lab Results",
        &[("root", "team")],
    )
    .post(&[])));
    let study = posting(&env, TOKEN, "/mine", &[]);
    assert_success(&run(&mut study.post(&[])));
    let shows = |args: &[&str]| {
        let out = run(&mut study.remote(args));
        assert_success(&out);
        stdout(&out)
    };
    assert_eq!(
        shows(&["ls", "--root", "team"]),
        "Emma Ulator/\nLab Results/\n"
    );
    assert_eq!(shows(&["ls", "-r"]), "mine/\nmine/results.csv\n");
    assert_eq!(
        shows(&["ls", "--root", "team", "/Lab Results"]),
        "results.csv\n"
    );

    shows(&[
        "get",
        "--root",
        "team",
        "/Lab Results/results.csv",
        "fetched",
    ]);
    assert_eq!(std::fs::read(study.path("fetched")).unwrap(), RESULTS);
    // In home, the team folder is not there.
    let out = run(&mut study.remote(&["get", "/Lab Results/results.csv", "fetched"]));
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));

    let who = shows(&["whoami"]);
    for line in [
        "account: business",
        "team:    Ulator Lab",
        &format!("root:    namespace {ROOT_NS} (the team space)"),
        &format!("home:    namespace {HOME_NS} (/Emma Ulator in the team space)"),
        "paths:   start at home; --root team starts them at the team space",
    ] {
        assert!(who.lines().any(|l| l == line), "{line:?} not in\n{who}");
    }
    let who = shows(&["whoami", "--root", "team"]);
    assert!(
        who.contains("paths:   start at the team space (--root team)"),
        "{who}"
    );
}
