//! Every reply an SMTP session sends (RFC 5321 §4.2 reply codes with RFC 3463 enhanced status
//! codes), each defined once: the fixed ones as constants, those that carry a value as
//! functions.

use std::borrow::Cow;

use smtp_proto::Response;

/// One reply: its RFC 5321 code, its RFC 3463 enhanced status code when it has one, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    code: u16,
    status: Option<[u8; 3]>,
    text: Cow<'static, str>,
}

impl Reply {
    const fn new(code: u16, status: [u8; 3], text: &'static str) -> Reply {
        Reply {
            code,
            status: Some(status),
            text: Cow::Borrowed(text),
        }
    }

    /// A reply without an enhanced status code (greeting, `354`, `334` challenges).
    const fn basic(code: u16, text: &'static str) -> Reply {
        Reply {
            code,
            status: None,
            text: Cow::Borrowed(text),
        }
    }

    fn with_text(code: u16, status: Option<[u8; 3]>, text: String) -> Reply {
        Reply {
            code,
            status,
            text: Cow::Owned(text),
        }
    }

    /// Appends the reply's line, CRLF included, to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self.status {
            Some([class, subject, detail]) => {
                // Writing into a Vec cannot fail.
                let _ =
                    Response::new(self.code, class, subject, detail, self.text.as_ref()).write(out);
            }
            None => out.extend_from_slice(format!("{} {}\r\n", self.code, self.text).as_bytes()),
        }
    }
}

/// Sent, then the connection closed, to a client past the listener's connection limit.
pub(crate) const TOO_MANY_CONNECTIONS: &[u8] =
    b"421 4.3.2 Too many connections, try again later\r\n";

// Connection.

/// The `220` greeting naming the server.
pub(crate) fn greeting(hostname: &str) -> Reply {
    Reply::with_text(220, None, format!("{hostname} ESMTP Carillon"))
}
/// The answer to HELO: the server's name, then the client's as it gave it and as seen.
pub(crate) fn hello(text: String) -> Reply {
    Reply::with_text(250, None, text)
}
pub(crate) const IDLE_TIMEOUT: Reply =
    Reply::new(421, [4, 4, 2], "Idle timeout, closing connection");
pub(crate) const TOO_MANY_ERRORS: Reply =
    Reply::new(421, [4, 7, 0], "Too many errors, closing connection");
pub(crate) const LINE_TOO_LONG: Reply = Reply::new(500, [5, 5, 2], "Line too long");
pub(crate) const BYE: Reply = Reply::new(221, [2, 0, 0], "Bye");

// Commands in general.

pub(crate) const OK: Reply = Reply::new(250, [2, 0, 0], "OK");
pub(crate) const CANNOT_VRFY: Reply = Reply::new(
    252,
    [2, 5, 2],
    "Cannot VRFY user, but will accept message and attempt delivery",
);
pub(crate) const HELP: Reply = Reply::new(
    214,
    [2, 0, 0],
    "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
);
pub(crate) const NOT_IMPLEMENTED: Reply = Reply::new(502, [5, 5, 1], "Command not implemented");
pub(crate) const UNRECOGNIZED_COMMAND: Reply = Reply::new(500, [5, 5, 1], "Unrecognized command");
pub(crate) const SYNTAX_ERROR: Reply = Reply::new(500, [5, 5, 2], "Syntax error");

/// A command whose arguments do not follow `syntax`.
pub(crate) fn syntax(syntax: &str) -> Reply {
    Reply::with_text(501, Some([5, 5, 2]), format!("Syntax: {syntax}"))
}

/// A known parameter with a value it cannot take.
pub(crate) fn invalid_parameter(param: &str) -> Reply {
    Reply::with_text(501, Some([5, 5, 4]), format!("Invalid parameter {param}"))
}

/// A parameter not supported; echoed without control characters and at most 64 characters.
pub(crate) fn unsupported_parameter(param: &str) -> Reply {
    let param: String = param.chars().filter(|c| !c.is_control()).take(64).collect();
    Reply::with_text(
        555,
        Some([5, 5, 4]),
        format!("Unsupported parameter {param}"),
    )
}

// STARTTLS (RFC 3207).

pub(crate) const READY_TO_START_TLS: Reply = Reply::new(220, [2, 0, 0], "Ready to start TLS");
pub(crate) const TLS_ALREADY_ACTIVE: Reply = Reply::new(503, [5, 5, 1], "TLS already active");

// MAIL.

pub(crate) const SENDER_OK: Reply = Reply::new(250, [2, 1, 0], "OK");
pub(crate) const HELLO_FIRST: Reply = Reply::new(503, [5, 5, 1], "Send EHLO or HELO first");
pub(crate) const NESTED_MAIL: Reply = Reply::new(503, [5, 5, 1], "Nested MAIL command");
pub(crate) const STARTTLS_FIRST: Reply =
    Reply::new(530, [5, 7, 0], "Must issue a STARTTLS command first");
pub(crate) const AUTHENTICATION_REQUIRED: Reply =
    Reply::new(530, [5, 7, 0], "Authentication required");
