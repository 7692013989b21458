//! Chat retention: PutRetentionSettings, GetRetentionSettings, and the rules deciding which
//! period governs each room and conversation. Spec: chime-zh.md §1.9, §2.6; chime-ko.md
//! §2.1.7.
//!
//! Settings belong to Enterprise accounts (any `AccountType` but `Team`): a room period and a
//! conversation period, each 1–5,475 days (15 years) or off. The decision tables of §2.6:
//! - a room follows the account it belongs to (its creator's, `chime_rooms.chime_account_id`):
//!   that account's room period when it is an Enterprise account, none otherwise;
//! - a conversation whose members all belong to one Enterprise account follows that account's
//!   conversation period;
//! - a conversation between members of an Enterprise account and anyone outside it (another
//!   account's user, a Team user, an unmanaged identity) keeps [`FORCED_DAYS`] (90) days.
//!   Carillon applies this fixed period once one of the Enterprise accounts involved has
//!   turned conversation retention on: an operator who never turned retention on never loses
//!   a message (the guide's "automatically 90 days" describes accounts that use retention);
//! - conversations without an Enterprise member keep everything.
//!
//! A message past its container's period is hidden (`chime_messages.hidden_at`; no reader
//! shows it) and purged for good [`RESTORE_WINDOW_MS`] (30 days) after it was hidden. Until
//! then, turning retention off or extending it restores what the new period no longer
//! covers: PutRetentionSettings re-applies the rules to the account's rooms and conversations
//! at once, and the job ([`crate::chat_retention_job`]) hides what ages out (within one
//! interval, daily by default: the guide's "within one day").

use std::collections::{BTreeSet, HashMap};

use carillon_awsapi::generated::chime::*;
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::RequestContext;
use carillon_store::chime::retention::{self as store, RetentionSettingsRecord};
use carillon_store::{Store, StoreError};

use crate::errors::{error, Result};
use crate::Chime;

/// The fixed period of conversations between an Enterprise account's members and anyone
/// outside it, in days (§1.9 "fixed rule").
pub const FORCED_DAYS: i64 = 90;
/// How long a hidden message can still be restored before it is purged: 30 days, in ms.
pub const RESTORE_WINDOW_MS: i64 = 30 * DAY_MS;
/// Smallest and largest `RetentionDays` (model `RetentionDays`: 1 day to 15 years).
pub const MIN_DAYS: i32 = 1;
/// See [`MIN_DAYS`].
pub const MAX_DAYS: i32 = 5475;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const TEAM: &str = "Team";

/// What applying the rules did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Messages hidden (past their period).
    pub hidden: u64,
    /// Hidden messages made visible again (no longer past their period).
    pub restored: u64,
    /// Hidden messages deleted for good (hidden more than 30 days ago).
    pub purged: u64,
}

impl std::ops::AddAssign for RetentionOutcome {
    fn add_assign(&mut self, other: RetentionOutcome) {
        self.hidden += other.hidden;
        self.restored += other.restored;
        self.purged += other.purged;
    }
}

/// A conversation member's account as the decision tables see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccount {
    /// The member's Chime account (`None`: an unmanaged identity).
    pub chime_account_id: Option<String>,
    /// Whether that account is an Enterprise account.
    pub enterprise: bool,
    /// That account's conversation period in days, when on.
    pub conversation_days: Option<i64>,
}

/// The period governing a conversation with `members`, in days; `None`: kept for ever.
/// Spec: chime-zh.md §2.6 decision tables (see the module docs).
pub fn conversation_period(members: &[MemberAccount]) -> Option<i64> {
    let enterprises: Vec<&MemberAccount> = members.iter().filter(|m| m.enterprise).collect();
    let first = enterprises.first()?;
    let same_account = members
        .iter()
        .all(|m| m.chime_account_id == first.chime_account_id);
    if same_account {
        first.conversation_days
    } else if enterprises.iter().any(|m| m.conversation_days.is_some()) {
        Some(FORCED_DAYS)
    } else {
        None
    }
}

/// What the rules need to know about one Chime account.
#[derive(Debug, Clone, Default)]
struct AccountFacts {
    enterprise: bool,
    settings: Option<RetentionSettingsRecord>,
}

/// Account facts read once per pass.
struct Facts<'a> {
    store: &'a Store,
    settings: HashMap<String, RetentionSettingsRecord>,
    accounts: HashMap<String, AccountFacts>,
}

