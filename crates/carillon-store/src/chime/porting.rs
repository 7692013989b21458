//! Porting orders with their numbers and documents. Spec: chime-zh.md §1.12, §4.4;
//! chime-ko.md §2.0.2.
//!
//! Tables of migration `0020_chime_phone_numbers.sql` (`chime_porting_orders`,
//! `chime_porting_order_numbers`, `chime_porting_documents`); a completed port moves numbers
//! through the pool and inventory of [`super::phone_numbers`]. The store keeps rows; the
//! eight statuses and their transitions live in carillon-chime. Every tenant-owned query
//! filters on `account_id`.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::phone_numbers::{replace_failed_number, PhoneNumberRecord};
use crate::error::StoreResult;
use crate::sql;
use crate::Store;

/// A port-in or port-out order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortingOrderRecord {
    /// Porting order ID (UUID).
    pub porting_order_id: String,
    /// The tenant.
    pub account_id: String,
    /// `PortIn` or `PortOut`.
    pub direction: String,
    /// Model `PhoneNumberProductType`.
    pub product_type: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    /// `Local` or `TollFree`.
    pub number_type: String,
    /// One of the eight §4.4 statuses.
    pub status: String,
    /// JSON object of the request's description fields.
    pub details: String,
    /// Port-out: Argon2id PHC string of the PIN.
    pub pin_hash: Option<String>,
    /// Why the status last changed.
    pub status_message: Option<String>,
    /// FOC date and time, epoch ms.
    pub foc_at: Option<i64>,
    /// End of the document-upload window, epoch ms.
    pub upload_expires_at: Option<i64>,
    /// The numbers, E.164, sorted.
    pub numbers: Vec<String>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

/// A document of a porting order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PortingDocumentRecord {
    /// The porting order.
    pub porting_order_id: String,
    /// File name, unique in the order.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Where the content is in the blob store.
    pub blob_key: String,
    /// Upload time, epoch ms.
    pub uploaded_at: i64,
}

const PORTING_COLUMNS: &str = "porting_order_id, account_id, direction, product_type, country, \
     number_type, status, details, pin_hash, status_message, foc_at, upload_expires_at, \
     created_at, updated_at";

