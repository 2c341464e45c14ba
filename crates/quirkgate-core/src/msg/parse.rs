//! Framing and the structural parse: start line, header lines, body.

use bytes::Bytes;
use memchr::memchr_iter;

use super::error::show;
use super::name::HeaderName;
use super::syntax::{is_lws, is_token, is_token_char, parse_decimal};
use super::{HeaderLine, Method, ParseError, Part, SipMessage, Span, StartKind};

/// The largest message accepted from a stream before the connection is
/// considered hostile. UDP datagrams are bounded by the socket buffer.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Datagram,
    Stream,
    /// Only the start line and headers, body and Content-Length ignored: to
    /// answer a request whose framing is broken with a 400 that says why.
    HeadOnly,
}

/// What [`frame_stream`] found at the front of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed {
    /// `skip` bytes of CRLF keep-alives, then a whole message of `len` bytes.
    Message { skip: usize, len: usize },
    /// Only `skip` bytes of keep-alive so far; the rest needs more data.
    Incomplete { skip: usize },
}

/// A datagram made only of CR/LF is a keep-alive (RFC 5626 §4.4.1), not an
/// error.
pub fn is_keepalive(datagram: &[u8]) -> bool {
    datagram.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// Finds the next message in a stream buffer, by its empty line and
/// Content-Length (RFC 3261 §18.3). A missing Content-Length on a stream
/// means an empty body.
pub fn frame_stream(buf: &[u8], max_size: usize) -> Result<Framed, ParseError> {
    let skip = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let msg = &buf[skip..];
    let Some((head_end, blank_end)) = find_blank_line(msg) else {
        if msg.len() > max_size {
            return Err(too_large(max_size));
        }
        return Ok(Framed::Incomplete { skip });
    };
    let body_len = content_length(content_length_lines(&msg[..head_end]))?.unwrap_or(0);
    let len = blank_end + body_len;
    if len > max_size {
        return Err(too_large(max_size));
    }
    if msg.len() < len {
        return Ok(Framed::Incomplete { skip });
    }
    Ok(Framed::Message { skip, len })
}

fn too_large(max: usize) -> ParseError {
    ParseError::message(format!("message larger than the {max}-byte maximum"))
}

/// The end of the header section: (end of the last header line, end of the
/// empty line). Accepts CRLF and bare LF line ends.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    for nl in memchr_iter(b'\n', buf) {
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return Some((nl + 1, nl + 2)),
            Some([b'\r', b'\n', ..]) => return Some((nl + 1, nl + 3)),
            _ => {}
        }
    }
    None
}

/// Splits a header section into lines, joining folded continuations
/// (a line that starts with SP or HTAB).
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    /// The span of the line including folds and its terminator.
    type Item = std::ops::Range<usize>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let mut end = self.buf.len();
        for nl in memchr_iter(b'\n', &self.buf[start..]) {
            let after = start + nl + 1;
            if !matches!(self.buf.get(after), Some(b' ' | b'\t')) {
                end = after;
                break;
            }
        }
        self.pos = end;
        Some(start..end)
    }
}

/// The value of Content-Length, checked: every copy must agree (RFC 4475
/// `mcl01`), and the number must be a plain non-negative decimal. Takes
/// each Content-Length header as (name as written, value).
fn content_length<'a>(
    copies: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for (name, value) in copies {
        let n = parse_decimal(value, u64::from(u32::MAX)).map_err(|e| {
            ParseError::header(
                name,
                format!("{} ('{}')", e.describe(u64::from(u32::MAX)), show(value)),
            )
        })? as usize;
        match found {
            Some(prev) if prev != n => {
                return Err(ParseError::header(
                    name,
                    format!("conflicting values {prev} and {n}"),
                ))
            }
            _ => found = Some(n),
        }
    }
    Ok(found)
}

/// The Content-Length headers of a header section not parsed into lines
/// (stream framing).
fn content_length_lines(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    Lines { buf: head, pos: 0 }.skip(1).filter_map(move |line| {
        let line = &head[line];
        let colon = memchr::memchr(b':', line)?;
        let name = trim_end_lws(&line[..colon]);
        (HeaderName::from_bytes(name) == HeaderName::ContentLength)
            .then(|| (name, super::syntax::trim_lws(&line[colon + 1..])))
    })
}

fn trim_end_lws(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(0, |i| i + 1);
    &s[..end]
}

