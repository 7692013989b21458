//! @mentions in chat messages. Spec: chime-zh.md §3.3 (the forms), §1.16 (bots).
//!
//! A mention is `@` at the start of the content or after a character that is not part of
//! an address, followed by a token of letters, digits and `.`, `_`, `-`, `+`, `%`,
//! optionally `@domain`. It resolves against the members of the room or conversation:
//! - `@All`: every user member but the sender;
//! - `@Present`: every user member but the sender with a live client connection;
//! - `@alias`: a member whose email local part, or whose display name with its spaces
//!   removed, is `alias` (case-insensitive) — bots included, so `@botName` reaches a bot;
//! - `@alias@domain`: the same, and the member's email domain must be `domain` (so the
//!   full address `@mary@example.com` and a bot's `@botName@example.com` both work).
//!
//! Incoming webhooks are members that post but are never mentioned.
//!
//! An email address inside the text (`mary@example.com`) is not a mention: its `@` follows
//! a letter.

/// A member a mention may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// User ID, bot user ID or webhook ID.
    pub member_id: String,
    /// `User`, `Bot` or `Webhook`.
    pub member_type: String,
    /// The member's email (user or bot), if known.
    pub email: Option<String>,
    /// The member's display name, if known.
    pub display_name: Option<String>,
}

fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '%')
}

/// The mention tokens of `content` in order, each as `(alias, domain)`, trailing dots
/// removed (`@mary.` ends a sentence).
pub fn tokens(content: &str) -> Vec<(String, Option<String>)> {
    let chars: Vec<char> = content.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i] == '@' && (i == 0 || !is_token_char(chars[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && is_token_char(chars[j]) {
            j += 1;
        }
        let alias: String = chars[i + 1..j].iter().collect();
        let mut domain = None;
        if j + 1 < chars.len() && chars[j] == '@' && is_token_char(chars[j + 1]) {
            let mut k = j + 1;
            while k < chars.len() && is_token_char(chars[k]) {
                k += 1;
            }
            let text: String = chars[j + 1..k].iter().collect();
            domain = Some(text.trim_end_matches('.').to_string());
            j = k;
        }
        let alias = if domain.is_some() {
            alias
        } else {
            alias.trim_end_matches('.').to_string()
        };
        if !alias.is_empty() {
            out.push((alias, domain));
        }
        i = j;
    }
    out
}

/// Whether `content` mentions `@All` or `@Present` (incoming webhooks limit these in large
/// rooms, §3.3).
pub fn mentions_everyone(content: &str) -> bool {
    tokens(content).iter().any(|(alias, domain)| {
        domain.is_none()
            && (alias.eq_ignore_ascii_case("all") || alias.eq_ignore_ascii_case("present"))
    })
}

fn names_member(alias: &str, domain: Option<&str>, member: &Candidate) -> bool {
    let (local, member_domain) = match member.email.as_deref().and_then(|e| e.split_once('@')) {
        Some((local, d)) => (Some(local), Some(d)),
        None => (None, None),
    };
    if let Some(domain) = domain {
        if !member_domain.is_some_and(|d| d.eq_ignore_ascii_case(domain)) {
            return false;
        }
    }
    let by_local = local.is_some_and(|l| l.eq_ignore_ascii_case(alias));
    let by_name = member.display_name.as_deref().is_some_and(|name| {
        let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        !compact.is_empty() && compact.eq_ignore_ascii_case(alias)
    });
    by_local || by_name
}

/// The member IDs `content` mentions among `members`, in order of first mention, each
/// once; `sender_id` is left out of `@All` and `@Present`; `present` says whether a user
/// has a live connection.
pub fn resolve(
    content: &str,
    members: &[Candidate],
    sender_id: &str,
    present: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        if !out.iter().any(|known| known == id) {
            out.push(id.to_string());
        }
    };
    for (alias, domain) in tokens(content) {
        let everyone = domain.is_none() && alias.eq_ignore_ascii_case("all");
        let here = domain.is_none() && alias.eq_ignore_ascii_case("present");
        for member in members {
            let group_member = member.member_type == "User" && member.member_id != sender_id;
            // Webhooks post but are never notified.
            if member.member_type == "Webhook" {
                continue;
            }
            let named = if everyone {
                group_member
            } else if here {
                group_member && present(&member.member_id)
            } else {
                names_member(&alias, domain.as_deref(), member)
            };
            if named {
                add(&member.member_id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, kind: &str, email: &str, name: &str) -> Candidate {
        Candidate {
            member_id: id.to_string(),
            member_type: kind.to_string(),
            email: Some(email.to_string()),
            display_name: Some(name.to_string()),
        }
    }

    fn members() -> Vec<Candidate> {
        vec![
            member("u1", "User", "mary.major@example.com", "Mary Major"),
            member("u2", "User", "john@example.com", "John Doe"),
            member("u3", "User", "john@other.org", "Johnny"),
            member("b1", "Bot", "helper-chimebot@example.com", "helper"),
            Candidate {
                member_id: "w1".to_string(),
                member_type: "Webhook".to_string(),
                email: None,
                display_name: Some("Alerts".to_string()),
            },
        ]
    }

    #[test]
    fn tokens_skip_email_addresses_and_trailing_dots() {
        let found = tokens("mail mary@example.com or @john. Hi @mary.major@example.com, @All!");
        assert_eq!(
            found,
            vec![
                ("john".to_string(), None),
                ("mary.major".to_string(), Some("example.com".to_string())),
                ("All".to_string(), None),
            ]
        );
    }

    #[test]
    fn alias_display_name_and_domain_resolve() {
        let all = members();
        assert_eq!(resolve("hi @JOHN", &all, "u1", |_| false), vec!["u2", "u3"]);
        assert_eq!(
            resolve("hi @john@other.org", &all, "u1", |_| false),
            vec!["u3"]
        );
        assert_eq!(
            resolve("@MaryMajor look", &all, "u2", |_| false),
            vec!["u1"]
        );
        assert_eq!(
            resolve("@helper@example.com hello", &all, "u1", |_| false),
            vec!["b1"]
        );
        assert!(resolve("nobody @zed", &all, "u1", |_| false).is_empty());
        assert!(resolve("@Alerts fired", &all, "u1", |_| false).is_empty());
    }

    #[test]
    fn all_and_present_name_users_but_the_sender() {
        let all = members();
        assert_eq!(resolve("@All go", &all, "u1", |_| true), vec!["u2", "u3"]);
        assert_eq!(
            resolve("@present go", &all, "u1", |id| id == "u3"),
            vec!["u3"]
        );
        assert!(mentions_everyone("x @Present"));
        assert!(!mentions_everyone("x @Presently"));
    }
}
