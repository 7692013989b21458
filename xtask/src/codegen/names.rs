//! Rust names for model names.

/// `snake_case` of a model name: `CreateUser` → `create_user`, `ResourceARN` →
/// `resource_arn`, `E164PhoneNumber` → `e164_phone_number`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some('_') => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) => p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()),
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A field or method identifier for `snake` (raw identifier for Rust keywords).
pub fn ident(snake: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern",
        "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
        "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use",
        "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
        "typeof", "unsized", "virtual", "yield", "try", "gen",
    ];
    if KEYWORDS.contains(&snake) {
        format!("r#{snake}")
    } else if ["self", "super", "crate"].contains(&snake) {
        // These cannot be raw identifiers.
        format!("{snake}_")
    } else {
        snake.to_string()
    }
}

/// AWS validation-message member name: the wire name with its first letter lower-cased
/// (`OrganizationId` → `organizationId`).
pub fn member_path(wire: &str) -> String {
    let mut chars = wire.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `SCREAMING_SNAKE` name of the rules static of a shape.
pub fn rules_static(shape: &str) -> String {
    format!("RULES_{}", snake(shape).to_ascii_uppercase())
}

/// A Rust string literal for `s`.
pub fn lit(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_handles_acronyms_and_digits() {
        assert_eq!(snake("CreateUser"), "create_user");
        assert_eq!(snake("ResourceARN"), "resource_arn");
        assert_eq!(snake("KMSKeyArn"), "kms_key_arn");
        assert_eq!(snake("E164PhoneNumber"), "e164_phone_number");
        assert_eq!(snake("networkId"), "network_id");
        assert_eq!(snake("GetRawMessageContent"), "get_raw_message_content");
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("name"), "name");
    }
}
