//! `--tls`: a fresh CA and a leaf certificate for 127.0.0.1 and localhost, made with rcgen at
//! every start. Clients trust the CA written to `--ca-cert-out`.

use std::path::{Path, PathBuf};

use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Where to write the CA certificate (PEM); `None`: `ROOT/ca.pem`.
    pub ca_cert_out: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the TLS certificate: {0}")]
    Generate(rcgen::Error),
    #[error("writing the CA certificate to {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("loading the TLS certificate: {0}")]
    Load(std::io::Error),
}

/// Not `#[from]`, which would also make it the `source()`: a context chain would print the
/// same text twice.
impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
        TlsError::Generate(e)
    }
}

/// Generates the CA and leaf, writes the CA to `ca_out`, and returns the server config.
pub async fn setup(ca_out: &Path) -> Result<RustlsConfig, TlsError> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "dropbox-post emulator CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "dropbox-post emulator");
    leaf.is_ca = IsCa::NoCa;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca)?;

    if let Some(dir) = ca_out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| TlsError::Write(ca_out.to_path_buf(), e))?;
    }
    std::fs::write(ca_out, ca.pem()).map_err(|e| TlsError::Write(ca_out.to_path_buf(), e))?;
    let chain = format!("{}{}", leaf_cert.pem(), ca.pem());
    RustlsConfig::from_pem(chain.into_bytes(), leaf_key.serialize_pem().into_bytes())
        .await
        .map_err(TlsError::Load)
}
