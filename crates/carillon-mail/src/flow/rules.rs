//! Email flow rules: their actions and the outcome of evaluating them for one recipient.
//! Spec: workmail.md §2.9 (rules, patterns, precedence), §2.10 (Run hook fields).

use carillon_store::{FlowRuleRecord, Store, StoreError};

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

/// Most sender patterns in one rule (and most destination patterns). Spec: workmail.md §6.
pub const MAX_PATTERNS_PER_RULE: usize = 250;

/// Most sender patterns over all the rules of an organization (hard). Spec: workmail.md §6.
pub const MAX_SENDER_PATTERNS_PER_ORGANIZATION: usize = 1_000;

/// Longest rule timeout of a Run hook rule, minutes. Spec: workmail.md §2.10.
pub const MAX_RULE_TIMEOUT_MINUTES: u32 = 240;

impl FlowDirection {
    /// The stored and API name: `INBOUND` / `OUTBOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowDirection::Inbound => "INBOUND",
            FlowDirection::Outbound => "OUTBOUND",
        }
    }

    /// Parses [`FlowDirection::as_str`]'s names.
    pub fn parse(name: &str) -> Option<FlowDirection> {
        match name {
            "INBOUND" => Some(FlowDirection::Inbound),
            "OUTBOUND" => Some(FlowDirection::Outbound),
            _ => None,
        }
    }

    /// The `ruleType` of a `RULE_APPLIED` event (workmail.md §4.1).
    pub fn rule_type(self) -> &'static str {
        match self {
            FlowDirection::Inbound => "INBOUND_RULE",
            FlowDirection::Outbound => "OUTBOUND_RULE",
        }
    }
}

impl FlowAction {
    /// The API and stored name (the §4.5 sync-response type where there is one):
    /// `DROP`, `BOUNCE`, `MOVE_TO_JUNK`, `DEFAULT`, `BYPASS_SPAM_CHECK`, `ROUTE_TO_GATEWAY`.
    pub fn name(&self) -> &'static str {
        match self {
            FlowAction::Drop => "DROP",
            FlowAction::Bounce { .. } => "BOUNCE",
            FlowAction::MoveToJunk => "MOVE_TO_JUNK",
            FlowAction::Default => "DEFAULT",
            FlowAction::BypassSpamCheck => "BYPASS_SPAM_CHECK",
            FlowAction::RouteToGateway { .. } => "ROUTE_TO_GATEWAY",
        }
    }

    /// Whether the action exists for `direction` (§2.9's two tables): junk actions are
    /// inbound only, gateway routing outbound only.
    pub fn allowed_for(&self, direction: FlowDirection) -> bool {
        match self {
            FlowAction::MoveToJunk | FlowAction::BypassSpamCheck => {
                direction == FlowDirection::Inbound
            }
            FlowAction::RouteToGateway { .. } => direction == FlowDirection::Outbound,
            FlowAction::Drop | FlowAction::Bounce { .. } | FlowAction::Default => true,
        }
    }

    /// Restrictiveness rank among actions of equal pattern specificity: higher wins.
    ///
    /// Inbound, §2.9's table order: Drop > Bounce > MoveToJunk > Default > BypassSpamCheck
    /// (> Run hook, see [`RuleOutcome::rank`]).
    ///
    /// Outbound: the guide's table lists Default first, but calls the order "most
    /// restrictive first" (§8.3 flags it). Carillon reads it the way the inbound table
    /// reads: Drop > Bounce > RouteToGateway > Default (> Run hook). Route to gateway is an
    /// explicit policy on where mail may leave, so at equal specificity it beats normal
    /// sending, as Deliver to junk beats Default inbound.
    fn rank(&self) -> u8 {
        match self {
            FlowAction::Drop => 6,
            FlowAction::Bounce { .. } => 5,
            FlowAction::MoveToJunk | FlowAction::RouteToGateway { .. } => 4,
            FlowAction::Default => 3,
            FlowAction::BypassSpamCheck => 2,
        }
    }
}

