//! Test support shared by the integration tests of every crate (feature `test-fixtures`, never
//! in a release build): stores on SQLite and, when `CARILLON_TEST_DATABASE_URL` is set, on
//! PostgreSQL in a fresh schema; unique names; and directory rows written straight to the
//! tables, for tests that need a directory without going through the WorkMail service.
//!
//! Fixture helpers panic on failure: they set a test up, and a broken set-up should fail the
//! test where it happens.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;

use crate::{AccountRecord, NewPrincipal, Store};

/// The environment variable naming a PostgreSQL server to run the tests on as well, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const TEST_DATABASE_URL_VAR: &str = "CARILLON_TEST_DATABASE_URL";

/// A store opened for one test, with the temporary directory behind it.
///
/// On SQLite the database file and the blobs live in the directory; on PostgreSQL the store
/// uses a schema of its own (blobs still in the directory). When a `TestStore` is dropped
/// outside a panic, that schema is dropped too; the schema of a failed test is kept to look at.
pub struct TestStore {
    /// The store under test.
    pub store: Store,
    /// `"sqlite"` or `"postgres"`, for assertion messages.
    pub label: &'static str,
    url: String,
    dir: tempfile::TempDir,
    /// PostgreSQL only: the server URL and the schema made for this store.
    schema: Option<(String, String)>,
}

/// One store per configured backend: SQLite always, PostgreSQL (in a fresh schema) when
/// [`TEST_DATABASE_URL_VAR`] is set.
pub async fn test_stores() -> Vec<TestStore> {
    let mut stores = vec![TestStore::sqlite().await];
    if let Ok(base) = std::env::var(TEST_DATABASE_URL_VAR) {
        stores.push(TestStore::postgres(base).await);
    }
    stores
}

/// `prefix` followed by a suffix unique across processes and across the calls of this one:
/// lower-case hex and decimal digits only, so the result serves as an SQL identifier, an
/// organization alias or a DNS label.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // 40 bits of the clock keep names short; the process ID and the counter keep them apart.
    format!("{prefix}{:x}{:x}{n}", nanos % (1 << 40), std::process::id())
}

/// A new account through the store's own API (so any [`Store`] will do), with an `admin`
/// principal (ARN `arn:aws:iam::<account>:user/admin`) and no policy. Returns the account ID.
pub async fn create_account(store: &Store) -> String {
    let account_id = carillon_core::ids::new_account_id();
    let now = carillon_core::time::now_millis();
    store
        .create_account_with_principal(
            &AccountRecord {
                account_id: account_id.clone(),
                name: format!("acct-{account_id}"),
                created_at: now,
            },
            &NewPrincipal {
                account_id: account_id.clone(),
                arn: format!("arn:aws:iam::{account_id}:user/admin"),
                name: "admin".to_string(),
                policy_names: vec![],
                access_key_id: carillon_core::ids::new_access_key_id(),
                secret_access_key: carillon_core::ids::new_secret_access_key(),
                created_at: now,
            },
        )
        .await
        .expect("account created");
    account_id
}

