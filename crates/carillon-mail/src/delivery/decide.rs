//! Stage 3, **decide**: the per-recipient flow decision (workmail.md §2.9, §2.10).
//!
//! Each recipient gets the action of the deciding email flow rule of its organization
//! (inbound) or of the sender's (outbound) — or, when a synchronous hook already answered,
//! the hook's action for it ([`Decider::answered`]) — and then the mailboxes with room for
//! the message (the quota, workmail.md §1.7). A recipient a synchronous Run hook rule holds
//! is handed to the hook worker here ([`crate::flow::held::hold`]), durably, before
//! anything is committed. What must happen once the delivery is committed (asynchronous
//! hooks told, rule bounces, `RULE_APPLIED`) is returned in [`FlowEffects`] for the
//! [effects](super::effects) stage. Rules are read from the store per message (once per
//! organization), so a rule created or removed applies to the next message.

use std::collections::HashMap;

use bytes::Bytes;
use carillon_store::{LocalMailbox, Resolution, Store, StoreError};

use super::envelope::{
    DeliveryError, DeliveryOutcome, Envelope, RecipientResult, RecipientStatus, INBOX, JUNK_EMAIL,
};
use super::journal;
use super::recipients::{MailboxSizes, Recipient};
use super::verdict::{Authenticated, Verdict};
use crate::flow::held;
use crate::flow::rules::{self, FlowAction, FlowDirection, FlowRule, HookTarget, RuleOutcome};
use crate::login::MailUser;

/// Where the decision stage gets each recipient's action from, and in which direction.
pub(super) struct Decider<'a> {
    direction: FlowDirection,
    source: Source<'a>,
}

enum Source<'a> {
    /// The organization's flow rules, matched against this sender (`Sender`, else `From`).
    Rules {
        sender: String,
        cache: HashMap<String, Vec<FlowRule>>,
    },
    /// Actions already decided by the answer of the synchronous hook of rule `.0`, per
    /// recipient.
    Answered(&'a str, &'a [(String, FlowAction)]),
}

impl<'a> Decider<'a> {
    /// Decides by the organizations' rules of `direction`; `message` gives the `Sender` /
    /// `From` header (the envelope sender when it has neither).
    pub(super) fn rules(direction: FlowDirection, message: &[u8], mail_from: &str) -> Self {
        Decider {
            direction,
            source: Source::Rules {
                sender: rules::header_sender(message, mail_from),
                cache: HashMap::new(),
            },
        }
    }

    /// Applies `actions` decided by rule `rule_name`'s hook (recipient → action; recipients
    /// not listed get `Default`): no rule is evaluated and nothing is held again.
    pub(super) fn answered(
        direction: FlowDirection,
        rule_name: &'a str,
        actions: &'a [(String, FlowAction)],
    ) -> Self {
        Decider {
            direction,
            source: Source::Answered(rule_name, actions),
        }
    }
}

/// A recipient a rule (or hook answer) acted on, for `RULE_APPLIED`.
pub(super) struct Applied {
    pub organization_id: String,
    pub rule_name: String,
    pub action: &'static str,
    pub recipient: String,
}

/// The recipients of one organization a hook rule matched.
pub(super) struct HookCall {
    pub organization_id: String,
    pub hook: HookTarget,
    pub recipients: Vec<String>,
}

/// What the flow decision leaves for after the commit ([`super::effects`]).
pub(super) struct FlowEffects {
    /// The direction of the rules (or hook) that decided.
    pub direction: FlowDirection,
    /// Recipients asynchronous hooks are told about, per organization and rule.
    pub fired: Vec<HookCall>,
    /// (organization, recipient, text) of the recipients to bounce.
    pub bounced: Vec<(String, String, Option<String>)>,
    /// The recipients rules acted on, in decision order.
    pub applied: Vec<Applied>,
}

/// A mailbox a copy goes to, and the folder it is filed in.
pub(super) struct PlannedCopy {
    pub mailbox: LocalMailbox,
    pub folder: &'static str,
}

/// The output of the decision stage: the input of [`super::seal`] and [`super::effects`].
pub(super) struct Decision {
    /// One entry per envelope recipient, in envelope order.
    pub results: Vec<RecipientResult>,
    /// What each recipient reached, for the journal records and the event log (`None`: no
    /// mailbox, or not delivered now).
    pub resolved: Vec<journal::Resolved>,
    /// The distinct mailboxes with room, each with its folder.
    pub copies: Vec<PlannedCopy>,
    /// Recipients to queue (submission), with the SMTP gateway a rule routes them through.
    pub queued: Vec<(String, Option<String>)>,
    /// Mailbox sizes as planned so far (the journal records count on them).
    pub sizes: MailboxSizes,
    /// What the rules leave for after the commit.
    pub flow: FlowEffects,
}

