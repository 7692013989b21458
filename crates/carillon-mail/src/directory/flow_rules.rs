//! Email flow rules, which the WorkMail console configured (workmail.md §2.9, §2.10), as
//! operations of Carillon's admin API:
//!
//! - `CreateEmailFlowRule`, `UpdateEmailFlowRule` (the console's Edit),
//!   `DeleteEmailFlowRule` (Remove), `GetEmailFlowRule`, `ListEmailFlowRules` under
//!   `/carillon/v1/organizations/{OrganizationId}/email-flow-rules[/{Name}]`;
//! - `TestEmailFlowRules` (Test configuration) at `…/email-flow-rule-tests`.
//!
//! The SMTP gateways a rule routes to are in [`super::smtp_gateways`]. IAM actions are
//! `workmail:<Operation>` on the organization ARN. Changes apply to the next message:
//! delivery reads the rules from the store for every message.

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::{ApiResult, RequestContext};
use carillon_store::{FlowRuleRecord, FlowRuleWrite};
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    codes, rfc3339, EmptyOutput, OrganizationInput, ORGANIZATION_RESOURCE as RESOURCE,
    ORG_NOT_FOUND, ORG_STATE,
};
use super::error::{answer, err, Error, Result};
use super::WorkMail;
use crate::flow::rules::{
    self, FlowAction, FlowDirection, RuleOutcome, MAX_RULE_TIMEOUT_MINUTES,
    MAX_SENDER_PATTERNS_PER_ORGANIZATION,
};

const RULES: &str = "/carillon/v1/organizations/{OrganizationId}/email-flow-rules";
const RULE: &str = "/carillon/v1/organizations/{OrganizationId}/email-flow-rules/{Name}";
const TESTS: &str = "/carillon/v1/organizations/{OrganizationId}/email-flow-rule-tests";

const INVALID: ErrorSpec = ErrorSpec {
    code: codes::INVALID_PARAMETER,
    status: 400,
    doc: "A pattern, action or hook field is not valid; the message names the member.",
};
const LIMIT: ErrorSpec = ErrorSpec {
    code: codes::LIMIT_EXCEEDED,
    status: 400,
    doc:
        "More than 250 patterns in a rule, or more than 1,000 sender patterns in the organization.",
};
const NAME_TAKEN: ErrorSpec = ErrorSpec {
    code: codes::NAME_AVAILABILITY,
    status: 400,
    doc: "The organization already has a rule of that name.",
};
const NOT_FOUND: ErrorSpec = ErrorSpec {
    code: codes::RESOURCE_NOT_FOUND,
    status: 400,
    doc: "No such rule in the organization.",
};

/// An action of a rule (§2.9's tables; the names are the §4.5 sync-response types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleActionName {
    /// Not delivered or sent; no NDR.
    Drop,
    /// Not delivered or sent; the sender gets a bounce.
    Bounce,
    /// Inbound: deliver to Junk E-mail.
    MoveToJunk,
    /// Normal processing.
    Default,
    /// Inbound: never deliver to Junk E-mail.
    BypassSpamCheck,
    /// Outbound: send through `SmtpGatewayId`.
    RouteToGateway,
    /// Call the HTTPS hook (`HookEndpoint`), synchronously or not.
    RunHook,
}

