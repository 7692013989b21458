//! Email flow rules: their actions and the outcome of evaluating them for one recipient.
//! Spec: workmail.md §2.9 (rules, patterns, precedence), §2.10 (Run hook fields).

/// The direction of mail a flow rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowDirection {
    /// Mail received for the organization's recipients (MX role).
    Inbound,
    /// Mail submitted by the organization's users.
    Outbound,
}

/// A final (non-hook) flow-rule action applied to one recipient. Spec: workmail.md §2.9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowAction {
    /// Not delivered (not sent), sender not told: no NDR.
    Drop,
    /// Not delivered (not sent); the sender gets a delivery status notification carrying
    /// `message` when given (a hook's `bounceMessage`), else a default text.
    Bounce {
        /// Text for the sender (§4.5 `bounceMessage`).
        message: Option<String>,
    },
    /// Inbound only: delivered to `Junk E-mail` even when nothing flagged it.
    MoveToJunk,
    /// Normal processing: inbound spam-checked (a DMARC quarantine goes to Junk), outbound
    /// sent normally.
    Default,
    /// Inbound only: always delivered to the INBOX, even when flagged (DMARC quarantine).
    BypassSpamCheck,
    /// Outbound only: sent through the organization's SMTP gateway `gateway_id` (§2.8).
    RouteToGateway {
        /// The gateway's ID (`gw-` …).
        gateway_id: String,
    },
}

/// The hook a "Run hook" rule (the original's Run Lambda, §2.10) calls, and what applies
/// when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTarget {
    /// The name of the rule the hook belongs to.
    pub rule_name: String,
    /// The hook's HTTPS URL.
    pub endpoint: String,
    /// Synchronous (delivery waits for the answer) or asynchronous (runs alongside).
    pub synchronous: bool,
    /// Applied when a synchronous hook fails until the rule timeout, and to recipients left
    /// out of its answer; never a hook itself (§2.10).
    pub fallback: FlowAction,
    /// Minutes to keep retrying a failing synchronous hook, 0..=240 (0: no retry).
    pub timeout_minutes: u32,
}

/// What the flow rules decided for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    /// A final action.
    Action(FlowAction),
    /// Run a hook: synchronous ones decide the final action, asynchronous ones leave it
    /// `Default`.
    RunHook(HookTarget),
}
