//! SEARCH criteria (RFC 3501 §6.4.4) evaluated against one message copy.

use chrono::NaiveDate;
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use mail_parser::{HeaderValue, Message, MessageParser};

use carillon_store::StoredMessage;

use crate::flags::{has_flag, SystemFlag};

/// What a criterion can look at for one message.
pub(crate) struct Candidate<'a> {
    /// Sequence number in the session.
    pub seq: u32,
    pub message: &'a StoredMessage,
    pub recent: bool,
    /// The raw message, when the criteria need it (see [`needs_content`]).
    pub raw: Option<&'a [u8]>,
    /// Largest sequence number and UID of the selected folder (`*`).
    pub max_seq: u32,
    pub max_uid: u32,
}

/// Whether evaluating `key` reads the message's header or body.
pub(crate) fn needs_content(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(needs_content),
        SearchKey::Not(key) => needs_content(key),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_) => true,
        _ => false,
    }
}

/// Error for criteria this server does not evaluate.
#[derive(Debug)]
pub(crate) struct Unsupported;

/// Whether the candidate matches every one of `keys` (the message is parsed once).
pub(crate) fn matches(keys: &[SearchKey<'_>], c: &Candidate<'_>) -> Result<bool, Unsupported> {
    let parsed = c.raw.and_then(|raw| MessageParser::default().parse(raw));
    for key in keys {
        if !eval(key, c, parsed.as_ref())? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn eval(
    key: &SearchKey<'_>,
    c: &Candidate<'_>,
    parsed: Option<&Message<'_>>,
) -> Result<bool, Unsupported> {
    let flag = |name: &str| has_flag(&c.message.flags, name);
    let system = |flag: SystemFlag| flag.is_in(&c.message.flags);
    let internal_day =
        chrono::DateTime::from_timestamp_millis(c.message.internal_date).map(|d| d.date_naive());
    let sent_day = parsed
        .and_then(|m| m.date())
        .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0))
        .map(|d| d.date_naive());
    let day = |d: &imap_codec::imap_types::datetime::NaiveDate| -> NaiveDate { *d.as_ref() };
    Ok(match key {
        SearchKey::And(keys) => {
            for key in keys.as_ref() {
                if !eval(key, c, parsed)? {
                    return Ok(false);
                }
            }
            true
        }
        SearchKey::Not(key) => !eval(key, c, parsed)?,
        SearchKey::Or(a, b) => eval(a, c, parsed)? || eval(b, c, parsed)?,
        SearchKey::All => true,
        SearchKey::SequenceSet(set) => in_set(set, c.seq, c.max_seq),
        SearchKey::Uid(set) => in_set(set, c.message.uid as u32, c.max_uid),
        SearchKey::Answered => system(SystemFlag::Answered),
        SearchKey::Unanswered => !system(SystemFlag::Answered),
        SearchKey::Deleted => system(SystemFlag::Deleted),
        SearchKey::Undeleted => !system(SystemFlag::Deleted),
        SearchKey::Draft => system(SystemFlag::Draft),
        SearchKey::Undraft => !system(SystemFlag::Draft),
        SearchKey::Flagged => system(SystemFlag::Flagged),
        SearchKey::Unflagged => !system(SystemFlag::Flagged),
        SearchKey::Seen => system(SystemFlag::Seen),
        SearchKey::Unseen => !system(SystemFlag::Seen),
        SearchKey::Recent => c.recent,
        SearchKey::Old => !c.recent,
        SearchKey::New => c.recent && !system(SystemFlag::Seen),
        SearchKey::Keyword(k) => flag(k.as_ref()),
        SearchKey::Unkeyword(k) => !flag(k.as_ref()),
        SearchKey::Larger(n) => c.message.size_bytes > i64::from(*n),
        SearchKey::Smaller(n) => c.message.size_bytes < i64::from(*n),
        SearchKey::Before(d) => internal_day.is_some_and(|x| x < day(d)),
        SearchKey::On(d) => internal_day.is_some_and(|x| x == day(d)),
        SearchKey::Since(d) => internal_day.is_some_and(|x| x >= day(d)),
        SearchKey::SentBefore(d) => sent_day.is_some_and(|x| x < day(d)),
        SearchKey::SentOn(d) => sent_day.is_some_and(|x| x == day(d)),
        SearchKey::SentSince(d) => sent_day.is_some_and(|x| x >= day(d)),
        SearchKey::Subject(s) => header_contains(parsed, "subject", s),
        SearchKey::From(s) => header_contains(parsed, "from", s),
        SearchKey::To(s) => header_contains(parsed, "to", s),
        SearchKey::Cc(s) => header_contains(parsed, "cc", s),
        SearchKey::Bcc(s) => header_contains(parsed, "bcc", s),
        SearchKey::Header(name, s) => {
            header_contains(parsed, &String::from_utf8_lossy(name.as_ref()), s)
        }
        SearchKey::Body(s) => parsed.is_some_and(|m| {
            let body_start = m.root_part().offset_body as usize;
            contains(&m.raw_message()[body_start.min(m.raw_message().len())..], s)
                || m.text_bodies()
                    .any(|p| p.text_contents().is_some_and(|t| contains(t.as_bytes(), s)))
        }),
        SearchKey::Text(s) => parsed.is_some_and(|m| {
            contains(m.raw_message(), s)
                || m.subject().is_some_and(|t| contains(t.as_bytes(), s))
                || m.text_bodies()
                    .any(|p| p.text_contents().is_some_and(|t| contains(t.as_bytes(), s)))
        }),
        // Variants behind imap-types features (WITHIN, CONDSTORE) that another crate of the
        // build may switch on.
        #[allow(unreachable_patterns)]
        _ => return Err(Unsupported),
    })
}

/// Whether `n` is in the set, `*` standing for `max`.
pub(crate) fn in_set(set: &SequenceSet, n: u32, max: u32) -> bool {
    use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => max,
    };
    set.0.as_ref().iter().any(|seq| match seq {
        Sequence::Single(v) => value(v) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a), value(b));
            (a.min(b)..=a.max(b)).contains(&n)
        }
    })
}