impl FromRow<'_, AnyRow> for PortingOrderRecord {
    /// A row of [`PORTING_COLUMNS`], without its numbers.
    fn from_row(row: &AnyRow) -> Result<PortingOrderRecord, sqlx::Error> {
        Ok(PortingOrderRecord {
            porting_order_id: row.try_get("porting_order_id")?,
            account_id: row.try_get("account_id")?,
            direction: row.try_get("direction")?,
            product_type: row.try_get("product_type")?,
            country: row.try_get("country")?,
            number_type: row.try_get("number_type")?,
            status: row.try_get("status")?,
            details: row.try_get("details")?,
            pin_hash: row.try_get("pin_hash")?,
            status_message: row.try_get("status_message")?,
            foc_at: row.try_get("foc_at")?,
            upload_expires_at: row.try_get("upload_expires_at")?,
            numbers: Vec::new(),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Writes `order`'s status, status message, FOC time, upload window and update time if its
/// status is still `expected` (the guard that makes concurrent transitions safe); returns
/// whether it was.
async fn update_porting<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    order: &PortingOrderRecord,
    expected: &str,
) -> StoreResult<bool> {
    sql::changed(
        executor,
        "UPDATE chime_porting_orders SET status = $3, status_message = $4, foc_at = $5, \
         upload_expires_at = $6, updated_at = $7 \
         WHERE account_id = $1 AND porting_order_id = $2 AND status = $8",
        &[
            (&order.account_id).into(),
            (&order.porting_order_id).into(),
            (&order.status).into(),
            (&order.status_message).into(),
            order.foc_at.into(),
            order.upload_expires_at.into(),
            order.updated_at.into(),
            expected.into(),
        ],
    )
    .await
}

impl Store {
    /// Records a new porting order with its numbers.
    ///
    /// Errors: `Database`.
    pub async fn create_porting_order(&self, order: &PortingOrderRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO chime_porting_orders ({PORTING_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        let args = [
            (&order.porting_order_id).into(),
            (&order.account_id).into(),
            (&order.direction).into(),
            (&order.product_type).into(),
            (&order.country).into(),
            (&order.number_type).into(),
            (&order.status).into(),
            (&order.details).into(),
            (&order.pin_hash).into(),
            (&order.status_message).into(),
            order.foc_at.into(),
            order.upload_expires_at.into(),
            order.created_at.into(),
            order.updated_at.into(),
        ];
        sql::execute(&mut *tx, &sql, &args).await?;
        for e164 in &order.numbers {
            sql::execute(
                &mut *tx,
                "INSERT INTO chime_porting_order_numbers (porting_order_id, e164) VALUES ($1, $2)",
                &[(&order.porting_order_id).into(), e164.into()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `account_id`'s porting order `porting_order_id` with its numbers.
    ///
    /// Errors: `Database`.
    pub async fn porting_order(
        &self,
        account_id: &str,
        porting_order_id: &str,
    ) -> StoreResult<Option<PortingOrderRecord>> {
        let sql = format!(
            "SELECT {PORTING_COLUMNS} FROM chime_porting_orders \
             WHERE account_id = $1 AND porting_order_id = $2"
        );
        let row: Option<PortingOrderRecord> = sql::fetch_optional(
            &self.pool,
            &sql,
            &[account_id.into(), porting_order_id.into()],
        )
        .await?;
        let Some(mut order) = row else {
            return Ok(None);
        };
        order.numbers = sql::fetch_texts(
            &self.pool,
            "SELECT e164 FROM chime_porting_order_numbers WHERE porting_order_id = $1 ORDER BY e164",
            &[porting_order_id.into()],
        )
        .await?;
        Ok(Some(order))
    }

    /// `account_id`'s porting orders by ID, after `after`, at most `limit`.
    ///
    /// Errors: `Database`.
    pub async fn list_porting_orders(
        &self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<PortingOrderRecord>> {
        let page = [
            account_id.into(),
            after.unwrap_or_default().into(),
            limit.into(),
        ];
        let mut orders: Vec<PortingOrderRecord> = sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {PORTING_COLUMNS} FROM chime_porting_orders \
                 WHERE account_id = $1 AND porting_order_id > $2 \
                 ORDER BY porting_order_id LIMIT $3"
            ),
            &page,
        )
        .await?;
        // The page's numbers in one query: the same page as a subquery.
        let mut numbers: Vec<(String, String)> = sql::fetch_all(
            &self.pool,
            "SELECT porting_order_id, e164 FROM chime_porting_order_numbers \
             WHERE porting_order_id IN (SELECT porting_order_id FROM chime_porting_orders \
             WHERE account_id = $1 AND porting_order_id > $2 \
             ORDER BY porting_order_id LIMIT $3) ORDER BY porting_order_id, e164",
            &page,
        )
        .await?;
        for order in &mut orders {
            let split = numbers.partition_point(|(id, _)| *id == order.porting_order_id);
            order.numbers = numbers.drain(..split).map(|(_, e164)| e164).collect();
        }
        Ok(orders)
    }

    /// Writes `order`'s status, status message, FOC time, upload window and update time if
    /// its status is still `expected`; returns whether it was.
    ///
    /// Errors: `Database`.
    pub async fn update_porting_order(
        &self,
        order: &PortingOrderRecord,
        expected: &str,
    ) -> StoreResult<bool> {
        update_porting(&self.pool, order, expected).await
    }

    /// Completes a port-in: `order` becomes `COMPLETED` (if still `expected`) and
    /// `inventory` rows (`Unassigned`) join its tenant's inventory, replacing rows of the
    /// same numbers in `AcquireFailed`; returns whether the order was still `expected`.
    ///
    /// Errors: `Conflict` when a number is already in the inventory (nothing is written);
    /// `Database`.
    pub async fn complete_port_in(
        &self,
        order: &PortingOrderRecord,
        expected: &str,
        inventory: &[PhoneNumberRecord],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if !update_porting(&mut *tx, order, expected).await? {
            return Ok(false);
        }
        for n in inventory {
            replace_failed_number(&mut tx, n).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Completes a port-out: `order` becomes `COMPLETED` (if still `expected`), its numbers
    /// leave the tenant's inventory and their users lose them; returns whether the order was
    /// still `expected`.
    ///
    /// Errors: `Database`.
    pub async fn complete_port_out(
        &self,
        order: &PortingOrderRecord,
        expected: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if !update_porting(&mut *tx, order, expected).await? {
            return Ok(false);
        }
        for e164 in &order.numbers {
            let number = [
                (&order.account_id).into(),
                e164.into(),
                order.updated_at.into(),
            ];
            sql::execute(
                &mut *tx,
                "UPDATE chime_users SET primary_provisioned_number = NULL, updated_at = $3 \
                 WHERE account_id = $1 AND primary_provisioned_number = $2",
                &number,
            )
            .await?;
            sql::execute(
                &mut *tx,
                "DELETE FROM chime_phone_numbers WHERE account_id = $1 AND e164 = $2",
                &number[..2],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores `data` as document `doc` of a porting order of `account_id` (replacing one of
    /// the same name): the content sealed like an SSE-KMS object under the account's
    /// default key (context: the blob key), durable in the blob store before the row is
    /// written.
    ///
    /// Errors: `Config` (no keyring), the key provider's, `Blob`, `Database`.
    pub async fn put_porting_document(
        &self,
        account_id: &str,
        doc: &PortingDocumentRecord,
        data: &[u8],
    ) -> StoreResult<()> {
        let keyring = self.keyring()?;
        let key = keyring
            .provider()
            .default_key(account_id, keyring.region())
            .await?;
        let context = carillon_kms::EncryptionContext::s3(&doc.blob_key);
        let sealed =
            carillon_kms::object::seal_object(keyring.provider(), &key.arn, &context, data).await?;
        self.blobs()
            .put(&doc.blob_key, bytes::Bytes::from(sealed))
            .await?;
        let mut tx = self.begin_write().await?;
        let args = [
            (&doc.porting_order_id).into(),
            (&doc.name).into(),
            (&doc.content_type).into(),
            doc.size.into(),
            (&doc.sha256).into(),
            (&doc.blob_key).into(),
            doc.uploaded_at.into(),
        ];
        sql::execute(
            &mut *tx,
            "DELETE FROM chime_porting_documents WHERE porting_order_id = $1 AND name = $2",
            &args[..2],
        )
        .await?;
        sql::execute(
            &mut *tx,
            "INSERT INTO chime_porting_documents (porting_order_id, name, content_type, size, \
             sha256, blob_key, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &args,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Document `name` of porting order `porting_order_id` with its content opened, `None`
    /// when there is none. The caller has checked the order is the tenant's.
    ///
    /// Errors: `Database`, `Blob`, `Encryption` (the content does not open), `Config`.
    pub async fn porting_document(
        &self,
        porting_order_id: &str,
        name: &str,
    ) -> StoreResult<Option<(PortingDocumentRecord, Vec<u8>)>> {
        let documents = self.porting_documents(porting_order_id).await?;
        let Some(doc) = documents.into_iter().find(|d| d.name == name) else {
            return Ok(None);
        };
        let sealed = self.blobs().get(&doc.blob_key).await?;
        let keyring = self.keyring()?;
        let context = carillon_kms::EncryptionContext::s3(&doc.blob_key);
        let data = carillon_kms::object::open_object(keyring.provider(), &context, &sealed).await?;
        Ok(Some((doc, data)))
    }

    /// The documents of porting order `porting_order_id`, by name. The caller has checked
    /// the order is the tenant's.
    ///
    /// Errors: `Database`.
    pub async fn porting_documents(
        &self,
        porting_order_id: &str,
    ) -> StoreResult<Vec<PortingDocumentRecord>> {
        sql::fetch_all(
            &self.pool,
            "SELECT porting_order_id, name, content_type, size, sha256, blob_key, uploaded_at \
             FROM chime_porting_documents WHERE porting_order_id = $1 ORDER BY name",
            &[porting_order_id.into()],
        )
        .await
    }
}
