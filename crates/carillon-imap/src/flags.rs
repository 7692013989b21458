//! The system flags of RFC 3501 §2.3.2 as the store keeps them on each message copy (the
//! flag's text, backslash included, compared without regard to case), and the test of
//! whether a stored flag list holds a flag or keyword.

/// A system flag a message copy can carry. `\Recent` is not one: it is per session and kept
/// apart (`claim_recent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SystemFlag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
}

impl SystemFlag {
    /// The flag as stored and as sent on the wire: `\Seen`, `\Answered`, ...
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SystemFlag::Seen => "\\Seen",
            SystemFlag::Answered => "\\Answered",
            SystemFlag::Flagged => "\\Flagged",
            SystemFlag::Deleted => "\\Deleted",
            SystemFlag::Draft => "\\Draft",
        }
    }

    /// Whether the stored `flags` of a message include this one.
    pub(crate) fn is_in(self, flags: &[String]) -> bool {
        has_flag(flags, self.as_str())
    }
}

/// Whether the stored flags include a flag (a system flag or a keyword), case-insensitively
/// (RFC 3501 §2.3.2): the one definition the store and the edge share.
pub(crate) use carillon_core::mail::has_flag;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flags_match_their_stored_text_in_any_case() {
        let flags = vec!["\\SEEN".to_string(), "$Work".to_string()];
        assert!(SystemFlag::Seen.is_in(&flags));
        assert!(!SystemFlag::Deleted.is_in(&flags));
        assert!(has_flag(&flags, "$work"));
        assert_eq!(SystemFlag::Answered.as_str(), "\\Answered");
    }
}