impl RuleActionName {
    fn as_str(self) -> &'static str {
        match self {
            RuleActionName::Drop => "DROP",
            RuleActionName::Bounce => "BOUNCE",
            RuleActionName::MoveToJunk => "MOVE_TO_JUNK",
            RuleActionName::Default => "DEFAULT",
            RuleActionName::BypassSpamCheck => "BYPASS_SPAM_CHECK",
            RuleActionName::RouteToGateway => "ROUTE_TO_GATEWAY",
            RuleActionName::RunHook => "RUN_HOOK",
        }
    }

    fn parse(name: &str) -> Option<RuleActionName> {
        [
            RuleActionName::Drop,
            RuleActionName::Bounce,
            RuleActionName::MoveToJunk,
            RuleActionName::Default,
            RuleActionName::BypassSpamCheck,
            RuleActionName::RouteToGateway,
            RuleActionName::RunHook,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

/// The direction of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleDirection {
    /// Mail received for the organization.
    Inbound,
    /// Mail sent by the organization's users.
    Outbound,
}

impl From<RuleDirection> for FlowDirection {
    fn from(d: RuleDirection) -> FlowDirection {
        match d {
            RuleDirection::Inbound => FlowDirection::Inbound,
            RuleDirection::Outbound => FlowDirection::Outbound,
        }
    }
}

impl From<FlowDirection> for RuleDirection {
    fn from(d: FlowDirection) -> RuleDirection {
        match d {
            FlowDirection::Inbound => RuleDirection::Inbound,
            FlowDirection::Outbound => RuleDirection::Outbound,
        }
    }
}

/// The definition of a rule (Create and Update).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RuleDefinition {
    /// Inbound or outbound.
    pub direction: RuleDirection,
    /// What the rule does to the recipients it matches.
    pub action: RuleActionName,
    /// Sender patterns (`a@example.com`, `example.com`, `*.example.com`, `*`; no `+`),
    /// matched against the `Sender` header, else `From`. At most 250.
    pub sender_patterns: Vec<String>,
    /// Destination (recipient) patterns, same forms. At most 250.
    pub destination_patterns: Vec<String>,
    /// `ROUTE_TO_GATEWAY` (or a Run hook whose fallback routes): the gateway.
    pub smtp_gateway_id: Option<String>,
    /// `RUN_HOOK`: the hook's HTTPS URL.
    pub hook_endpoint: Option<String>,
    /// `RUN_HOOK`: whether delivery waits for the hook (synchronous hooks allow only the
    /// `*` destination).
    pub run_synchronously: Option<bool>,
    /// `RUN_HOOK`: the action when the hook fails (not `RUN_HOOK`); default `DEFAULT`.
    pub fallback_action: Option<RuleActionName>,
    /// `RUN_HOOK`: minutes of retries, 0–240 (0: no retry); default 0.
    pub rule_timeout_minutes: Option<u32>,
}

/// Input of CreateEmailFlowRule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CreateEmailFlowRuleInput {
    /// The organization (`m-` and 32 hexadecimal digits).
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The rule's name, unique in the organization.
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_.\- ]+$"))]
    pub name: String,
    /// The definition.
    #[serde(flatten)]
    pub definition: RuleDefinition,
}

/// Input of UpdateEmailFlowRule (the whole definition is replaced).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateEmailFlowRuleInput {
    /// The organization.
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The rule to change.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// The new definition.
    #[serde(flatten)]
    pub definition: RuleDefinition,
}

/// Input of Get/DeleteEmailFlowRule.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EmailFlowRuleInput {
    /// The organization.
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The rule.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
}

/// A rule as described by Get and List.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EmailFlowRule {
    /// The rule's name.
    pub name: String,
    /// Inbound or outbound.
    pub direction: RuleDirection,
    /// The action.
    pub action: RuleActionName,
    /// Sender patterns (lower-case).
    pub sender_patterns: Vec<String>,
    /// Destination patterns (lower-case).
    pub destination_patterns: Vec<String>,
    /// The gateway of a routing action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_gateway_id: Option<String>,
    /// `RUN_HOOK`: the hook URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_endpoint: Option<String>,
    /// `RUN_HOOK`: synchronous or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_synchronously: Option<bool>,
    /// `RUN_HOOK`: the fallback action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_action: Option<RuleActionName>,
    /// `RUN_HOOK`: the rule timeout, minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_timeout_minutes: Option<i64>,
    /// Creation (RFC 3339, UTC).
    pub date_created: String,
    /// Last change (RFC 3339, UTC).
    pub date_modified: String,
}

/// Output of ListEmailFlowRules.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListEmailFlowRulesOutput {
    /// The rules, by name.
    pub rules: Vec<EmailFlowRule>,
}

/// Input of TestEmailFlowRules.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TestEmailFlowRulesInput {
    /// The organization.
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// Which rules: inbound or outbound.
    pub direction: RuleDirection,
    /// The sender's full address (as the `Sender`/`From` header would carry it).
    #[schemars(email, length(min = 3, max = 254))]
    pub sender: String,
    /// The recipient's full address.
    #[schemars(email, length(min = 3, max = 254))]
    pub recipient: String,
}

