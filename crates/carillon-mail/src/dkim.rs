//! Outbound DKIM (RFC 6376, Ed25519 per RFC 8463): the keys of a mail domain, the TXT records
//! that publish them, and the signing of messages Carillon sends to other hosts.
//! Spec: workmail.md §1.3 (DKIM records and status), §4.11.
//!
//! Each domain has two selectors: an Ed25519 key (`k=ed25519`) and an RSA-2048 key (`k=rsa`),
//! because receivers that do not know Ed25519 yet (RFC 8463 §4) still verify the RSA one.
//! Keys are generated with `mail-auth` (ring for Ed25519, the `rsa` crate for RSA generation,
//! which ring lacks) and signing uses `mail-auth` over ring.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use carillon_store::{DkimKeyRecord, Store, StoreError, DKIM_ACTIVE};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::DkimSigner;

/// `algorithm` of an Ed25519 key (the DNS record's `k=` tag).
pub const ED25519: &str = "ed25519";
/// `algorithm` of an RSA key.
pub const RSA: &str = "rsa";
/// Modulus length of generated RSA keys, bits.
pub const RSA_BITS: usize = 2048;

/// Header fields covered by the signatures (those present are signed; RFC 6376 §5.4.1).
const SIGNED_HEADERS: [&str; 10] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
];

/// Why a DKIM key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// Key generation, decoding or signing failed (the message names no key material).
    #[error("DKIM: {0}")]
    Crypto(String),
    /// The keys could not be read or stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn crypto(e: impl std::fmt::Display) -> DkimError {
    DkimError::Crypto(e.to_string())
}

/// Generates the two keys of `domain`: an Ed25519 key under `selectors[0]` and an RSA-2048
/// key under `selectors[1]`, created at `now` (epoch milliseconds). RSA generation takes a
/// while: call it off the async executor (`spawn_blocking`).
///
/// Errors: `Crypto` (fewer than two selectors, or generation failed).
pub fn generate_keys(
    domain: &str,
    selectors: &[String],
    now: i64,
) -> Result<Vec<DkimKeyRecord>, DkimError> {
    let [ed_selector, rsa_selector, ..] = selectors else {
        return Err(DkimError::Crypto("two selectors are needed".into()));
    };
    let ed = DkimKeyPair::generate_ed25519().map_err(crypto)?;
    let rsa = DkimKeyPair::generate_rsa(RSA_BITS).map_err(crypto)?;
    let record = |selector: &str, algorithm: &str, private: &[u8], public: Vec<u8>| DkimKeyRecord {
        domain_name: domain.to_ascii_lowercase(),
        selector: selector.to_string(),
        algorithm: algorithm.to_string(),
        private_key: BASE64.encode(private),
        public_key: BASE64.encode(public),
        created_at: now,
        state: DKIM_ACTIVE.to_string(),
    };
    Ok(vec![
        record(
            ed_selector,
            ED25519,
            ed.private_key(),
            ed.public_key().to_vec(),
        ),
        record(
            rsa_selector,
            RSA,
            rsa.private_key(),
            rsa_spki(rsa.public_key()),
        ),
    ])
}

/// Generates and stores the keys of a freshly registered `domain` (replacing any earlier
/// registration's). Spec: workmail.md §1.3.
///
/// Errors: `Crypto`, `Store`.
pub async fn create_domain_keys(
    store: &Store,
    domain: &str,
    selectors: &[String],
    now: i64,
) -> Result<(), DkimError> {
    let (domain_owned, selectors) = (domain.to_string(), selectors.to_vec());
    let keys = tokio::task::spawn_blocking(move || generate_keys(&domain_owned, &selectors, now))
        .await
        .map_err(crypto)??;
    let keys = seal_private_keys(store, domain, keys).await?;
    store.replace_dkim_keys(domain, &keys).await?;
    Ok(())
}

/// `keys` with their private keys sealed under the key of the organization owning `domain`
/// ([`crate::crypto::seal_secret`]): the metadata database holds no private key in clear.
///
/// Errors: `Store` (`NotFound` when the domain is not registered).
async fn seal_private_keys(
    store: &Store,
    domain: &str,
    mut keys: Vec<DkimKeyRecord>,
) -> Result<Vec<DkimKeyRecord>, DkimError> {
    let organization_id = store
        .mail_domain_owner(domain)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mail domain {domain}")))?;
    for key in &mut keys {
        key.private_key =
            crate::crypto::seal_secret(store, &organization_id, &key.private_key).await?;
    }
    Ok(keys)
}

/// Starts a key rotation of `domain` (workmail.md §1.3, issue 3 point 1): a new Ed25519 and
/// RSA pair under `selectors`, stored as pending. They sign only once their TXT records are
/// published (seen at the next verification, e.g. GetMailDomain); then the former keys
/// retire, and each is deleted once its own record is gone, so mail signed with it keeps
/// verifying while the record is still published. Returns whether the rotation started
/// (`false`: one is already waiting for its records).
///
/// Errors: `Crypto`, `Store`.
pub async fn rotate_domain_keys(
    store: &Store,
    domain: &str,
    selectors: &[String],
    now: i64,
) -> Result<bool, DkimError> {
    let (domain_owned, selectors) = (domain.to_string(), selectors.to_vec());
    let keys = tokio::task::spawn_blocking(move || generate_keys(&domain_owned, &selectors, now))
        .await
        .map_err(crypto)??;
    let keys = seal_private_keys(store, domain, keys).await?;
    Ok(store.add_pending_dkim_keys(domain, &keys).await?)
}

