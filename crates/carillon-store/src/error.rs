//! Store errors.

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// What can go wrong in the store. Callers map `Conflict` and `NotFound` to their service's
/// modelled errors; everything else is an internal failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated (e.g. an alias already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The addressed record does not exist (in this tenant).
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// The blob store failed.
    #[error("blob store: {0}")]
    Blob(#[from] object_store::Error),
    /// Local file I/O failed (blob durability, data directory).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration (URL) is not usable.
    #[error("configuration: {0}")]
    Config(String),
    /// Encryption at rest failed: a key is missing or unusable, or a sealed blob or wrapped
    /// key does not authenticate. Never carries key material.
    #[error("encryption at rest: {0}")]
    Encryption(String),
}

impl From<carillon_kms::KmsError> for StoreError {
    fn from(e: carillon_kms::KmsError) -> Self {
        match e {
            carillon_kms::KmsError::Io(io) => StoreError::Io(io),
            other => StoreError::Encryption(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_string());
            }
        }
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(sqlx::Error::Migrate(Box::new(e)))
    }
}

impl<F: carillon_core::InternalFailure> From<StoreError> for carillon_core::OperationError<F> {
    /// `F`'s internal-failure answer; the detail goes to the log, never to the caller.
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "{}", F::LOG);
        carillon_core::OperationError::internal_failure()
    }
}
