//! Path templates (`/carillon/v1/organizations/{OrganizationId}/journaling`) and matching.

use std::collections::BTreeMap;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matched literally (case-sensitive).
    Literal(String),
    /// A `{Name}` label: any non-empty segment, percent-decoded, bound to input member `Name`.
    Label(String),
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    template: String,
    segments: Vec<Segment>,
}

impl PathTemplate {
    /// Parses `template`: `/`-separated segments, each a literal or a whole-segment `{Label}`.
    ///
    /// Errors: a message naming the template when it does not start with `/`, has an empty
    /// segment, a label that is not a whole segment, or the same label twice.
    pub fn parse(template: &str) -> Result<PathTemplate, String> {
        let Some(rest) = template.strip_prefix('/') else {
            return Err(format!("path template {template:?} must start with '/'"));
        };
        let mut segments = Vec::new();
        for part in rest.split('/') {
            if part.is_empty() {
                return Err(format!("path template {template:?} has an empty segment"));
            }
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(label) if !label.is_empty() && !label.contains(['{', '}']) => {
                    Segment::Label(label.to_string())
                }
                _ if part.contains(['{', '}']) => {
                    return Err(format!(
                        "path template {template:?}: a label must be a whole segment, not {part:?}"
                    ))
                }
                _ => Segment::Literal(part.to_string()),
            };
            if let Segment::Label(name) = &segment {
                if segments.contains(&segment) {
                    return Err(format!("path template {template:?} repeats label {name}"));
                }
            }
            segments.push(segment);
        }
        Ok(PathTemplate {
            template: template.to_string(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.template
    }

    /// The label names, in path order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Label(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Matches a request path (still percent-encoded): the decoded label values, or `None`.
    /// A label value that does not decode to UTF-8 does not match.
    pub fn matches(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut labels = BTreeMap::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Label(_) if part.is_empty() => return None,
                Segment::Label(name) => {
                    let value = percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .ok()?;
                    labels.insert(name.clone(), value.into_owned());
                }
            }
        }
        Some(labels)
    }

    /// Whether some path matches both templates (then method + path would be ambiguous).
    pub fn overlaps(&self, other: &PathTemplate) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    _ => true,
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_bind_decoded_segments() {
        let t =
            PathTemplate::parse("/carillon/v1/organizations/{OrganizationId}/journaling").unwrap();
        assert_eq!(t.labels().collect::<Vec<_>>(), ["OrganizationId"]);
        let bound = t
            .matches("/carillon/v1/organizations/m-1%2Fx/journaling")
            .unwrap();
        assert_eq!(bound["OrganizationId"], "m-1/x");
        assert!(t
            .matches("/carillon/v1/organizations//journaling")
            .is_none());
        assert!(t.matches("/carillon/v1/organizations/m-1").is_none());
        assert!(t
            .matches("/carillon/v1/organizations/m-1/journaling/x")
            .is_none());
        assert!(t.matches("/carillon/v1/groups/m-1/journaling").is_none());
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(PathTemplate::parse("carillon/v1").is_err());
        assert!(PathTemplate::parse("/carillon//v1").is_err());
        assert!(PathTemplate::parse("/carillon/v1/x{Id}").is_err());
        assert!(PathTemplate::parse("/a/{Id}/{Id}").is_err());
    }

    #[test]
    fn overlap_ignores_labels() {
        let a = PathTemplate::parse("/a/{X}/b").unwrap();
        let b = PathTemplate::parse("/a/c/b").unwrap();
        let c = PathTemplate::parse("/a/{X}/d").unwrap();
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
    }
}
