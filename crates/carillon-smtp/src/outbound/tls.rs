//! The TLS clients of outbound mail: opportunistic STARTTLS to MX hosts, which accepts any
//! certificate (RFC 7435) but still verifies handshake signatures; and the verified TLS
//! 1.2+ client of SMTP gateways (workmail.md §2.8).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

/// A TLS client for opportunistic STARTTLS: encryption without authentication (RFC 7435),
/// since MX certificates are often self-signed or do not match; signatures are still checked.
pub(super) fn opportunistic_tls() -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        })
        .expect("ring supports the default protocol versions");
    TlsConnector::from(Arc::new(config))
}

/// The TLS client of SMTP gateways: certificates verified against the system roots plus
/// every certificate of the PEM bundle `extra_ca_pem` (a private CA, or a test's), TLS 1.2
/// and 1.3 only. Spec: workmail.md §2.8.
///
/// Errors: the bundle is unparsable or holds no certificate (the message says which).
pub(super) fn verified_tls(extra_ca_pem: Option<&[u8]>) -> Result<TlsConnector, String> {
    let config = carillon_mail::https::client_config(extra_ca_pem)
        .map_err(|e| format!("gateway TLS: {e}"))?;
    Ok(TlsConnector::from(Arc::new(config)))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
