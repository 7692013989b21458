//! Where phone numbers come from: the [`Carrier`] adapter trait, the built-in adapter
//! ([`PoolCarrier`]) serving the numbers the operator owns (the store's pool), and the CSV
//! import that fills that pool (`carillon phone-numbers import FILE.csv`).
//! Spec: chime-zh.md §1.12 (pool → order → inventory → deletion queue → pool), §4.4
//! (porting); chime-ja.md §1.7.
//!
//! Chime provisions from a pool its carriers manage; Carillon asks an adapter. Another
//! carrier (a SIP trunk provider's API) implements the same trait.

use carillon_core::time::now_millis;
use carillon_store::chime::phone_numbers::ImportOutcome;
pub use carillon_store::chime::phone_numbers::{
    Capabilities, PoolNumber as NumberInfo, PoolQuery as NumberQuery,
};
use carillon_store::{Store, StoreError};

use crate::countries::{self, check_number, normalize_e164};

/// Why a carrier could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CarrierError {
    /// A number is another tenant's.
    #[error("{0}")]
    Conflict(String),
    /// The carrier failed (unreachable, its store failed); worth retrying later.
    #[error("carrier failure: {0}")]
    Failed(String),
}

impl From<StoreError> for CarrierError {
    fn from(e: StoreError) -> CarrierError {
        match e {
            StoreError::Conflict(m) => CarrierError::Conflict(m),
            other => CarrierError::Failed(other.to_string()),
        }
    }
}

/// A source of phone numbers for the tenants (AWS accounts) of this server.
#[async_trait::async_trait]
pub trait Carrier: std::fmt::Debug + Send + Sync + 'static {
    /// Numbers `account_id` could order now matching `query`, by number (at most
    /// `query.limit`, after `query.after`).
    async fn search(
        &self,
        account_id: &str,
        query: &NumberQuery,
    ) -> Result<Vec<NumberInfo>, CarrierError>;

    /// What the carrier knows of `e164` (country, type, capabilities), `None` if it cannot
    /// provide that number at all.
    async fn describe(&self, e164: &str) -> Result<Option<NumberInfo>, CarrierError>;

    /// Reserves and provisions `e164` for `account_id`: `true` once it is the account's
    /// (also when it already was), `false` when it is not available (another account's, or
    /// unknown). Idempotent, so a retried order does not fail on its own numbers.
    async fn provision(&self, account_id: &str, e164: &str) -> Result<bool, CarrierError>;

    /// Gives `e164` back to the pool (the end of the 7-day deletion queue).
    async fn release(&self, account_id: &str, e164: &str) -> Result<(), CarrierError>;

    /// A completed port-in: `numbers` are now served by this carrier for `account_id`.
    ///
    /// Errors: `Conflict` when a number is another account's.
    async fn port_in(&self, account_id: &str, numbers: &[NumberInfo]) -> Result<(), CarrierError>;

    /// A completed port-out: `numbers` left for another carrier.
    async fn port_out(&self, account_id: &str, numbers: &[String]) -> Result<(), CarrierError>;
}

/// The built-in carrier: the numbers the operator owns, kept in the store's pool table
/// (imported with [`import_csv`] or ported in). A number is available while no tenant
/// holds it.
#[derive(Debug, Clone)]
pub struct PoolCarrier {
    store: Store,
}

impl PoolCarrier {
    /// The carrier over `store`'s pool.
    pub fn new(store: Store) -> PoolCarrier {
        PoolCarrier { store }
    }
}

#[async_trait::async_trait]
impl Carrier for PoolCarrier {
    async fn search(
        &self,
        _account_id: &str,
        query: &NumberQuery,
    ) -> Result<Vec<NumberInfo>, CarrierError> {
        Ok(self.store.available_pool_numbers(query).await?)
    }

    async fn describe(&self, e164: &str) -> Result<Option<NumberInfo>, CarrierError> {
        Ok(self.store.pool_number(e164).await?)
    }

    async fn provision(&self, account_id: &str, e164: &str) -> Result<bool, CarrierError> {
        Ok(self
            .store
            .hold_pool_number(e164, account_id, now_millis())
            .await?)
    }

    async fn release(&self, account_id: &str, e164: &str) -> Result<(), CarrierError> {
        self.store
            .release_pool_number(e164, account_id, now_millis())
            .await?;
        Ok(())
    }

    async fn port_in(&self, account_id: &str, numbers: &[NumberInfo]) -> Result<(), CarrierError> {
        Ok(self
            .store
            .port_in_pool_numbers(account_id, numbers, now_millis())
            .await?)
    }

    async fn port_out(&self, account_id: &str, numbers: &[String]) -> Result<(), CarrierError> {
        Ok(self.store.remove_pool_numbers(account_id, numbers).await?)
    }
}