/// Output of TestEmailFlowRules.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TestEmailFlowRulesOutput {
    /// The action that would apply to the recipient (`DEFAULT` when no rule matches).
    pub action: RuleActionName,
    /// The rule that decides; absent when none matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    /// The gateway a `ROUTE_TO_GATEWAY` action sends through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_gateway_id: Option<String>,
    /// `RUN_HOOK`: whether the hook is synchronous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_synchronously: Option<bool>,
    /// `RUN_HOOK`: the action if the hook fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_action: Option<RuleActionName>,
}

/// Adds the flow-rule operations of `workmail` to `registry`.
pub fn register(registry: &mut Registry, workmail: &WorkMail) {
    registry
        .register(CreateEmailFlowRule(workmail.clone()))
        .register(UpdateEmailFlowRule(workmail.clone()))
        .register(DeleteEmailFlowRule(workmail.clone()))
        .register(GetEmailFlowRule(workmail.clone()))
        .register(ListEmailFlowRules(workmail.clone()))
        .register(TestEmailFlowRules(workmail.clone()));
}

fn invalid(message: String) -> Error {
    err(codes::INVALID_PARAMETER, message)
}

/// Validates a definition into the record to store (IDs and times filled by the caller).
///
/// Errors: `InvalidParameterException` naming the member (pattern syntax, an action of the
/// other direction, hook fields on a non-hook rule or missing on a hook rule, an endpoint
/// that is not an HTTPS URL, a Run hook fallback, a timeout over 240, a synchronous hook
/// with a destination other than `*`, a gateway missing or given without routing);
/// `LimitExceededException` over 250 patterns.
fn validate(def: &RuleDefinition) -> Result<ValidRule> {
    let direction = FlowDirection::from(def.direction);
    let patterns = |field, texts: &[String]| {
        rules::parse_patterns(field, texts).map_err(|e| {
            let code = if rules::is_too_many(&e) {
                codes::LIMIT_EXCEEDED
            } else {
                codes::INVALID_PARAMETER
            };
            err(code, e.to_string())
        })
    };
    let senders = patterns("SenderPatterns", &def.sender_patterns)?;
    let destinations = patterns("DestinationPatterns", &def.destination_patterns)?;
    let is_hook = def.action == RuleActionName::RunHook;
    if !is_hook {
        for (field, given) in [
            ("HookEndpoint", def.hook_endpoint.is_some()),
            ("RunSynchronously", def.run_synchronously.is_some()),
            ("FallbackAction", def.fallback_action.is_some()),
            ("RuleTimeoutMinutes", def.rule_timeout_minutes.is_some()),
        ] {
            if given {
                return Err(invalid(format!(
                    "{field}: only a RUN_HOOK rule has a {field}"
                )));
            }
        }
    }
    let final_action = if is_hook {
        let fallback = def.fallback_action.unwrap_or(RuleActionName::Default);
        if fallback == RuleActionName::RunHook {
            return Err(invalid(
                "FallbackAction: the fallback action cannot be RUN_HOOK".to_string(),
            ));
        }
        fallback
    } else {
        def.action
    };
    let routes = final_action == RuleActionName::RouteToGateway;
    let gateway_id = match (&def.smtp_gateway_id, routes) {
        (Some(id), true) => Some(id.clone()),
        (None, true) => {
            return Err(invalid(
                "SmtpGatewayId: ROUTE_TO_GATEWAY needs the gateway to route through".to_string(),
            ))
        }
        (Some(_), false) => {
            return Err(invalid(
                "SmtpGatewayId: only a ROUTE_TO_GATEWAY action uses a gateway".to_string(),
            ))
        }
        (None, false) => None,
    };
    let action = rules::action_from_name(final_action.as_str(), gateway_id.as_deref())
        .expect("every non-hook action name parses");
    if !action.allowed_for(direction) {
        let field = if is_hook { "FallbackAction" } else { "Action" };
        return Err(invalid(format!(
            "{field}: {} is not an action of {} rules",
            action.name(),
            direction.as_str()
        )));
    }
    let mut valid = ValidRule {
        direction,
        action: def.action,
        senders: senders.iter().map(rules::Pattern::text).collect(),
        destinations: destinations.iter().map(rules::Pattern::text).collect(),
        gateway_id,
        hook: None,
    };
    if is_hook {
        let endpoint = def.hook_endpoint.as_deref().ok_or_else(|| {
            invalid("HookEndpoint: a RUN_HOOK rule needs the hook's HTTPS URL".to_string())
        })?;
        check_https(endpoint)?;
        let synchronous = def.run_synchronously.unwrap_or(false);
        let timeout = def.rule_timeout_minutes.unwrap_or(0);
        if timeout > MAX_RULE_TIMEOUT_MINUTES {
            return Err(invalid(format!(
                "RuleTimeoutMinutes: {timeout} is over the maximum of {MAX_RULE_TIMEOUT_MINUTES}"
            )));
        }
        if synchronous && destinations != [rules::Pattern::Any] {
            return Err(invalid(
                "DestinationPatterns: a synchronous RUN_HOOK rule supports only the \"*\" destination"
                    .to_string(),
            ));
        }
        valid.hook = Some((endpoint.to_string(), synchronous, final_action, timeout));
    }
    Ok(valid)
}

