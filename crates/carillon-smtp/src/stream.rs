//! Bounded line reading under an SMTP session (the connection itself is `carillon_net`'s):
//! no line ever makes a buffer grow past the limit given.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How [`read_line`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line, LF included, is in the buffer.
    Complete,
    /// The buffer reached the limit before an LF; the rest of the line is still unread.
    Partial,
    /// The connection ended (a final line without LF is dropped).
    Eof,
}

/// Appends bytes up to and including the next LF to `out`, never letting `out` grow past
/// `max` bytes.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let room = max.saturating_sub(out.len());
        let window = &available[..available.len().min(room)];
        if let Some(i) = window.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&window[..=i]);
            reader.consume(i + 1);
            return Ok(Line::Complete);
        }
        let taken = window.len();
        out.extend_from_slice(window);
        reader.consume(taken);
        if out.len() >= max {
            return Ok(Line::Partial);
        }
    }
}

/// Reads and drops the rest of an over-long line. Returns false on end of input.
pub(crate) async fn skip_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<bool> {
    let mut scratch = Vec::with_capacity(1024);
    loop {
        scratch.clear();
        match read_line(reader, &mut scratch, 1024).await? {
            Line::Complete => return Ok(true),
            Line::Partial => continue,
            Line::Eof => return Ok(false),
        }
    }
}

/// The message of a DATA command, read up to the `<CRLF>.<CRLF>` terminator.
pub(crate) struct DataBody {
    /// The prefix, then the data with dot-stuffing undone (at most the size limit).
    pub bytes: Vec<u8>,
    /// The message was larger than the limit: `bytes` is incomplete and must be refused.
    pub oversize: bool,
}

/// Reads a DATA body (RFC 5321 §4.1.1.4) after `prefix` (the trace headers, so the message
/// is never copied): lines until a lone `.` line that follows a CRLF, removing the extra
/// leading dot of stuffed lines. Stores at most `limit` bytes of data but reads to the
/// terminator so the session can go on. Only `<CRLF>.<CRLF>` ends the data (a bare
/// LF before the dot does not), which prevents SMTP smuggling.
///
/// Errors: the connection ended before the terminator (`UnexpectedEof`) or failed.
pub(crate) async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    prefix: Vec<u8>,
    limit: usize,
) -> io::Result<DataBody> {
    const CHUNK: usize = 64 * 1024;
    let limit = limit.saturating_add(prefix.len());
    let mut body = DataBody {
        bytes: prefix,
        oversize: false,
    };
    let mut line = Vec::with_capacity(1024);
    // Whether the current line follows a CRLF (or starts the data); whether `line` continues
    // a line already partly read; the last byte read before it.
    let mut after_crlf = true;
    let mut continuation = false;
    let mut last_byte = 0u8;
    loop {
        line.clear();
        let status = read_line(reader, &mut line, CHUNK).await?;
        if status == Line::Eof {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut content: &[u8] = &line;
        if !continuation && content.first() == Some(&b'.') {
            if after_crlf && content == b".\r\n" {
                return Ok(body);
            }
            content = &content[1..];
        }
        after_crlf = line.ends_with(b"\r\n") || (line == b"\n" && last_byte == b'\r');
        last_byte = line.last().copied().unwrap_or(last_byte);
        continuation = status == Line::Partial;
        if !body.oversize {
            if body.bytes.len() + content.len() > limit {
                body.oversize = true;
                body.bytes = Vec::new();
            } else {
                body.bytes.extend_from_slice(content);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn data(input: &[u8], limit: usize) -> io::Result<DataBody> {
        let mut reader = tokio::io::BufReader::with_capacity(7, input);
        read_data(&mut reader, Vec::new(), limit).await
    }

    #[tokio::test]
    async fn data_is_unstuffed_and_ends_at_crlf_dot_crlf() {
        let body = data(b"a\r\n..b\r\n.c\r\n\r\n.\r\nNEXT", 1000)
            .await
            .unwrap();
        assert_eq!(body.bytes, b"a\r\n.b\r\nc\r\n\r\n");
        assert!(!body.oversize);
        let empty = data(b".\r\n", 1000).await.unwrap();
        assert!(empty.bytes.is_empty());
    }

    #[tokio::test]
    async fn a_bare_lf_dot_does_not_end_the_data() {
        let body = data(b"a\n.\nb\r\n.\r\n", 1000).await.unwrap();
        assert_eq!(body.bytes, b"a\n\nb\r\n");
    }

    #[tokio::test]
    async fn long_lines_are_kept_whole_and_not_taken_for_the_terminator() {
        let mut input = vec![b'x'; 200_000];
        input.extend_from_slice(b".\r\n.\r\n");
        let body = data(&input, 1_000_000).await.unwrap();
        let mut expected = vec![b'x'; 200_000];
        expected.extend_from_slice(b".\r\n");
        assert_eq!(body.bytes, expected);
    }

    #[tokio::test]
    async fn oversize_data_is_read_to_the_end_but_not_kept() {
        let mut reader =
            tokio::io::BufReader::new(&b"0123456789\r\n0123456789\r\n.\r\nQUIT\r\n"[..]);
        let body = read_data(&mut reader, b"Prefix: 1\r\n".to_vec(), 15)
            .await
            .unwrap();
        assert!(body.oversize);
        assert!(body.bytes.is_empty());
        let mut rest = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut rest, 100).await.unwrap(),
            Line::Complete
        );
        assert_eq!(rest, b"QUIT\r\n");
    }

    #[tokio::test]
    async fn the_prefix_is_kept_and_not_counted() {
        let mut reader = tokio::io::BufReader::new(&b"0123456789\r\n.\r\n"[..]);
        let body = read_data(&mut reader, b"Prefix: 1\r\n".to_vec(), 12)
            .await
            .unwrap();
        assert!(!body.oversize);
        assert_eq!(body.bytes, b"Prefix: 1\r\n0123456789\r\n");
    }

    #[tokio::test]
    async fn eof_inside_data_is_an_error() {
        assert!(data(b"abc\r\n", 100).await.is_err());
    }

    #[tokio::test]
    async fn command_lines_are_bounded() {
        let mut reader = tokio::io::BufReader::new(&b"abcdefgh\r\nok\r\n"[..]);
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut line, 4).await.unwrap(),
            Line::Partial
        );
        assert_eq!(line, b"abcd");
        assert!(skip_line(&mut reader).await.unwrap());
        line.clear();
        assert_eq!(
            read_line(&mut reader, &mut line, 4).await.unwrap(),
            Line::Complete
        );
        assert_eq!(line, b"ok\r\n");
    }
}
