//! Email flow rules and SMTP gateways of organizations. Spec: workmail.md §2.8, §2.9, §2.10.
//!
//! Rows are kept as the operation layer (carillon-mail `flow`) validated them: patterns are
//! JSON arrays of strings, actions their upper-case names. The per-organization sender
//! pattern limit and the gateway a rule uses are checked here, inside the write transaction,
//! so concurrent calls cannot pass them together.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::error::{StoreError, StoreResult};
use crate::sql;
use crate::Store;

/// A flow rule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRuleRecord {
    /// Rule ID (`efr-` and a UUID).
    pub rule_id: String,
    /// The organization (`m-…`).
    pub organization_id: String,
    /// Unique name within the organization.
    pub name: String,
    /// `INBOUND` or `OUTBOUND`.
    pub direction: String,
    /// `DROP`, `BOUNCE`, `MOVE_TO_JUNK`, `DEFAULT`, `BYPASS_SPAM_CHECK`, `ROUTE_TO_GATEWAY`
    /// or `RUN_HOOK`.
    pub action: String,
    /// Sender patterns (address, domain, `*.domain`, `*`), lower-case.
    pub sender_patterns: Vec<String>,
    /// Destination (recipient) patterns, same forms.
    pub destination_patterns: Vec<String>,
    /// The gateway of `ROUTE_TO_GATEWAY`, or of a `RUN_HOOK` fallback routing to one.
    pub gateway_id: Option<String>,
    /// `RUN_HOOK`: the hook's HTTPS URL.
    pub hook_endpoint: Option<String>,
    /// `RUN_HOOK`: whether delivery waits for the hook.
    pub hook_synchronous: Option<bool>,
    /// `RUN_HOOK`: the fallback action's name (never `RUN_HOOK`).
    pub hook_fallback_action: Option<String>,
    /// `RUN_HOOK`: minutes of retries, 0..=240.
    pub hook_timeout_minutes: Option<i64>,
    /// Creation, epoch milliseconds.
    pub created_at: i64,
    /// Last change, epoch milliseconds.
    pub updated_at: i64,
}

/// An SMTP gateway as stored (a row of [`GATEWAY_COLUMNS`]). `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SmtpGatewayRecord {
    /// Gateway ID (`gw-` and a UUID).
    pub gateway_id: String,
    /// The organization (`m-…`).
    pub organization_id: String,
    /// Unique name within the organization.
    pub name: String,
    /// Host name or IP address.
    pub address: String,
    /// TCP port.
    pub port: i64,
    /// AUTH user name.
    pub username: String,
    /// AUTH password (never returned by the API, never logged).
    pub password: String,
    /// Creation, epoch milliseconds.
    pub created_at: i64,
    /// Last change, epoch milliseconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for SmtpGatewayRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpGatewayRecord")
            .field("gateway_id", &self.gateway_id)
            .field("organization_id", &self.organization_id)
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a rule could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowRuleWrite {
    /// Written.
    Done,
    /// Another rule of the organization has the name.
    NameTaken,
    /// The organization's sender patterns would number more than the limit; carries how
    /// many the other rules already use.
    TooManySenderPatterns(i64),
    /// The rule names a gateway the organization does not have.
    NoSuchGateway(String),
    /// (Update) no such rule.
    NotFound,
}

const RULE_COLUMNS: &str = "rule_id, organization_id, name, direction, action, sender_patterns, \
     destination_patterns, gateway_id, hook_endpoint, hook_synchronous, hook_fallback_action, \
     hook_timeout_minutes, created_at, updated_at";

const GATEWAY_COLUMNS: &str =
    "gateway_id, organization_id, name, address, port, username, password, created_at, updated_at";