pub(crate) const BAD_SENDER_SYNTAX: Reply = Reply::new(501, [5, 1, 7], "Bad sender address syntax");
pub(crate) const BINARYMIME_UNSUPPORTED: Reply =
    Reply::new(555, [5, 5, 4], "BODY=BINARYMIME is not supported");
/// The declared (`SIZE=`) or the received message exceeds the size limit (RFC 1870 §6.1).
pub(crate) const SIZE_EXCEEDED: Reply = Reply::new(
    552,
    [5, 3, 4],
    "Message size exceeds fixed maximum message size",
);
/// A submission's envelope sender is not one of the authenticated user's addresses.
pub(crate) const SENDER_NOT_OWNED: Reply = Reply::new(
    553,
    [5, 7, 1],
    "Sender address is not one of your addresses",
);

// RCPT.

pub(crate) const RECIPIENT_OK: Reply = Reply::new(250, [2, 1, 5], "OK");
pub(crate) const MAIL_FIRST: Reply = Reply::new(503, [5, 5, 1], "Send MAIL first");
pub(crate) const BAD_RECIPIENT_SYNTAX: Reply =
    Reply::new(501, [5, 1, 3], "Bad recipient address syntax");
pub(crate) const TOO_MANY_RECIPIENTS: Reply = Reply::new(452, [4, 5, 3], "Too many recipients");
pub(crate) const RELAY_DENIED: Reply = Reply::new(554, [5, 7, 1], "Relay access denied");
pub(crate) const USER_UNKNOWN: Reply =
    Reply::new(550, [5, 1, 1], "Recipient address rejected: user unknown");
pub(crate) const MAILBOX_FULL: Reply = Reply::new(552, [5, 2, 2], "Mailbox full");
pub(crate) const LOOKUP_FAILED: Reply = Reply::new(451, [4, 3, 0], "Temporary lookup failure");

// DATA.

pub(crate) const START_MAIL_INPUT: Reply =
    Reply::basic(354, "Start mail input; end with <CRLF>.<CRLF>");
pub(crate) const NO_VALID_RECIPIENTS: Reply = Reply::new(554, [5, 5, 1], "No valid recipients");
pub(crate) const DATA_TIMEOUT: Reply = Reply::new(421, [4, 4, 2], "Timeout reading message data");

/// The message was accepted under the trace ID `id`.
pub(crate) fn queued(id: &str) -> Reply {
    Reply::with_text(250, Some([2, 0, 0]), format!("OK: queued as {id}"))
}
pub(crate) const DMARC_REJECTED: Reply = Reply::new(
    550,
    [5, 7, 1],
    "Message rejected by the sender domain's DMARC policy",
);
pub(crate) const NO_DELIVERABLE_RECIPIENT: Reply =
    Reply::new(550, [5, 1, 1], "No deliverable recipient");
pub(crate) const TEMPORARY_FAILURE: Reply =
    Reply::new(451, [4, 3, 0], "Temporary failure, try again later");

// AUTH (RFC 4954).

pub(crate) const AUTH_ON_SUBMISSION_ONLY: Reply = Reply::new(
    502,
    [5, 5, 1],
    "AUTH is only offered on the submission port",
);
pub(crate) const ENCRYPTION_REQUIRED: Reply = Reply::new(
    538,
    [5, 7, 11],
    "Encryption required for requested authentication mechanism",
);
pub(crate) const ALREADY_AUTHENTICATED: Reply = Reply::new(503, [5, 5, 1], "Already authenticated");
pub(crate) const AUTH_IN_TRANSACTION: Reply =
    Reply::new(503, [5, 5, 1], "AUTH not allowed during a mail transaction");
pub(crate) const UNRECOGNIZED_MECHANISM: Reply =
    Reply::new(504, [5, 5, 4], "Unrecognized authentication type");

/// A SASL challenge (base64, possibly empty) awaiting the client's response.
pub(crate) fn challenge(challenge: &str) -> Reply {
    Reply::with_text(334, None, challenge.to_string())
}
pub(crate) const SASL_LINE_TOO_LONG: Reply =
    Reply::new(500, [5, 5, 6], "Authentication exchange line too long");
pub(crate) const AUTHENTICATION_CANCELLED: Reply =
    Reply::new(501, [5, 0, 0], "Authentication cancelled");
pub(crate) const INVALID_BASE64: Reply =
    Reply::new(501, [5, 5, 2], "Invalid base64 in SASL response");
pub(crate) const MALFORMED_SASL: Reply = Reply::new(501, [5, 5, 2], "Malformed SASL response");
pub(crate) const AUTHENTICATION_SUCCEEDED: Reply =
    Reply::new(235, [2, 7, 0], "Authentication successful");
pub(crate) const INVALID_CREDENTIALS: Reply =
    Reply::new(535, [5, 7, 8], "Authentication credentials invalid");
pub(crate) const AUTHENTICATION_UNAVAILABLE: Reply =
    Reply::new(454, [4, 7, 0], "Temporary authentication failure");
