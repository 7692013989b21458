//! The environment the retention and reports tests share: a Chime service per test store
//! (SQLite, and PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set) and tenants. Each test
//! file adds its own fixtures to [`Env`].

use carillon_chime::Chime;
use carillon_core::RequestContext;
use carillon_store::testing::{create_account, test_stores, TestStore};

/// A Chime service over one test store (kept alive alongside).
pub struct Env {
    pub chime: Chime,
    pub test: TestStore,
}

/// One [`Env`] per configured backend.
pub async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        let chime = Chime::new(test.store.clone()).await.unwrap();
        out.push(Env { chime, test });
    }
    out
}

impl Env {
    /// A new Carillon account (tenant) and a request context of its admin.
    pub async fn tenant(&self) -> RequestContext {
        let account_id = create_account(&self.test.store).await;
        RequestContext {
            principal_arn: format!("arn:aws:iam::{account_id}:user/admin"),
            account_id,
            access_key_id: "AKIATEST".to_string(),
            region: "us-east-1".to_string(),
            request_id: carillon_core::ids::new_uuid(),
            source_ip: "127.0.0.1".to_string(),
        }
    }
}
