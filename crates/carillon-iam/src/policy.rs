//! IAM-style identity policies: the document grammar and its evaluation.
//!
//! Grammar (IAM JSON policy reference): `Version` (`2012-10-17` or `2008-10-17`, optional),
//! `Statement` as one object or an array; each statement has an optional `Sid`, `Effect`
//! (`Allow`|`Deny`), exactly one of `Action`/`NotAction` and one of `Resource`/`NotResource`
//! (a string or an array of strings), and an optional `Condition` block
//! (`{operator: {key: value | [values]}}`). Identity policies have no `Principal`, so one is
//! refused, like any other unknown element.
//!
//! Evaluation (spec: workmail.md §5.1; IAM's evaluation logic without resource policies,
//! boundaries or SCPs): an explicit `Deny` that applies wins; otherwise an `Allow` that
//! applies allows; otherwise the request is implicitly denied. `Action` patterns match
//! `service:Operation` case-insensitively; `Resource` patterns match case-sensitively, ARN
//! by ARN component; both take the wildcards `*` (any run) and `?` (one character). Policy
//! variables (`${aws:username}`) are not expanded: they match literally.
//!
//! Conditions: every operator in a block must hold (AND), every key under an operator must
//! hold (AND), and a key holds when any policy value matches (OR) — for the negated
//! operators (`StringNotEquals`, `StringNotLike`, `NotIpAddress`, …) when *no* value
//! matches. Supported operators: `String{Equals,NotEquals,EqualsIgnoreCase,
//! NotEqualsIgnoreCase,Like,NotLike}`, `Numeric{Equals,NotEquals,LessThan,LessThanEquals,
//! GreaterThan,GreaterThanEquals}`, `Date{…same six…}`, `Bool`, `IpAddress`, `NotIpAddress`,
//! `Arn{Equals,NotEquals,Like,NotLike}`, `Null`, and the `…IfExists` form of each but `Null`.
//! The keys are those of [`ConditionContext`].
//!
//! **Fail closed**: a condition Carillon cannot evaluate — an unknown operator (including
//! the `ForAnyValue:`/`ForAllValues:` set forms) or a key Carillon does not supply (e.g.
//! `aws:MultiFactorAuthPresent`, `iam:PassedToService`) — makes an `Allow` statement *not*
//! apply and a `Deny` statement apply. It never widens access.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// A statement's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants the matching requests.
    Allow,
    /// Refuses the matching requests, whatever else allows them.
    Deny,
}

/// `Action` or `NotAction` (and likewise `Resource` or `NotResource`): the patterns, and
/// whether the statement covers what they match or everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternList {
    /// `Action` / `Resource`: the statement covers what any pattern matches.
    Matching(Vec<String>),
    /// `NotAction` / `NotResource`: the statement covers what no pattern matches.
    NotMatching(Vec<String>),
}

/// One condition: `operator` (as written, e.g. `StringLikeIfExists`), `key`, policy values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Condition operator as written.
    pub operator: String,
    /// Condition key as written (keys are case-insensitive).
    pub key: String,
    /// Policy values, as strings (JSON booleans and numbers are converted).
    pub values: Vec<String>,
}

/// One policy statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Optional statement ID.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// `Action` / `NotAction`.
    pub actions: PatternList,
    /// `Resource` / `NotResource`.
    pub resources: PatternList,
    /// Conditions, all of which must hold.
    pub conditions: Vec<Condition>,
}

/// A parsed identity policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version`, when given.
    pub version: Option<String>,
    /// The statements in document order.
    pub statements: Vec<Statement>,
}

/// Why a policy document was refused (IAM's `MalformedPolicyDocument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed policy document: {0}")]
pub struct PolicyError(pub String);

fn malformed(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

fn string_or_array(value: &Value, element: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| malformed(format!("{element} entries must be strings")))
            })
            .collect(),
        _ => Err(malformed(format!(
            "{element} must be a string or a non-empty array of strings"
        ))),
    }
}