/// Case-insensitive substring test on the decoded and the raw values of every header field
/// named `name` (an empty needle matches any message having the field).
fn header_contains(parsed: Option<&Message<'_>>, name: &str, needle: &AString<'_>) -> bool {
    let Some(message) = parsed else {
        return false;
    };
    message
        .headers()
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .any(|h| {
            let raw = message
                .raw_message()
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            contains(raw, needle) || contains(decoded(&h.value).as_bytes(), needle)
        })
}

fn decoded(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(" "),
        HeaderValue::Address(a) => a
            .iter()
            .map(|addr| {
                format!(
                    "{} <{}>",
                    addr.name.as_deref().unwrap_or_default(),
                    addr.address.as_deref().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

fn contains(haystack: &[u8], needle: &AString<'_>) -> bool {
    let needle: &[u8] = needle.as_ref();
    if needle.is_empty() {
        return true;
    }
    let needle = needle.to_ascii_lowercase();
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(flags: &[&str], size: i64) -> StoredMessage {
        StoredMessage {
            uid: 7,
            blob_key: "k".into(),
            size_bytes: size,
            internal_date: 1_700_000_000_000,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            modseq: 1,
            message_key: None,
        }
    }

    fn key(s: &str) -> SearchKey<'static> {
        use imap_codec::imap_types::command::CommandBody;
        use imap_codec::imap_types::IntoStatic;
        use imap_codec::{decode::Decoder, CommandCodec};
        let line = format!("a SEARCH {s}\r\n");
        let (_, cmd) = CommandCodec::default().decode(line.as_bytes()).unwrap();
        match cmd.body {
            CommandBody::Search { criteria, .. } => {
                let mut keys = criteria.into_static().into_inner();
                if keys.len() == 1 {
                    keys.remove(0)
                } else {
                    SearchKey::And(keys.try_into().unwrap())
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_sizes_sets_and_headers() {
        let raw = b"From: Alice <alice@example.com>\r\nSubject: Quarterly report\r\nDate: Tue, 14 Nov 2023 10:00:00 +0000\r\n\r\nNumbers inside.\r\n";
        let m = msg(&["\\Seen", "$Work"], 500);
        let c = Candidate {
            seq: 3,
            message: &m,
            recent: false,
            raw: Some(raw),
            max_seq: 5,
            max_uid: 9,
        };
        let yes = |s: &str| matches(&[key(s)], &c).unwrap();
        assert!(yes("ALL"));
        assert!(yes("SEEN"));
        assert!(!yes("UNSEEN"));
        assert!(yes("KEYWORD $Work"));
        assert!(yes("LARGER 100 SMALLER 501"));
        assert!(!yes("LARGER 500"));
        assert!(yes("2:4"));
        assert!(!yes("4:*"));
        assert!(yes("UID 7:*"));
        assert!(yes("SUBJECT quarterly"));
        assert!(yes("FROM alice@EXAMPLE"));
        assert!(!yes("TO alice"));
        assert!(yes("HEADER Subject report"));
        assert!(yes("BODY numbers"));
        assert!(yes("OR FLAGGED NOT DELETED"));
        assert!(yes("SINCE 1-Nov-2023 BEFORE 1-Dec-2023"));
        assert!(yes("SENTON 14-Nov-2023"));
        assert!(!yes("NOT SEEN"));
    }
}