impl RuleOutcome {
    /// The rule action's API name (`RUN_HOOK` for hooks).
    pub fn name(&self) -> &'static str {
        match self {
            RuleOutcome::Action(action) => action.name(),
            RuleOutcome::RunHook(_) => "RUN_HOOK",
        }
    }

    /// Restrictiveness: the final actions' [`FlowAction`] ranks, Run hook the least.
    fn rank(&self) -> u8 {
        match self {
            RuleOutcome::Action(action) => action.rank(),
            RuleOutcome::RunHook(_) => 1,
        }
    }
}

/// A sender or destination pattern. Spec: workmail.md §2.9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `mailbox@example.com`: that address (case-insensitive).
    Address(String),
    /// `example.com`: every address of the domain.
    Domain(String),
    /// `*.example.com`: the domain and all its subdomains.
    Subdomains(String),
    /// `*`: any address.
    Any,
}

/// An invalid pattern, naming the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PatternError {
    /// The input member (`SenderPatterns`, `DestinationPatterns`).
    pub field: &'static str,
    /// Why, quoting the pattern.
    pub reason: String,
}

impl Pattern {
    /// Parses one pattern of `field` (lower-cased, trimmed).
    ///
    /// Errors: empty, `+` anywhere (§2.9: invalid), a `*` other than `*` alone or as the
    /// whole leading label of `*.domain`, an address without a local part, a malformed
    /// domain (labels of letters, digits and hyphens, at least two labels).
    pub fn parse(field: &'static str, text: &str) -> Result<Pattern, PatternError> {
        let fail = |reason: String| PatternError { field, reason };
        let pattern = text.trim().to_ascii_lowercase();
        if pattern.is_empty() {
            return Err(fail("empty pattern".to_string()));
        }
        if pattern.contains('+') {
            return Err(fail(format!("{text:?}: '+' is not allowed in a pattern")));
        }
        if pattern == "*" {
            return Ok(Pattern::Any);
        }
        if let Some((local, domain)) = pattern.rsplit_once('@') {
            if local.is_empty() || local.contains('*') || local.contains('@') {
                return Err(fail(format!(
                    "{text:?}: an address pattern needs a literal local part"
                )));
            }
            if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(fail(format!("{text:?}: invalid local part")));
            }
            check_domain(domain).map_err(|why| fail(format!("{text:?}: {why}")))?;
            return Ok(Pattern::Address(pattern));
        }
        if let Some(domain) = pattern.strip_prefix("*.") {
            if domain.contains('*') {
                return Err(fail(format!(
                    "{text:?}: the wildcard may only be the leading label"
                )));
            }
            check_domain(domain).map_err(|why| fail(format!("{text:?}: {why}")))?;
            return Ok(Pattern::Subdomains(domain.to_string()));
        }
        if pattern.contains('*') {
            return Err(fail(format!(
                "{text:?}: the wildcard may only be the leading label (\"*.example.com\") or \"*\""
            )));
        }
        check_domain(&pattern).map_err(|why| fail(format!("{text:?}: {why}")))?;
        Ok(Pattern::Domain(pattern))
    }

    /// Whether `address` (any case) matches.
    pub fn matches(&self, address: &str) -> bool {
        let address = address.trim().to_ascii_lowercase();
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        match self {
            Pattern::Address(a) => *a == address,
            Pattern::Domain(d) => domain == d,
            Pattern::Subdomains(d) => {
                domain == d
                    || domain
                        .strip_suffix(d.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            Pattern::Any => true,
        }
    }

    /// Specificity: address 3 > domain 2 > `*.domain` 1 > `*` 0.
    pub fn specificity(&self) -> u8 {
        match self {
            Pattern::Address(_) => 3,
            Pattern::Domain(_) => 2,
            Pattern::Subdomains(_) => 1,
            Pattern::Any => 0,
        }
    }

    /// The pattern as written (lower-case).
    pub fn text(&self) -> String {
        match self {
            Pattern::Address(a) => a.clone(),
            Pattern::Domain(d) => d.clone(),
            Pattern::Subdomains(d) => format!("*.{d}"),
            Pattern::Any => "*".to_string(),
        }
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("a domain needs at least two labels".to_string());
    }
    for label in labels {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!("{label:?} is not a valid domain label"));
        }
    }
    if domain.len() > 253 {
        return Err("the domain is longer than 253 characters".to_string());
    }
    Ok(())
}