fn condition_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn pattern_list(
    statement: &serde_json::Map<String, Value>,
    element: &str,
    not_element: &str,
) -> Result<PatternList, PolicyError> {
    match (statement.get(element), statement.get(not_element)) {
        (Some(v), None) => Ok(PatternList::Matching(string_or_array(v, element)?)),
        (None, Some(v)) => Ok(PatternList::NotMatching(string_or_array(v, not_element)?)),
        (Some(_), Some(_)) => Err(malformed(format!(
            "a statement cannot have both {element} and {not_element}"
        ))),
        (None, None) => Err(malformed(format!(
            "a statement needs {element} or {not_element}"
        ))),
    }
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let operators = value
        .as_object()
        .ok_or_else(|| malformed("Condition must be an object"))?;
    let mut conditions = Vec::new();
    for (operator, keys) in operators {
        let keys = keys
            .as_object()
            .ok_or_else(|| malformed(format!("Condition operator {operator} must map keys")))?;
        for (key, values) in keys {
            let values = match values {
                Value::Array(items) => items.iter().map(condition_value).collect(),
                single => condition_value(single).map(|v| vec![v]),
            }
            .ok_or_else(|| {
                malformed(format!(
                    "Condition {operator} {key}: values must be strings, numbers or booleans"
                ))
            })?;
            conditions.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values,
            });
        }
    }
    Ok(conditions)
}

fn parse_statement(value: &Value) -> Result<Statement, PolicyError> {
    let object = value
        .as_object()
        .ok_or_else(|| malformed("each Statement must be an object"))?;
    for element in object.keys() {
        if !matches!(
            element.as_str(),
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition"
        ) {
            return Err(malformed(format!(
                "unsupported statement element {element} (identity policies have no Principal)"
            )));
        }
    }
    let effect = match object.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(malformed("Effect must be \"Allow\" or \"Deny\"")),
    };
    let sid = match object.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("Sid must be a string")),
    };
    Ok(Statement {
        sid,
        effect,
        actions: pattern_list(object, "Action", "NotAction")?,
        resources: pattern_list(object, "Resource", "NotResource")?,
        conditions: object
            .get("Condition")
            .map(parse_conditions)
            .transpose()?
            .unwrap_or_default(),
    })
}

impl PolicyDocument {
    /// Parses a policy document from JSON text.
    ///
    /// Errors: [`PolicyError`] naming the element at fault.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| malformed(format!("not JSON: {e}")))?;
        PolicyDocument::from_value(&value)
    }

    /// Parses a policy document from a JSON value.
    pub fn from_value(value: &Value) -> Result<PolicyDocument, PolicyError> {
        let object = value
            .as_object()
            .ok_or_else(|| malformed("the document must be a JSON object"))?;
        for element in object.keys() {
            if !matches!(element.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!("unsupported policy element {element}")));
            }
        }
        let version = match object.get("Version") {
            None => None,
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
            Some(_) => {
                return Err(malformed(
                    "Version must be \"2012-10-17\" or \"2008-10-17\"",
                ))
            }
        };
        let statements = match object.get("Statement") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(parse_statement)
                .collect::<Result<_, _>>()?,
            Some(single @ Value::Object(_)) => vec![parse_statement(single)?],
            _ => {
                return Err(malformed(
                    "Statement must be an object or a non-empty array",
                ))
            }
        };
        Ok(PolicyDocument {
            version,
            statements,
        })
    }
}

/// The request context condition keys are read from. Keys are case-insensitive.
///
/// [`ConditionContext::for_request`] supplies every key Carillon knows: `aws:SecureTransport`,
/// `aws:SourceIp`, `aws:UserAgent`, `aws:CurrentTime` (ISO-8601), `aws:EpochTime`
/// (seconds), `aws:RequestedRegion`, `aws:PrincipalArn`, `aws:PrincipalAccount`,
/// `aws:PrincipalType` (`User`) and `aws:username`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionContext {
    values: HashMap<String, Vec<String>>,
}

/// The request facts [`ConditionContext::for_request`] is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts<'a> {
    /// Whether the request came over TLS.
    pub secure_transport: bool,
    /// Caller's IP address.
    pub source_ip: &'a str,
    /// `User-Agent` header.
    pub user_agent: &'a str,
    /// Request time.
    pub current_time: DateTime<Utc>,
    /// Region of the credential scope.
    pub requested_region: &'a str,
    /// Calling principal's ARN.
    pub principal_arn: &'a str,
    /// Calling principal's account.
    pub principal_account: &'a str,
}

impl ConditionContext {
    /// An empty context: every key is unknown.
    pub fn new() -> Self {
        ConditionContext::default()
    }

