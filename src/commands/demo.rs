//! `dropbox-post demo`: the main job end to end on an embedded emulator.
//!
//! The example study and the example key are compiled into the binary, so the demo runs the
//! same from any directory. It posts the study, posts it again (everything is skipped), and
//! prints what landed on the emulator with sizes and content hashes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use secrecy::SecretString;

use crate::exit::{CmdResult, ExitKind, Failure, ResultExt};
use dropbox_emulator::{self, EmulatorConfig};
use dropbox_post_core::dropbox::auth::TokenSource;
use dropbox_post_core::dropbox::client::DropboxClient;
use dropbox_post_core::dropbox::endpoint::Endpoints;
use dropbox_post_core::password::{Password, Source};
use dropbox_post_core::upload::options::PostOptions;
use dropbox_post_core::upload::run::Run;
use dropbox_wire::types::Metadata;

use crate::render::post::PostView;

const AFTER_HELP: &str = "\
Examples:
  cargo run --release -- demo
  dropbox-post demo --workdir /tmp/dropbox-post-demo   # keep the study and the emulator's files

The demo key (keys.example/dropbox.enc) is sealed with the deliberately public password
'correct horse battery staple'; its token only works on the emulator.";

/// The token sealed in keys.example/dropbox.enc, and its public demo password.
const DEMO_TOKEN: &str = "sl.EXAMPLE-demo-token-for-the-emulator";
const DEMO_PASSWORD: &str = "correct horse battery staple";
const DEMO_KEY: &[u8] = include_bytes!("../../keys.example/dropbox.enc");

macro_rules! study_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../examples/study/", $path)))),*]
    };
}

/// Every committed file of examples/study (a test keeps this list complete).
const STUDY: &[(&str, &[u8])] = study_files![
    "README.md",
    "conf/config.xml",
    "data/ratings.csv",
    "exp00000/conf/librec.properties",
    "exp00000/log/librec-20261123-0901.log",
    "exp00000/model/model.json",
    "exp00000/original/out-1.txt",
    "exp00000/original/out-2.txt",
    "exp00000/output.xml",
    "exp00000/result/fold 1/metrics-ü.csv",
    "exp00000/result/out-1.txt",
    "exp00000/result/out-2.txt",
    "post/summary.csv",
];

/// Model weights generated at demo time rather than committed: 12 MiB, more than one 8 MiB
/// upload chunk, so the folder job also shows a chunked upload session; deterministic, so
/// the second post skips it.
const WEIGHTS: (&str, usize) = ("exp00000/model/weights.bin", 12 * 1024 * 1024);

/// Run the whole job end to end on an embedded emulator.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct DemoArgs {
    /// Keep the study copy and the emulator's files in DIR (default: a temporary folder,
    /// removed at the end).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

pub fn run(args: DemoArgs) -> CmdResult {
    let temp;
    let workdir = match &args.workdir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().exit_with(ExitKind::Internal)?;
            temp.path().to_path_buf()
        }
    };
    let study = workdir.join("study");
    write_study(&study)
        .map_err(|e| Failure::new(ExitKind::Internal, e).context("writing the example study"))?;

    let runtime = super::runtime()?;
    runtime.block_on(async {
        let mut config = EmulatorConfig::new(workdir.join("dropbox"));
        config.tokens = vec![DEMO_TOKEN.into()];
        let emulator = dropbox_emulator::spawn(config)
            .await
            .exit_with(ExitKind::Internal)?;
        let base_url = emulator.base_url().to_string();

        println!("dropbox-post demo");
        println!("  study:    {}", study.display());
        println!(
            "  emulator: {base_url} (files under {})",
            workdir.join("dropbox").display()
        );
        println!("  key:      keys/dropbox.enc, demo password '{DEMO_PASSWORD}'");

        println!("\n== 1. post the study");
        post(&study, &base_url).await?;
        println!("\n== 2. post again: nothing changed, so everything is skipped");
        post(&study, &base_url).await?;

        println!("\n== 3. what Dropbox (the emulator) now holds");
        for line in remote_tree(&base_url).await? {
            println!("{line}");
        }
        emulator.shutdown().await;
        Ok::<_, Failure>(())
    })?;
    if args.workdir.is_some() {
        println!("\nkept in {}", workdir.display());
    }
    Ok(())
}

fn write_study(study: &Path) -> std::io::Result<()> {
    for (path, bytes) in STUDY {
        write(&study.join(path), bytes)?;
    }
    write(&study.join("keys/dropbox.enc"), DEMO_KEY)?;
    let (path, len) = WEIGHTS;
    let weights: Vec<u8> = (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(&study.join(path), &weights)
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

/// `post --config STUDY/conf/config.xml` on the emulator, with the demo password.
async fn post(study: &Path, endpoint: &str) -> CmdResult {
    let config = study.join("conf/config.xml");
    let study = dropbox_post_core::config::load(&config, None, &mut crate::render::note)?;
    let options = PostOptions {
        config: Some(config),
        endpoints: Endpoints::single(endpoint).exit_with(ExitKind::Internal)?,
        // The study is a temporary folder: nothing worth remembering.
        hash_cache: false,
        resume: false,
        ..PostOptions::default()
    };
    let view = Arc::new(PostView::new(false, super::post::verbose(), None));
    let finished = (Run::prepare(study.jobs, study.disabled_dests, options)?)
        .post(&demo_password(), view)
        .await?;
    super::post::conclude(finished, false)
}

fn demo_password() -> Password {
    Password::new(SecretString::from(DEMO_PASSWORD), Source::Flag("the demo"))
}

/// One line per remote entry, in path order: size, content hash, path.
async fn remote_tree(base_url: &str) -> CmdResult<Vec<String>> {
    let endpoints = Endpoints::single(base_url).exit_with(ExitKind::Internal)?;
    let client = Arc::new(
        DropboxClient::new(
            endpoints,
            TokenSource::fixed(SecretString::from(DEMO_TOKEN)),
        )
        .exit_with(ExitKind::Internal)?,
    );
    let mut entries = client
        .list_folder_recursive("")
        .await
        .exit_with(ExitKind::Transfer)?;
    entries.sort_by(|a, b| a.path_lower().cmp(&b.path_lower()));
    Ok(entries
        .iter()
        .map(|entry| match entry {
            Metadata::File(f) => format!(
                "{:>10}  {}  {}",
                f.size,
                f.content_hash.as_deref().unwrap_or("-"),
                f.path_display.as_deref().unwrap_or(&f.name)
            ),
            other => format!(
                "{:>10}  {:<64}  {}/",
                "",
                "",
                other.path_display().unwrap_or_default()
            ),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded list must name exactly the committed files of examples/study.
    #[test]
    fn embedded_study_is_complete() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/study");
        let ignored = ["keys", "exp00000/model/weights.bin", ".gitignore"];
        let mut on_disk: Vec<String> = walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(&root).unwrap();
                rel.to_string_lossy().replace('\\', "/")
            })
            .filter(|p| {
                !ignored
                    .iter()
                    .any(|i| p == i || p.starts_with(&format!("{i}/")))
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = STUDY.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn demo_key_opens_with_the_demo_password() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("dropbox.enc");
        std::fs::write(&key, DEMO_KEY).unwrap();
        let credential = dropbox_post_core::seal::open_file(&key, &demo_password()).unwrap();
        match credential {
            dropbox_post_core::seal::Credential::AccessToken { access_token } => {
                use secrecy::ExposeSecret;
                assert_eq!(access_token.expose_secret(), DEMO_TOKEN);
            }
            other => panic!("unexpected credential {other:?}"),
        }
    }
}