fn patterns_from(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn patterns_to(patterns: &[String]) -> String {
    serde_json::Value::from(patterns.to_vec()).to_string()
}

impl FromRow<'_, AnyRow> for FlowRuleRecord {
    /// A row of [`RULE_COLUMNS`] (patterns stored as JSON arrays, `hook_synchronous` as 0/1).
    fn from_row(row: &AnyRow) -> Result<FlowRuleRecord, sqlx::Error> {
        Ok(FlowRuleRecord {
            rule_id: row.try_get("rule_id")?,
            organization_id: row.try_get("organization_id")?,
            name: row.try_get("name")?,
            direction: row.try_get("direction")?,
            action: row.try_get("action")?,
            sender_patterns: patterns_from(row.try_get("sender_patterns")?),
            destination_patterns: patterns_from(row.try_get("destination_patterns")?),
            gateway_id: row.try_get("gateway_id")?,
            hook_endpoint: row.try_get("hook_endpoint")?,
            hook_synchronous: row
                .try_get::<Option<i64>, _>("hook_synchronous")?
                .map(|s| s != 0),
            hook_fallback_action: row.try_get("hook_fallback_action")?,
            hook_timeout_minutes: row.try_get("hook_timeout_minutes")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl Store {
    /// Creates (`replace` false) or replaces (`replace` true, same `rule_id`) a flow rule of
    /// `account_id`'s organization, checking in one transaction that the name is free, that
    /// the organization's sender patterns stay within `max_org_sender_patterns`, and that
    /// the gateway (if any) is the organization's.
    ///
    /// Errors: `Database`.
    pub async fn put_flow_rule(
        &self,
        account_id: &str,
        rule: &FlowRuleRecord,
        replace: bool,
        max_org_sender_patterns: i64,
    ) -> StoreResult<FlowRuleWrite> {
        let mut tx = self.begin_write().await?;
        // Serializes rule writes of one organization on PostgreSQL (see export admission).
        sql::execute(
            &mut *tx,
            "UPDATE organizations SET state = state \
             WHERE organization_id = $1 AND account_id = $2",
            &[(&rule.organization_id).into(), account_id.into()],
        )
        .await?;
        if replace {
            let exists: Option<String> = sql::fetch_optional_scalar(
                &mut *tx,
                "SELECT rule_id FROM email_flow_rules \
                 WHERE rule_id = $1 AND organization_id = $2 AND account_id = $3",
                &[
                    (&rule.rule_id).into(),
                    (&rule.organization_id).into(),
                    account_id.into(),
                ],
            )
            .await?;
            if exists.is_none() {
                return Ok(FlowRuleWrite::NotFound);
            }
        }
        let taken: Option<String> = sql::fetch_optional_scalar(
            &mut *tx,
            "SELECT rule_id FROM email_flow_rules \
             WHERE organization_id = $1 AND account_id = $2 AND name = $3 AND rule_id <> $4",
            &[
                (&rule.organization_id).into(),
                account_id.into(),
                (&rule.name).into(),
                (&rule.rule_id).into(),
            ],
        )
        .await?;
        if taken.is_some() {
            return Ok(FlowRuleWrite::NameTaken);
        }
        let others: Option<i64> = sql::fetch_scalar(
            &mut *tx,
            "SELECT CAST(SUM(sender_pattern_count) AS BIGINT) FROM email_flow_rules \
             WHERE organization_id = $1 AND account_id = $2 AND rule_id <> $3",
            &[
                (&rule.organization_id).into(),
                account_id.into(),
                (&rule.rule_id).into(),
            ],
        )
        .await?;
        let others = others.unwrap_or(0);
        if others + rule.sender_patterns.len() as i64 > max_org_sender_patterns {
            return Ok(FlowRuleWrite::TooManySenderPatterns(others));
        }
        if let Some(gateway_id) = &rule.gateway_id {
            let found: Option<String> = sql::fetch_optional_scalar(
                &mut *tx,
                "SELECT gateway_id FROM smtp_gateways \
                 WHERE gateway_id = $1 AND organization_id = $2 AND account_id = $3",
                &[
                    gateway_id.into(),
                    (&rule.organization_id).into(),
                    account_id.into(),
                ],
            )
            .await?;
            if found.is_none() {
                return Ok(FlowRuleWrite::NoSuchGateway(gateway_id.clone()));
            }
        }
        if replace {
            sql::execute(
                &mut *tx,
                "UPDATE email_flow_rules SET name = $1, direction = $2, action = $3, \
                 sender_patterns = $4, destination_patterns = $5, sender_pattern_count = $6, \
                 gateway_id = $7, hook_endpoint = $8, hook_synchronous = $9, \
                 hook_fallback_action = $10, hook_timeout_minutes = $11, updated_at = $12 \
                 WHERE rule_id = $13 AND account_id = $14",
                &[
                    (&rule.name).into(),
                    (&rule.direction).into(),
                    (&rule.action).into(),
                    (&patterns_to(&rule.sender_patterns)).into(),
                    (&patterns_to(&rule.destination_patterns)).into(),
                    (rule.sender_patterns.len() as i64).into(),
                    (&rule.gateway_id).into(),
                    (&rule.hook_endpoint).into(),
                    rule.hook_synchronous.map(i64::from).into(),
                    (&rule.hook_fallback_action).into(),
                    rule.hook_timeout_minutes.into(),
                    rule.updated_at.into(),
                    (&rule.rule_id).into(),
                    account_id.into(),
                ],
            )
            .await?;
        } else {
            sql::execute(
                &mut *tx,
                "INSERT INTO email_flow_rules (rule_id, organization_id, account_id, name, \
                 direction, action, sender_patterns, destination_patterns, \
                 sender_pattern_count, gateway_id, hook_endpoint, hook_synchronous, \
                 hook_fallback_action, hook_timeout_minutes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                &[
                    (&rule.rule_id).into(),
                    (&rule.organization_id).into(),
                    account_id.into(),
                    (&rule.name).into(),
                    (&rule.direction).into(),
                    (&rule.action).into(),
                    (&patterns_to(&rule.sender_patterns)).into(),
                    (&patterns_to(&rule.destination_patterns)).into(),
                    (rule.sender_patterns.len() as i64).into(),
                    (&rule.gateway_id).into(),
                    (&rule.hook_endpoint).into(),
                    rule.hook_synchronous.map(i64::from).into(),
                    (&rule.hook_fallback_action).into(),
                    rule.hook_timeout_minutes.into(),
                    rule.created_at.into(),
                    rule.updated_at.into(),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(FlowRuleWrite::Done)
    }

    /// The flow rule `name` of `account_id`'s organization.
    ///
    /// Errors: `Database`.
    pub async fn flow_rule(
        &self,
        account_id: &str,
        organization_id: &str,
        name: &str,
    ) -> StoreResult<Option<FlowRuleRecord>> {
        sql::fetch_optional(
            &self.pool,
            &format!(
                "SELECT {RULE_COLUMNS} FROM email_flow_rules \
             WHERE account_id = $1 AND organization_id = $2 AND name = $3"
            ),
            &[account_id.into(), organization_id.into(), name.into()],
        )
        .await
    }

    /// The flow rules of `account_id`'s organization, by name.
    ///
    /// Errors: `Database`.
    pub async fn list_flow_rules(
        &self,
        account_id: &str,
        organization_id: &str,
    ) -> StoreResult<Vec<FlowRuleRecord>> {
        sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {RULE_COLUMNS} FROM email_flow_rules \
             WHERE account_id = $1 AND organization_id = $2 ORDER BY name"
            ),
            &[account_id.into(), organization_id.into()],
        )
        .await
    }

    /// The rules of one direction (`INBOUND` / `OUTBOUND`) of an organization, for delivery
    /// (no tenant: the organization comes from a resolved recipient or sender).
    ///
    /// Errors: `Database`.
    pub async fn flow_rules_for_delivery(
        &self,
        organization_id: &str,
        direction: &str,
    ) -> StoreResult<Vec<FlowRuleRecord>> {
        sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {RULE_COLUMNS} FROM email_flow_rules \
             WHERE organization_id = $1 AND direction = $2 ORDER BY name"
            ),
            &[organization_id.into(), direction.into()],
        )
        .await
    }

    /// Removes the rule `name`; returns whether there was one.
    ///
    /// Errors: `Database`.
    pub async fn delete_flow_rule(
        &self,
        account_id: &str,
        organization_id: &str,
        name: &str,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "DELETE FROM email_flow_rules \
             WHERE account_id = $1 AND organization_id = $2 AND name = $3",
            &[account_id.into(), organization_id.into(), name.into()],
        )
        .await
    }

    /// Creates an SMTP gateway of `account_id`'s organization.
    ///
    /// Errors: `Conflict` when the organization has a gateway of that name; `Database`.
    pub async fn create_smtp_gateway(
        &self,
        account_id: &str,
        gateway: &SmtpGatewayRecord,
    ) -> StoreResult<()> {
        sql::execute(
            &self.pool,
            "INSERT INTO smtp_gateways (gateway_id, organization_id, account_id, name, address, \
             port, username, password, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                (&gateway.gateway_id).into(),
                (&gateway.organization_id).into(),
                account_id.into(),
                (&gateway.name).into(),
                (&gateway.address).into(),
                gateway.port.into(),
                (&gateway.username).into(),
                (&gateway.password).into(),
                gateway.created_at.into(),
                gateway.updated_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Changes a gateway's address, port, user name and (when `Some`) password.
    ///
    /// Errors: `NotFound` when the organization has no such gateway; `Database`.
    pub async fn update_smtp_gateway(
        &self,
        account_id: &str,
        gateway: &SmtpGatewayRecord,
        new_password: Option<&str>,
    ) -> StoreResult<()> {
        let done = sql::execute(
            &self.pool,
            "UPDATE smtp_gateways SET address = $1, port = $2, username = $3, \
             password = COALESCE($4, password), updated_at = $5 \
             WHERE gateway_id = $6 AND organization_id = $7 AND account_id = $8",
            &[
                (&gateway.address).into(),
                gateway.port.into(),
                (&gateway.username).into(),
                new_password.into(),
                gateway.updated_at.into(),
                (&gateway.gateway_id).into(),
                (&gateway.organization_id).into(),
                account_id.into(),
            ],
        )
        .await?;
        if done == 0 {
            return Err(StoreError::NotFound(gateway.gateway_id.clone()));
        }
        Ok(())
    }

    /// The gateway `gateway_id` of `account_id`'s organization.
    ///
    /// Errors: `Database`.
    pub async fn smtp_gateway(
        &self,
        account_id: &str,
        organization_id: &str,
        gateway_id: &str,
    ) -> StoreResult<Option<SmtpGatewayRecord>> {
        sql::fetch_optional(
            &self.pool,
            &format!(
                "SELECT {GATEWAY_COLUMNS} FROM smtp_gateways \
             WHERE account_id = $1 AND organization_id = $2 AND gateway_id = $3"
            ),
            &[account_id.into(), organization_id.into(), gateway_id.into()],
        )
        .await
    }

    /// The gateway `gateway_id` for the outbound queue runner (no tenant: the ID comes from
    /// a queue row written by delivery).
    ///
    /// Errors: `Database`.
    pub async fn smtp_gateway_for_delivery(
        &self,
        gateway_id: &str,
    ) -> StoreResult<Option<SmtpGatewayRecord>> {
        sql::fetch_optional(
            &self.pool,
            &format!("SELECT {GATEWAY_COLUMNS} FROM smtp_gateways WHERE gateway_id = $1"),
            &[gateway_id.into()],
        )
        .await
    }

    /// The gateways of `account_id`'s organization, by name.
    ///
    /// Errors: `Database`.
    pub async fn list_smtp_gateways(
        &self,
        account_id: &str,
        organization_id: &str,
    ) -> StoreResult<Vec<SmtpGatewayRecord>> {
        sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {GATEWAY_COLUMNS} FROM smtp_gateways \
             WHERE account_id = $1 AND organization_id = $2 ORDER BY name"
            ),
            &[account_id.into(), organization_id.into()],
        )
        .await
    }

    /// Removes a gateway unless a rule uses it. Returns `Ok(None)` when deleted,
    /// `Ok(Some(rule names))` when rules use it (nothing removed).
    ///
    /// Errors: `NotFound` when the organization has no such gateway; `Database`.
    pub async fn delete_smtp_gateway(
        &self,
        account_id: &str,
        organization_id: &str,
        gateway_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let mut tx = self.begin_write().await?;
        sql::execute(
            &mut *tx,
            "UPDATE organizations SET state = state \
             WHERE organization_id = $1 AND account_id = $2",
            &[organization_id.into(), account_id.into()],
        )
        .await?;
        let users: Vec<String> = sql::fetch_all_scalar(
            &mut *tx,
            "SELECT name FROM email_flow_rules WHERE gateway_id = $1 AND account_id = $2 \
             ORDER BY name",
            &[gateway_id.into(), account_id.into()],
        )
        .await?;
        if !users.is_empty() {
            return Ok(Some(users));
        }
        let done = sql::execute(
            &mut *tx,
            "DELETE FROM smtp_gateways \
             WHERE gateway_id = $1 AND organization_id = $2 AND account_id = $3",
            &[gateway_id.into(), organization_id.into(), account_id.into()],
        )
        .await?;
        if done == 0 {
            return Err(StoreError::NotFound(gateway_id.to_string()));
        }
        tx.commit().await?;
        Ok(None)
    }
}