impl Decision {
    /// Whether a rule (or hook) took a recipient: dropped, bounced or held.
    pub(super) fn taken_by_rules(&self) -> bool {
        self.results.iter().any(|r| {
            matches!(
                r.status,
                RecipientStatus::Dropped
                    | RecipientStatus::RuleBounced
                    | RecipientStatus::HeldForHook
            )
        })
    }

    /// The outcome answered to the caller; `blob_key` of the stored message, if any.
    pub(super) fn into_outcome(self, blob_key: Option<String>) -> DeliveryOutcome {
        DeliveryOutcome {
            blob_key,
            recipients: self.results,
        }
    }
}

/// Decides the recipients of an inbound message (`verdict` applied), plans their copies —
/// a rule's folder (Deliver to junk, Never deliver to junk) over the verdict's (the INBOX,
/// or Junk E-mail under a DMARC quarantine) — and holds those a synchronous hook decides for.
///
/// Errors: `Store` (nothing is committed yet: answer a temporary failure).
pub(super) async fn inbound(
    store: &Store,
    decider: Decider<'_>,
    verdict: &Verdict,
    recipients: Vec<Authenticated>,
    envelope: &Envelope,
    message: &Bytes,
) -> Result<Decision, DeliveryError> {
    let mut rules = Rules::new(decider);
    let mut plan = Plan::new(recipients.len());
    for recipient in recipients {
        let Recipient {
            address,
            resolution,
        } = match recipient {
            Authenticated::Rejected(address) => {
                plan.settle(address, RecipientStatus::DmarcRejected);
                continue;
            }
            Authenticated::Passed(recipient) => recipient,
        };
        if let Resolution::Mailboxes(m) = &resolution {
            if let Some(status) = rules.inbound(store, &address, m).await? {
                plan.settle(address, status);
                continue;
            }
        }
        plan.reach(store, address, resolution, message.len(), false)
            .await?;
    }
    rules.hold(store, envelope, message, None).await?;
    Ok(plan.decision(rules, |user_id| verdict.folder(user_id)))
}

/// Decides the recipients of a message `user` submitted by the outbound rules of `user`'s
/// organization: foreign recipients (and those a rule routes to an SMTP gateway) queued, local
/// ones planned into their INBOX, those a synchronous hook decides for held.
///
/// Errors: `Store` (nothing is committed yet: answer a temporary failure).
pub(super) async fn outbound(
    store: &Store,
    decider: Decider<'_>,
    user: &MailUser,
    recipients: Vec<Recipient>,
    envelope: &Envelope,
    message: &Bytes,
) -> Result<Decision, DeliveryError> {
    let mut rules = Rules::new(decider);
    let mut plan = Plan::new(recipients.len());
    for recipient in recipients {
        match rules
            .outbound(store, &user.organization_id, &recipient.address)
            .await?
        {
            OutboundRoute::Normal => {
                plan.reach(
                    store,
                    recipient.address,
                    recipient.resolution,
                    message.len(),
                    true,
                )
                .await?
            }
            OutboundRoute::Gateway(gateway) => {
                plan.queued.push((recipient.address.clone(), Some(gateway)));
                plan.settle(recipient.address, RecipientStatus::Queued);
            }
            OutboundRoute::Stopped(status) => plan.settle(recipient.address, status),
        }
    }
    rules.hold(store, envelope, message, Some(user)).await?;
    Ok(plan.decision(rules, |_| INBOX))
}

/// The recipients' statuses and the distinct mailboxes a delivery goes to, as decided so far.
struct Plan {
    results: Vec<RecipientResult>,
    resolved: Vec<journal::Resolved>,
    mailboxes: Vec<LocalMailbox>,
    queued: Vec<(String, Option<String>)>,
    sizes: MailboxSizes,
}

impl Plan {
    fn new(recipients: usize) -> Self {
        Plan {
            results: Vec::with_capacity(recipients),
            resolved: Vec::with_capacity(recipients),
            mailboxes: Vec::new(),
            queued: Vec::new(),
            sizes: MailboxSizes::default(),
        }
    }

    /// A recipient not delivered now, with its final status.
    fn settle(&mut self, address: String, status: RecipientStatus) {
        self.resolved.push(journal::Resolved {
            address: address.clone(),
            mailboxes: None,
        });
        self.results.push(RecipientResult {
            recipient: address,
            status,
        });
    }

