//! The keyring: the KEK provider plus a short-lived in-memory cache of unwrapped data keys
//! (mailbox keys, organization transit keys). Spec: workmail.md §5.3 "plaintext mailbox keys
//! are cached … for up to 1 minute … and never written to disk", §6 "KMS mailbox key cache
//! ≤ 1 min".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cipher::DataKey;
use crate::provider::KeyProvider;

/// How long an unwrapped key stays cached: one minute from its unwrapping.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// The KEK provider and the cache of unwrapped keys. Share one per process (`Arc`).
#[derive(Debug)]
pub struct Keyring {
    provider: Arc<dyn KeyProvider>,
    region: String,
    ttl: Duration,
    cache: Mutex<HashMap<String, (DataKey, Instant)>>,
}

impl Keyring {
    /// A keyring over `provider` for a server in `region` (where default keys are made),
    /// caching keys for [`KEY_CACHE_TTL`].
    pub fn new(provider: Arc<dyn KeyProvider>, region: &str) -> Keyring {
        Keyring::with_ttl(provider, region, KEY_CACHE_TTL)
    }

    /// A keyring caching keys for `ttl` (at most [`KEY_CACHE_TTL`]; longer is capped).
    pub fn with_ttl(provider: Arc<dyn KeyProvider>, region: &str, ttl: Duration) -> Keyring {
        Keyring {
            provider,
            region: region.to_string(),
            ttl: ttl.min(KEY_CACHE_TTL),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The KEK provider.
    pub fn provider(&self) -> &dyn KeyProvider {
        self.provider.as_ref()
    }

    /// The server's region: the region of the default keys it makes.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The cached key `id` if it was unwrapped less than the TTL ago. Expired entries are
    /// dropped (and zeroed) on every call.
    pub fn cached(&self, id: &str) -> Option<DataKey> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        cache.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
        cache.get(id).map(|(key, _)| key.clone())
    }

    /// Caches `key` as `id` from now on.
    pub fn remember(&self, id: &str, key: &DataKey) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(id.to_string(), (key.clone(), Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalKeyProvider;

    #[test]
    fn cached_keys_expire() {
        let dir = tempfile::tempdir().unwrap();
        let provider = Arc::new(LocalKeyProvider::open(dir.path()).unwrap());
        let ring = Keyring::with_ttl(provider.clone(), "us-east-1", Duration::from_millis(50));
        let key = DataKey::generate();
        ring.remember("mailbox-1", &key);
        assert_eq!(ring.cached("mailbox-1").unwrap().expose(), key.expose());
        assert!(ring.cached("mailbox-2").is_none());
        std::thread::sleep(Duration::from_millis(80));
        assert!(ring.cached("mailbox-1").is_none());
        let capped = Keyring::with_ttl(provider, "us-east-1", Duration::from_secs(3600));
        assert_eq!(capped.ttl, KEY_CACHE_TTL);
    }
}