impl<'a> Facts<'a> {
    async fn new(store: &'a Store) -> Result<Facts<'a>, StoreError> {
        let settings = store::settings_in_force(store)
            .await?
            .into_iter()
            .map(|s| (s.chime_account_id.clone(), s))
            .collect();
        Ok(Facts {
            store,
            settings,
            accounts: HashMap::new(),
        })
    }

    async fn account(&mut self, chime_account_id: &str) -> Result<AccountFacts, StoreError> {
        if let Some(facts) = self.accounts.get(chime_account_id) {
            return Ok(facts.clone());
        }
        let facts = match store::account_type(self.store, chime_account_id).await? {
            Some(account_type) if account_type != TEAM => AccountFacts {
                enterprise: true,
                settings: self.settings.get(chime_account_id).cloned(),
            },
            _ => AccountFacts::default(),
        };
        self.accounts
            .insert(chime_account_id.to_string(), facts.clone());
        Ok(facts)
    }

    /// The period of a container in days (`None`: kept for ever).
    async fn period(&mut self, container_type: &str, id: &str) -> Result<Option<i64>, StoreError> {
        if container_type == store::ROOM {
            let Some(account) = store::room_account(self.store, id).await? else {
                return Ok(None);
            };
            let facts = self.account(&account).await?;
            return Ok(facts.settings.and_then(|s| s.room_retention_days));
        }
        let mut members = Vec::new();
        for account in store::conversation_member_accounts(self.store, id).await? {
            let facts = match &account {
                Some(account) => self.account(account).await?,
                None => AccountFacts::default(),
            };
            members.push(MemberAccount {
                chime_account_id: account,
                enterprise: facts.enterprise,
                conversation_days: facts.settings.and_then(|s| s.conversation_retention_days),
            });
        }
        Ok(conversation_period(&members))
    }
}

/// Applies the rules at `now` (epoch ms) to each of `containers` (`(container_type,
/// container_id)`): purges what was hidden 30 days ago or more, restores what is no longer
/// past its period, hides what is. A container that fails is logged and skipped.
///
/// Errors: the settings cannot be read.
async fn apply(
    store: &Store,
    containers: BTreeSet<(String, String)>,
    now: i64,
) -> Result<RetentionOutcome, StoreError> {
    let mut facts = Facts::new(store).await?;
    let mut outcome = RetentionOutcome::default();
    for (container_type, id) in containers {
        match apply_one(store, &mut facts, &container_type, &id, now).await {
            Ok(one) => outcome += one,
            Err(error) => {
                tracing::warn!(container_id = id, %error, "chat retention failed for a container");
            }
        }
    }
    Ok(outcome)
}

async fn apply_one(
    store: &Store,
    facts: &mut Facts<'_>,
    container_type: &str,
    id: &str,
    now: i64,
) -> Result<RetentionOutcome, StoreError> {
    let purged = store::purge_hidden(store, id, now - RESTORE_WINDOW_MS).await?;
    let cutoff = facts
        .period(container_type, id)
        .await?
        .map(|days| now - days * DAY_MS);
    let restored = store::restore(store, id, cutoff).await?;
    let hidden = match cutoff {
        Some(cutoff) => store::hide(store, id, cutoff, now).await?,
        None => 0,
    };
    Ok(RetentionOutcome {
        hidden,
        restored,
        purged,
    })
}

/// The rooms and conversations Chime account `chime_account_id`'s settings can govern.
async fn containers_of(
    store: &Store,
    chime_account_id: &str,
) -> Result<BTreeSet<(String, String)>, StoreError> {
    let mut containers = BTreeSet::new();
    for room in store::rooms_of(store, chime_account_id).await? {
        containers.insert((store::ROOM.to_string(), room));
    }
    for conversation in store::conversations_of(store, chime_account_id).await? {
        containers.insert((store::CONVERSATION.to_string(), conversation));
    }
    Ok(containers)
}

/// One pass of the retention rules over every container that has a period or holds hidden
/// messages, at `now` (epoch ms). The retention job's work, callable on its own (tests, a
/// single node without the job).
///
/// Errors: the settings or the list of containers cannot be read.
pub async fn apply_all(store: &Store, now: i64) -> Result<RetentionOutcome, StoreError> {
    let mut containers = BTreeSet::new();
    for settings in store::settings_in_force(store).await? {
        containers.extend(containers_of(store, &settings.chime_account_id).await?);
    }
    containers.extend(store::containers_with_hidden_messages(store).await?);
    apply(store, containers, now).await
}

/// Checks one `RetentionDays` in `member`.
///
/// Errors: `BadRequestException` naming `member` outside 1–5,475.
fn check_days(member: &str, days: Option<i32>) -> Result<Option<i64>> {
    match days {
        Some(d) if !(MIN_DAYS..=MAX_DAYS).contains(&d) => Err(error(
            "BadRequestException",
            format!("{member} must be {MIN_DAYS} to {MAX_DAYS} days (1 day to 15 years)"),
        )),
        d => Ok(d.map(i64::from)),
    }
}

/// The caller's live Enterprise account `chime_account_id`.
///
/// Errors: `BadRequestException` for a blank ID; `NotFoundException` when it is not the
/// caller's or was deleted; `ForbiddenException` for a Team account (retention is an
/// Enterprise feature, §1.9).
async fn enterprise_account(
    chime: &Chime,
    ctx: &RequestContext,
    chime_account_id: &str,
) -> Result<()> {
    let account = chime.live_account(ctx, chime_account_id).await?;
    if account.account_type == TEAM {
        return Err(error(
            "ForbiddenException",
            format!(
                "Chime account {chime_account_id} is a Team account; chat retention is for Enterprise accounts (claim and verify a domain first)"
            ),
        ));
    }
    Ok(())
}

/// The model's settings and deletion time of a stored record: `InitiateDeletionTimestamp` is
/// when the messages these settings hide start being purged for good (30 days after the
/// settings were put), absent while retention is off.
fn shapes(
    record: &RetentionSettingsRecord,
) -> (
    RetentionSettings,
    Option<carillon_awsapi::types::Iso8601Timestamp>,
) {
    let days = |d: Option<i64>| d.and_then(|d| i32::try_from(d).ok());
    let settings = RetentionSettings {
        conversation_retention_settings: Some(ConversationRetentionSettings {
            retention_days: days(record.conversation_retention_days),
        }),
        room_retention_settings: Some(RoomRetentionSettings {
            retention_days: days(record.room_retention_days),
        }),
    };
    let on = record.room_retention_days.is_some() || record.conversation_retention_days.is_some();
    let deletion = on.then(|| millis_to_datetime(record.updated_at + RESTORE_WINDOW_MS).into());
    (settings, deletion)
}

/// `PutRetentionSettings`: replaces the chat retention of Enterprise account `AccountId`.
/// `RoomRetentionSettings.RetentionDays` and `ConversationRetentionSettings.RetentionDays`
/// are 1–5,475 days; an absent period turns that retention off. The rules are applied to
/// the account's rooms and conversations at once: messages past the new periods are hidden,
/// hidden messages no longer past them (hidden less than 30 days ago) are restored.
/// Spec: chime-zh.md §2.6, chime-ko.md §2.1.7.
///
/// Errors: `BadRequestException` naming the field; `NotFoundException` (not the caller's,
/// deleted); `ForbiddenException` for a Team account.
pub(crate) async fn put_retention_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: PutRetentionSettingsRequest,
) -> Result<PutRetentionSettingsResponse> {
    let settings = input.retention_settings;
    let room = check_days(
        "RetentionSettings.RoomRetentionSettings.RetentionDays",
        settings
            .room_retention_settings
            .and_then(|s| s.retention_days),
    )?;
    let conversation = check_days(
        "RetentionSettings.ConversationRetentionSettings.RetentionDays",
        settings
            .conversation_retention_settings
            .and_then(|s| s.retention_days),
    )?;
    enterprise_account(chime, ctx, &input.account_id).await?;
    let now = now_millis();
    let record = RetentionSettingsRecord {
        chime_account_id: input.account_id.clone(),
        account_id: ctx.account_id.clone(),
        room_retention_days: room,
        conversation_retention_days: conversation,
        updated_at: now,
    };
    store::put_settings(&chime.store, &record).await?;
    let containers = containers_of(&chime.store, &input.account_id).await?;
    let outcome = apply(&chime.store, containers, now).await?;
    tracing::info!(
        chime_account_id = input.account_id,
        hidden = outcome.hidden,
        restored = outcome.restored,
        purged = outcome.purged,
        "chat retention settings put"
    );
    let (settings, deletion) = shapes(&record);
    Ok(PutRetentionSettingsResponse {
        initiate_deletion_timestamp: deletion,
        retention_settings: Some(settings),
    })
}

/// `GetRetentionSettings`: the chat retention of Enterprise account `AccountId` (both periods
/// absent when never put or turned off). Spec: chime-zh.md §2.6.
///
/// Errors: `BadRequestException`; `NotFoundException`; `ForbiddenException` for a Team
/// account.
pub(crate) async fn get_retention_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetRetentionSettingsRequest,
) -> Result<GetRetentionSettingsResponse> {
    enterprise_account(chime, ctx, &input.account_id).await?;
    let record = store::settings(&chime.store, &ctx.account_id, &input.account_id)
        .await?
        .unwrap_or(RetentionSettingsRecord {
            chime_account_id: input.account_id.clone(),
            account_id: ctx.account_id.clone(),
            room_retention_days: None,
            conversation_retention_days: None,
            updated_at: 0,
        });
    let (settings, deletion) = shapes(&record);
    Ok(GetRetentionSettingsResponse {
        initiate_deletion_timestamp: deletion,
        retention_settings: Some(settings),
    })
}