/// Parses a pattern list of `field`: 1 to [`MAX_PATTERNS_PER_RULE`] valid patterns,
/// duplicates removed.
///
/// Errors: an invalid pattern, an empty list or more than 250 (`PatternError` naming
/// `field`; the caller answers `InvalidParameterException`, or `LimitExceededException`
/// when [`is_too_many`] says so).
pub fn parse_patterns(field: &'static str, texts: &[String]) -> Result<Vec<Pattern>, PatternError> {
    if texts.is_empty() {
        return Err(PatternError {
            field,
            reason: "at least one pattern is required".to_string(),
        });
    }
    if texts.len() > MAX_PATTERNS_PER_RULE {
        return Err(PatternError {
            field,
            reason: format!(
                "{} patterns given; a rule has at most {MAX_PATTERNS_PER_RULE}",
                texts.len()
            ),
        });
    }
    let mut patterns: Vec<Pattern> = Vec::with_capacity(texts.len());
    for text in texts {
        let pattern = Pattern::parse(field, text)?;
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

/// Whether a [`parse_patterns`] error is the per-rule limit (not a malformed pattern).
pub fn is_too_many(error: &PatternError) -> bool {
    error.reason.contains("a rule has at most")
}

/// A flow rule ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRule {
    /// Unique name within the organization.
    pub name: String,
    /// Inbound or outbound.
    pub direction: FlowDirection,
    /// What it does to the recipients it matches.
    pub outcome: RuleOutcome,
    /// Sender patterns (matched against `Sender`, else `From`).
    pub senders: Vec<Pattern>,
    /// Destination patterns (matched against the recipient).
    pub destinations: Vec<Pattern>,
}

impl FlowRule {
    /// The rule a stored record describes; `None` (logged) for a record the operations
    /// layer would not have written.
    pub fn from_record(record: &FlowRuleRecord) -> Option<FlowRule> {
        let rule = (|| {
            let direction = FlowDirection::parse(&record.direction)?;
            let outcome = if record.action == "RUN_HOOK" {
                let fallback = action_from_name(
                    record.hook_fallback_action.as_deref()?,
                    record.gateway_id.as_deref(),
                )?;
                RuleOutcome::RunHook(HookTarget {
                    rule_name: record.name.clone(),
                    endpoint: record.hook_endpoint.clone()?,
                    synchronous: record.hook_synchronous?,
                    fallback,
                    timeout_minutes: u32::try_from(record.hook_timeout_minutes?).ok()?,
                })
            } else {
                RuleOutcome::Action(action_from_name(
                    &record.action,
                    record.gateway_id.as_deref(),
                )?)
            };
            let parse = |field, texts: &[String]| parse_patterns(field, texts).ok();
            Some(FlowRule {
                name: record.name.clone(),
                direction,
                outcome,
                senders: parse("SenderPatterns", &record.sender_patterns)?,
                destinations: parse("DestinationPatterns", &record.destination_patterns)?,
            })
        })();
        if rule.is_none() {
            tracing::warn!(rule = %record.name, organization = %record.organization_id,
                "stored flow rule is not valid; ignored");
        }
        rule
    }
}

/// The final action named `name` (`ROUTE_TO_GATEWAY` needs `gateway_id`).
pub fn action_from_name(name: &str, gateway_id: Option<&str>) -> Option<FlowAction> {
    Some(match name {
        "DROP" => FlowAction::Drop,
        "BOUNCE" => FlowAction::Bounce { message: None },
        "MOVE_TO_JUNK" => FlowAction::MoveToJunk,
        "DEFAULT" => FlowAction::Default,
        "BYPASS_SPAM_CHECK" => FlowAction::BypassSpamCheck,
        "ROUTE_TO_GATEWAY" => FlowAction::RouteToGateway {
            gateway_id: gateway_id?.to_string(),
        },
        _ => return None,
    })
}

/// What the rules decided for one recipient, and which rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The deciding rule's name; `None` when no rule matched (the outcome is `Default`).
    pub rule_name: Option<String>,
    /// The outcome.
    pub outcome: RuleOutcome,
}

