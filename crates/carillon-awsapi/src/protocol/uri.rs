//! restJson1 routing: matching the request method, path and query against each
//! operation's botocore `requestUri` template (`/accounts/{accountId}/users/{userId}`,
//! greedy `{Key+}`, literal query parts such as `?operation=create`).

use super::Operation;
use crate::service::ServiceId;
use carillon_core::error::codes;
use carillon_core::ApiError;
use percent_encoding::percent_decode_str;

/// How specific a template match is; the most specific matching operation wins, so
/// `/users?operation=create` beats `/users` and `/users/me` beats `/users/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Specificity {
    literal_query: usize,
    literal_segments: usize,
    exact_labels: usize,
}

pub(super) fn resolve(
    service: ServiceId,
    parts: &http::request::Parts,
) -> Result<Operation, ApiError> {
    let query = query_pairs(parts.uri.query().unwrap_or(""));
    let path = parts.uri.path();
    let mut best: Option<(Specificity, Operation)> = None;
    for spec in service.spec().operations {
        if spec.method != parts.method.as_str() {
            continue;
        }
        let Some((specificity, labels)) = match_template(spec.request_uri, path, &query) else {
            continue;
        };
        if best.as_ref().is_none_or(|(s, _)| specificity > *s) {
            best = Some((
                specificity,
                Operation {
                    service,
                    spec,
                    labels,
                },
            ));
        }
    }
    best.map(|(_, op)| op).ok_or_else(|| {
        ApiError::new(
            codes::UNKNOWN_OPERATION,
            format!("No operation matches {} {}", parts.method, path),
        )
    })
}

/// Decoded `key=value` pairs of a query string, in order (`+` is a space).
pub(super) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_query(k), decode_query(v))
        })
        .collect()
}

fn decode_query(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn decode_path(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn segments(path: &str) -> Vec<&str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

/// Matches one template; returns its specificity and the decoded path labels.
fn match_template(
    template: &str,
    path: &str,
    query: &[(String, String)],
) -> Option<(Specificity, Vec<(String, String)>)> {
    let (template_path, template_query) = template.split_once('?').unwrap_or((template, ""));
    let mut specificity = Specificity {
        literal_query: 0,
        literal_segments: 0,
        exact_labels: 0,
    };
    for literal in template_query.split('&').filter(|p| !p.is_empty()) {
        let found = match literal.split_once('=') {
            Some((k, v)) => query.iter().any(|(qk, qv)| qk == k && qv == v),
            None => query.iter().any(|(qk, _)| qk == literal),
        };
        if !found {
            return None;
        }
        specificity.literal_query += 1;
    }

    let wanted = segments(template_path);
    let given = segments(path);
    let mut labels = Vec::new();
    for (i, segment) in wanted.iter().enumerate() {
        if let Some(label) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if let Some(greedy) = label.strip_suffix('+') {
                // A greedy label takes the rest of the path (at least one non-empty segment).
                let rest = given.get(i..).filter(|r| !r.is_empty())?.join("/");
                if rest.is_empty() || i + 1 != wanted.len() {
                    return None;
                }
                labels.push((greedy.to_string(), decode_path(&rest)?));
                return Some((specificity, labels));
            }
            let value = given.get(i).filter(|v| !v.is_empty())?;
            labels.push((label.to_string(), decode_path(value)?));
            specificity.exact_labels += 1;
        } else {
            if decode_path(given.get(i)?)? != *segment {
                return None;
            }
            specificity.literal_segments += 1;
        }
    }
    (given.len() == wanted.len()).then_some((specificity, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(template: &str, path: &str, query: &str) -> Option<Vec<(String, String)>> {
        match_template(template, path, &query_pairs(query)).map(|(_, l)| l)
    }

    #[test]
    fn labels_are_captured_and_decoded() {
        assert_eq!(
            labels(
                "/accounts/{accountId}/users/{userId}",
                "/accounts/a%2Fb/users/u1",
                ""
            ),
            Some(vec![
                ("accountId".into(), "a/b".into()),
                ("userId".into(), "u1".into())
            ])
        );
        assert_eq!(labels("/accounts/{accountId}", "/accounts/", ""), None);
        assert_eq!(labels("/accounts/{accountId}", "/accounts/a/b", ""), None);
    }

    #[test]
    fn greedy_label_takes_the_rest() {
        assert_eq!(
            labels("/objects/{Key+}", "/objects/a/b%20c", ""),
            Some(vec![("Key".into(), "a/b c".into())])
        );
        assert_eq!(labels("/objects/{Key+}", "/objects", ""), None);
    }

    #[test]
    fn literal_query_must_be_present_and_wins() {
        assert_eq!(labels("/users?operation=create", "/users", "x=1"), None);
        let plain = match_template("/users", "/users", &query_pairs("operation=create"));
        let literal = match_template(
            "/users?operation=create",
            "/users",
            &query_pairs("operation=create"),
        );
        assert!(literal.unwrap().0 > plain.unwrap().0);
    }

    #[test]
    fn query_pairs_decode() {
        assert_eq!(
            query_pairs("a=1&b=x%20y+z&c&a=2"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), "".into()),
                ("a".into(), "2".into())
            ]
        );
    }
}
