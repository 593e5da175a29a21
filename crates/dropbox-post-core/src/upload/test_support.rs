//! Helpers the engine's unit tests share.

use super::walk::LocalFile;
use crate::dropbox::client::DropboxClient;

pub fn local(path: &std::path::Path) -> LocalFile {
    LocalFile::new(path, "f".into(), &std::fs::metadata(path).unwrap())
}

/// An in-process emulator on `root` and a client holding its one token.
pub async fn emulated(
    root: &std::path::Path,
) -> (dropbox_emulator::RunningEmulator, DropboxClient) {
    use crate::dropbox::auth::TokenSource;
    use crate::dropbox::endpoint::Endpoints;
    let mut config = dropbox_emulator::EmulatorConfig::new(root);
    config.tokens = vec!["t".into()];
    let emu = dropbox_emulator::spawn(config).await.unwrap();
    let client = DropboxClient::new(
        Endpoints::single(emu.base_url()).unwrap(),
        TokenSource::fixed("t".into()),
    )
    .unwrap();
    (emu, client)
}
