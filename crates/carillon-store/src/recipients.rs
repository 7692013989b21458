//! The read side of the WorkMail directory used by mail delivery: which domains are local and
//! which mailboxes an address reaches (users, aliases, groups expanded recursively).
//!
//! Spec: workmail.md §1.4 (users), §1.5 (groups), §1.7 (mailbox), §1.8 (aliases).

use std::collections::HashSet;

use crate::error::StoreResult;
use crate::Store;

/// Quota of a mailbox whose entity has none recorded: WorkMail's default and maximum,
/// 51,200 MB (50 GB). Spec: workmail.md §1.7, §6.
pub const DEFAULT_MAILBOX_QUOTA_MB: i64 = 51_200;

/// A mailbox reached by a recipient address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMailbox {
    /// Organization (`m-…`) owning the mailbox.
    pub organization_id: String,
    /// Entity ID of the mailbox's user (the `mailboxes.user_id`).
    pub user_id: String,
    /// The mailbox quota in bytes (`mailbox_quota_mb` × 1 MiB, default 51,200 MB).
    pub quota_bytes: i64,
}

/// Where a recipient address leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The domain is not one of any organization's mail domains (a foreign domain).
    NoSuchDomain,
    /// The domain is local but the address reaches nothing deliverable: unknown address, a
    /// disabled or deleted entity, a user without a mailbox, or an organization not `Active`.
    NoSuchAddress,
    /// The mailboxes the address reaches, each once. Empty for an enabled group with no
    /// enabled member that has a mailbox.
    Mailboxes(Vec<LocalMailbox>),
}

#[derive(sqlx::FromRow)]
struct EntityRow {
    entity_id: String,
    organization_id: String,
    kind: String,
    state: String,
    mailbox_quota_mb: Option<i64>,
    mailbox_user_id: Option<String>,
}

impl EntityRow {
    fn enabled(&self) -> bool {
        self.state == "ENABLED"
    }

    /// The mailbox of a enabled non-group entity, if it has one.
    fn mailbox(&self) -> Option<LocalMailbox> {
        if !self.enabled() || self.kind == "GROUP" {
            return None;
        }
        self.mailbox_user_id.as_ref().map(|user_id| LocalMailbox {
            organization_id: self.organization_id.clone(),
            user_id: user_id.clone(),
            quota_bytes: self.mailbox_quota_mb.unwrap_or(DEFAULT_MAILBOX_QUOTA_MB) * 1024 * 1024,
        })
    }
}

/// Splits `local@domain` at the last `@` and lower-cases the domain.
fn domain_of(address: &str) -> Option<String> {
    let domain = carillon_core::mail::domain_of(address);
    (!domain.is_empty()).then(|| domain.trim_end_matches('.').to_ascii_lowercase())
}

impl Store {
    /// Whether `domain` (any case, trailing dot allowed) is a mail domain of some organization,
    /// i.e. mail for it is delivered here rather than relayed.
    pub async fn is_local_domain(&self, domain: &str) -> StoreResult<bool> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let found: Option<String> =
            sqlx::query_scalar("SELECT domain_name FROM mail_domains WHERE domain_name = $1")
                .bind(&domain)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Resolves a recipient address (compared lower-cased) to the mailboxes it reaches.
    ///
    /// An enabled user's (or resource's) primary address or alias reaches its mailbox; an
    /// enabled group's address reaches every enabled member with a mailbox, nested groups
    /// expanded recursively (cycle-safe, each mailbox once, disabled nested groups skipped).
    /// The organization must be `Active`. Spec: workmail.md §1.5, §1.8.
    pub async fn resolve_recipient(&self, address: &str) -> StoreResult<Resolution> {
        let address = address.to_lowercase();
        let Some(domain) = domain_of(&address) else {
            return Ok(Resolution::NoSuchDomain);
        };
        if !self.is_local_domain(&domain).await? {
            return Ok(Resolution::NoSuchDomain);
        }
        let entity: Option<EntityRow> = sqlx::query_as(
            "SELECT e.entity_id, e.organization_id, e.kind, e.state, e.mailbox_quota_mb, \
                    m.user_id AS mailbox_user_id \
             FROM addresses a \
             JOIN entities e ON e.entity_id = a.entity_id \
             JOIN organizations o ON o.organization_id = e.organization_id \
             LEFT JOIN mailboxes m ON m.user_id = e.entity_id \
             WHERE a.address = $1 AND o.state = 'Active'",
        )
        .bind(&address)
        .fetch_optional(&self.pool)
        .await?;
        let Some(entity) = entity else {
            return Ok(Resolution::NoSuchAddress);
        };
        if !entity.enabled() {
            return Ok(Resolution::NoSuchAddress);
        }
        if entity.kind != "GROUP" {
            return Ok(match entity.mailbox() {
                Some(mailbox) => Resolution::Mailboxes(vec![mailbox]),
                None => Resolution::NoSuchAddress,
            });
        }
        Ok(Resolution::Mailboxes(
            self.expand_group(&entity.entity_id).await?,
        ))
    }

    /// Breadth-first expansion of a group: one query per group visited.
    async fn expand_group(&self, group_id: &str) -> StoreResult<Vec<LocalMailbox>> {
        let mut visited_groups: HashSet<String> = HashSet::from([group_id.to_string()]);
        let mut seen_mailboxes: HashSet<String> = HashSet::new();
        let mut pending = vec![group_id.to_string()];
        let mut mailboxes = Vec::new();
        while let Some(group) = pending.pop() {
            let members: Vec<EntityRow> = sqlx::query_as(
                "SELECT e.entity_id, e.organization_id, e.kind, e.state, e.mailbox_quota_mb, \
                        m.user_id AS mailbox_user_id \
                 FROM group_members g \
                 JOIN entities e ON e.entity_id = g.member_id \
                 LEFT JOIN mailboxes m ON m.user_id = e.entity_id \
                 WHERE g.group_id = $1 \
                 ORDER BY e.entity_id",
            )
            .bind(&group)
            .fetch_all(&self.pool)
            .await?;
            for member in members {
                if member.kind == "GROUP" {
                    if member.enabled() && visited_groups.insert(member.entity_id.clone()) {
                        pending.push(member.entity_id);
                    }
                } else if let Some(mailbox) = member.mailbox() {
                    if seen_mailboxes.insert(mailbox.user_id.clone()) {
                        mailboxes.push(mailbox);
                    }
                }
            }
        }
        Ok(mailboxes)
    }
}

#[cfg(test)]
mod tests {
    use super::domain_of;

    #[test]
    fn domain_is_lower_cased_and_split_at_last_at() {
        assert_eq!(domain_of("A@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain_of("\"a@b\"@x.org.").as_deref(), Some("x.org"));
        assert_eq!(domain_of("nodomain"), None);
        assert_eq!(domain_of("a@"), None);
    }
}
