//! The gRPC server's certificate and key, read from BUDGET_TLS_CERT_FILE/BUDGET_TLS_KEY_FILE at
//! startup as PEM text; `startup` turns them into the server's TLS settings.

use std::path::Path;

/// A PEM certificate chain and its private key.
#[derive(Clone)]
pub struct TlsPem {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for TlsPem {
    /// Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPem")
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TlsPem {
    /// Reads both files, with an error naming the variable whose file is unreadable or not PEM
    /// of the right kind.
    pub(super) fn read(cert_file: &Path, key_file: &Path) -> Result<TlsPem, String> {
        let cert = read_pem(
            "BUDGET_TLS_CERT_FILE",
            cert_file,
            &["-----BEGIN CERTIFICATE-----"],
            "a certificate",
        )?;
        let key = read_pem(
            "BUDGET_TLS_KEY_FILE",
            key_file,
            &[
                "-----BEGIN PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----",
                "-----BEGIN EC PRIVATE KEY-----",
            ],
            "a private key",
        )?;
        Ok(TlsPem { cert, key })
    }
}

/// Reads a PEM file named by `variable`, checking it holds one of `markers`.
fn read_pem(variable: &str, path: &Path, markers: &[&str], what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{variable}: cannot read {}: {err}", path.display()))?;
    if !markers.iter().any(|marker| text.contains(marker)) {
        return Err(format!(
            "{variable}: {} holds no PEM {what}",
            path.display()
        ));
    }
    Ok(text)
}
