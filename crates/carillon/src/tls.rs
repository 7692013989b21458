//! TLS material: a configured certificate/key pair, or a self-signed certificate generated on
//! first start and kept in `<data-dir>/tls/` so clients can pin it across restarts.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Builds the rustls server configuration shared by SMTP, submission and IMAP.
pub fn server_config(
    data_dir: &Path,
    hostname: &str,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        _ => {
            let dir = data_dir.join("tls");
            let cert_path = dir.join("cert.pem");
            let key_path = dir.join("key.pem");
            if !cert_path.exists() || !key_path.exists() {
                generate_self_signed(&dir, hostname)?;
            }
            (cert_path, key_path)
        }
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&cert_path)
            .with_context(|| format!("opening {}", cert_path.display()))?,
    ))
    .collect::<Result<_, _>>()
    .with_context(|| format!("reading certificates from {}", cert_path.display()))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&key_path)
            .with_context(|| format!("opening {}", key_path.display()))?,
    ))?
    .with_context(|| format!("no private key in {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    Ok(Arc::new(config))
}

fn generate_self_signed(dir: &Path, hostname: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    // The embedded default listens on loopback, so clients connect by IP as often as by name.
    let mut names = vec![hostname.to_string()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if hostname != extra {
            names.push(extra.to_string());
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    std::fs::write(dir.join("cert.pem"), certified.cert.pem())?;
    write_private(
        &dir.join("key.pem"),
        certified.key_pair.serialize_pem().as_bytes(),
    )?;
    tracing::info!(dir = %dir.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(data)?;
    file.sync_all()?;
    Ok(())
}