pub(super) fn parse(input: Bytes, mode: Mode) -> Result<SipMessage, ParseError> {
    // Leading CRLFs before a start line are tolerated (RFC 3261 §7.5).
    let skip = input
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or_else(|| ParseError::message("empty message"))?;
    let data = &input[skip..];

    let (head_end, blank_end) = match find_blank_line(data) {
        Some(found) => found,
        // A datagram that ends right after its last header line lacks only
        // the empty line; nothing is ambiguous, so accept it as body-less.
        None if mode != Mode::Stream && data.ends_with(b"\n") => (data.len(), data.len()),
        None => {
            return Err(ParseError::message(
                "header section not terminated by an empty line",
            ))
        }
    };

    let head = &data[..head_end];
    let mut lines = Lines { buf: head, pos: 0 };
    let start_span = lines
        .next()
        .ok_or_else(|| ParseError::message("empty message"))?;
    let mut headers = Vec::with_capacity(16);
    for span in lines {
        headers.push(parse_header_line(&head[span.clone()], span)?);
    }

    let declared = match mode {
        Mode::HeadOnly => None,
        _ => content_length(
            headers
                .iter()
                .filter(|h| h.name == HeaderName::ContentLength)
                .map(|h| (h.raw_name(head), h.value(head))),
        )?,
    };
    let available = data.len() - blank_end;
    let body_len = match (declared, mode) {
        (Some(n), _) if n > available => {
            return Err(ParseError::header(
                b"Content-Length",
                format!("{n} exceeds the {available} body bytes received"),
            ))
        }
        (Some(n), _) => n,
        (None, Mode::Datagram) => available,
        (None, Mode::Stream | Mode::HeadOnly) => 0,
    };
    // Spans are relative to `data`, where `buf` starts too.
    let buf = input.slice(skip..skip + blank_end + body_len);
    let kind = match parse_start_line(&buf, &buf[start_span.clone()]) {
        Ok(kind) => kind,
        // To refuse a request whose Request-Line breaks the spacing rules
        // (RFC 4475 `lwsstart`, `trws`, `lwsruri`) it is enough to know it
        // is a request and to read its headers.
        Err(_) if mode == Mode::HeadOnly => lenient_request_line(&buf, start_span.clone())?,
        Err(e) => return Err(e),
    };

    Ok(SipMessage {
        start: Part::original(to_span(start_span)),
        kind,
        headers,
        blank: Part::original(head_end as u32..blank_end as u32),
        body: Part::original(blank_end as u32..(blank_end + body_len) as u32),
        buf,
        edited: false,
    })
}

fn to_span(r: std::ops::Range<usize>) -> Span {
    r.start as u32..r.end as u32
}

fn parse_header_line(line: &[u8], span: std::ops::Range<usize>) -> Result<HeaderLine, ParseError> {
    let content = strip_terminator(line);
    let colon = memchr::memchr(b':', content).ok_or_else(|| {
        ParseError::message(format!("header line without ':' ('{}')", show(content)))
    })?;
    let name = trim_end_lws(&content[..colon]);
    if !is_token(name) {
        return Err(ParseError::message(format!(
            "header name '{}' is not a token",
            show(&content[..colon])
        )));
    }
    // The value: after the colon, without LWS on either side.
    let after = colon + 1;
    let value_start = content[after..]
        .iter()
        .position(|&b| !is_lws(b))
        .map_or(content.len(), |i| after + i);
    let value_end = content[value_start..]
        .iter()
        .rposition(|&b| !is_lws(b))
        .map_or(value_start, |i| value_start + i + 1);
    Ok(HeaderLine {
        name: HeaderName::from_bytes(name),
        line: Part::original(to_span(span)),
        name_span: 0..name.len() as u32,
        value: value_start as u32..value_end as u32,
    })
}

