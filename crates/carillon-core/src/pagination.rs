//! Opaque, tamper-checked pagination tokens.
//!
//! A `NextToken` is `base64url(position || HMAC-SHA256(key, scope || position)[..16])`. The
//! scope binds a token to the operation and tenant it was issued for, so a token cannot be
//! replayed against another list or altered to skip into another tenant's data.
//!
//! A listing reads `limit + 1` rows after the position its token carries, keyed by a stable
//! sort key, to know whether a next page exists: [`page_size`] bounds `MaxResults`,
//! [`TokenCodec::resume_after`] opens the token and [`TokenCodec::next_page`] cuts the rows
//! and issues the next token. Each service answers a refused value with its own error shape.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAC_LEN: usize = 16;

/// Issues and checks pagination tokens with a server-wide secret key.
#[derive(Clone)]
pub struct TokenCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec(..)")
    }
}

impl TokenCodec {
    /// A codec keyed with `key` (at least 32 random bytes, kept by the store).
    pub fn new(key: Vec<u8>) -> Self {
        TokenCodec { key }
    }

    fn mac(&self, scope: &str, position: &str) -> [u8; MAC_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(position.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// Encodes `position` (e.g. the last key returned) for `scope` (e.g. `ListUsers:<org>`).
    pub fn encode(&self, scope: &str, position: &str) -> String {
        let mut raw = position.as_bytes().to_vec();
        raw.extend_from_slice(&self.mac(scope, position));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Where a listing in `scope` resumes: the position `next_token` carries, `None` for the
    /// first page (no token).
    ///
    /// Errors: [`InvalidToken`] when the token was altered, truncated or issued for another
    /// scope.
    pub fn resume_after(
        &self,
        scope: &str,
        next_token: Option<&str>,
    ) -> Result<Option<String>, InvalidToken> {
        next_token
            .map(|token| self.decode(scope, token).ok_or(InvalidToken))
            .transpose()
    }

    /// Cuts `rows` (read with `limit + 1`) to `limit` and returns the token resuming after
    /// the last kept row's position (`key`) when there was more; `None` on the last page.
    pub fn next_page<T>(
        &self,
        scope: &str,
        rows: &mut Vec<T>,
        limit: i64,
        key: impl FnOnce(&T) -> String,
    ) -> Option<String> {
        let page = usize::try_from(limit).unwrap_or(usize::MAX);
        if rows.len() <= page {
            return None;
        }
        rows.truncate(page);
        rows.last().map(|last| self.encode(scope, &key(last)))
    }

    /// Decodes a token issued for `scope`; `None` when it was altered, truncated or issued for
    /// another scope.
    pub fn decode(&self, scope: &str, token: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        if raw.len() < MAC_LEN {
            return None;
        }
        let (position, mac) = raw.split_at(raw.len() - MAC_LEN);
        let position = std::str::from_utf8(position).ok()?;
        let expected = self.mac(scope, position);
        // Constant-time comparison: a token is a capability to resume a listing.
        let diff = expected
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then(|| position.to_string())
    }
}

/// A `NextToken` that was altered, truncated or issued for another listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("NextToken is not valid for this request")]
pub struct InvalidToken;

/// `MaxResults` as a page size: `default` when absent, `None` outside `1..=max` (the
/// service answers its validation error, `MaxResults must be between 1 and <max>`).
pub fn page_size(max_results: Option<i32>, default: i64, max: i64) -> Option<i64> {
    let limit = max_results.map_or(default, i64::from);
    (1..=max).contains(&limit).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let codec = TokenCodec::new(vec![7; 32]);
        let token = codec.encode("ListUsers:m-1", "user-42");
        assert_eq!(
            codec.decode("ListUsers:m-1", &token).as_deref(),
            Some("user-42")
        );
        assert_eq!(codec.decode("ListUsers:m-2", &token), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[0] ^= 1;
        assert_eq!(
            codec.decode("ListUsers:m-1", &URL_SAFE_NO_PAD.encode(bytes)),
            None
        );
        assert_eq!(codec.decode("ListUsers:m-1", "!!"), None);
    }

    #[test]
    fn page_size_defaults_and_bounds_max_results() {
        assert_eq!(page_size(None, 50, 100), Some(50));
        assert_eq!(page_size(Some(100), 50, 100), Some(100));
        assert_eq!(page_size(Some(0), 50, 100), None);
        assert_eq!(page_size(Some(101), 50, 100), None);
    }

    #[test]
    fn a_page_cut_from_one_row_more_resumes_after_its_last_row() {
        let codec = TokenCodec::new(vec![7; 32]);
        let mut rows = vec!["a", "b", "c"];
        let token = codec.next_page("List", &mut rows, 2, |r| r.to_string());
        assert_eq!(rows, ["a", "b"]);
        assert_eq!(
            codec.resume_after("List", token.as_deref()),
            Ok(Some("b".to_string()))
        );
        assert_eq!(
            codec.next_page("List", &mut rows, 2, |r| r.to_string()),
            None
        );
        assert_eq!(codec.resume_after("List", None), Ok(None));
        assert_eq!(
            codec.resume_after("Other", token.as_deref()),
            Err(InvalidToken)
        );
    }
}
