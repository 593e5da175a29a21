//! `--tls`: reqwest and curl trusting the CA the emulator writes.

use reqwest::StatusCode;

use crate::harness::{Emulator, TOKEN, TestEnv};

#[tokio::test]
async fn https_with_the_written_ca() {
    let env = TestEnv::new();
    let ca = env.path("certs").join("ca.pem");
    let ca_arg = ca.to_str().unwrap().to_string();
    // The emulator writes the CA before printing its URL, so a plain client starts it.
    let emu = Emulator::start(&["--tls", "--ca-cert-out", &ca_arg]);
    assert!(emu.url.starts_with("https://127.0.0.1:"), "{}", emu.url);
    let pem = std::fs::read(&ca).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let r = client
        .post(emu.route("users/get_current_account"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Without the CA the certificate is refused.
    assert!(
        reqwest::Client::new()
            .post(emu.route("users/get_current_account"))
            .send()
            .await
            .is_err()
    );
    let localhost = emu
        .route("files/list_folder")
        .replace("127.0.0.1", "localhost");
    let mut curl = std::process::Command::new("curl");
    env.isolate(&mut curl);
    let out = curl
        .args(["-sS", "--fail", "--cacert", &ca_arg, "-X", "POST"])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"path":""}"#,
        ])
        .arg(&localhost)
        .output();
    match out {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["has_more"], false);
        }
        Err(e) => panic!("curl is needed for this test: {e}"),
    }
}
