//! Objects sealed under a key-encryption key directly, the way S3 SSE-KMS protects an object:
//! a fresh data key seals the object and is itself wrapped by the named key with the
//! object's encryption context. Carillon's mailbox export output (workmail.md §2.22, §5.3
//! "mailbox export zips are encrypted by S3 using the supplied CMK") is stored this way.
//!
//! Layout: `"CRLNKMS1" | key ARN length (u16 BE) | key ARN | wrapped key length (u16 BE) |
//! wrapped data key | sealed blob` (see [`crate::cipher`]). The object names its key, so a
//! reader needs only the provider and the context.

use crate::cipher::{self, DataKey};
use crate::provider::{EncryptionContext, KeyProvider};
use crate::{KmsError, KmsResult};

const MAGIC: &[u8; 8] = b"CRLNKMS1";

/// Seals `data` under a fresh data key wrapped by `key_arn` with `context`.
///
/// Errors: the provider's (`InvalidKeyArn`, `NotFound`, `Io`).
pub async fn seal_object(
    provider: &dyn KeyProvider,
    key_arn: &str,
    context: &EncryptionContext,
    data: &[u8],
) -> KmsResult<Vec<u8>> {
    let key = DataKey::generate();
    let wrapped = provider.encrypt(key_arn, context, &key).await?;
    let sealed = cipher::seal(&key, data)?;
    let arn_len =
        u16::try_from(key_arn.len()).map_err(|_| KmsError::InvalidKeyArn(key_arn.to_string()))?;
    let wrapped_len = u16::try_from(wrapped.len()).expect("a wrapped key is short");
    let mut out = Vec::with_capacity(12 + key_arn.len() + wrapped.len() + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&arn_len.to_be_bytes());
    out.extend_from_slice(key_arn.as_bytes());
    out.extend_from_slice(&wrapped_len.to_be_bytes());
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The parts of a sealed object: key ARN, wrapped key, sealed blob.
fn parts(data: &[u8]) -> KmsResult<(&str, &[u8], &[u8])> {
    let invalid = || KmsError::InvalidCiphertext("not a sealed object".to_string());
    let rest = data.strip_prefix(MAGIC.as_slice()).ok_or_else(invalid)?;
    let (arn, rest) = length_prefixed(rest).ok_or_else(invalid)?;
    let (wrapped, sealed) = length_prefixed(rest).ok_or_else(invalid)?;
    let arn = std::str::from_utf8(arn).map_err(|_| invalid())?;
    Ok((arn, wrapped, sealed))
}

fn length_prefixed(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
    let rest = data.get(2..)?;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Opens an object sealed by [`seal_object`], with the same `context`.
///
/// Errors: `InvalidCiphertext` (not a sealed object, another context, altered), and the
/// provider's (`NotFound` when the key is gone).
pub async fn open_object(
    provider: &dyn KeyProvider,
    context: &EncryptionContext,
    data: &[u8],
) -> KmsResult<Vec<u8>> {
    let (arn, wrapped, sealed) = parts(data)?;
    let key = provider.decrypt(arn, context, wrapped).await?;
    cipher::open(&key, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalKeyProvider;

    #[tokio::test]
    async fn objects_open_with_their_context_only() {
        let dir = tempfile::tempdir().unwrap();
        let provider = LocalKeyProvider::open(dir.path()).unwrap();
        let key = provider
            .create_key("111122223333", "us-east-1", "")
            .await
            .unwrap();
        let context = EncryptionContext::s3("arn:aws:s3:::bucket/prefix/a.eml");
        let object = seal_object(&provider, &key.arn, &context, b"Subject: hi\r\n\r\nbody")
            .await
            .unwrap();
        assert!(object
            .windows(key.arn.len())
            .any(|w| w == key.arn.as_bytes()));
        assert_eq!(
            open_object(&provider, &context, &object).await.unwrap(),
            b"Subject: hi\r\n\r\nbody"
        );
        let other = EncryptionContext::s3("arn:aws:s3:::bucket/prefix/b.eml");
        assert!(open_object(&provider, &other, &object).await.is_err());
        assert!(open_object(&provider, &context, b"plain").await.is_err());
        assert!(open_object(&provider, &context, &object[..12])
            .await
            .is_err());
    }
}