fn strip_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Request-Line = Method SP Request-URI SP SIP-Version CRLF, with exactly one
/// SP between elements (RFC 4475 `lwsstart`, `trws`, `lwsruri`);
/// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF.
fn parse_start_line(buf: &Bytes, line: &[u8]) -> Result<StartKind, ParseError> {
    let content = strip_terminator(line);
    if content.len() == line.len() {
        return Err(ParseError::start_line("not terminated by a line end"));
    }
    let first_sp = memchr::memchr(b' ', content)
        .ok_or_else(|| ParseError::start_line(format!("no SP in '{}'", show(content))))?;
    let first = &content[..first_sp];

    if first.len() > 4 && first[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line. The reason phrase may be empty (RFC 4475 `noreason`)
        // and may hold UTF-8 (`unreason`), but no control characters.
        let rest = &content[first_sp + 1..];
        let (code, reason_start) = match memchr::memchr(b' ', rest) {
            Some(i) => (&rest[..i], first_sp + 1 + i + 1),
            None => (rest, content.len()),
        };
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::start_line(format!(
                "status code '{}' is not three digits",
                show(code)
            )));
        }
        let status = parse_decimal(code, 999).unwrap_or(0) as u16;
        if !(100..=699).contains(&status) {
            return Err(ParseError::start_line(format!(
                "status code {status} is outside 100-699"
            )));
        }
        let reason = &content[reason_start..];
        if reason.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            return Err(ParseError::start_line(
                "control character in the reason phrase",
            ));
        }
        return Ok(StartKind::Response {
            version: 0..first_sp as u32,
            status,
            reason: reason_start as u32..content.len() as u32,
        });
    }

    if !first.iter().all(|&b| is_token_char(b)) || first.is_empty() {
        return Err(ParseError::start_line(format!(
            "method '{}' is not a token",
            show(first)
        )));
    }
    let rest = &content[first_sp + 1..];
    let second_sp = memchr::memchr(b' ', rest)
        .ok_or_else(|| ParseError::start_line("missing SIP version after the Request-URI"))?;
    let uri = &rest[..second_sp];
    let version = &rest[second_sp + 1..];
    if uri.is_empty() {
        return Err(ParseError::start_line(
            "more than one SP between method and Request-URI",
        ));
    }
    if version.contains(&b' ') || version.is_empty() {
        return Err(ParseError::start_line(format!(
            "expected 'SIP/2.0' after the Request-URI, found '{}' (LWS inside the Request-URI or after the version)",
            show(version)
        )));
    }
    if !(version.len() > 4 && version[..4].eq_ignore_ascii_case(b"SIP/")) {
        return Err(ParseError::start_line(format!(
            "'{}' is not a SIP version",
            show(version)
        )));
    }
    if uri.iter().any(|&b| b.is_ascii_control() || b == b'\t') {
        return Err(ParseError::start_line(
            "control character in the Request-URI",
        ));
    }
    let line_start = line.as_ptr() as usize - buf.as_ptr() as usize;
    let method = Method::from_bytes(&buf.slice(line_start..line_start + first_sp));
    let uri_start = (first_sp + 1) as u32;
    let version_start = uri_start + second_sp as u32 + 1;
    Ok(StartKind::Request {
        method,
        uri: uri_start..uri_start + uri.len() as u32,
        version: version_start..content.len() as u32,
    })
}

/// A request line whose only fault is its spacing: the method is its first
/// token, the rest is kept as the Request-URI.
fn lenient_request_line(
    buf: &Bytes,
    span: std::ops::Range<usize>,
) -> Result<StartKind, ParseError> {
    let line = strip_terminator(&buf[span.clone()]);
    let method_len = line.iter().position(|&b| b == b' ').unwrap_or(0);
    let method = &line[..method_len];
    let is_request = !method.is_empty()
        && method.iter().all(|&b| is_token_char(b))
        && !method.starts_with(b"SIP/")
        && line.windows(7).any(|w| w.eq_ignore_ascii_case(b"SIP/2.0"));
    if !is_request {
        return Err(ParseError::start_line("not a request line"));
    }
    let end = line.len() as u32;
    Ok(StartKind::Request {
        method: Method::from_bytes(&buf.slice(span.start..span.start + method_len)),
        uri: method_len as u32 + 1..end,
        version: end..end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_skips_keepalives_and_waits_for_the_body() {
        let msg = b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabcOPT";
        assert_eq!(
            frame_stream(msg, 1000),
            Ok(Framed::Message { skip: 4, len: 34 })
        );
        assert_eq!(
            frame_stream(&msg[..30], 1000),
            Ok(Framed::Incomplete { skip: 4 })
        );
        assert_eq!(
            frame_stream(b"\r\n", 1000),
            Ok(Framed::Incomplete { skip: 2 })
        );
    }

    #[test]
    fn framing_refuses_oversized_messages() {
        let big = "INVITE sip:a SIP/2.0\r\nContent-Length: 100000\r\n\r\n";
        let err = frame_stream(big.as_bytes(), 1000).unwrap_err();
        assert!(err.to_string().contains("maximum"), "{err}");
        let endless = vec![b'a'; 2000];
        assert!(frame_stream(&endless, 1000).is_err());
    }

    #[test]
    fn folded_lines_stay_one_header() {
        let lines: Vec<_> = Lines {
            buf: b"A: 1\r\n 2\r\nB: 3\n",
            pos: 0,
        }
        .collect();
        assert_eq!(lines, vec![0..10, 10..15]);
    }
}
