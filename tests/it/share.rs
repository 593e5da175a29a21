//! `post --share` against a real emulator process, links served by the emulator, and
//! several `post` processes writing into one Dropbox folder at once.

use serde_json::{Value, json};

use crate::harness::{
    CmdExt, Emulator, PASSWORD, TestEnv, assert_success, block_on, files, json_of, pattern,
};

/// `GET url` without auth: status and body.
fn get(url: &str) -> (u16, Vec<u8>) {
    block_on(async {
        let r = reqwest::get(url).await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    })
}

/// An authenticated RPC call: status and JSON body.
fn rpc(emu: &Emulator, route: &str, arg: &Value) -> (u16, Value) {
    let (status, body) = block_on(emu.rpc(route, arg));
    (status.as_u16(), body)
}

fn link_of(json: &serde_json::Value) -> String {
    json["scripts"][0]["link"]
        .as_str()
        .unwrap_or_else(|| panic!("no link in {json}"))
        .to_string()
}

#[test]
fn a_shared_file_link_serves_its_bytes_and_is_reused() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    let data = pattern(70_000, 3);
    study.write("post/r.csv", &data);
    study.config(&[("file", "post/r.csv", "/results")]);

    let out = study.post(&["--share"]).output().unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("link: "))
        .unwrap_or_else(|| panic!("no link line: {stderr}"));
    assert!(line.starts_with(&format!("{}/s/", emu.url)), "{line}");
    assert!(line.ends_with("/r.csv"), "{line}");
    assert_eq!(get(line), (200, data.clone()));

    // Second run: nothing to upload, Dropbox says the link exists: the same link.
    let json = study.post_json(&["--share"]);
    assert_eq!(json["totals"]["skipped"], 1);
    assert_eq!(link_of(&json), line);

    // Without --share: no link.
    let json = study.post_json(&[]);
    assert_eq!(json["scripts"][0]["link"], serde_json::Value::Null);

    // A made-up link is not found.
    let (status, _) = get(&format!("{}/s/nosuchlink000/r.csv", emu.url));
    assert_eq!(status, 404);
}

#[test]
fn a_shared_folder_link_lists_the_destination() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("out/b.txt", b"b");
    study.write("out/A.txt", b"a");
    study.write("out/sub/deep.txt", b"deep");
    study.config(&[("folder", "out", "/Study/run")]);
    let json = study.post_json(&["--share"]);
    let link = link_of(&json);
    assert!(link.ends_with("/run"), "{link}");
    let (status, body) = get(&link);
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap(), "A.txt\nb.txt\nsub/\n");
    // The link survives an emulator restart-free rerun and stays the same.
    assert_eq!(link_of(&study.post_json(&["--share"])), link);
}

#[test]
fn the_config_share_param_shares_and_dry_run_does_not() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("post/s.csv", b"1,2\n");
    let config = study.config(&[("file", "post/s.csv", "/cfg")]);
    let xml = std::fs::read_to_string(&config).unwrap().replace(
        "<param name=\"password\"></param>",
        "<param name=\"password\"></param>\n      <param name=\"share\">true</param>",
    );
    std::fs::write(&config, xml).unwrap();

    let json = study.post_json(&["--dry-run", "--share"]);
    assert_eq!(json["scripts"][0]["link"], serde_json::Value::Null);
    assert!(!emu.root().join("links.json").exists());

    let json = study.post_json(&[]);
    let link = link_of(&json);
    assert_eq!(get(&link), (200, b"1,2\n".to_vec()));
}

