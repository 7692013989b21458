//! Writing to the client: the tagged completion of a command (`Reply`), untagged status
//! responses and `BYE`, and the output buffer that is encoded into and flushed to the connection.

use carillon_net::{Handshake, Io};
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::response::{Code, CodeOther, Response, Status, StatusKind};
use imap_codec::ResponseCodec;
use tokio::io::AsyncWriteExt;

use super::Connection;

/// The tagged completion of a command.
pub(super) struct Reply {
    kind: StatusKind,
    code: Option<Code<'static>>,
    text: String,
}

impl Reply {
    pub(super) fn ok(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Ok,
            code: None,
            text: text.into(),
        }
    }

    pub(super) fn ok_with(code: Code<'static>, text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Ok,
            code: Some(code),
            text: text.into(),
        }
    }

    pub(super) fn no(code: Option<Code<'static>>, text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::No,
            code,
            text: text.into(),
        }
    }

    /// OK, NO or BAD.
    pub(super) fn kind(&self) -> StatusKind {
        self.kind
    }

    /// The response code, if any.
    pub(super) fn code(&self) -> Option<&Code<'static>> {
        self.code.as_ref()
    }

    pub(super) fn bad(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Bad,
            code: None,
            text: text.into(),
        }
    }
}

/// A response code this codec has no variant for (RFC 5530 and the like).
pub(super) fn code(name: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(name.as_bytes()))
}

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    pub(super) fn push(&mut self, response: &Response<'_>) {
        let encoded = ResponseCodec::default().encode(response).dump();
        // A FETCH of a large body is one big response: avoid copying it a second time.
        if self.out.is_empty() {
            self.out = encoded;
        } else {
            self.out.extend_from_slice(&encoded);
        }
    }

    pub(super) fn push_status(&mut self, tag: Option<Tag<'static>>, reply: Reply) {
        let text = sanitize(&reply.text);
        let status = Status::new(tag, reply.kind, reply.code, text.as_str())
            .or_else(|_| Status::new(None, reply.kind, None, "Completed"))
            .expect("static status");
        self.push(&Response::Status(status));
    }

    pub(super) fn bye(&mut self, text: &str) {
        let bye = Status::bye(None, text).expect("static bye");
        self.push(&Response::Status(bye));
    }

    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        self.conn.write_all(&out).await?;
        self.conn.flush().await
    }

    pub(super) fn push_untagged(&mut self, code: Code<'static>, text: &str) {
        let status = Status::ok(None, Some(code), text).expect("static text");
        self.push(&Response::Status(status));
    }
}

/// Response text without the characters a `text` cannot hold.
fn sanitize(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim_start_matches('[').trim().to_string();
    if cleaned.is_empty() {
        "Completed".to_string()
    } else {
        cleaned
    }
}