/// Refuses anything but an absolute `https://host…` URL.
fn check_https(endpoint: &str) -> Result<()> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| invalid(format!("HookEndpoint: {endpoint:?} is not a URL")))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none_or(str::is_empty) {
        return Err(invalid(format!(
            "HookEndpoint: {endpoint:?} is not an https:// URL"
        )));
    }
    Ok(())
}

/// A validated definition.
struct ValidRule {
    direction: FlowDirection,
    action: RuleActionName,
    senders: Vec<String>,
    destinations: Vec<String>,
    gateway_id: Option<String>,
    /// `RUN_HOOK`: endpoint, synchronous, fallback, timeout minutes.
    hook: Option<(String, bool, RuleActionName, u32)>,
}

impl ValidRule {
    fn record(self, rule_id: String, organization_id: String, name: String) -> FlowRuleRecord {
        let now = carillon_core::time::now_millis();
        FlowRuleRecord {
            rule_id,
            organization_id,
            name,
            direction: self.direction.as_str().to_string(),
            action: self.action.as_str().to_string(),
            sender_patterns: self.senders,
            destination_patterns: self.destinations,
            gateway_id: self.gateway_id,
            hook_endpoint: self.hook.as_ref().map(|h| h.0.clone()),
            hook_synchronous: self.hook.as_ref().map(|h| h.1),
            hook_fallback_action: self.hook.as_ref().map(|h| h.2.as_str().to_string()),
            hook_timeout_minutes: self.hook.as_ref().map(|h| i64::from(h.3)),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Writes a rule, mapping the store's refusals to the model's errors.
async fn put_rule(
    wm: &WorkMail,
    ctx: &RequestContext,
    record: &FlowRuleRecord,
    replace: bool,
) -> Result<()> {
    let written = wm
        .store
        .put_flow_rule(
            &ctx.account_id,
            record,
            replace,
            MAX_SENDER_PATTERNS_PER_ORGANIZATION as i64,
        )
        .await?;
    match written {
        FlowRuleWrite::Done => Ok(()),
        FlowRuleWrite::NameTaken => Err(err(
            codes::NAME_AVAILABILITY,
            format!("Name: the organization already has a rule named {:?}", record.name),
        )),
        FlowRuleWrite::TooManySenderPatterns(others) => Err(err(
            codes::LIMIT_EXCEEDED,
            format!(
                "SenderPatterns: the organization's other rules have {others} sender patterns; \
                 {} more would exceed the limit of {MAX_SENDER_PATTERNS_PER_ORGANIZATION} per organization",
                record.sender_patterns.len()
            ),
        )),
        FlowRuleWrite::NoSuchGateway(id) => Err(err(
            codes::RESOURCE_NOT_FOUND,
            format!("SmtpGatewayId: the organization has no SMTP gateway {id}"),
        )),
        FlowRuleWrite::NotFound => Err(rule_not_found(&record.name)),
    }
}

fn rule_not_found(name: &str) -> Error {
    err(
        codes::RESOURCE_NOT_FOUND,
        format!("Name: the organization has no email flow rule named {name:?}"),
    )
}

fn describe_rule(r: FlowRuleRecord) -> EmailFlowRule {
    EmailFlowRule {
        direction: FlowDirection::parse(&r.direction)
            .unwrap_or(FlowDirection::Inbound)
            .into(),
        action: RuleActionName::parse(&r.action).unwrap_or(RuleActionName::Default),
        fallback_action: r
            .hook_fallback_action
            .as_deref()
            .and_then(RuleActionName::parse),
        name: r.name,
        sender_patterns: r.sender_patterns,
        destination_patterns: r.destination_patterns,
        smtp_gateway_id: r.gateway_id,
        hook_endpoint: r.hook_endpoint,
        run_synchronously: r.hook_synchronous,
        rule_timeout_minutes: r.hook_timeout_minutes,
        date_created: rfc3339(r.created_at),
        date_modified: rfc3339(r.updated_at),
    }
}

/// CreateEmailFlowRule: adds a rule; it applies from the next message on.
pub struct CreateEmailFlowRule(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for CreateEmailFlowRule {
    type Input = CreateEmailFlowRuleInput;
    type Output = EmptyOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 6] = [
            ORG_NOT_FOUND,
            ORG_STATE,
            INVALID,
            LIMIT,
            NAME_TAKEN,
            NOT_FOUND,
        ];
        OperationSpec {
            name: "CreateEmailFlowRule",
            method: Method::POST,
            path: RULES,
            action: "workmail:CreateEmailFlowRule",
            resource: RESOURCE,
            summary: "Creates an inbound or outbound email flow rule.",
            docs: "Inbound actions DROP, BOUNCE, MOVE_TO_JUNK, DEFAULT, BYPASS_SPAM_CHECK, RUN_HOOK; outbound DEFAULT, DROP, BOUNCE, ROUTE_TO_GATEWAY, RUN_HOOK. Patterns: an address, a domain, *.domain (the domain and its subdomains) or *; '+' is invalid. At most 250 patterns per rule and 1,000 sender patterns per organization. The most specific sender pattern wins, then the most restrictive action. A synchronous RUN_HOOK rule allows only the * destination; its fallback is never RUN_HOOK and its timeout is 0-240 minutes. Applies from the next message. Spec: workmail.md §2.9, §2.10.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: CreateEmailFlowRuleInput,
    ) -> ApiResult<EmptyOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let valid = validate(&input.definition)?;
            let rule_id = format!("efr-{}", carillon_core::ids::new_uuid().replace('-', ""));
            let record = valid.record(rule_id, org.organization_id, input.name.trim().to_string());
            put_rule(wm, ctx, &record, false).await?;
            Ok(EmptyOutput {})
        })
        .await
    }
}