/// Evaluates `rules` (one organization, one direction) for a message whose sender (the
/// `Sender` header, else `From`) is `sender` and one of its recipients, `recipient`.
///
/// A rule matches when one of its sender patterns matches the sender and one of its
/// destination patterns the recipient. Among the matching rules the most specific wins:
/// the one whose best matching sender pattern is most specific (address > domain >
/// `*.domain` > `*`), then (Carillon's tie-break) the most specific destination pattern;
/// so a rule with less specific sender patterns is ignored, which is what makes a specific
/// `Default` rule carve an exception out of a domain-wide rule. Rules equally specific are
/// decided by the most restrictive action (see `FlowAction::rank`); equally restrictive
/// ones by name, for a stable answer. No match: `Default`. Spec: workmail.md §2.9.
pub fn evaluate(rules: &[FlowRule], sender: &str, recipient: &str) -> Decision {
    let best = |patterns: &[Pattern], address: &str| {
        patterns
            .iter()
            .filter(|p| p.matches(address))
            .map(Pattern::specificity)
            .max()
    };
    let mut winner: Option<((u8, u8, u8), &FlowRule)> = None;
    for rule in rules {
        let (Some(s), Some(d)) = (
            best(&rule.senders, sender),
            best(&rule.destinations, recipient),
        ) else {
            continue;
        };
        let key = (s, d, rule.outcome.rank());
        if winner.as_ref().is_none_or(|(k, _)| key > *k) {
            winner = Some((key, rule));
        }
    }
    match winner {
        Some((_, rule)) => Decision {
            rule_name: Some(rule.name.clone()),
            outcome: rule.outcome.clone(),
        },
        None => Decision {
            rule_name: None,
            outcome: RuleOutcome::Action(FlowAction::Default),
        },
    }
}

/// The rules of `direction` of `organization_id`, read from the store now (so changes
/// apply to the next message). Records that do not parse are left out (logged).
///
/// Errors: store failures.
pub async fn load_rules(
    store: &Store,
    organization_id: &str,
    direction: FlowDirection,
) -> Result<Vec<FlowRule>, StoreError> {
    Ok(store
        .flow_rules_for_delivery(organization_id, direction.as_str())
        .await?
        .iter()
        .filter_map(FlowRule::from_record)
        .collect())
}

