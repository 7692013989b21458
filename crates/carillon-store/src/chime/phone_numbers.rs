//! Phone numbers, orders, and phone-number and global settings (porting orders:
//! [`super::porting`]). Spec:
//! chime-zh.md §1.12, §2.13, §2.14, §4; chime-ja.md §4.
//!
//! Tables of migration `0020_chime_phone_numbers.sql`: the operator's pool (numbers the
//! built-in carrier adapter serves; `account_id` names the tenant holding one), each tenant's
//! inventory, number orders with their numbers, and per-tenant settings. The store keeps rows; the rules (product types,
//! countries, throttles, the deletion queue, porting transitions) live in carillon-chime.
//! Every tenant-owned query filters on `account_id`.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::error::{StoreError, StoreResult};
use crate::sql::{self, Arg};
use crate::Store;

/// Model `PhoneNumberStatus` values the store itself writes.
pub mod status {
    /// Ordered, being provisioned (Orders/Pending).
    pub const ACQUIRE_IN_PROGRESS: &str = "AcquireInProgress";
    /// The carrier could not provide it.
    pub const ACQUIRE_FAILED: &str = "AcquireFailed";
    /// In the inventory, not assigned.
    pub const UNASSIGNED: &str = "Unassigned";
    /// In the inventory, assigned to a user.
    pub const ASSIGNED: &str = "Assigned";
    /// In the 7-day deletion queue.
    pub const DELETE_IN_PROGRESS: &str = "DeleteInProgress";
}

/// Model `OrderedPhoneNumberStatus` and `PhoneNumberOrderStatus` values.
pub mod order_status {
    /// Order or number still being provisioned.
    pub const PROCESSING: &str = "Processing";
    /// Number provisioned.
    pub const ACQUIRED: &str = "Acquired";
    /// Number, or every number of the order, not provisioned.
    pub const FAILED: &str = "Failed";
    /// Every number of the order provisioned.
    pub const SUCCESSFUL: &str = "Successful";
    /// Some numbers of the order provisioned, some not.
    pub const PARTIAL: &str = "Partial";
}

/// What a number can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Inbound and outbound calls.
    pub voice: bool,
    /// Inbound and outbound SMS.
    pub sms: bool,
    /// Inbound and outbound MMS.
    pub mms: bool,
}

impl Capabilities {
    fn read(row: &AnyRow) -> Result<Capabilities, sqlx::Error> {
        Ok(Capabilities {
            voice: row.try_get::<i64, _>("voice")? != 0,
            sms: row.try_get::<i64, _>("sms")? != 0,
            mms: row.try_get::<i64, _>("mms")? != 0,
        })
    }
}

/// A number of the operator's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolNumber {
    /// E.164 with the leading `+`.
    pub e164: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    /// `Local` or `TollFree`.
    pub number_type: String,
    /// What it carries.
    pub capabilities: Capabilities,
    /// City, for SearchAvailablePhoneNumbers' `City` filter.
    pub city: Option<String>,
    /// State or region, for the `State` filter.
    pub state: Option<String>,
    /// The tenant holding it; `None` while available.
    pub account_id: Option<String>,
    /// `Import` or `PortIn`.
    pub source: String,
}

/// What [`Store::import_pool_number`] did with one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// New in the pool.
    Inserted,
    /// Known, its description changed.
    Updated,
    /// Known with the same description.
    Unchanged,
    /// Known with another description but held by a tenant: left as it is.
    Held,
}