/// UpdateEmailFlowRule: replaces a rule's definition (the console's Edit).
pub struct UpdateEmailFlowRule(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for UpdateEmailFlowRule {
    type Input = UpdateEmailFlowRuleInput;
    type Output = EmptyOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 5] = [ORG_NOT_FOUND, ORG_STATE, INVALID, LIMIT, NOT_FOUND];
        OperationSpec {
            name: "UpdateEmailFlowRule",
            method: Method::PUT,
            path: RULE,
            action: "workmail:UpdateEmailFlowRule",
            resource: RESOURCE,
            summary: "Replaces an email flow rule's definition.",
            docs: "The same definition and checks as CreateEmailFlowRule; the rule's own current patterns do not count toward the organization's 1,000. Applies from the next message. Spec: workmail.md §2.9.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: UpdateEmailFlowRuleInput,
    ) -> ApiResult<EmptyOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let current = wm
                .store
                .flow_rule(&ctx.account_id, &org.organization_id, &input.name)
                .await?
                .ok_or_else(|| rule_not_found(&input.name))?;
            let valid = validate(&input.definition)?;
            let mut record = valid.record(current.rule_id, org.organization_id, current.name);
            record.created_at = current.created_at;
            put_rule(wm, ctx, &record, true).await?;
            Ok(EmptyOutput {})
        })
        .await
    }
}

/// DeleteEmailFlowRule: removes a rule (the console's Remove).
pub struct DeleteEmailFlowRule(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for DeleteEmailFlowRule {
    type Input = EmailFlowRuleInput;
    type Output = EmptyOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [ORG_NOT_FOUND, ORG_STATE, NOT_FOUND];
        OperationSpec {
            name: "DeleteEmailFlowRule",
            method: Method::DELETE,
            path: RULE,
            action: "workmail:DeleteEmailFlowRule",
            resource: RESOURCE,
            summary: "Removes an email flow rule.",
            docs: "The next message is evaluated without it. Spec: workmail.md §2.9.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: EmailFlowRuleInput,
    ) -> ApiResult<EmptyOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let deleted = wm
                .store
                .delete_flow_rule(&ctx.account_id, &org.organization_id, &input.name)
                .await?;
            if !deleted {
                return Err(rule_not_found(&input.name));
            }
            Ok(EmptyOutput {})
        })
        .await
    }
}

