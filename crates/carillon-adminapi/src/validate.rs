//! Validation of a bound input against its JSON Schema, with AWS-style messages that name
//! the member: `1 validation error detected: Value 'x' at 'JournalingEmailAddress' failed to
//! satisfy constraint: Member must satisfy email address format`.
//!
//! Supports the keywords `schemars` emits for serde types and its validation attributes:
//! `type` (one or several), `properties`, `required`, `additionalProperties`, `items`,
//! `minItems`/`maxItems`, `minLength`/`maxLength` (in characters), `pattern` (searched, as
//! JSON Schema says; anchor it with `^…$`), `format: email`, `minimum`/`maximum`, `enum`,
//! `const`, `anyOf`/`oneOf` (one branch must hold), `allOf`. Values of members marked
//! `writeOnly` (secrets) are never echoed.

use serde_json::{Map, Value};

/// One violated constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Member path, e.g. `JournalingEmailAddress` or `Rules.0.Name`; empty for the whole
    /// input.
    pub path: String,
    /// The offending value as echoed (`None`: not shown, or absent).
    pub value: Option<String>,
    /// What the member must satisfy, e.g. `Member must not be null`.
    pub constraint: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.path.is_empty() {
            "the request body".to_string()
        } else {
            format!("'{}'", self.path)
        };
        match &self.value {
            Some(value) => write!(
                f,
                "Value '{value}' at {at} failed to satisfy constraint: {}",
                self.constraint
            ),
            None => write!(
                f,
                "Value at {at} failed to satisfy constraint: {}",
                self.constraint
            ),
        }
    }
}

/// The AWS message for `violations`: `N validation error(s) detected: …; …`.
pub fn message(violations: &[Violation]) -> String {
    let noun = if violations.len() == 1 {
        "error"
    } else {
        "errors"
    };
    let details: Vec<String> = violations.iter().map(ToString::to_string).collect();
    format!(
        "{} validation {noun} detected: {}",
        violations.len(),
        details.join("; ")
    )
}

/// Checks `instance` against `schema` (self-contained: no `$ref`); every violation found.
pub fn validate(schema: &Value, instance: &Value) -> Vec<Violation> {
    let mut violations = Vec::new();
    check(schema, instance, "", false, &mut violations);
    violations
}

/// Longest echo of a value in a message.
const MAX_ECHO: usize = 128;

fn echo(value: &Value, hidden: bool) -> Option<String> {
    if hidden {
        return None;
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    };
    Some(if text.chars().count() > MAX_ECHO {
        let cut: String = text.chars().take(MAX_ECHO).collect();
        format!("{cut}…")
    } else {
        text
    })
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// `local@domain` with a dotted domain, no spaces or angle brackets: the addresses
/// Carillon's operations accept (a full RFC 5321 parse is the operation's business).
pub fn is_email_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !local.contains('@')
        && text.is_ascii()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || "<>()[],;:\\\"".contains(c))
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_string()
    } else {
        format!("{path}.{member}")
    }
}

fn check(schema: &Value, value: &Value, path: &str, hidden: bool, out: &mut Vec<Violation>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            out.push(Violation {
                path: path.to_string(),
                value: echo(value, hidden),
                constraint: "Member is not allowed".to_string(),
            });
        }
        return;
    };
    let hidden = hidden || schema.get("writeOnly") == Some(&Value::Bool(true));
    let mut fail = |constraint: String| {
        out.push(Violation {
            path: path.to_string(),
            value: echo(value, hidden),
            constraint,
        })
    };
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|t| type_matches(t, value)) {
            if value.is_null() {
                fail("Member must not be null".to_string());
            } else {
                fail(format!("Member must be of type {}", names.join(" or ")));
            }
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed
                .iter()
                .map(|v| echo(v, false).unwrap_or_default())
                .collect();
            fail(format!(
                "Member must satisfy enum value set: [{}]",
                list.join(", ")
            ));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            fail(format!("Member must equal {constant}"));
        }
    }
    match value {
        Value::String(text) => check_string(schema, text, &mut fail),
        Value::Number(_) => check_number(schema, value, &mut fail),
        Value::Array(items) => {
            let count = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if count < min {
                    fail(format!(
                        "Member must have length greater than or equal to {min}"
                    ));
                }
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if count > max {
                    fail(format!(
                        "Member must have length less than or equal to {max}"
                    ));
                }
            }
        }
        _ => {}
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(
                item_schema,
                item,
                &join(path, &index.to_string()),
                hidden,
                out,
            );
        }
    }
    if let Value::Object(members) = value {
        check_object(schema, members, path, hidden, out);
    }
    for branch_key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(branch_key).and_then(Value::as_array) {
            // A documented enum (one `const` per branch) is reported as its value set.
            let constants: Option<Vec<&Value>> = branches.iter().map(|b| b.get("const")).collect();
            if let Some(constants) = constants.filter(|c| !c.is_empty()) {
                if !constants.contains(&value) {
                    let names: Vec<String> = constants
                        .iter()
                        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
                        .collect();
                    out.push(Violation {
                        path: path.to_string(),
                        value: echo(value, hidden),
                        constraint: format!(
                            "Member must satisfy enum value set: [{}]",
                            names.join(", ")
                        ),
                    });
                }
                continue;
            }
            let results: Vec<Vec<Violation>> = branches
                .iter()
                .map(|b| {
                    let mut v = Vec::new();
                    check(b, value, path, hidden, &mut v);
                    v
                })
                .collect();
            if !results.iter().any(Vec::is_empty) {
                // Report the branch that came closest: its violations are the most telling.
                if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                    out.extend(best);
                }
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(sub, value, path, hidden, out);
        }
    }
}

