//! Model-constraint validation (required, length, range, pattern, enum) and redaction of
//! sensitive members, with AWS-style messages naming the member path.
//!
//! Generated shapes implement [`Validate`] and [`Redact`]; the rules they check are statics
//! emitted next to them. Member paths follow the AWS style: lower camel case member names
//! joined by `.`, list elements as `<list>.<1-based index>.member`, e.g.
//! `tags.1.member.key`.

use carillon_core::ApiError;
use fancy_regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

/// What a rejected sensitive value is shown as in messages.
const REDACTED_VALUE: &str = "*** Sensitive Data Redacted ***";

/// What a sensitive member is replaced with in audit records (CloudTrail's marker).
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// A shape whose model constraints can be checked.
pub trait Validate {
    /// Records every violation of `self` into `v`. `json` is the JSON the value was
    /// deserialized from (required members are checked for presence there, since a missing
    /// required member deserializes to its default); `path` is the member path of `self`
    /// (empty for the operation input).
    fn validate(&self, json: &Value, path: &str, v: &mut Violations);
}

/// A shape whose sensitive members can be hidden from an audit record.
pub trait Redact {
    /// Replaces every sensitive member of the JSON form of this shape with [`HIDDEN`].
    fn redact(json: &mut Value);
}

impl Validate for crate::types::Unit {
    fn validate(&self, _json: &Value, _path: &str, _v: &mut Violations) {}
}

impl Redact for crate::types::Unit {
    fn redact(_json: &mut Value) {}
}

/// A regular expression from the model, compiled on first use. Smithy semantics: the
/// pattern is searched in the value, not implicitly anchored.
#[derive(Debug)]
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Option<Regex>>,
}

impl Pattern {
    /// A pattern with the model's source text.
    pub const fn new(source: &'static str) -> Self {
        Pattern {
            source,
            compiled: OnceLock::new(),
        }
    }

    /// The model's source text.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// True when the pattern matches somewhere in `value`. A pattern fancy-regex cannot
    /// compile, or a search that exceeds its backtrack limit, accepts the value: the model is
    /// not the caller's fault.
    pub fn is_match(&self, value: &str) -> bool {
        match self.compiled.get_or_init(|| Regex::new(self.source).ok()) {
            Some(re) => re.is_match(value).unwrap_or(true),
            None => true,
        }
    }
}

/// Constraints of a `string` shape.
#[derive(Debug)]
pub struct StringRules {
    /// Minimum length in characters.
    pub min: Option<u64>,
    /// Maximum length in characters.
    pub max: Option<u64>,
    /// Regular expression the value must contain a match of.
    pub pattern: Option<Pattern>,
    /// Allowed values (empty: any).
    pub enum_values: &'static [&'static str],
    /// The model marks the shape `sensitive`: the value is never echoed.
    pub sensitive: bool,
}

/// Length constraints of a `list` (or `blob`) shape.
#[derive(Debug)]
pub struct LengthRules {
    /// Minimum number of elements.
    pub min: Option<u64>,
    /// Maximum number of elements.
    pub max: Option<u64>,
}

/// Range constraints of a numeric shape.
#[derive(Debug)]
pub struct RangeRules {
    /// Smallest allowed value.
    pub min: Option<f64>,
    /// Largest allowed value.
    pub max: Option<f64>,
}

/// The violations found in one input, in member order.
#[derive(Debug, Default)]
pub struct Violations {
    messages: Vec<String>,
}

/// `parent.member`, or `member` at the top level.
pub fn join(parent: &str, member: &str) -> String {
    if parent.is_empty() {
        member.to_string()
    } else {
        format!("{parent}.{member}")
    }
}

/// Path of element `index` (0-based) of the list at `list_path`.
pub fn element_path(list_path: &str, index: usize) -> String {
    format!("{list_path}.{}.member", index + 1)
}

static NULL: Value = Value::Null;

/// Member `wire` of a JSON object, or `null`.
pub fn member<'a>(json: &'a Value, wire: &str) -> &'a Value {
    json.get(wire).unwrap_or(&NULL)
}

/// Element `index` of a JSON array, or `null`.
pub fn element(json: &Value, index: usize) -> &Value {
    json.get(index).unwrap_or(&NULL)
}

/// Replaces member `wire` of a JSON object with [`HIDDEN`] when it is present.
pub fn hide(json: &mut Value, wire: &str) {
    if let Some(v) = json.get_mut(wire) {
        if !v.is_null() {
            *v = Value::String(HIDDEN.to_string());
        }
    }
}

impl Violations {
    /// No violation found.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The messages, one per violation.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// The AWS-style error (`N validation error(s) detected: ...; ...`) with `code`, or
    /// `None` when the input is valid.
    pub fn into_error(self, code: &'static str) -> Option<ApiError> {
        if self.messages.is_empty() {
            return None;
        }
        let n = self.messages.len();
        let plural = if n == 1 { "" } else { "s" };
        Some(ApiError::new(
            code,
            format!(
                "{n} validation error{plural} detected: {}",
                self.messages.join("; ")
            ),
        ))
    }