/// A CSV line of an import, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// 1-based line number in the file.
    pub line: usize,
    /// The number as the pool keeps it.
    pub number: NumberInfo,
}

/// A refused CSV line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// 1-based line number in the file.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// New numbers.
    pub inserted: usize,
    /// Known numbers whose description changed.
    pub updated: usize,
    /// Known numbers, same description.
    pub unchanged: usize,
    /// Refused lines (bad rows, or changes to numbers a tenant holds), in file order.
    pub refused: Vec<ImportError>,
}

/// Parses an import file: one number per line, `E.164,country,type,capabilities[,city[,state]]`
/// — country ISO 3166 alpha-2 from the country table, type `Local` or `TollFree`,
/// capabilities `;`-separated from `voice`, `sms`, `mms` (at least one). A first line whose
/// first field is not a number (`e164,country,…`) is a header; blank lines and lines
/// starting with `#` are skipped. A number repeated in the file is refused on its later
/// lines.
///
/// Returns the good rows and the refused lines.
pub fn parse_csv(text: &str) -> (Vec<ImportRow>, Vec<ImportError>) {
    let mut rows: Vec<ImportRow> = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        let is_header = line == 1
            && fields
                .first()
                .is_some_and(|f| f.chars().any(|c| c.is_ascii_alphabetic()));
        if is_header {
            continue;
        }
        match parse_row(&fields) {
            Ok(number) if rows.iter().any(|r| r.number.e164 == number.e164) => {
                errors.push(ImportError {
                    line,
                    reason: format!("{} appears earlier in the file", number.e164),
                })
            }
            Ok(number) => rows.push(ImportRow { line, number }),
            Err(reason) => errors.push(ImportError { line, reason }),
        }
    }
    (rows, errors)
}

fn parse_row(fields: &[&str]) -> Result<NumberInfo, String> {
    if !(4..=6).contains(&fields.len()) {
        return Err(format!(
            "expected 4 to 6 fields (E.164, country, type, capabilities[, city[, state]]), found {}",
            fields.len()
        ));
    }
    let e164 = fields[0];
    if !e164.starts_with('+') || normalize_e164(e164).as_deref() != Some(e164) {
        return Err(format!(
            "{e164:?} is not an E.164 number (+ and 2 to 15 digits, no leading 0)"
        ));
    }
    let country = countries::country(fields[1]).ok_or_else(|| {
        format!(
            "country {:?} is not one of the supported countries ({})",
            fields[1],
            countries::COUNTRIES
                .iter()
                .map(|c| c.code)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let number_type = fields[2];
    if !countries::NUMBER_TYPES.contains(&number_type) {
        return Err(format!("type {number_type:?} is not Local or TollFree"));
    }
    check_number(e164, country, number_type)?;
    let mut capabilities = Capabilities::default();
    for token in fields[3]
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match token.to_ascii_lowercase().as_str() {
            "voice" => capabilities.voice = true,
            "sms" => capabilities.sms = true,
            "mms" => capabilities.mms = true,
            _ => return Err(format!("capability {token:?} is not voice, sms or mms")),
        }
    }
    if capabilities == Capabilities::default() {
        return Err("capabilities must name at least one of voice, sms, mms".to_string());
    }
    let optional = |i: usize| {
        fields
            .get(i)
            .filter(|f| !f.is_empty())
            .map(|f| f.to_string())
    };
    Ok(NumberInfo {
        e164: e164.to_string(),
        country: country.code.to_string(),
        number_type: number_type.to_string(),
        capabilities,
        city: optional(4),
        state: optional(5),
        account_id: None,
        source: "Import".to_string(),
    })
}

/// Imports the numbers of CSV `text` (see [`parse_csv`]) into `store`'s pool: good lines
/// are added or updated (idempotent: importing the same file again changes nothing), bad
/// ones refused with their line numbers. A changed description of a number a tenant holds
/// is refused too (its inventory keeps what it was ordered with).
///
/// Errors: the store failed (lines before the failure stay imported).
pub async fn import_csv(store: &Store, text: &str) -> Result<ImportSummary, StoreError> {
    let (rows, mut refused) = parse_csv(text);
    let mut summary = ImportSummary::default();
    for row in rows {
        match store.import_pool_number(&row.number, now_millis()).await? {
            ImportOutcome::Inserted => summary.inserted += 1,
            ImportOutcome::Updated => summary.updated += 1,
            ImportOutcome::Unchanged => summary.unchanged += 1,
            ImportOutcome::Held => refused.push(ImportError {
                line: row.line,
                reason: format!(
                    "{} is in a tenant's inventory; its description cannot change",
                    row.number.e164
                ),
            }),
        }
    }
    refused.sort_by_key(|e| e.line);
    summary.refused = refused;
    Ok(summary)
}