/// Which available numbers a search returns.
#[derive(Debug, Clone, Default)]
pub struct PoolQuery {
    /// ISO 3166 alpha-2.
    pub country: String,
    /// `Local` or `TollFree`, if filtered.
    pub number_type: Option<String>,
    /// Only numbers starting with this (E.164 prefix, e.g. `+1206` or `+1800`).
    pub e164_prefix: Option<String>,
    /// Exact city (case-insensitive).
    pub city: Option<String>,
    /// Exact state (case-insensitive).
    pub state: Option<String>,
    /// Only numbers after this one (the previous page's last).
    pub after: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// A number of a tenant's inventory (or its Orders/Pending list, or deletion queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumberRecord {
    /// The tenant.
    pub account_id: String,
    /// E.164 with the leading `+` (also the PhoneNumberId).
    pub e164: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    /// `Local` or `TollFree`.
    pub number_type: String,
    /// Model `PhoneNumberProductType`.
    pub product_type: String,
    /// Model `PhoneNumberStatus`.
    pub status: String,
    /// What it carries.
    pub capabilities: Capabilities,
    /// The unique outbound calling name.
    pub calling_name: Option<String>,
    /// When the calling name was last set, epoch ms.
    pub calling_name_updated_at: Option<i64>,
    /// The assigned user.
    pub user_id: Option<String>,
    /// The assigned user's Chime account.
    pub chime_account_id: Option<String>,
    /// When it was assigned, epoch ms.
    pub associated_at: Option<i64>,
    /// The number order or porting order that brought it.
    pub order_id: String,
    /// When it entered the deletion queue, epoch ms.
    pub deletion_at: Option<i64>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

const NUMBER_COLUMNS: &str = "account_id, e164, country, number_type, product_type, status, \
     voice, sms, mms, calling_name, calling_name_updated_at, user_id, chime_account_id, \
     associated_at, order_id, deletion_at, created_at, updated_at";

impl FromRow<'_, AnyRow> for PhoneNumberRecord {
    /// A row of [`NUMBER_COLUMNS`].
    fn from_row(row: &AnyRow) -> Result<PhoneNumberRecord, sqlx::Error> {
        Ok(PhoneNumberRecord {
            account_id: row.try_get("account_id")?,
            e164: row.try_get("e164")?,
            country: row.try_get("country")?,
            number_type: row.try_get("number_type")?,
            product_type: row.try_get("product_type")?,
            status: row.try_get("status")?,
            capabilities: Capabilities::read(row)?,
            calling_name: row.try_get("calling_name")?,
            calling_name_updated_at: row.try_get("calling_name_updated_at")?,
            user_id: row.try_get("user_id")?,
            chime_account_id: row.try_get("chime_account_id")?,
            associated_at: row.try_get("associated_at")?,
            order_id: row.try_get("order_id")?,
            deletion_at: row.try_get("deletion_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl PhoneNumberRecord {
    /// The values of [`NUMBER_COLUMNS`], in order.
    fn args(&self) -> [Arg<'_>; 18] {
        [
            (&self.account_id).into(),
            (&self.e164).into(),
            (&self.country).into(),
            (&self.number_type).into(),
            (&self.product_type).into(),
            (&self.status).into(),
            self.capabilities.voice.into(),
            self.capabilities.sms.into(),
            self.capabilities.mms.into(),
            (&self.calling_name).into(),
            self.calling_name_updated_at.into(),
            (&self.user_id).into(),
            (&self.chime_account_id).into(),
            self.associated_at.into(),
            (&self.order_id).into(),
            self.deletion_at.into(),
            self.created_at.into(),
            self.updated_at.into(),
        ]
    }
}

/// Which inventory numbers a listing returns.
#[derive(Debug, Clone, Default)]
pub struct PhoneNumberFilter {
    /// Model `PhoneNumberStatus`.
    pub status: Option<String>,
    /// Model `PhoneNumberProductType`.
    pub product_type: Option<String>,
    /// Only numbers assigned to this user.
    pub user_id: Option<String>,
    /// Only numbers assigned to users of this Chime account.
    pub chime_account_id: Option<String>,
    /// Only numbers after this one.
    pub after: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// A number order with its numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// Order ID (UUID).
    pub order_id: String,
    /// The tenant.
    pub account_id: String,
    /// Model `PhoneNumberProductType`.
    pub product_type: String,
    /// Model `PhoneNumberOrderStatus`.
    pub status: String,
    /// The ordered numbers with their `OrderedPhoneNumberStatus`, by number.
    pub numbers: Vec<(String, String)>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// A new number order: the order and, per number, its inventory row to create
/// (`AcquireInProgress`).
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The order (status `Processing`, `numbers` all `Processing`).
    pub order: OrderRecord,
    /// One inventory row per ordered number.
    pub inventory: Vec<PhoneNumberRecord>,
}

/// The phone-number and global settings of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct PhoneSettingsRecord {
    /// The default outbound calling name.
    pub calling_name: Option<String>,
    /// When it was last set, epoch ms.
    pub calling_name_updated_at: Option<i64>,
    /// Business Calling CDR bucket.
    pub business_calling_cdr_bucket: Option<String>,
    /// Voice Connector CDR bucket.
    pub voice_connector_cdr_bucket: Option<String>,
}

/// What [`Store::associate_phone_number`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssociateOutcome {
    /// The number is now the user's.
    Associated,
    /// The number is not `Unassigned` in the tenant's inventory (any more).
    NumberUnavailable,
    /// The user already has a number.
    UserHasNumber,
    /// No such user in that Chime account of the tenant.
    NoUser,
}

impl FromRow<'_, AnyRow> for PoolNumber {
    /// A row of [`POOL_COLUMNS`].
    fn from_row(row: &AnyRow) -> Result<PoolNumber, sqlx::Error> {
        Ok(PoolNumber {
            e164: row.try_get("e164")?,
            country: row.try_get("country")?,
            number_type: row.try_get("number_type")?,
            capabilities: Capabilities::read(row)?,
            city: row.try_get("city")?,
            state: row.try_get("state")?,
            account_id: row.try_get("account_id")?,
            source: row.try_get("source")?,
        })
    }
}

impl PoolNumber {
    /// The description an import or a port-in writes: number, country, type, capabilities,
    /// city and state, in that order (`$1`..`$8`).
    fn description_args(&self) -> Vec<Arg<'_>> {
        vec![
            (&self.e164).into(),
            (&self.country).into(),
            (&self.number_type).into(),
            self.capabilities.voice.into(),
            self.capabilities.sms.into(),
            self.capabilities.mms.into(),
            (&self.city).into(),
            (&self.state).into(),
        ]
    }
}