    /// A recipient delivered by its resolution: its mailboxes with room for `size` more
    /// bytes (delivered when at least one has room); a foreign domain is queued when
    /// `queue_foreign` (submission), else refused (`RelayDenied`: the MX never relays).
    async fn reach(
        &mut self,
        store: &Store,
        address: String,
        resolution: Resolution,
        size: usize,
        queue_foreign: bool,
    ) -> Result<(), StoreError> {
        let status = match &resolution {
            Resolution::NoSuchDomain if queue_foreign => {
                self.queued.push((address.clone(), None));
                RecipientStatus::Queued
            }
            Resolution::NoSuchDomain => RecipientStatus::RelayDenied,
            Resolution::NoSuchAddress => RecipientStatus::NoSuchAddress,
            Resolution::Mailboxes(m) if m.is_empty() => RecipientStatus::NoSuchAddress,
            Resolution::Mailboxes(m) => self.add_mailboxes(store, m.clone(), size).await?,
        };
        self.resolved.push(journal::Resolved {
            address: address.clone(),
            mailboxes: match resolution {
                Resolution::Mailboxes(m) => Some(m),
                _ => None,
            },
        });
        self.results.push(RecipientResult {
            recipient: address,
            status,
        });
        Ok(())
    }

    /// Adds the mailboxes with room for `size` more bytes; the recipient is delivered when
    /// at least one of them has room.
    async fn add_mailboxes(
        &mut self,
        store: &Store,
        mailboxes: Vec<LocalMailbox>,
        size: usize,
    ) -> Result<RecipientStatus, StoreError> {
        let mut any = false;
        for mailbox in mailboxes {
            if self.mailboxes.iter().any(|m| m.user_id == mailbox.user_id) {
                any = true;
            } else if self.sizes.has_room(store, &mailbox, size).await? {
                any = true;
                self.mailboxes.push(mailbox);
            }
        }
        Ok(if any {
            RecipientStatus::Delivered
        } else {
            RecipientStatus::OverQuota
        })
    }

    /// The decision, each copy filed in its rule's folder over `otherwise`'s. Folders are
    /// chosen once every recipient is decided: a mailbox reached through several recipients
    /// takes the folder of the first rule that chose one.
    fn decision(self, rules: Rules<'_>, otherwise: impl Fn(&str) -> &'static str) -> Decision {
        let copies = self
            .mailboxes
            .into_iter()
            .map(|mailbox| PlannedCopy {
                folder: rules
                    .folders
                    .get(&mailbox.user_id)
                    .copied()
                    .unwrap_or_else(|| otherwise(&mailbox.user_id)),
                mailbox,
            })
            .collect();
        Decision {
            results: self.results,
            resolved: self.resolved,
            copies,
            queued: self.queued,
            sizes: self.sizes,
            flow: FlowEffects {
                direction: rules.decider.direction,
                fired: rules.fired,
                bounced: rules.bounced,
                applied: rules.applied,
            },
        }
    }
}

/// What an outbound recipient becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OutboundRoute {
    /// Sent as usual (local delivery or the recipient domain's MX).
    Normal,
    /// Queued for the organization's SMTP gateway.
    Gateway(String),
    /// Not sent now: `Dropped`, `RuleBounced` or `HeldForHook`.
    Stopped(RecipientStatus),
}

/// The flow-rule side of one decision.
struct Rules<'a> {
    decider: Decider<'a>,
    /// Mailbox (user ID) → the folder its copy must go to.
    folders: HashMap<String, &'static str>,
    /// (organization, recipient, text) of the recipients to bounce.
    bounced: Vec<(String, String, Option<String>)>,
    applied: Vec<Applied>,
    /// Recipients held for synchronous hooks, per organization and rule.
    deferred: Vec<HookCall>,
    /// Recipients asynchronous hooks are told about, per organization and rule.
    fired: Vec<HookCall>,
}

impl<'a> Rules<'a> {
    fn new(decider: Decider<'a>) -> Self {
        Rules {
            decider,
            folders: HashMap::new(),
            bounced: Vec::new(),
            applied: Vec::new(),
            deferred: Vec::new(),
            fired: Vec::new(),
        }
    }

