//! Time to open a sealed credential: `cargo bench --bench open`.
//!
//! One open happens per pipeline run; every password guess by an offline attacker costs the
//! same work, so this number is both the user's wait and the attacker's price per guess.
//! Prints the median of `RUNS` opens for the default v1 parameters and, for comparison,
//! librec-auto's legacy scheme.

use std::path::Path;
use std::time::{Duration, Instant};

use dropbox_post_core::password::{Password, Source};
use dropbox_post_core::seal::{Credential, KdfParams, SealedFile, seal};
use secrecy::SecretString;

const RUNS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_open(label: &str, sealed: &SealedFile, password: &str) {
    let password = Password::new(SecretString::from(password), Source::Flag("the benchmark"));
    let samples = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            sealed.open(&password).expect("the benchmark file opens");
            start.elapsed()
        })
        .collect();
    println!(
        "{label:<48} median of {RUNS}: {:>7.1} ms",
        median(samples).as_secs_f64() * 1000.0
    );
}

fn main() {
    let password = "correct horse battery staple";
    let credential =
        Credential::from_cleartext(b"sl.EXAMPLE-demo-token-for-the-emulator").expect("valid");
    let text = seal(&credential, &password.into(), KdfParams::DEFAULT).expect("seal");
    let v1 = SealedFile::parse(Path::new("bench.enc"), text.as_bytes()).expect("parse");
    time_open(&format!("v1 open ({})", KdfParams::DEFAULT), &v1, password);

    let legacy_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys.example/legacy.enc");
    let legacy = SealedFile::read(&legacy_path).expect("keys.example/legacy.enc");
    time_open(
        "legacy open (PBKDF2-SHA256, 100000 iterations)",
        &legacy,
        "librec-auto demo key 2020",
    );
}
