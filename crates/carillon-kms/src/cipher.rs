//! AES-256-GCM: data keys, the chunked sealing of blobs and the wrapping of one data key by
//! another. Spec: workmail.md §5.3 (256-bit AES keys generated outside KMS).
//!
//! **Sealed blob** (a message, an export object):
//!
//! ```text
//! magic "CRLNSEAL" (8 bytes) | nonce prefix (7 random bytes) | chunk 0 | chunk 1 | …
//! chunk i = AES-256-GCM(plaintext[i·64 KiB .. (i+1)·64 KiB]) with its 16-byte tag,
//!           nonce = prefix | i (u32 big-endian) | 1 for the last chunk, else 0,
//!           AAD = the magic
//! ```
//!
//! Every chunk but the last holds exactly 64 KiB of plaintext; the last holds the rest (an
//! empty plaintext is one empty last chunk). The last-chunk flag and the counter in the nonce
//! make truncation, reordering and extension fail authentication (the STREAM construction of
//! Hoang, Reyhanitabar, Rogaway and Vizár). The framing lets a reader or writer work one
//! chunk at a time; today's callers hold whole messages (≤ 40 MB, workmail.md §6) in memory,
//! so sealing costs one output buffer of the ciphertext's size beside the plaintext.
//!
//! **Wrapped key**: `1 (version) | nonce (12) | AES-256-GCM(key) with tag (48)`, 61 bytes,
//! AAD chosen by the caller (what the key is bound to).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{KmsError, KmsResult};

/// Length of a data key: 256 bits.
pub const KEY_BYTES: usize = 32;

/// Plaintext bytes per sealed chunk (64 KiB).
pub const CHUNK_BYTES: usize = 64 * 1024;

const MAGIC: &[u8; 8] = b"CRLNSEAL";
const PREFIX_BYTES: usize = 7;
const HEADER_BYTES: usize = MAGIC.len() + PREFIX_BYTES;
const TAG_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const WRAP_VERSION: u8 = 1;
/// Length of a wrapped key: version, nonce, ciphertext and tag.
pub const WRAPPED_KEY_BYTES: usize = 1 + NONCE_BYTES + KEY_BYTES + TAG_BYTES;

/// A 256-bit AES key in memory: zeroed when dropped, never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_BYTES]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        DataKey(key)
    }

    /// The key of `bytes`. Errors: `InvalidKey` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> KmsResult<DataKey> {
        let array: [u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|_| KmsError::InvalidKey(format!("{} bytes, not 32", bytes.len())))?;
        Ok(DataKey(Zeroizing::new(array)))
    }

    /// The raw key bytes (for a key file or a wrapping; never log them).
    pub fn expose(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.as_ref()))
    }
}

fn chunk_nonce(prefix: &[u8], index: usize, last: bool) -> KmsResult<[u8; NONCE_BYTES]> {
    let counter = u32::try_from(index)
        .map_err(|_| KmsError::InvalidCiphertext("too many chunks".to_string()))?;
    let mut nonce = [0u8; NONCE_BYTES];
    nonce[..PREFIX_BYTES].copy_from_slice(prefix);
    nonce[PREFIX_BYTES..PREFIX_BYTES + 4].copy_from_slice(&counter.to_be_bytes());
    nonce[NONCE_BYTES - 1] = u8::from(last);
    Ok(nonce)
}

/// Seals `plaintext` under `key` (layout in the module docs). Use each key for one blob only.
///
/// Errors: `InvalidCiphertext` only for a plaintext of over 2^32 chunks (256 TiB).
pub fn seal(key: &DataKey, plaintext: &[u8]) -> KmsResult<Vec<u8>> {
    let cipher = key.cipher();
    let chunks = plaintext.len().div_ceil(CHUNK_BYTES).max(1);
    let mut out = Vec::with_capacity(HEADER_BYTES + plaintext.len() + chunks * TAG_BYTES);
    out.extend_from_slice(MAGIC);
    let mut prefix = [0u8; PREFIX_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut prefix);
    out.extend_from_slice(&prefix);
    for index in 0..chunks {
        let start = index * CHUNK_BYTES;
        let end = (start + CHUNK_BYTES).min(plaintext.len());
        let nonce = chunk_nonce(&prefix, index, index + 1 == chunks)?;
        let at = out.len();
        out.extend_from_slice(&plaintext[start..end]);
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), MAGIC, &mut out[at..])
            .map_err(|_| KmsError::InvalidCiphertext("encryption failed".to_string()))?;
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Opens a blob sealed by [`seal`] under `key`.
///
/// Errors: `InvalidCiphertext` when it is not a sealed blob, was truncated or altered, or was
/// sealed under another key.
pub fn open(key: &DataKey, sealed: &[u8]) -> KmsResult<Vec<u8>> {
    if sealed.len() < HEADER_BYTES + TAG_BYTES || !sealed.starts_with(MAGIC) {
        return Err(KmsError::InvalidCiphertext("not a sealed blob".to_string()));
    }
    let cipher = key.cipher();
    let prefix = &sealed[MAGIC.len()..HEADER_BYTES];
    let body = &sealed[HEADER_BYTES..];
    let pieces: Vec<&[u8]> = body.chunks(CHUNK_BYTES + TAG_BYTES).collect();
    let mut out = Vec::with_capacity(body.len());
    for (index, piece) in pieces.iter().enumerate() {
        if piece.len() < TAG_BYTES {
            return Err(KmsError::InvalidCiphertext("truncated chunk".to_string()));
        }
        let nonce = chunk_nonce(prefix, index, index + 1 == pieces.len())?;
        let (data, tag) = piece.split_at(piece.len() - TAG_BYTES);
        let at = out.len();
        out.extend_from_slice(data);
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                MAGIC,
                &mut out[at..],
                Tag::from_slice(tag),
            )
            .map_err(|_| KmsError::InvalidCiphertext("authentication failed".to_string()))?;
    }
    Ok(out)
}