#[test]
fn sharing_the_dropbox_root_fails_the_script() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("out/x.txt", b"x");
    study.config(&[("folder", "out", "/")]);
    let out = study.post(&["--share", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    let json = json_of(&out);
    assert_eq!(json["scripts"][0]["link"], serde_json::Value::Null);
    let reason = json["scripts"][0]["failures"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("cannot share the whole Dropbox"),
        "{reason}"
    );
    assert_eq!(json["scripts"][0]["failures"][0]["step"], "share");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("  FAILED share /: "), "{text}");
    // Red team (issue 22): the text says it too, as every failure does.
    let out = study.post(&["--share"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("  FAILED share /: cannot share the whole Dropbox"),
        "{text}"
    );
}

#[test]
fn four_processes_post_into_one_folder_at_once() {
    let env = TestEnv::with_emulator(&["--rate-limit-rate", "0.1", "--seed", "23"]);
    let emu = env.emulator();
    let common = pattern(3000, 777);
    let studies: Vec<_> = (0..4)
        .map(|p| {
            let study = env.study();
            for i in 0..50 {
                study.write(
                    &format!("out/p{p}/d{}/f{i}.dat", i % 5),
                    pattern(50 + i * 13, (p * 100 + i) as u64),
                );
            }
            study.write("out/common.dat", &common);
            study.config(&[("folder", "out", "/shared")]);
            study
        })
        .collect();
    let children: Vec<_> = studies
        .iter()
        .map(|s| {
            env.command()
                .args(["post", "--json", "--jobs", "8"])
                .endpoint(emu)
                .arg("--config")
                .arg(s.path("conf/config.xml"))
                .password(PASSWORD)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_success(&out);
        assert_eq!(json_of(&out)["totals"]["failed"], 0);
    }
    let mut expected = vec!["common.dat".to_string()];
    for p in 0..4 {
        for i in 0..50 {
            expected.push(format!("p{p}/d{}/f{i}.dat", i % 5));
        }
    }
    expected.sort();
    // Exactly these names: no `common (1).dat`.
    assert_eq!(files(&emu.file("/shared")), expected);
    for (p, study) in studies.iter().enumerate() {
        let local = study.path("out");
        for rel in expected.iter().filter(|r| r.starts_with(&format!("p{p}/"))) {
            assert!(
                std::fs::read(emu.file(&format!("/shared/{rel}"))).unwrap()
                    == std::fs::read(local.join(rel)).unwrap(),
                "{rel} differs"
            );
        }
    }
    assert_eq!(
        std::fs::read(emu.file("/shared/common.dat")).unwrap(),
        common
    );
    // Dropbox's own hashes agree with the bytes too: a rerun finds everything unchanged.
    let json = studies[0].post_json(&[]);
    assert_eq!(json["totals"]["uploaded"], 0);
    assert_eq!(json["totals"]["skipped"], 51);
}

#[test]
fn the_sharing_routes_answer_like_dropbox() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("out/Data/x.csv", b"x");
    study.config(&[("folder", "out", "/Pub")]);
    study.post_json(&[]);

    let create = "sharing/create_shared_link_with_settings";
    let (status, link) = rpc(emu, create, &json!({"path": "/pub/data/X.CSV"}));
    assert_eq!(status, 200, "{link}");
    assert_eq!(link[".tag"], "file");
    assert_eq!(link["name"], "x.csv");
    assert_eq!(link["path_lower"], "/pub/data/x.csv");
    assert_eq!(link["size"], 1);
    assert_eq!(link["link_permissions"]["can_revoke"], true);
    assert_eq!(get(link["url"].as_str().unwrap()), (200, b"x".to_vec()));

    // Again: 409 with the existing link inside; with settings, without it.
    let (status, err) = rpc(emu, create, &json!({"path": "/Pub/Data/x.csv"}));
    assert_eq!(status, 409);
    assert_eq!(err["error"][".tag"], "shared_link_already_exists");
    assert_eq!(
        err["error"]["shared_link_already_exists"]["metadata"]["url"],
        link["url"]
    );
    let settings =
        json!({"path": "/Pub/Data/x.csv", "settings": {"requested_visibility": "public"}});
    let (status, err) = rpc(emu, create, &settings);
    assert_eq!(status, 409);
    assert!(
        err["error"]["shared_link_already_exists"].is_null(),
        "{err}"
    );

    // list_shared_links: direct only, or with the links of parent folders.
    let (_, folder) = rpc(emu, create, &json!({"path": "/Pub"}));
    assert_eq!(folder[".tag"], "folder");
    assert!(folder.get("size").is_none());
    let list = "sharing/list_shared_links";
    let (status, direct) = rpc(
        emu,
        list,
        &json!({"path": "/pub/data/x.csv", "direct_only": true}),
    );
    assert_eq!(status, 200);
    assert_eq!(direct["has_more"], false);
    assert_eq!(direct["links"].as_array().unwrap().len(), 1);
    assert_eq!(direct["links"][0]["url"], link["url"]);
    let (_, all) = rpc(emu, list, &json!({"path": "/pub/data/x.csv"}));
    assert_eq!(all["links"].as_array().unwrap().len(), 2);

    // Bad input.
    let (status, err) = rpc(emu, create, &json!({"path": "/nothing/here"}));
    assert_eq!(status, 409);
    assert_eq!(err["error_summary"].as_str().unwrap(), "path/not_found/.");
    let (status, _) = rpc(emu, list, &json!({"path": "/missing"}));
    assert_eq!(status, 409);
}