/// The address flow rules match as the sender: the `Sender` header when present, else the
/// `From` header (first address), else `fallback` (the envelope sender). Lower-case.
/// Spec: workmail.md §2.9 ("Sender checked first, if present").
pub fn header_sender(message: &[u8], fallback: &str) -> String {
    let parsed = mail_parser::MessageParser::default().parse_headers(message);
    let first = |addr: Option<&mail_parser::Address<'_>>| {
        addr.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_ascii_lowercase)
    };
    parsed
        .as_ref()
        .and_then(|m| first(m.sender()).or_else(|| first(m.from())))
        .unwrap_or_else(|| fallback.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, action: FlowAction, senders: &[&str], destinations: &[&str]) -> FlowRule {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FlowRule {
            name: name.to_string(),
            direction: FlowDirection::Inbound,
            outcome: RuleOutcome::Action(action),
            senders: parse_patterns("SenderPatterns", &list(senders)).unwrap(),
            destinations: parse_patterns("DestinationPatterns", &list(destinations)).unwrap(),
        }
    }

    fn decided(rules: &[FlowRule], sender: &str, recipient: &str) -> (Option<String>, String) {
        let d = evaluate(rules, sender, recipient);
        (d.rule_name, d.outcome.name().to_string())
    }

    #[test]
    fn patterns_parse_into_their_four_forms() {
        let p = |s| Pattern::parse("SenderPatterns", s).unwrap();
        assert_eq!(
            p("Bob@Example.COM"),
            Pattern::Address("bob@example.com".into())
        );
        assert_eq!(p("example.com"), Pattern::Domain("example.com".into()));
        assert_eq!(
            p("*.example.com"),
            Pattern::Subdomains("example.com".into())
        );
        assert_eq!(p(" * "), Pattern::Any);
        assert_eq!(p("*.example.com").text(), "*.example.com");
    }

    #[test]
    fn invalid_patterns_are_refused_naming_the_field() {
        for bad in [
            "bob+tag@example.com",
            "+",
            "a.*.com",
            "*example.com",
            "**.example.com",
            "*@example.com",
            "@example.com",
            "example",
            "exa mple.com",
            "",
            "-x.com",
        ] {
            let e = Pattern::parse("DestinationPatterns", bad).unwrap_err();
            assert_eq!(e.field, "DestinationPatterns", "{bad}");
            assert!(e.to_string().starts_with("DestinationPatterns: "), "{e}");
        }
        let e = Pattern::parse("SenderPatterns", "a+b@x.com").unwrap_err();
        assert!(e.reason.contains("'+'"), "{e}");
        let e = Pattern::parse("SenderPatterns", "a.*.com").unwrap_err();
        assert!(e.reason.contains("leading label"), "{e}");
    }

    #[test]
    fn pattern_lists_are_limited_to_250_per_rule() {
        let list = |n: usize| (0..n).map(|i| format!("d{i}.com")).collect::<Vec<_>>();
        assert_eq!(
            parse_patterns("SenderPatterns", &list(250)).unwrap().len(),
            250
        );
        let e = parse_patterns("SenderPatterns", &list(251)).unwrap_err();
        assert!(is_too_many(&e) && e.field == "SenderPatterns", "{e}");
        let e = parse_patterns("SenderPatterns", &[]).unwrap_err();
        assert!(!is_too_many(&e));
        // Duplicates (any case) count once.
        let dup = vec!["A.com".to_string(), "a.com".to_string()];
        assert_eq!(parse_patterns("SenderPatterns", &dup).unwrap().len(), 1);
    }

    #[test]
    fn patterns_match_addresses() {
        let p = |s| Pattern::parse("SenderPatterns", s).unwrap();
        assert!(p("bob@example.com").matches("BOB@example.com"));
        assert!(!p("bob@example.com").matches("bob@sub.example.com"));
        assert!(p("example.com").matches("x@example.com"));
        assert!(!p("example.com").matches("x@sub.example.com"));
        assert!(p("*.example.com").matches("x@example.com"));
        assert!(p("*.example.com").matches("x@a.b.example.com"));
        assert!(!p("*.example.com").matches("x@badexample.com"));
        assert!(p("*").matches("anyone@anywhere.test"));
    }

    #[test]
    fn the_most_specific_sender_pattern_wins_over_a_more_restrictive_action() {
        let rules = [
            rule("drop-all", FlowAction::Drop, &["*"], &["*"]),
            rule("junk-sub", FlowAction::MoveToJunk, &["*.spam.test"], &["*"]),
            rule(
                "bounce-domain",
                FlowAction::Bounce { message: None },
                &["spam.test"],
                &["*"],
            ),
            rule(
                "default-bob",
                FlowAction::Default,
                &["bob@spam.test"],
                &["*"],
            ),
        ];
        let to = "u@corp.test";
        assert_eq!(
            decided(&rules, "bob@spam.test", to),
            (Some("default-bob".into()), "DEFAULT".into())
        );
        assert_eq!(
            decided(&rules, "eve@spam.test", to),
            (Some("bounce-domain".into()), "BOUNCE".into())
        );
        assert_eq!(
            decided(&rules, "eve@x.spam.test", to),
            (Some("junk-sub".into()), "MOVE_TO_JUNK".into())
        );
        assert_eq!(
            decided(&rules, "eve@other.test", to),
            (Some("drop-all".into()), "DROP".into())
        );
    }

    #[test]
    fn equally_specific_rules_resolve_to_the_most_restrictive_action() {
        let rules = [
            rule(
                "bypass",
                FlowAction::BypassSpamCheck,
                &["spam.test"],
                &["*"],
            ),
            rule("default", FlowAction::Default, &["spam.test"], &["*"]),
            rule("junk", FlowAction::MoveToJunk, &["spam.test"], &["*"]),
        ];
        assert_eq!(
            decided(&rules, "a@spam.test", "u@corp.test").1,
            "MOVE_TO_JUNK"
        );
        let mut more = rules.to_vec();
        more.push(rule(
            "bounce",
            FlowAction::Bounce { message: None },
            &["spam.test"],
            &["*"],
        ));
        assert_eq!(decided(&more, "a@spam.test", "u@corp.test").1, "BOUNCE");
        more.push(rule("drop", FlowAction::Drop, &["spam.test"], &["*"]));
        assert_eq!(decided(&more, "a@spam.test", "u@corp.test").1, "DROP");
        // Run hook is the least restrictive.
        let hook = FlowRule {
            outcome: RuleOutcome::RunHook(HookTarget {
                rule_name: "hook".into(),
                endpoint: "https://hook.test/".into(),
                synchronous: true,
                fallback: FlowAction::Default,
                timeout_minutes: 0,
            }),
            ..rule("hook", FlowAction::Default, &["spam.test"], &["*"])
        };
        let pair = [
            rule(
                "bypass",
                FlowAction::BypassSpamCheck,
                &["spam.test"],
                &["*"],
            ),
            hook,
        ];
        assert_eq!(
            decided(&pair, "a@spam.test", "u@corp.test").1,
            "BYPASS_SPAM_CHECK"
        );
    }

    #[test]
    fn outbound_order_puts_gateway_routing_between_bounce_and_default() {
        let route = FlowAction::RouteToGateway {
            gateway_id: "gw-1".into(),
        };
        assert!(FlowAction::Bounce { message: None }.rank() > route.rank());
        assert!(route.rank() > FlowAction::Default.rank());
        let rules = [
            rule("send", FlowAction::Default, &["corp.test"], &["far.test"]),
            rule("route", route, &["corp.test"], &["far.test"]),
        ];
        assert_eq!(
            decided(&rules, "a@corp.test", "x@far.test").1,
            "ROUTE_TO_GATEWAY"
        );
    }

    #[test]
    fn each_recipient_is_decided_by_its_own_destination_patterns() {
        let rules = [
            rule("drop-ceo", FlowAction::Drop, &["*"], &["ceo@corp.test"]),
            rule(
                "junk-sales",
                FlowAction::MoveToJunk,
                &["*"],
                &["sales.corp.test"],
            ),
        ];
        assert_eq!(decided(&rules, "a@x.test", "ceo@corp.test").1, "DROP");
        assert_eq!(
            decided(&rules, "a@x.test", "bob@sales.corp.test").1,
            "MOVE_TO_JUNK"
        );
        assert_eq!(
            decided(&rules, "a@x.test", "bob@corp.test"),
            (None, "DEFAULT".into())
        );
    }

    #[test]
    fn the_sender_header_comes_before_from() {
        let both = b"From: Alice <alice@a.test>\r\nSender: Bot <bot@b.test>\r\n\r\nhi";
        assert_eq!(header_sender(both, "env@c.test"), "bot@b.test");
        let from = b"From: Alice <Alice@A.test>\r\n\r\nhi";
        assert_eq!(header_sender(from, "env@c.test"), "alice@a.test");
        assert_eq!(
            header_sender(b"Subject: x\r\n\r\nhi", "Env@c.test"),
            "env@c.test"
        );
    }
}