/// The TXT record value publishing `key`: `v=DKIM1; k=<ed25519|rsa>; p=<base64>`.
pub fn txt_record_value(key: &DkimKeyRecord) -> String {
    format!("v=DKIM1; k={}; p={}", key.algorithm, key.public_key)
}

/// Whether a published TXT value carries `key`'s public key (`p=` compared with whitespace
/// removed, as DNS providers split long strings) and a matching `k=` (absent means `rsa`).
pub fn txt_record_matches(published: &str, key: &DkimKeyRecord) -> bool {
    let mut public = None;
    let mut algorithm = RSA.to_string();
    for tag in published.split(';') {
        let Some((name, value)) = tag.split_once('=') else {
            continue;
        };
        let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        match name.trim() {
            "p" => public = Some(value),
            "k" => algorithm = value.to_ascii_lowercase(),
            _ => {}
        }
    }
    public.as_deref() == Some(key.public_key.as_str()) && algorithm == key.algorithm
}

/// The `DKIM-Signature` header fields (CRLF-terminated, RSA first, then Ed25519) signing
/// `message` with every active key of `domain`; empty when the domain has no key (not registered
/// here). Prepend them to the message as sent; the stored copies stay byte-exact.
///
/// Errors: `Store`, `Crypto` (a stored key does not decode, or signing failed).
pub async fn sign(store: &Store, domain: &str, message: &[u8]) -> Result<String, DkimError> {
    let domain = domain.to_ascii_lowercase();
    let mut keys = store.dkim_keys(&domain).await?;
    // Pending keys are not published yet and retiring ones are on their way out.
    keys.retain(|k| k.state == DKIM_ACTIVE);
    if keys.is_empty() {
        return Ok(String::new());
    }
    let organization_id = store
        .mail_domain_owner(&domain)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mail domain {domain}")))?;
    for key in &mut keys {
        key.private_key =
            crate::crypto::open_secret(store, &organization_id, &key.private_key).await?;
    }
    // RSA first: verifiers that check only the first signature (dkimpy's default) and know
    // no Ed25519 still pass.
    keys.sort_by_key(|k| k.algorithm != RSA);
    let mut headers = String::new();
    for key in &keys {
        headers.push_str(&sign_with(key, message)?);
    }
    Ok(headers)
}

/// `message` as it leaves for another host: signed (signature fields prepended) with the
/// keys of its RFC 5322 `From` domain — the domain DMARC aligns with — when that domain is
/// registered here, else unchanged (e.g. DSNs from `MAILER-DAEMON@<hostname>`). Submitted
/// mail and journal records (from the organization's test domain) are signed this way.
///
/// Errors: as [`sign`].
pub async fn sign_outbound(store: &Store, message: &[u8]) -> Result<Vec<u8>, DkimError> {
    let Some(domain) = from_domain(message) else {
        return Ok(message.to_vec());
    };
    let signatures = sign(store, &domain, message).await?;
    Ok([signatures.as_bytes(), message].concat())
}

/// The domain of the first `From` address, lower-case.
fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse_headers(message)?;
    let address = parsed.from()?.first()?.address()?;
    let (_, domain) = address.rsplit_once('@')?;
    Some(domain.trim_end_matches('.').to_ascii_lowercase())
}

/// One `DKIM-Signature` header field for `message` with `key` (relaxed/relaxed).
///
/// Errors: `Crypto`.
pub fn sign_with(key: &DkimKeyRecord, message: &[u8]) -> Result<String, DkimError> {
    use mail_auth::dkim::Canonicalization::Relaxed;
    let private = BASE64.decode(&key.private_key).map_err(crypto)?;
    let signature = match key.algorithm.as_str() {
        ED25519 => DkimSigner::from_key(Ed25519Key::from_pkcs8_der(&private).map_err(crypto)?)
            .domain(&key.domain_name)
            .selector(&key.selector)
            .headers(SIGNED_HEADERS)
            .header_canonicalization(Relaxed)
            .body_canonicalization(Relaxed)
            .sign(message),
        RSA => DkimSigner::from_key(RsaKey::<Sha256>::from_der(&private).map_err(crypto)?)
            .domain(&key.domain_name)
            .selector(&key.selector)
            .headers(SIGNED_HEADERS)
            .header_canonicalization(Relaxed)
            .body_canonicalization(Relaxed)
            .sign(message),
        other => return Err(DkimError::Crypto(format!("unknown key algorithm {other}"))),
    }
    .map_err(crypto)?;
    Ok(signature.to_header())
}

/// Wraps a PKCS#1 `RSAPublicKey` in a SubjectPublicKeyInfo (RFC 5280 §4.1, rsaEncryption),
/// the form RFC 6376 §3.6.1 publishes in `p=`.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption, NULL }
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(pkcs1);
    let mut body = ALGORITHM.to_vec();
    body.extend(der_tlv(0x03, &bit_string));
    der_tlv(0x30, &body)
}

/// One DER tag-length-value.
fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(value);
    out
}