/// Wraps (encrypts) `key` under `wrapping` with `aad` bound to it: [`WRAPPED_KEY_BYTES`] bytes.
pub fn wrap_key(wrapping: &DataKey, aad: &[u8], key: &DataKey) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(WRAPPED_KEY_BYTES);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(key.expose());
    let tag = wrapping
        .cipher()
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[1 + NONCE_BYTES..])
        .expect("AES-GCM encrypts 32 bytes");
    out.extend_from_slice(&tag);
    out
}

/// Unwraps a key wrapped by [`wrap_key`] under `wrapping` with the same `aad`.
///
/// Errors: `InvalidCiphertext` for another length or version, another wrapping key, another
/// AAD, or altered bytes.
pub fn unwrap_key(wrapping: &DataKey, aad: &[u8], wrapped: &[u8]) -> KmsResult<DataKey> {
    if wrapped.len() != WRAPPED_KEY_BYTES || wrapped[0] != WRAP_VERSION {
        return Err(KmsError::InvalidCiphertext("not a wrapped key".to_string()));
    }
    let nonce = &wrapped[1..1 + NONCE_BYTES];
    let (body, tag) = wrapped[1 + NONCE_BYTES..].split_at(KEY_BYTES);
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    key.copy_from_slice(body);
    wrapping
        .cipher()
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            key.as_mut_slice(),
            Tag::from_slice(tag),
        )
        .map_err(|_| KmsError::InvalidCiphertext("key unwrap failed".to_string()))?;
    Ok(DataKey(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_across_chunk_boundaries() {
        let key = DataKey::generate();
        for len in [
            0,
            1,
            CHUNK_BYTES - 1,
            CHUNK_BYTES,
            CHUNK_BYTES + 1,
            3 * CHUNK_BYTES,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&key, &plain).unwrap();
            assert!(sealed.starts_with(MAGIC));
            let expected_chunks = len.div_ceil(CHUNK_BYTES).max(1);
            assert_eq!(
                sealed.len(),
                HEADER_BYTES + len + expected_chunks * TAG_BYTES
            );
            if len > 16 {
                assert!(!sealed.windows(16).any(|w| w == &plain[..16]));
            }
            assert_eq!(open(&key, &sealed).unwrap(), plain, "length {len}");
        }
    }

    #[test]
    fn wrong_key_tampering_and_truncation_fail() {
        let key = DataKey::generate();
        let plain = vec![7u8; 2 * CHUNK_BYTES + 10];
        let sealed = seal(&key, &plain).unwrap();
        assert!(matches!(
            open(&DataKey::generate(), &sealed),
            Err(KmsError::InvalidCiphertext(_))
        ));
        let mut flipped = sealed.clone();
        flipped[HEADER_BYTES + 5] ^= 1;
        assert!(open(&key, &flipped).is_err());
        // Dropping the last chunk leaves a non-final chunk last: refused.
        let cut = HEADER_BYTES + 2 * (CHUNK_BYTES + TAG_BYTES);
        assert!(open(&key, &sealed[..cut]).is_err());
        assert!(open(&key, &sealed[..sealed.len() - 1]).is_err());
        assert!(open(&key, b"plain text message").is_err());
    }

    #[test]
    fn wrapped_keys_are_bound_to_their_aad() {
        let kek = DataKey::generate();
        let key = DataKey::generate();
        let wrapped = wrap_key(&kek, b"context-a", &key);
        assert_eq!(wrapped.len(), WRAPPED_KEY_BYTES);
        let back = unwrap_key(&kek, b"context-a", &wrapped).unwrap();
        assert_eq!(back.expose(), key.expose());
        assert!(unwrap_key(&kek, b"context-b", &wrapped).is_err());
        assert!(unwrap_key(&DataKey::generate(), b"context-a", &wrapped).is_err());
        let mut tampered = wrapped.clone();
        tampered[20] ^= 0x80;
        assert!(unwrap_key(&kek, b"context-a", &tampered).is_err());
        assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
    }
}
