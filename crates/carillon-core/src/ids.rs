//! Identifier formats of the original services.
//!
//! Spec: PRODUCT.md "Conventions": WorkMail organization `m-` + 32 lowercase hex; Chime
//! account and user IDs are UUIDs; Wickr network IDs 8 digits; account IDs 12 digits.

use rand::Rng;

/// A 12-digit AWS-style account ID (the tenant), e.g. `123456789012`.
pub fn new_account_id() -> String {
    let mut rng = rand::thread_rng();
    // First digit non-zero so the ID never reads as a shorter number.
    let first: u8 = rng.gen_range(1..=9);
    let rest: String = (0..11)
        .map(|_| char::from(b'0' + rng.gen_range(0..=9)))
        .collect();
    format!("{first}{rest}")
}

/// `true` when `s` is a 12-digit account ID.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A WorkMail organization ID: `m-` followed by 32 lowercase hex digits.
pub fn new_organization_id() -> String {
    format!("m-{}", uuid::Uuid::new_v4().simple())
}

/// A lowercase hyphenated UUID v4 (WorkMail entity IDs, Chime IDs, request IDs).
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// An access key ID in the AWS shape: `AKIA` + 16 uppercase base-32 characters.
pub fn new_access_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    let tail: String = (0..16)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("AKIA{tail}")
}

/// A secret access key: 40 characters of base64 alphabet, as AWS issues them.
pub fn new_secret_access_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_originals() {
        let org = new_organization_id();
        assert_eq!(org.len(), 34);
        assert!(org.starts_with("m-"));
        assert!(org[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(is_account_id(&new_account_id()));
        assert!(!is_account_id("12345"));
        let key = new_access_key_id();
        assert_eq!(key.len(), 20);
        assert!(key.starts_with("AKIA"));
        assert_eq!(new_secret_access_key().len(), 40);
    }
}