impl TestStore {
    /// A store on a SQLite file in a new temporary directory.
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display());
        TestStore::open(&url, "sqlite", dir, None).await
    }

    /// A store on the PostgreSQL server at `base`, in a schema created for it.
    async fn postgres(base: String) -> TestStore {
        sqlx::any::install_default_drivers();
        let schema = unique_name("t_");
        let admin = AnyPool::connect(&base).await.expect("PostgreSQL reachable");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("CREATE SCHEMA");
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        // The application name tags the store's connections so clean-up can end them.
        let url =
            format!("{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}");
        let dir = tempfile::tempdir().expect("temporary directory");
        TestStore::open(&url, "postgres", dir, Some((base, schema))).await
    }

    async fn open(
        url: &str,
        label: &'static str,
        dir: tempfile::TempDir,
        schema: Option<(String, String)>,
    ) -> TestStore {
        let blobs = dir.path().join("blobs");
        std::fs::create_dir_all(&blobs).expect("blob directory");
        let blob_url = url::Url::from_directory_path(&blobs)
            .expect("absolute blob directory")
            .to_string();
        // Encryption at rest with keys of the test's own (local key files in the directory).
        let keys = carillon_kms::LocalKeyProvider::open(dir.path().join("keys")).expect("key dir");
        let keyring = std::sync::Arc::new(carillon_kms::Keyring::new(
            std::sync::Arc::new(keys),
            "us-east-1",
        ));
        let store = Store::open(url, &blob_url)
            .await
            .expect("store opens")
            .with_keyring(keyring);
        TestStore {
            store,
            label,
            url: url.to_string(),
            dir,
            schema,
        }
    }

    /// The metadata database URL this store was opened with (on PostgreSQL it selects the
    /// store's own schema), for a server process under test to share.
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// The temporary directory of this store, for other files a test needs (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store's own connection pool, for statements no store function covers (fixture
    /// rows a test wants in an unusual state, or checks on raw rows).
    pub fn pool(&self) -> &AnyPool {
        &self.store.pool
    }

    /// Runs one statement with `args` bound in order as text (cast in SQL where a column is
    /// numeric, e.g. `CAST($5 AS BIGINT)`).
    pub async fn exec(&self, sql: &str, args: &[&str]) {
        let mut query = sqlx::query(sql);
        for arg in args {
            query = query.bind(arg.to_string());
        }
        query.execute(self.pool()).await.expect(sql);
    }

    /// An `accounts` row (name = ID), without principals.
    pub async fn insert_account(&self, account_id: &str) {
        self.exec(
            "INSERT INTO accounts (account_id, name, created_at) VALUES ($1, $1, 0)",
            &[account_id],
        )
        .await;
    }

    /// An `organizations` row of a WorkMail directory in `state` (`Active`, `Deleting`, ...).
    pub async fn insert_organization(
        &self,
        account_id: &str,
        organization_id: &str,
        alias: &str,
        state: &str,
    ) {
        self.exec(
            "INSERT INTO organizations (organization_id, account_id, alias, state, directory_id, \
             directory_type, created_at) VALUES ($1, $2, $3, $4, 'd', 'WorkMailDirectory', 0)",
            &[organization_id, account_id, alias, state],
        )
        .await;
    }

    /// A mail domain of the organization whose ownership and DKIM are both `VERIFIED`.
    pub async fn insert_mail_domain(&self, organization_id: &str, domain: &str) {
        self.exec(
            "INSERT INTO mail_domains (domain_name, organization_id, ownership_token, \
             ownership_verification_status, dkim_verification_status, created_at) \
             VALUES ($1, $2, 't', 'VERIFIED', 'VERIFIED', 0)",
            &[domain, organization_id],
        )
        .await;
    }

    /// An `entities` row named like its ID: `kind` `USER`, `GROUP` or `RESOURCE`, `state`
    /// `ENABLED`, `DISABLED` or `DELETED`, the primary `email` if any and the Argon2 PHC
    /// `password_hash` if any. Writes no address (see [`TestStore::insert_address`]).
    pub async fn insert_entity(
        &self,
        organization_id: &str,
        entity_id: &str,
        kind: &str,
        state: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) {
        sqlx::query(
            "INSERT INTO entities (entity_id, organization_id, kind, name, email, state, \
             password_hash, created_at) VALUES ($1, $2, $3, $1, $4, $5, $6, 0)",
        )
        .bind(entity_id)
        .bind(organization_id)
        .bind(kind)
        .bind(email)
        .bind(state)
        .bind(password_hash)
        .execute(self.pool())
        .await
        .expect("entity inserted");
    }

    /// An address of the entity, in the domain after its `@`; `primary` marks the primary one.
    pub async fn insert_address(
        &self,
        organization_id: &str,
        entity_id: &str,
        address: &str,
        primary: bool,
    ) {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        self.exec(
            "INSERT INTO addresses (address, domain_name, organization_id, entity_id, is_primary) \
             VALUES ($1, $2, $3, $4, CAST($5 AS BIGINT))",
            &[
                address,
                domain,
                organization_id,
                entity_id,
                if primary { "1" } else { "0" },
            ],
        )
        .await;
    }

    /// Makes `member_id` a direct member of the group `group_id`.
    pub async fn insert_group_member(
        &self,
        organization_id: &str,
        group_id: &str,
        member_id: &str,
    ) {
        self.exec(
            "INSERT INTO group_members (group_id, member_id, organization_id) VALUES ($1, $2, $3)",
            &[group_id, member_id, organization_id],
        )
        .await;
    }

    /// Fixture for protocol tests: an account, an `Active` organization, an `ENABLED` user
    /// with `password_hash` (an Argon2 PHC string) and primary address `email` (lower-cased),
    /// and the user's mailbox. Returns the user (entity) ID.
    pub async fn insert_test_mail_user(&self, email: &str, password_hash: &str) -> String {
        let account = carillon_core::ids::new_account_id();
        let organization = carillon_core::ids::new_organization_id();
        let user = carillon_core::ids::new_uuid();
        let email = email.to_ascii_lowercase();
        self.insert_account(&account).await;
        self.insert_organization(&account, &organization, &organization, "Active")
            .await;
        self.insert_entity(
            &organization,
            &user,
            "USER",
            "ENABLED",
            Some(&email),
            Some(password_hash),
        )
        .await;
        self.insert_address(&organization, &user, &email, true)
            .await;
        self.store
            .create_mailbox(&organization, &user)
            .await
            .expect("mailbox created");
        user
    }
}

impl Drop for TestStore {
    /// Drops the PostgreSQL schema of a test that passed, after ending the store's own
    /// connections. Drop cannot await, so a helper thread with its own runtime does it (the
    /// test's runtime may be single-threaded).
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        if std::thread::panicking() {
            return;
        }
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = AnyPool::connect(&base).await?;
                // The store's pool is still open (fields drop after this), and a connection
                // whose dropped transaction awaits its ROLLBACK holds locks DROP SCHEMA would
                // wait on forever: end the store's connections first.
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&schema)
                .execute(&admin)
                .await?;
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join()
        .expect("schema clean-up thread");
        dropped.expect("DROP SCHEMA");
    }
}