    fn push(&mut self, shown: Option<&str>, path: &str, constraint: &str) {
        let value = match shown {
            Some(v) => format!("Value '{v}'"),
            None => "Value".to_string(),
        };
        self.messages.push(format!(
            "{value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Checks that required member `wire` is present and not null in `json`; reports
    /// `Member must not be null` at `parent.member` otherwise. Returns whether it is present.
    pub fn required(&mut self, json: &Value, wire: &str, parent: &str, member: &str) -> bool {
        let present = !self::member(json, wire).is_null();
        if !present {
            self.messages.push(format!(
                "Value null at '{}' failed to satisfy constraint: Member must not be null",
                join(parent, member)
            ));
        }
        present
    }

    /// Checks a string against its shape's rules.
    pub fn string(&mut self, parent: &str, member: &str, value: &str, rules: &StringRules) {
        let shown = if rules.sensitive {
            REDACTED_VALUE
        } else {
            value
        };
        let len = value.chars().count() as u64;
        if let Some(min) = rules.min {
            if len < min {
                self.push(
                    Some(shown),
                    &join(parent, member),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            }
        }
        if let Some(max) = rules.max {
            if len > max {
                self.push(
                    Some(shown),
                    &join(parent, member),
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
        if let Some(pattern) = &rules.pattern {
            if !pattern.is_match(value) {
                self.push(
                    Some(shown),
                    &join(parent, member),
                    &format!(
                        "Member must satisfy regular expression pattern: {}",
                        pattern.source()
                    ),
                );
            }
        }
        if !rules.enum_values.is_empty() && !rules.enum_values.contains(&value) {
            self.push(
                Some(shown),
                &join(parent, member),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    rules.enum_values.join(", ")
                ),
            );
        }
    }

    /// Checks the element count of a list (or byte length of a blob).
    pub fn length(&mut self, parent: &str, member: &str, len: usize, rules: &LengthRules) {
        let len = len as u64;
        if let Some(min) = rules.min {
            if len < min {
                self.push(
                    None,
                    &join(parent, member),
                    &format!("Member must have length greater than or equal to {min}"),
                );
            }
        }
        if let Some(max) = rules.max {
            if len > max {
                self.push(
                    None,
                    &join(parent, member),
                    &format!("Member must have length less than or equal to {max}"),
                );
            }
        }
    }

    /// Checks a number against its shape's range.
    pub fn range(&mut self, parent: &str, member: &str, value: f64, rules: &RangeRules) {
        let shown = value.to_string();
        if let Some(min) = rules.min {
            if value < min {
                self.push(
                    Some(&shown),
                    &join(parent, member),
                    &format!("Member must have value greater than or equal to {min}"),
                );
            }
        }
        if let Some(max) = rules.max {
            if value > max {
                self.push(
                    Some(&shown),
                    &join(parent, member),
                    &format!("Member must have value less than or equal to {max}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ORG_ID: StringRules = StringRules {
        min: Some(34),
        max: Some(34),
        pattern: Some(Pattern::new("^m-[0-9a-f]{32}$")),
        enum_values: &[],
        sensitive: false,
    };

    #[test]
    fn pattern_is_searched_not_anchored() {
        let p = Pattern::new("[0-9]+");
        assert!(p.is_match("abc123def"));
        assert!(!p.is_match("abc"));
    }

    #[test]
    fn messages_name_the_member_path() {
        let mut v = Violations::default();
        v.string("", "organizationId", "x", &ORG_ID);
        let err = v.into_error("InvalidParameterException").unwrap();
        assert_eq!(err.code, "InvalidParameterException");
        assert_eq!(
            err.message,
            "2 validation errors detected: Value 'x' at 'organizationId' failed to satisfy \
             constraint: Member must have length greater than or equal to 34; Value 'x' at \
             'organizationId' failed to satisfy constraint: Member must satisfy regular \
             expression pattern: ^m-[0-9a-f]{32}$"
        );
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        let rules = StringRules {
            min: Some(8),
            max: None,
            pattern: None,
            enum_values: &[],
            sensitive: true,
        };
        let mut v = Violations::default();
        v.string("", "password", "hunter2", &rules);
        let msg = v.into_error("X").unwrap().message;
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("'password'"), "{msg}");
    }

    #[test]
    fn hide_replaces_present_members_only() {
        let mut json = serde_json::json!({"Password": "secret", "Name": "a", "Other": null});
        hide(&mut json, "Password");
        hide(&mut json, "Other");
        hide(&mut json, "Missing");
        assert_eq!(
            json,
            serde_json::json!({"Password": HIDDEN, "Name": "a", "Other": null})
        );
    }
}