    /// Sets `key` (any case) to `values`.
    pub fn insert(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_ascii_lowercase(), values);
    }

    /// The values of `key`, `None` when Carillon does not supply it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
    }

    /// The global keys of one request.
    pub fn for_request(facts: &RequestFacts<'_>) -> Self {
        let mut ctx = ConditionContext::new();
        ctx.insert(
            "aws:SecureTransport",
            vec![facts.secure_transport.to_string()],
        );
        ctx.insert("aws:SourceIp", vec![facts.source_ip.to_string()]);
        ctx.insert("aws:UserAgent", vec![facts.user_agent.to_string()]);
        ctx.insert(
            "aws:CurrentTime",
            vec![facts.current_time.format("%Y-%m-%dT%H:%M:%SZ").to_string()],
        );
        ctx.insert(
            "aws:EpochTime",
            vec![facts.current_time.timestamp().to_string()],
        );
        ctx.insert(
            "aws:RequestedRegion",
            vec![facts.requested_region.to_string()],
        );
        ctx.insert("aws:PrincipalArn", vec![facts.principal_arn.to_string()]);
        ctx.insert(
            "aws:PrincipalAccount",
            vec![facts.principal_account.to_string()],
        );
        ctx.insert("aws:PrincipalType", vec!["User".to_string()]);
        if let Some((_, name)) = facts.principal_arn.rsplit_once(":user/") {
            let name = name.rsplit('/').next().unwrap_or(name);
            ctx.insert("aws:username", vec![name.to_string()]);
        }
        ctx
    }
}

/// Result of evaluating policies for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` applies and no `Deny` does.
    Allow,
    /// A `Deny` applies.
    ExplicitDeny,
    /// Nothing allows the request.
    ImplicitDeny,
}

