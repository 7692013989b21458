//! Connection pool, backend detection and migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use carillon_kms::Keyring;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::blob::BlobStore;
use crate::error::{StoreError, StoreResult};
use crate::notify::NotifyTarget;

/// The SQL engine behind a [`Store`]. Queries are written in the portable subset both accept
/// (`$n` placeholders, `ON CONFLICT`, `RETURNING`, `BIGINT`/`TEXT` columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded default: one file, WAL journal, `synchronous=FULL`.
    Sqlite,
    /// Scale-out: PostgreSQL and compatible engines.
    Postgres,
}

/// The metadata store plus the blob store, and the keyring sealing message blobs (encryption
/// at rest, attached with [`Store::with_keyring`]). Cheap to clone (pools are shared).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    blobs: BlobStore,
    keyring: Option<Arc<Keyring>>,
    /// PostgreSQL only: how a notification listener connects (`crate::notify`).
    notify: Option<NotifyTarget>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens the metadata store at `database_url` (`sqlite://path` or `postgres://…`) and the
    /// blob store at `blob_url` (`file:///dir` or `s3://bucket/prefix`), then applies pending
    /// migrations.
    ///
    /// Errors: `Config` for an unsupported URL scheme; `Database` when the database cannot be
    /// reached or a migration fails.
    pub async fn open(database_url: &str, blob_url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "database URL must start with sqlite: or postgres:, got {:?}",
                database_url.split(':').next().unwrap_or_default()
            )));
        };
        let options = AnyConnectOptions::from_str(database_url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; FULL makes every
                        // commit durable before it returns (what SMTP 250 relies on).
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute("PRAGMA synchronous=FULL").await?;
                        conn.execute("PRAGMA busy_timeout=30000").await?;
                        conn.execute("PRAGMA foreign_keys=ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let blobs = BlobStore::open(blob_url)?;
        let notify = match backend {
            Backend::Postgres => Some(NotifyTarget::from_url(database_url)?),
            Backend::Sqlite => None,
        };
        Ok(Store {
            pool,
            backend,
            blobs,
            keyring: None,
            notify,
        })
    }

    /// This store with `keyring` as the key provider and key cache of encryption at rest
    /// (workmail.md §5.3). Every process that writes or reads message blobs attaches one.
    pub fn with_keyring(mut self, keyring: Arc<Keyring>) -> Store {
        self.keyring = Some(keyring);
        self
    }

    /// The keyring of encryption at rest.
    ///
    /// Errors: `Config` when none was attached (message blobs can then be neither sealed
    /// nor opened: encryption at rest cannot be turned off).
    pub fn keyring(&self) -> StoreResult<&Arc<Keyring>> {
        self.keyring.as_ref().ok_or_else(|| {
            StoreError::Config("no key provider attached for encryption at rest".to_string())
        })
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN`
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes cannot
    /// wait for the lock once another writer has committed (SQLite answers `SQLITE_BUSY` at
    /// once, "database is locked"), whereas an immediate one waits under `busy_timeout`.
    pub(crate) async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Which SQL engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How a notification listener connects (`None` on SQLite).
    pub(crate) fn notify_target(&self) -> Option<&NotifyTarget> {
        self.notify.as_ref()
    }

    /// The blob store beside the metadata.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