fn check_string(schema: &Map<String, Value>, text: &str, fail: &mut impl FnMut(String)) {
    let chars = text.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if chars < min {
            fail(format!(
                "Member must have length greater than or equal to {min}"
            ));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if chars > max {
            fail(format!(
                "Member must have length less than or equal to {max}"
            ));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let matched = fancy_regex::Regex::new(pattern)
            .ok()
            .and_then(|re| re.is_match(text).ok());
        if matched != Some(true) {
            fail(format!(
                "Member must satisfy regular expression pattern: {pattern}"
            ));
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("email") && !is_email_address(text) {
        fail("Member must satisfy email address format".to_string());
    }
}

fn check_number(schema: &Map<String, Value>, value: &Value, fail: &mut impl FnMut(String)) {
    let Some(number) = value.as_f64() else {
        return;
    };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        if number < min {
            fail(format!(
                "Member must have value greater than or equal to {min}"
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        if number > max {
            fail(format!(
                "Member must have value less than or equal to {max}"
            ));
        }
    }
}

fn check_object(
    schema: &Map<String, Value>,
    members: &Map<String, Value>,
    path: &str,
    hidden: bool,
    out: &mut Vec<Violation>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !members.contains_key(name) {
                out.push(Violation {
                    path: join(path, name),
                    value: None,
                    constraint: "Member must not be null".to_string(),
                });
            }
        }
    }
    for (name, member) in members {
        let member_path = join(path, name);
        match properties.and_then(|p| p.get(name)) {
            Some(member_schema) => check(member_schema, member, &member_path, hidden, out),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => out.push(Violation {
                    path: member_path,
                    value: None,
                    constraint: "Member is not a member of the input".to_string(),
                }),
                Some(extra) => check(extra, member, &member_path, hidden, out),
                None => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "Name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                "Email": {"type": "string", "format": "email"},
                "Secret": {"type": "string", "minLength": 8, "writeOnly": true},
                "Count": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
                "Kind": {"type": "string", "enum": ["A", "B"]},
                "Items": {"type": "array", "maxItems": 2, "items": {"type": "string", "minLength": 2}}
            },
            "required": ["Name"],
            "additionalProperties": false
        })
    }

    #[test]
    fn documented_enums_report_their_value_set() {
        // schemars renders a unit enum with documented variants as one `const` per branch.
        let schema = json!({"type": "object", "properties": {
            "Kind": {"oneOf": [{"type": "string", "const": "FILE"}, {"type": "string", "const": "HTTP"}]}
        }});
        assert_eq!(validate(&schema, &json!({"Kind": "HTTP"})), vec![]);
        let violations = validate(&schema, &json!({"Kind": "SYSLOG"}));
        assert_eq!(violations.len(), 1);
        assert_eq!(
            message(&violations),
            "1 validation error detected: Value 'SYSLOG' at 'Kind' failed to satisfy constraint: \
             Member must satisfy enum value set: [FILE, HTTP]"
        );
    }

    #[test]
    fn valid_input_has_no_violation() {
        let input = json!({"Name": "abc", "Email": "a@b.example", "Count": null, "Kind": "A", "Items": ["xy"]});
        assert_eq!(validate(&schema(), &input), vec![]);
    }

    #[test]
    fn messages_name_the_member_and_the_constraint() {
        let input = json!({"Email": "not-an-address", "Count": 11, "Kind": "C", "Items": ["x", "yy", "zz"], "Extra": 1});
        let violations = validate(&schema(), &input);
        let text = message(&violations);
        assert!(text.starts_with("7 validation errors detected: "), "{text}");
        assert!(
            text.contains("Value at 'Name' failed to satisfy constraint: Member must not be null")
        );
        assert!(text.contains("Value 'not-an-address' at 'Email' failed to satisfy constraint: Member must satisfy email address format"));
        assert!(text.contains("Value '11' at 'Count' failed to satisfy constraint: Member must have value less than or equal to 10"));
        assert!(text.contains(
            "at 'Kind' failed to satisfy constraint: Member must satisfy enum value set: [A, B]"
        ));
        assert!(text.contains("at 'Items' failed to satisfy constraint: Member must have length less than or equal to 2"));
        assert!(text.contains("Value 'x' at 'Items.0' failed to satisfy constraint: Member must have length greater than or equal to 2"));
        assert!(text.contains(
            "Value at 'Extra' failed to satisfy constraint: Member is not a member of the input"
        ));
    }

    #[test]
    fn type_pattern_and_length_are_checked_and_secrets_not_echoed() {
        let v = validate(&schema(), &json!({"Name": "ABCDEFG", "Secret": "short"}));
        let text = message(&v);
        assert!(text.contains("at 'Name' failed to satisfy constraint: Member must have length less than or equal to 5"));
        assert!(text.contains("at 'Name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z]+$"));
        assert!(text.contains("Value at 'Secret' failed to satisfy constraint: Member must have length greater than or equal to 8"));
        assert!(!text.contains("short"));
        let v = validate(&schema(), &json!({"Name": 3}));
        assert_eq!(v[0].constraint, "Member must be of type string");
    }

    #[test]
    fn email_addresses() {
        assert!(is_email_address("journal@archive.example.com"));
        for bad in [
            "x", "@a.b", "a@b", "a@.b", "a@b.", "a b@c.d", "<a@b.c>", "a@b..c",
        ] {
            assert!(!is_email_address(bad), "{bad}");
        }
    }
}