/// GetEmailFlowRule: describes one rule.
pub struct GetEmailFlowRule(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for GetEmailFlowRule {
    type Input = EmailFlowRuleInput;
    type Output = EmailFlowRule;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [ORG_NOT_FOUND, ORG_STATE, NOT_FOUND];
        OperationSpec {
            name: "GetEmailFlowRule",
            method: Method::GET,
            path: RULE,
            action: "workmail:GetEmailFlowRule",
            resource: RESOURCE,
            summary: "Describes an email flow rule.",
            docs: "Its direction, action, patterns, gateway and hook settings. Spec: workmail.md §2.9.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: EmailFlowRuleInput,
    ) -> ApiResult<EmailFlowRule> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let rule = wm
                .store
                .flow_rule(&ctx.account_id, &org.organization_id, &input.name)
                .await?
                .ok_or_else(|| rule_not_found(&input.name))?;
            Ok(describe_rule(rule))
        })
        .await
    }
}

/// ListEmailFlowRules: every rule of the organization.
pub struct ListEmailFlowRules(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for ListEmailFlowRules {
    type Input = OrganizationInput;
    type Output = ListEmailFlowRulesOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 2] = [ORG_NOT_FOUND, ORG_STATE];
        OperationSpec {
            name: "ListEmailFlowRules",
            method: Method::GET,
            path: RULES,
            action: "workmail:ListEmailFlowRules",
            resource: RESOURCE,
            summary: "Lists an organization's email flow rules.",
            docs: "Inbound and outbound rules, by name (at most 1,000 sender patterns in all keeps the list small: no pagination). Spec: workmail.md §2.9.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: OrganizationInput,
    ) -> ApiResult<ListEmailFlowRulesOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let rules = wm
                .store
                .list_flow_rules(&ctx.account_id, &org.organization_id)
                .await?;
            Ok(ListEmailFlowRulesOutput {
                rules: rules.into_iter().map(describe_rule).collect(),
            })
        })
        .await
    }
}

/// TestEmailFlowRules: the action the rules would apply (the console's Test configuration).
pub struct TestEmailFlowRules(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for TestEmailFlowRules {
    type Input = TestEmailFlowRulesInput;
    type Output = TestEmailFlowRulesOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 2] = [ORG_NOT_FOUND, ORG_STATE];
        OperationSpec {
            name: "TestEmailFlowRules",
            method: Method::POST,
            path: TESTS,
            action: "workmail:TestEmailFlowRules",
            resource: RESOURCE,
            summary: "Tells which flow rule action would apply to a sender and recipient.",
            docs: "Evaluates the organization's inbound or outbound rules exactly as delivery does (most specific sender pattern, then most restrictive action) for a full sender and recipient address, and returns the action and the deciding rule (DEFAULT without a rule when none matches). Spec: workmail.md §2.9.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: TestEmailFlowRulesInput,
    ) -> ApiResult<TestEmailFlowRulesOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let rules =
                rules::load_rules(&wm.store, &org.organization_id, input.direction.into()).await?;
            let decision = rules::evaluate(&rules, &input.sender, &input.recipient);
            let (action, hook) = match &decision.outcome {
                RuleOutcome::Action(action) => (action.clone(), None),
                RuleOutcome::RunHook(hook) => (hook.fallback.clone(), Some(hook)),
            };
            let gateway = match &action {
                FlowAction::RouteToGateway { gateway_id } => Some(gateway_id.clone()),
                _ => None,
            };
            let name =
                |a: &FlowAction| RuleActionName::parse(a.name()).unwrap_or(RuleActionName::Default);
            Ok(TestEmailFlowRulesOutput {
                action: if hook.is_some() {
                    RuleActionName::RunHook
                } else {
                    name(&action)
                },
                rule_name: decision.rule_name,
                smtp_gateway_id: gateway,
                run_synchronously: hook.map(|h| h.synchronous),
                fallback_action: hook.map(|_| name(&action)),
            })
        })
        .await
    }
}