    /// The final action for `recipient` under `organization_id`'s rules (or the hook's
    /// answer), and the deciding rule.
    ///
    /// `None`: a synchronous Run hook rule holds the recipient for its hook
    /// ([`Rules::hold`]); an asynchronous one is `Default` (the hook is told after the
    /// commit and never changes delivery).
    async fn decide(
        &mut self,
        store: &Store,
        organization_id: &str,
        recipient: &str,
    ) -> Result<Option<FlowAction>, StoreError> {
        let direction = self.decider.direction;
        let (rule_name, outcome) = match &mut self.decider.source {
            Source::Answered(rule_name, actions) => {
                let action = actions
                    .iter()
                    .find(|(r, _)| r.eq_ignore_ascii_case(recipient))
                    .map_or(FlowAction::Default, |(_, a)| a.clone());
                (Some(rule_name.to_string()), RuleOutcome::Action(action))
            }
            Source::Rules { sender, cache } => {
                if !cache.contains_key(organization_id) {
                    let loaded = rules::load_rules(store, organization_id, direction).await?;
                    cache.insert(organization_id.to_string(), loaded);
                }
                let decision = rules::evaluate(&cache[organization_id], sender, recipient);
                (decision.rule_name, decision.outcome)
            }
        };
        let action = match outcome {
            RuleOutcome::Action(action) => action,
            RuleOutcome::RunHook(hook) => {
                let synchronous = hook.synchronous;
                let calls = if synchronous {
                    &mut self.deferred
                } else {
                    &mut self.fired
                };
                match calls.iter_mut().find(|c| {
                    c.organization_id == organization_id && c.hook.rule_name == hook.rule_name
                }) {
                    Some(call) => call.recipients.push(recipient.to_string()),
                    None => calls.push(HookCall {
                        organization_id: organization_id.to_string(),
                        hook,
                        recipients: vec![recipient.to_string()],
                    }),
                }
                if synchronous {
                    return Ok(None);
                }
                // An asynchronous hook runs alongside: delivery goes on as Default.
                return Ok(Some(FlowAction::Default));
            }
        };
        let action = if action.allowed_for(direction) {
            action
        } else {
            FlowAction::Default
        };
        if let Some(rule_name) = rule_name {
            self.applied.push(Applied {
                organization_id: organization_id.to_string(),
                rule_name,
                action: action.name(),
                recipient: recipient.to_string(),
            });
        }
        Ok(Some(action))
    }

    /// Decides an inbound recipient reaching `mailboxes` (non-empty, one organization).
    /// `Some(status)` when it is not delivered now (`Dropped`, `RuleBounced`,
    /// `HeldForHook`); `None` when it is, its mailboxes' folder remembered.
    async fn inbound(
        &mut self,
        store: &Store,
        recipient: &str,
        mailboxes: &[LocalMailbox],
    ) -> Result<Option<RecipientStatus>, StoreError> {
        let Some(organization_id) = mailboxes.first().map(|m| m.organization_id.clone()) else {
            return Ok(None);
        };
        let Some(action) = self.decide(store, &organization_id, recipient).await? else {
            return Ok(Some(RecipientStatus::HeldForHook));
        };
        let folder = match action {
            FlowAction::Drop => return Ok(Some(RecipientStatus::Dropped)),
            FlowAction::Bounce { message } => {
                self.bounced
                    .push((organization_id, recipient.to_string(), message));
                return Ok(Some(RecipientStatus::RuleBounced));
            }
            FlowAction::MoveToJunk => JUNK_EMAIL,
            FlowAction::BypassSpamCheck => INBOX,
            FlowAction::Default | FlowAction::RouteToGateway { .. } => return Ok(None),
        };
        for mailbox in mailboxes {
            self.folders
                .entry(mailbox.user_id.clone())
                .or_insert(folder);
        }
        Ok(None)
    }

    /// Decides an outbound recipient of a message sent by a user of `organization_id`.
    async fn outbound(
        &mut self,
        store: &Store,
        organization_id: &str,
        recipient: &str,
    ) -> Result<OutboundRoute, StoreError> {
        let Some(action) = self.decide(store, organization_id, recipient).await? else {
            return Ok(OutboundRoute::Stopped(RecipientStatus::HeldForHook));
        };
        Ok(match action {
            FlowAction::Drop => OutboundRoute::Stopped(RecipientStatus::Dropped),
            FlowAction::Bounce { message } => {
                self.bounced
                    .push((organization_id.to_string(), recipient.to_string(), message));
                OutboundRoute::Stopped(RecipientStatus::RuleBounced)
            }
            FlowAction::RouteToGateway { gateway_id } => OutboundRoute::Gateway(gateway_id),
            FlowAction::Default | FlowAction::MoveToJunk | FlowAction::BypassSpamCheck => {
                OutboundRoute::Normal
            }
        })
    }

    /// Hands the recipients held for synchronous hooks to the hook worker
    /// ([`held::hold`], durable when this returns), one in-transit message per
    /// organization and rule. `submitter`: the sending user (outbound).
    ///
    /// Errors: `Store` (answer a temporary failure: nothing is committed yet).
    async fn hold(
        &self,
        store: &Store,
        envelope: &Envelope,
        message: &Bytes,
        submitter: Option<&MailUser>,
    ) -> Result<(), DeliveryError> {
        for call in &self.deferred {
            let decided_by_hook = Envelope {
                mail_from: envelope.mail_from.clone(),
                recipients: call.recipients.clone(),
            };
            held::hold(
                store,
                &call.organization_id,
                self.decider.direction,
                &decided_by_hook,
                message.clone(),
                &call.hook,
                submitter,
            )
            .await?;
        }
        Ok(())
    }
}