const POOL_COLUMNS: &str =
    "e164, country, number_type, voice, sms, mms, city, state, account_id, source";

/// The pool's row of number `$1`, held or not.
fn pool_number_sql() -> String {
    format!("SELECT {POOL_COLUMNS} FROM chime_phone_number_pool WHERE e164 = $1")
}

/// An optional filter as bound: empty text when unset (`$n = '' OR column = $n`).
fn or_empty(v: &Option<String>) -> Arg<'_> {
    v.as_deref().unwrap_or_default().into()
}

async fn insert_number(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    n: &PhoneNumberRecord,
) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO chime_phone_numbers ({NUMBER_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    sql::execute(&mut **tx, &sql, &n.args()).await?;
    Ok(())
}

/// What taking an assigned number back writes (`$2` the time, `$3`
/// [`status::UNASSIGNED`]): no user, no Chime account, no assignment time.
const UNASSIGN: &str = "status = $3, user_id = NULL, chime_account_id = NULL, \
     associated_at = NULL, updated_at = $2";

/// Drops the tenant's `AcquireFailed` row of a number (`$1` the tenant, `$2` the number,
/// `$3` [`status::ACQUIRE_FAILED`]): a failed acquisition holds nothing.
const DELETE_FAILED_NUMBER: &str =
    "DELETE FROM chime_phone_numbers WHERE account_id = $1 AND e164 = $2 AND status = $3";

/// Adds inventory row `n`, first dropping the tenant's `AcquireFailed` row of the same
/// number (a failed acquisition holds nothing).
pub(super) async fn replace_failed_number(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    n: &PhoneNumberRecord,
) -> StoreResult<()> {
    sql::execute(
        &mut **tx,
        DELETE_FAILED_NUMBER,
        &[
            (&n.account_id).into(),
            (&n.e164).into(),
            status::ACQUIRE_FAILED.into(),
        ],
    )
    .await?;
    insert_number(tx, n).await
}

/// A number order's row: ID, tenant, product type, status, creation, update.
type OrderRow = (String, String, String, String, i64, i64);

const ORDER_COLUMNS: &str = "order_id, account_id, product_type, status, created_at, updated_at";

/// The order of `row` with its `numbers` (E.164, status).
fn order(row: OrderRow, numbers: Vec<(String, String)>) -> OrderRecord {
    let (order_id, account_id, product_type, status, created_at, updated_at) = row;
    OrderRecord {
        order_id,
        account_id,
        product_type,
        status,
        numbers,
        created_at,
        updated_at,
    }
}

impl Store {
    /// Adds `number` to the operator's pool, or updates its description (country, type,
    /// capabilities, city, state) when it is known and no tenant holds it. Idempotent.
    ///
    /// Errors: `Database`.
    pub async fn import_pool_number(
        &self,
        number: &PoolNumber,
        now: i64,
    ) -> StoreResult<ImportOutcome> {
        let mut tx = self.begin_write().await?;
        let existing: Option<PoolNumber> =
            sql::fetch_optional(&mut *tx, &pool_number_sql(), &[(&number.e164).into()]).await?;
        let mut args = number.description_args();
        args.push(now.into());
        let outcome = match existing {
            None => {
                sql::execute(
                    &mut *tx,
                    "INSERT INTO chime_phone_number_pool (e164, country, number_type, voice, sms, \
                     mms, city, state, source, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'Import', $9, $9)",
                    &args,
                )
                .await?;
                ImportOutcome::Inserted
            }
            Some(old)
                if old.country == number.country
                    && old.number_type == number.number_type
                    && old.capabilities == number.capabilities
                    && old.city == number.city
                    && old.state == number.state =>
            {
                ImportOutcome::Unchanged
            }
            Some(old) if old.account_id.is_some() => ImportOutcome::Held,
            Some(_) => {
                sql::execute(
                    &mut *tx,
                    "UPDATE chime_phone_number_pool SET country = $2, number_type = $3, \
                     voice = $4, sms = $5, mms = $6, city = $7, state = $8, updated_at = $9 \
                     WHERE e164 = $1 AND account_id IS NULL",
                    &args,
                )
                .await?;
                ImportOutcome::Updated
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// The pool's number `e164`, held or not.
    ///
    /// Errors: `Database`.
    pub async fn pool_number(&self, e164: &str) -> StoreResult<Option<PoolNumber>> {
        sql::fetch_optional(&self.pool, &pool_number_sql(), &[e164.into()]).await
    }

    /// Pool numbers no tenant holds matching `query`, by number.
    ///
    /// Errors: `Database`.
    pub async fn available_pool_numbers(&self, query: &PoolQuery) -> StoreResult<Vec<PoolNumber>> {
        let prefix = query.e164_prefix.clone().unwrap_or_default();
        let prefix_len = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {POOL_COLUMNS} FROM chime_phone_number_pool \
             WHERE account_id IS NULL AND country = $1 \
             AND ($2 = '' OR number_type = $2) \
             AND ($3 = 0 OR substr(e164, 1, CAST($3 AS INTEGER)) = $4) \
             AND ($5 = '' OR lower(city) = lower($5)) \
             AND ($6 = '' OR lower(state) = lower($6)) \
             AND e164 > $7 ORDER BY e164 LIMIT $8"
        );
        let args = [
            (&query.country).into(),
            or_empty(&query.number_type),
            prefix_len.into(),
            prefix.as_str().into(),
            or_empty(&query.city),
            or_empty(&query.state),
            or_empty(&query.after),
            query.limit.into(),
        ];
        sql::fetch_all(&self.pool, &sql, &args).await
    }

    /// Gives pool number `e164` to `account_id` unless another tenant holds it; returns
    /// whether `account_id` holds it now (already holding it counts).
    ///
    /// Errors: `Database`.
    pub async fn hold_pool_number(
        &self,
        e164: &str,
        account_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_phone_number_pool SET account_id = $2, held_at = $3, updated_at = $3 \
             WHERE e164 = $1 AND (account_id IS NULL OR account_id = $2)",
            &[e164.into(), account_id.into(), now.into()],
        )
        .await
    }

    /// Makes pool number `e164` available again if `account_id` holds it; returns whether
    /// it did.
    ///
    /// Errors: `Database`.
    pub async fn release_pool_number(
        &self,
        e164: &str,
        account_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_phone_number_pool SET account_id = NULL, held_at = NULL, updated_at = $3 \
             WHERE e164 = $1 AND account_id = $2",
            &[e164.into(), account_id.into(), now.into()],
        )
        .await
    }

    /// Adds ported-in `numbers` to the pool held by `account_id` (source `PortIn`); a
    /// number already there must be available or held by `account_id`.
    ///
    /// Errors: `Conflict` naming a number another tenant holds (nothing is written);
    /// `Database`.
    pub async fn port_in_pool_numbers(
        &self,
        account_id: &str,
        numbers: &[PoolNumber],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for n in numbers {
            let holder: Option<(Option<String>,)> = sql::fetch_optional(
                &mut *tx,
                "SELECT account_id FROM chime_phone_number_pool WHERE e164 = $1",
                &[(&n.e164).into()],
            )
            .await?;
            match holder {
                Some((Some(other),)) if other != account_id => {
                    return Err(StoreError::Conflict(format!(
                        "{} is held by another account",
                        n.e164
                    )));
                }
                Some(_) => {
                    sql::execute(
                        &mut *tx,
                        "UPDATE chime_phone_number_pool SET account_id = $2, held_at = $3, \
                         updated_at = $3 WHERE e164 = $1",
                        &[(&n.e164).into(), account_id.into(), now.into()],
                    )
                    .await?;
                }
                None => {
                    let mut args = n.description_args();
                    args.extend([Arg::from(account_id), now.into()]);
                    sql::execute(
                        &mut *tx,
                        "INSERT INTO chime_phone_number_pool (e164, country, number_type, voice, \
                         sms, mms, city, state, account_id, held_at, source, created_at, \
                         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PortIn', \
                         $10, $10)",
                        &args,
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes `numbers` held by `account_id` from the pool (ported out to another carrier).
    ///
    /// Errors: `Database`.
    pub async fn remove_pool_numbers(
        &self,
        account_id: &str,
        numbers: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for e164 in numbers {
            sql::execute(
                &mut *tx,
                "DELETE FROM chime_phone_number_pool WHERE e164 = $1 AND account_id = $2",
                &[e164.into(), account_id.into()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a new number order: the order, its numbers and their `AcquireInProgress`
    /// inventory rows, replacing the tenant's `AcquireFailed` rows of the same numbers.
    ///
    /// Errors: `Conflict` when a number is already in the tenant's inventory in another
    /// status (nothing is written); `Database`.
    pub async fn create_phone_number_order(&self, new: &NewOrder) -> StoreResult<()> {
        let order = &new.order;
        let mut tx = self.begin_write().await?;
        sql::execute(
            &mut *tx,
            "INSERT INTO chime_phone_number_orders (order_id, account_id, product_type, status, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                (&order.order_id).into(),
                (&order.account_id).into(),
                (&order.product_type).into(),
                (&order.status).into(),
                order.created_at.into(),
                order.updated_at.into(),
            ],
        )
        .await?;
        for (e164, status) in &order.numbers {
            sql::execute(
                &mut *tx,
                "INSERT INTO chime_phone_number_order_numbers (order_id, e164, status) \
                 VALUES ($1, $2, $3)",
                &[(&order.order_id).into(), e164.into(), status.into()],
            )
            .await?;
        }
        for n in &new.inventory {
            replace_failed_number(&mut tx, n).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Settles one number of a `Processing` order: `Acquired` (its inventory row becomes
    /// `Unassigned`) or `Failed` (`AcquireFailed`); once no number is `Processing`, the
    /// order becomes `Successful`, `Partial` or `Failed`. A number already settled is left
    /// as it is (another node got there first).
    ///
    /// Errors: `Database`.
    pub async fn settle_ordered_number(
        &self,
        account_id: &str,
        order_id: &str,
        e164: &str,
        acquired: bool,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let (number_status, inventory_status) = if acquired {
            (order_status::ACQUIRED, status::UNASSIGNED)
        } else {
            (order_status::FAILED, status::ACQUIRE_FAILED)
        };
        let settled = sql::changed(
            &mut *tx,
            "UPDATE chime_phone_number_order_numbers SET status = $3 \
             WHERE order_id = $1 AND e164 = $2 AND status = $4 \
             AND order_id IN (SELECT order_id FROM chime_phone_number_orders WHERE account_id = $5)",
            &[
                order_id.into(),
                e164.into(),
                number_status.into(),
                order_status::PROCESSING.into(),
                account_id.into(),
            ],
        )
        .await?;
        if !settled {
            return Ok(());
        }
        sql::execute(
            &mut *tx,
            "UPDATE chime_phone_numbers SET status = $4, updated_at = $5 \
             WHERE account_id = $1 AND e164 = $2 AND order_id = $3 AND status = $6",
            &[
                account_id.into(),
                e164.into(),
                order_id.into(),
                inventory_status.into(),
                now.into(),
                status::ACQUIRE_IN_PROGRESS.into(),
            ],
        )
        .await?;
        let statuses = sql::fetch_texts(
            &mut *tx,
            "SELECT status FROM chime_phone_number_order_numbers WHERE order_id = $1",
            &[order_id.into()],
        )
        .await?;
        let order = if statuses.iter().any(|s| s == order_status::PROCESSING) {
            order_status::PROCESSING
        } else if statuses.iter().all(|s| s == order_status::ACQUIRED) {
            order_status::SUCCESSFUL
        } else if statuses.iter().all(|s| s == order_status::FAILED) {
            order_status::FAILED
        } else {
            order_status::PARTIAL
        };
        sql::execute(
            &mut *tx,
            "UPDATE chime_phone_number_orders SET status = $2, updated_at = $3 WHERE order_id = $1",
            &[order_id.into(), order.into(), now.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every `Processing` order of every tenant, as (tenant, order ID), oldest first.
    ///
    /// Errors: `Database`.
    pub async fn processing_phone_number_orders(&self) -> StoreResult<Vec<(String, String)>> {
        sql::fetch_all(
            &self.pool,
            "SELECT account_id, order_id FROM chime_phone_number_orders WHERE status = $1 \
             ORDER BY created_at, order_id",
            &[order_status::PROCESSING.into()],
        )
        .await
    }

    async fn order_numbers(&self, order_id: &str) -> StoreResult<Vec<(String, String)>> {
        sql::fetch_all(
            &self.pool,
            "SELECT e164, status FROM chime_phone_number_order_numbers WHERE order_id = $1 \
             ORDER BY e164",
            &[order_id.into()],
        )
        .await
    }

    /// `account_id`'s number order `order_id` with its numbers.
    ///
    /// Errors: `Database`.
    pub async fn phone_number_order(
        &self,
        account_id: &str,
        order_id: &str,
    ) -> StoreResult<Option<OrderRecord>> {
        let row: Option<OrderRow> = sql::fetch_optional(
            &self.pool,
            &format!(
                "SELECT {ORDER_COLUMNS} FROM chime_phone_number_orders \
                 WHERE account_id = $1 AND order_id = $2"
            ),
            &[account_id.into(), order_id.into()],
        )
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let numbers = self.order_numbers(&row.0).await?;
        Ok(Some(order(row, numbers)))
    }

    /// `account_id`'s number orders by ID, after `after`, at most `limit`.
    ///
    /// Errors: `Database`.
    pub async fn list_phone_number_orders(
        &self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<OrderRecord>> {
        let page = [
            account_id.into(),
            after.unwrap_or_default().into(),
            limit.into(),
        ];
        let rows: Vec<OrderRow> = sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {ORDER_COLUMNS} FROM chime_phone_number_orders \
                 WHERE account_id = $1 AND order_id > $2 ORDER BY order_id LIMIT $3"
            ),
            &page,
        )
        .await?;
        // The page's numbers in one query: the same page as a subquery.
        let mut numbers: Vec<(String, String, String)> = sql::fetch_all(
            &self.pool,
            "SELECT order_id, e164, status FROM chime_phone_number_order_numbers \
             WHERE order_id IN (SELECT order_id FROM chime_phone_number_orders \
             WHERE account_id = $1 AND order_id > $2 ORDER BY order_id LIMIT $3) \
             ORDER BY order_id, e164",
            &page,
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let split = numbers.partition_point(|(order_id, _, _)| *order_id == row.0);
                let own = numbers
                    .drain(..split)
                    .map(|(_, e164, status)| (e164, status));
                order(row, own.collect())
            })
            .collect())
    }

    /// `account_id`'s inventory number `e164` (any status).
    ///
    /// Errors: `Database`.
    pub async fn phone_number(
        &self,
        account_id: &str,
        e164: &str,
    ) -> StoreResult<Option<PhoneNumberRecord>> {
        let sql = format!(
            "SELECT {NUMBER_COLUMNS} FROM chime_phone_numbers WHERE account_id = $1 AND e164 = $2"
        );
        sql::fetch_optional(&self.pool, &sql, &[account_id.into(), e164.into()]).await
    }

    /// `account_id`'s inventory numbers matching `filter`, by number.
    ///
    /// Errors: `Database`.
    pub async fn list_phone_numbers(
        &self,
        account_id: &str,
        filter: &PhoneNumberFilter,
    ) -> StoreResult<Vec<PhoneNumberRecord>> {
        let sql = format!(
            "SELECT {NUMBER_COLUMNS} FROM chime_phone_numbers WHERE account_id = $1 \
             AND ($2 = '' OR status = $2) AND ($3 = '' OR product_type = $3) \
             AND ($4 = '' OR user_id = $4) AND ($5 = '' OR chime_account_id = $5) \
             AND e164 > $6 ORDER BY e164 LIMIT $7"
        );
        let args = [
            account_id.into(),
            or_empty(&filter.status),
            or_empty(&filter.product_type),
            or_empty(&filter.user_id),
            or_empty(&filter.chime_account_id),
            or_empty(&filter.after),
            filter.limit.into(),
        ];
        sql::fetch_all(&self.pool, &sql, &args).await
    }

    /// How many numbers `account_id` has in its inventory and its Orders/Pending list (what
    /// counts against its quota; failed acquisitions and the deletion queue do not).
    ///
    /// Errors: `Database`.
    pub async fn count_phone_numbers(&self, account_id: &str) -> StoreResult<i64> {
        let (count,): (i64,) = sql::fetch_one(
            &self.pool,
            "SELECT COUNT(*) FROM chime_phone_numbers WHERE account_id = $1 \
             AND status <> $2 AND status <> $3",
            &[
                account_id.into(),
                status::ACQUIRE_FAILED.into(),
                status::DELETE_IN_PROGRESS.into(),
            ],
        )
        .await?;
        Ok(count)
    }

    /// Drops `account_id`'s `AcquireFailed` row of `e164` (it holds nothing); returns
    /// whether there was one.
    ///
    /// Errors: `Database`.
    pub async fn remove_failed_phone_number(
        &self,
        account_id: &str,
        e164: &str,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            DELETE_FAILED_NUMBER,
            &[
                account_id.into(),
                e164.into(),
                status::ACQUIRE_FAILED.into(),
            ],
        )
        .await
    }

    /// Writes the mutable fields of `number` (product type, status, calling name, deletion
    /// time) if its row is still in status `expected`; returns whether it was.
    ///
    /// Errors: `Database`.
    pub async fn update_phone_number(
        &self,
        number: &PhoneNumberRecord,
        expected: &str,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_phone_numbers SET product_type = $3, status = $4, calling_name = $5, \
             calling_name_updated_at = $6, deletion_at = $7, updated_at = $8 \
             WHERE account_id = $1 AND e164 = $2 AND status = $9",
            &[
                (&number.account_id).into(),
                (&number.e164).into(),
                (&number.product_type).into(),
                (&number.status).into(),
                (&number.calling_name).into(),
                number.calling_name_updated_at.into(),
                number.deletion_at.into(),
                number.updated_at.into(),
                expected.into(),
            ],
        )
        .await
    }

    /// Assigns `account_id`'s `Unassigned` number `e164` to user `user_id` of Chime account
    /// `chime_account_id` and sets the user's `primary_provisioned_number`, in one
    /// transaction.
    ///
    /// Errors: `Database`.
    pub async fn associate_phone_number(
        &self,
        account_id: &str,
        chime_account_id: &str,
        user_id: &str,
        e164: &str,
        now: i64,
    ) -> StoreResult<AssociateOutcome> {
        let mut tx = self.begin_write().await?;
        let user: Option<(Option<String>,)> = sql::fetch_optional(
            &mut *tx,
            "SELECT primary_provisioned_number FROM chime_users \
             WHERE user_id = $1 AND account_id = $2 AND chime_account_id = $3",
            &[user_id.into(), account_id.into(), chime_account_id.into()],
        )
        .await?;
        match user {
            None => return Ok(AssociateOutcome::NoUser),
            Some((Some(_),)) => return Ok(AssociateOutcome::UserHasNumber),
            Some((None,)) => {}
        }
        if self
            .user_number(&mut tx, account_id, user_id)
            .await?
            .is_some()
        {
            return Ok(AssociateOutcome::UserHasNumber);
        }
        let assigned = sql::changed(
            &mut *tx,
            "UPDATE chime_phone_numbers SET status = $3, user_id = $4, \
             chime_account_id = $5, associated_at = $6, updated_at = $6 \
             WHERE account_id = $1 AND e164 = $2 AND status = $7",
            &[
                account_id.into(),
                e164.into(),
                status::ASSIGNED.into(),
                user_id.into(),
                chime_account_id.into(),
                now.into(),
                status::UNASSIGNED.into(),
            ],
        )
        .await?;
        if !assigned {
            return Ok(AssociateOutcome::NumberUnavailable);
        }
        sql::execute(
            &mut *tx,
            "UPDATE chime_users SET primary_provisioned_number = $3, updated_at = $4 \
             WHERE user_id = $1 AND account_id = $2",
            &[user_id.into(), account_id.into(), e164.into(), now.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(AssociateOutcome::Associated)
    }

    /// The number of `account_id` assigned to user `user_id`, if any.
    async fn user_number(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        account_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = sql::fetch_optional(
            &mut **tx,
            "SELECT e164 FROM chime_phone_numbers WHERE account_id = $1 AND user_id = $2",
            &[account_id.into(), user_id.into()],
        )
        .await?;
        Ok(row.map(|(e164,)| e164))
    }

    /// Whether user `user_id` is in Chime account `chime_account_id` of `account_id`.
    ///
    /// Errors: `Database`.
    pub async fn chime_user_exists(
        &self,
        account_id: &str,
        chime_account_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let (n,): (i64,) = sql::fetch_one(
            &self.pool,
            "SELECT COUNT(*) FROM chime_users WHERE user_id = $1 AND account_id = $2 \
             AND chime_account_id = $3",
            &[user_id.into(), account_id.into(), chime_account_id.into()],
        )
        .await?;
        Ok(n > 0)
    }

    /// Takes user `user_id`'s number back (it becomes `Unassigned`) and clears the user's
    /// `primary_provisioned_number`; returns the number, `None` when the user had none.
    ///
    /// Errors: `Database`.
    pub async fn disassociate_phone_number(
        &self,
        account_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_write().await?;
        let e164 = self.user_number(&mut tx, account_id, user_id).await?;
        if let Some(e164) = &e164 {
            sql::execute(
                &mut *tx,
                &format!(
                    "UPDATE chime_phone_numbers SET {UNASSIGN} WHERE account_id = $1 AND e164 = $4"
                ),
                &[
                    account_id.into(),
                    now.into(),
                    status::UNASSIGNED.into(),
                    e164.into(),
                ],
            )
            .await?;
        }
        sql::execute(
            &mut *tx,
            "UPDATE chime_users SET primary_provisioned_number = NULL, updated_at = $3 \
             WHERE user_id = $1 AND account_id = $2 AND primary_provisioned_number IS NOT NULL",
            &[user_id.into(), account_id.into(), now.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(e164)
    }

    /// Takes back (`Unassigned`) the assigned numbers of `account_id` (every tenant when
    /// empty) whose user no longer holds them: the user left the Chime account, was removed,
    /// or lost the number another way (a removed domain clears `primary_provisioned_number`,
    /// chime-ko.md §4.5). Returns how many.
    ///
    /// Errors: `Database`.
    pub async fn release_stale_assignments(&self, account_id: &str, now: i64) -> StoreResult<u64> {
        let sql = format!(
            "UPDATE chime_phone_numbers SET {UNASSIGN} \
             WHERE ($1 = '' OR account_id = $1) AND status = $4 AND NOT EXISTS ( \
             SELECT 1 FROM chime_users u WHERE u.user_id = chime_phone_numbers.user_id \
             AND u.account_id = chime_phone_numbers.account_id \
             AND u.chime_account_id = chime_phone_numbers.chime_account_id \
             AND u.primary_provisioned_number = chime_phone_numbers.e164)"
        );
        sql::execute(
            &self.pool,
            &sql,
            &[
                account_id.into(),
                now.into(),
                status::UNASSIGNED.into(),
                status::ASSIGNED.into(),
            ],
        )
        .await
    }

    /// Numbers of every tenant in the deletion queue since `cutoff` or earlier, as (tenant,
    /// number).
    ///
    /// Errors: `Database`.
    pub async fn due_phone_number_deletions(
        &self,
        cutoff: i64,
    ) -> StoreResult<Vec<(String, String)>> {
        sql::fetch_all(
            &self.pool,
            "SELECT account_id, e164 FROM chime_phone_numbers WHERE status = $1 \
             AND deletion_at <= $2 ORDER BY deletion_at",
            &[status::DELETE_IN_PROGRESS.into(), cutoff.into()],
        )
        .await
    }

    /// Removes `account_id`'s number `e164` from its deletion queue for good if it entered
    /// it at or before `cutoff`; returns whether it did.
    ///
    /// Errors: `Database`.
    pub async fn remove_deleted_phone_number(
        &self,
        account_id: &str,
        e164: &str,
        cutoff: i64,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "DELETE FROM chime_phone_numbers WHERE account_id = $1 AND e164 = $2 \
             AND status = $3 AND deletion_at <= $4",
            &[
                account_id.into(),
                e164.into(),
                status::DELETE_IN_PROGRESS.into(),
                cutoff.into(),
            ],
        )
        .await
    }

    /// `account_id`'s phone-number and global settings (defaults when never set).
    ///
    /// Errors: `Database`.
    pub async fn phone_settings(&self, account_id: &str) -> StoreResult<PhoneSettingsRecord> {
        let row: Option<PhoneSettingsRecord> = sql::fetch_optional(
            &self.pool,
            "SELECT calling_name, calling_name_updated_at, business_calling_cdr_bucket, \
             voice_connector_cdr_bucket FROM chime_phone_settings WHERE account_id = $1",
            &[account_id.into()],
        )
        .await?;
        Ok(row.unwrap_or_default())
    }

    /// Writes `account_id`'s phone-number and global settings.
    ///
    /// Errors: `Database`.
    pub async fn put_phone_settings(
        &self,
        account_id: &str,
        settings: &PhoneSettingsRecord,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sql::execute(
            &mut *tx,
            "DELETE FROM chime_phone_settings WHERE account_id = $1",
            &[account_id.into()],
        )
        .await?;
        sql::execute(
            &mut *tx,
            "INSERT INTO chime_phone_settings (account_id, calling_name, calling_name_updated_at, \
             business_calling_cdr_bucket, voice_connector_cdr_bucket, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                account_id.into(),
                (&settings.calling_name).into(),
                settings.calling_name_updated_at.into(),
                (&settings.business_calling_cdr_bucket).into(),
                (&settings.voice_connector_cdr_bucket).into(),
                now.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