/// Evaluates `policies` for `action` (`service:Operation`) on `resource` (an ARN or `*`).
pub fn evaluate<'a>(
    policies: impl IntoIterator<Item = &'a PolicyDocument>,
    action: &str,
    resource: &str,
    context: &ConditionContext,
) -> Decision {
    let mut allowed = false;
    for statement in policies.into_iter().flat_map(|p| &p.statements) {
        if !statement_applies(statement, action, resource, context) {
            continue;
        }
        match statement.effect {
            Effect::Deny => return Decision::ExplicitDeny,
            Effect::Allow => allowed = true,
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn statement_applies(
    statement: &Statement,
    action: &str,
    resource: &str,
    context: &ConditionContext,
) -> bool {
    let action_matches = covers(&statement.actions, |p| action_matches(p, action));
    let resource_matches = covers(&statement.resources, |p| resource_matches(p, resource));
    if !action_matches || !resource_matches {
        return false;
    }
    let mut all_hold = true;
    for condition in &statement.conditions {
        match evaluate_condition(condition, context) {
            Some(true) => {}
            Some(false) => all_hold = false,
            // Fail closed: an Allow we cannot evaluate does not apply, a Deny does.
            None => return statement.effect == Effect::Deny,
        }
    }
    all_hold
}

fn covers(list: &PatternList, matches: impl Fn(&str) -> bool) -> bool {
    match list {
        PatternList::Matching(patterns) => patterns.iter().any(|p| matches(p)),
        PatternList::NotMatching(patterns) => !patterns.iter().any(|p| matches(p)),
    }
}

/// `*` and `?` wildcard match of `text` against `pattern`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Position of the last `*` and the text position it was tried at, for backtracking.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Action patterns are case-insensitive (`workmail:list*` matches `workmail:ListUsers`).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// Resource patterns are case-sensitive; an ARN pattern matches component by component, so
/// a wildcard never spans the `:` between partition, service, region and account.
pub fn resource_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.starts_with("arn:") {
        return arn_matches(pattern, resource);
    }
    wildcard_match(pattern, resource)
}

fn arn_matches(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == 6 && a.len() == 6 && p.iter().zip(&a).all(|(p, a)| wildcard_match(p, a))
}

/// One operator's comparison of a request value with a policy value.
type Compare = fn(&str, &str) -> bool;

/// The positive base operator and whether it is negated, e.g. `StringNotLike` →
/// (`StringLike`'s comparison, true).
fn operator(name: &str) -> Option<(Compare, bool)> {
    Some(match name {
        "StringEquals" => (|r, p| r == p, false),
        "StringNotEquals" => (|r, p| r == p, true),
        "StringEqualsIgnoreCase" => (|r, p| r.to_lowercase() == p.to_lowercase(), false),
        "StringNotEqualsIgnoreCase" => (|r, p| r.to_lowercase() == p.to_lowercase(), true),
        "StringLike" => (|r, p| wildcard_match(p, r), false),
        "StringNotLike" => (|r, p| wildcard_match(p, r), true),
        "NumericEquals" => (|r, p| numeric(r, p, |o| o.is_eq()), false),
        "NumericNotEquals" => (|r, p| numeric(r, p, |o| o.is_eq()), true),
        "NumericLessThan" => (|r, p| numeric(r, p, |o| o.is_lt()), false),
        "NumericLessThanEquals" => (|r, p| numeric(r, p, |o| o.is_le()), false),
        "NumericGreaterThan" => (|r, p| numeric(r, p, |o| o.is_gt()), false),
        "NumericGreaterThanEquals" => (|r, p| numeric(r, p, |o| o.is_ge()), false),
        "DateEquals" => (|r, p| date(r, p, |o| o.is_eq()), false),
        "DateNotEquals" => (|r, p| date(r, p, |o| o.is_eq()), true),
        "DateLessThan" => (|r, p| date(r, p, |o| o.is_lt()), false),
        "DateLessThanEquals" => (|r, p| date(r, p, |o| o.is_le()), false),
        "DateGreaterThan" => (|r, p| date(r, p, |o| o.is_gt()), false),
        "DateGreaterThanEquals" => (|r, p| date(r, p, |o| o.is_ge()), false),
        "Bool" => (|r, p| r.eq_ignore_ascii_case(p), false),
        "IpAddress" => (ip_in_cidr, false),
        "NotIpAddress" => (ip_in_cidr, true),
        "ArnEquals" | "ArnLike" => (|r, p| arn_matches(p, r), false),
        "ArnNotEquals" | "ArnNotLike" => (|r, p| arn_matches(p, r), true),
        _ => return None,
    })
}

/// `Some(holds)`, or `None` when the operator or key is unknown (fail closed upstream).
fn evaluate_condition(condition: &Condition, context: &ConditionContext) -> Option<bool> {
    let request_values = context.get(&condition.key)?;
    if condition.operator == "Null" {
        // Every key Carillon supplies is present: `Null: true` never holds for it.
        let want_absent = condition
            .values
            .iter()
            .any(|v| v.eq_ignore_ascii_case("true"));
        return Some(!want_absent);
    }
    // `…IfExists` only differs when the key is absent, and known keys are always present.
    let base = condition
        .operator
        .strip_suffix("IfExists")
        .unwrap_or(&condition.operator);
    let (compare, negated) = operator(base)?;
    let any_match = request_values
        .iter()
        .any(|r| condition.values.iter().any(|p| compare(r, p)));
    Some(any_match != negated)
}

fn numeric(request: &str, policy: &str, accept: fn(std::cmp::Ordering) -> bool) -> bool {
    match (request.parse::<f64>(), policy.parse::<f64>()) {
        (Ok(r), Ok(p)) => r.partial_cmp(&p).is_some_and(accept),
        _ => false,
    }
}

/// A date condition value: ISO-8601 date-time, a bare date (midnight UTC) or epoch seconds.
fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    value
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

fn date(request: &str, policy: &str, accept: fn(std::cmp::Ordering) -> bool) -> bool {
    match (parse_date(request), parse_date(policy)) {
        (Some(r), Some(p)) => accept(r.cmp(&p)),
        _ => false,
    }
}

/// Whether `ip` lies in `cidr` (`a.b.c.d/n`, `x:y::/n`, or a bare address).
fn ip_in_cidr(ip: &str, cidr: &str) -> bool {
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let (network, prefix) = cidr.split_once('/').unwrap_or((cidr, ""));
    let Ok(network) = network.parse::<IpAddr>() else {
        return false;
    };
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let Some(bits) = prefix_bits(prefix, 32) else {
                return false;
            };
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let Some(bits) = prefix_bits(prefix, 128) else {
                return false;
            };
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn prefix_bits(prefix: &str, max: u32) -> Option<u32> {
    if prefix.is_empty() {
        return Some(max);
    }
    prefix.parse::<u32>().ok().filter(|b| *b <= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ORG: &str = "arn:aws:workmail:us-east-1:111122223333:organization/m-0123";

    fn policy(json: &str) -> PolicyDocument {
        PolicyDocument::parse(json).unwrap()
    }

    fn context() -> ConditionContext {
        ConditionContext::for_request(&RequestFacts {
            secure_transport: true,
            source_ip: "192.0.2.10",
            user_agent: "aws-cli/2.17.0 Python/3.12",
            current_time: Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap(),
            requested_region: "us-east-1",
            principal_arn: "arn:aws:iam::111122223333:user/mateojackson",
            principal_account: "111122223333",
        })
    }

    fn decide(policies: &[&PolicyDocument], action: &str, resource: &str) -> Decision {
        evaluate(policies.iter().copied(), action, resource, &context())
    }

    #[test]
    fn explicit_deny_beats_allow_and_nothing_is_implicitly_denied() {
        let allow = policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"workmail:*","Resource":"*"}}"#,
        );
        let deny = policy(
            r#"{"Statement":[{"Sid":"NoDeletes","Effect":"Deny","Action":["workmail:Delete*"],"Resource":"*"}]}"#,
        );
        assert_eq!(
            decide(&[&allow, &deny], "workmail:DeleteUser", ORG),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&[&deny, &allow], "workmail:DeleteUser", ORG),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&[&allow, &deny], "workmail:CreateUser", ORG),
            Decision::Allow
        );
        assert_eq!(
            decide(&[&deny], "workmail:CreateUser", ORG),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&[], "workmail:ListUsers", ORG),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let p = policy(
            r#"{"Statement":[
            {"Effect":"Allow","NotAction":"workmail:Delete*","Resource":"*"},
            {"Effect":"Deny","Action":"*","NotResource":"arn:aws:workmail:us-east-1:111122223333:organization/*"}
        ]}"#,
        );
        assert_eq!(decide(&[&p], "workmail:ListUsers", ORG), Decision::Allow);
        assert_eq!(decide(&[&p], "chime:ListAccounts", ORG), Decision::Allow);
        assert_eq!(
            decide(&[&p], "workmail:DeleteUser", ORG),
            Decision::ImplicitDeny
        );
        // Another account's organization falls outside NotResource: denied.
        let other = "arn:aws:workmail:us-east-1:999988887777:organization/m-0123";
        assert_eq!(
            decide(&[&p], "workmail:ListUsers", other),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn wildcards_action_case_insensitive_resource_case_sensitive() {
        assert!(action_matches("workmail:list*", "workmail:ListUsers"));
        assert!(action_matches(
            "WORKMAIL:DescribeGr?up",
            "workmail:describegroup"
        ));
        assert!(!action_matches(
            "workmail:List*",
            "workmailmessageflow:ListUsers"
        ));
        assert!(!action_matches(
            "workmail:Get?",
            "workmail:GetMailboxDetails"
        ));
        assert!(action_matches("*", "wickr:CreateNetwork"));
        assert!(resource_matches(
            "arn:aws:workmail:*:111122223333:organization/*",
            ORG
        ));
        assert!(!resource_matches(
            "arn:aws:workmail:*:111122223333:Organization/*",
            ORG
        ));
        // A wildcard does not cross the account component.
        assert!(!resource_matches(
            "arn:aws:workmail:us-east-1:*3333:organization/m-0123:x",
            ORG
        ));
        assert!(!resource_matches(
            "arn:aws:workmail:us-east-1:111122223333:organization/m-012?4",
            ORG
        ));
        assert!(resource_matches(
            "arn:aws:workmail:us-east-1:111122223333:organization/m-012?",
            ORG
        ));
        assert!(resource_matches("*", "*"));
        assert!(!resource_matches(ORG, "*"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(wildcard_match("a*b*c", "abc"));
        assert!(!wildcard_match("a*b*c", "acb"));
        assert!(wildcard_match("**", ""));
    }

    fn conditional(operator: &str, key: &str, values: &str) -> PolicyDocument {
        policy(&format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"workmail:*","Resource":"*","Condition":{{"{operator}":{{"{key}":{values}}}}}}}}}"#
        ))
    }

    fn allows(operator: &str, key: &str, values: &str) -> bool {
        decide(
            &[&conditional(operator, key, values)],
            "workmail:ListUsers",
            ORG,
        ) == Decision::Allow
    }

    #[test]
    fn condition_operators() {
        assert!(allows("Bool", "aws:SecureTransport", "true"));
        assert!(allows("Bool", "aws:SecureTransport", r#""True""#));
        assert!(!allows("Bool", "aws:SecureTransport", "false"));
        assert!(allows(
            "StringEquals",
            "aws:RequestedRegion",
            r#"["eu-west-1","us-east-1"]"#
        ));
        assert!(!allows(
            "StringEquals",
            "aws:RequestedRegion",
            r#""US-EAST-1""#
        ));
        assert!(allows(
            "StringEqualsIgnoreCase",
            "AWS:REQUESTEDREGION",
            r#""US-EAST-1""#
        ));
        assert!(!allows(
            "StringNotEquals",
            "aws:RequestedRegion",
            r#"["eu-west-1","us-east-1"]"#
        ));
        assert!(allows(
            "StringNotEquals",
            "aws:RequestedRegion",
            r#""eu-west-1""#
        ));
        assert!(allows("StringLike", "aws:UserAgent", r#""aws-cli/*""#));
        assert!(!allows("StringNotLike", "aws:UserAgent", r#""aws-cli/*""#));
        assert!(allows(
            "IpAddress",
            "aws:SourceIp",
            r#"["198.51.100.0/24","192.0.2.0/24"]"#
        ));
        assert!(allows("IpAddress", "aws:SourceIp", r#""192.0.2.10""#));
        assert!(!allows("IpAddress", "aws:SourceIp", r#""192.0.2.0/31""#));
        assert!(allows("NotIpAddress", "aws:SourceIp", r#""10.0.0.0/8""#));
        assert!(!allows("IpAddress", "aws:SourceIp", r#""2001:db8::/32""#));
        assert!(allows(
            "DateGreaterThan",
            "aws:CurrentTime",
            r#""2026-01-01T00:00:00Z""#
        ));
        assert!(!allows(
            "DateLessThan",
            "aws:CurrentTime",
            r#""2026-11-21""#
        ));
        assert!(allows("DateLessThan", "aws:CurrentTime", r#""2026-11-22""#));
        assert!(allows(
            "DateLessThanEquals",
            "aws:CurrentTime",
            "1795266000"
        ));
        assert!(allows(
            "NumericGreaterThanEquals",
            "aws:EpochTime",
            "1795266000"
        ));
        assert!(!allows("NumericGreaterThan", "aws:EpochTime", "1795266000"));
        assert!(allows(
            "ArnLike",
            "aws:PrincipalArn",
            r#""arn:aws:iam::*:user/mateo*""#
        ));
        assert!(!allows(
            "ArnNotLike",
            "aws:PrincipalArn",
            r#""arn:aws:iam::111122223333:user/*""#
        ));
        assert!(allows(
            "StringEquals",
            "aws:PrincipalAccount",
            r#""111122223333""#
        ));
        assert!(allows("StringEquals", "aws:username", r#""mateojackson""#));
        assert!(allows(
            "StringEqualsIfExists",
            "aws:RequestedRegion",
            r#""us-east-1""#
        ));
        assert!(allows("Null", "aws:SourceIp", "false"));
        assert!(!allows("Null", "aws:SourceIp", "true"));
    }

    #[test]
    fn every_condition_must_hold() {
        let p = policy(
            r#"{"Statement":{"Effect":"Allow","Action":"workmail:*","Resource":"*","Condition":{
            "Bool":{"aws:SecureTransport":"true"},
            "StringEquals":{"aws:RequestedRegion":"us-east-1","aws:PrincipalAccount":"000000000000"}}}}"#,
        );
        assert_eq!(
            decide(&[&p], "workmail:ListUsers", ORG),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn unknown_keys_and_operators_fail_closed() {
        // An Allow that cannot be evaluated does not apply...
        assert!(!allows("Bool", "aws:MultiFactorAuthPresent", "true"));
        assert!(!allows("StringNotEquals", "iam:PassedToService", r#""x""#));
        assert!(!allows(
            "ForAnyValue:StringEquals",
            "aws:RequestedRegion",
            r#""us-east-1""#
        ));
        assert!(!allows(
            "StringSoundsLike",
            "aws:RequestedRegion",
            r#""us-east-1""#
        ));
        // ...and a Deny that cannot be evaluated applies.
        let allow = policy(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#);
        let deny = policy(
            r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*",
            "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}}"#,
        );
        assert_eq!(
            decide(&[&allow, &deny], "workmail:ListUsers", ORG),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "[]",
            r#"{"Statement":[]}"#,
            r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"x:y","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":"x"}}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"k":{}}}}}"#,
            "not json",
        ] {
            assert!(PolicyDocument::parse(bad).is_err(), "{bad}");
        }
        let single = policy(r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#);
        assert_eq!(single.statements.len(), 1);
        assert_eq!(single.statements[0].effect, Effect::Deny);
    }
}
