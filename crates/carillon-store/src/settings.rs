//! Server-wide settings kept in the database (shared by every node of a cluster).

use rand::RngCore;

use crate::error::StoreResult;
use crate::Store;

impl Store {
    /// The server-wide secret named `name` (hex of 32 random bytes), created on first use.
    /// Every node of a cluster gets the same value (first writer wins).
    pub async fn server_secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        let mut fresh = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(hex::encode(fresh))
            .execute(&self.pool)
            .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(hex::decode(value).unwrap_or_default())
    }
}
