//! The TLS client configuration of Carillon's outgoing HTTPS requests (flow-rule hooks,
//! audit-log HTTP delivery): the system's trust roots plus an optional extra CA bundle (so a
//! deployment, or a test, can trust a private CA), TLS 1.2 and 1.3 only.

use std::sync::Arc;

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// The extra CA bundle could not be read or holds no usable certificate.
    #[error("CA bundle: {0}")]
    CaBundle(String),
    /// The TLS or HTTP client could not be set up.
    #[error("HTTPS client: {0}")]
    Client(String),
}

/// A rustls client configuration trusting the system roots and every certificate of the PEM
/// bundle `extra_ca_pem` (when given); TLS 1.2 and 1.3.
///
/// Errors: `CaBundle` when the bundle is unparsable or empty; `Client` otherwise.
pub fn client_config(extra_ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, HttpsError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(pem) = extra_ca_pem {
        let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<_, _>>()
            .map_err(|e| HttpsError::CaBundle(e.to_string()))?;
        if certs.is_empty() {
            return Err(HttpsError::CaBundle(
                "no PEM certificate in the bundle".to_string(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| HttpsError::CaBundle(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| HttpsError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An HTTP client over [`client_config`] that follows no redirect (a redirect would send the
/// payload somewhere the operator did not configure).
///
/// Errors: as [`client_config`].
pub fn client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client, HttpsError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config(extra_ca_pem)?)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| HttpsError::Client(e.to_string()))
}
