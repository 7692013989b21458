//! Mail vocabulary several crates share: the domain part of an address, message flags, and
//! how long a message may wait in a queue before it bounces.

use std::time::Duration;

/// How long an outbound or journal message is retried before it is given up and bounced:
/// 5 days, the lifetime RFC 5321 §4.5.4.1 recommends ("at least 4-5 days").
pub const QUEUE_LIFETIME: Duration = Duration::from_secs(5 * 24 * 3600);

/// The domain part of `address`: what follows its last `@`, as written (`""` without `@`).
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, domain)| domain)
}

/// Whether `flags` (a message's flags as stored, e.g. `\Seen`) hold `flag`; flag names
/// compare case-insensitively (RFC 3501 §2.3.2).
pub fn has_flag(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_follows_the_last_at_sign() {
        assert_eq!(domain_of("mary@Corp.Example"), "Corp.Example");
        assert_eq!(domain_of("\"a@b\"@corp.example"), "corp.example");
        assert_eq!(domain_of("postmaster"), "");
    }

    #[test]
    fn flags_compare_case_insensitively() {
        let flags = vec!["\\Seen".to_string(), "$Label1".to_string()];
        assert!(has_flag(&flags, "\\SEEN"));
        assert!(has_flag(&flags, "$label1"));
        assert!(!has_flag(&flags, "\\Deleted"));
    }
}
