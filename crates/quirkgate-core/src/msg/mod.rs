//! The SIP message model: a message is one buffer plus spans into it.
//!
//! Parsing only finds the start line, the header lines and the body; header
//! values are interpreted on demand by the typed views in [`headers`]. A
//! message that was not edited serialises to its original bytes; an edit
//! replaces the bytes of the edited part only, so everything the gateway does
//! not own is forwarded byte for byte.

pub mod build;
mod error;
pub mod headers;
mod name;
mod parse;
pub mod syntax;
pub mod uri;
pub(crate) mod validate;

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

pub use error::{show, Location, ParseError};
pub use name::HeaderName;
pub use parse::{frame_stream, is_keepalive, Framed, DEFAULT_MAX_MESSAGE_SIZE};
pub use validate::{validate, Rejection, RejectionKind};

/// A request method. Methods are case-sensitive (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Prack,
    Update,
    Info,
    Message,
    Subscribe,
    Notify,
    Refer,
    Publish,
    /// Any other token: forwarded as written.
    Extension(Bytes),
}

impl Method {
    pub fn from_bytes(b: &Bytes) -> Method {
        match &b[..] {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"INFO" => Method::Info,
            b"MESSAGE" => Method::Message,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"REFER" => Method::Refer,
            b"PUBLISH" => Method::Publish,
            _ => Method::Extension(b.clone()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Invite => b"INVITE",
            Method::Ack => b"ACK",
            Method::Bye => b"BYE",
            Method::Cancel => b"CANCEL",
            Method::Register => b"REGISTER",
            Method::Options => b"OPTIONS",
            Method::Prack => b"PRACK",
            Method::Update => b"UPDATE",
            Method::Info => b"INFO",
            Method::Message => b"MESSAGE",
            Method::Subscribe => b"SUBSCRIBE",
            Method::Notify => b"NOTIFY",
            Method::Refer => b"REFER",
            Method::Publish => b"PUBLISH",
            Method::Extension(b) => b,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Positions are `u32` offsets: a message is far below 4 GiB and the smaller
/// spans keep a parsed message compact.
type Span = Range<u32>;

fn at(span: &Span) -> Range<usize> {
    span.start as usize..span.end as usize
}

/// Bytes that are either a span of the message buffer or, once edited, owned.
#[derive(Debug, Clone)]
struct Part {
    owned: Option<Bytes>,
    span: Span,
}

impl Part {
    fn original(span: Span) -> Part {
        Part { owned: None, span }
    }

    fn owned(bytes: Bytes) -> Part {
        let len = bytes.len() as u32;
        Part {
            owned: Some(bytes),
            span: 0..len,
        }
    }

    fn bytes<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        match &self.owned {
            Some(b) => b,
            None => &buf[at(&self.span)],
        }
    }
}

#[derive(Debug, Clone)]
enum StartKind {
    /// `uri` and `version` are relative to the start line.
    Request {
        method: Method,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        status: u16,
        reason: Span,
    },
}

/// One header line (with its folded continuations) as received.
#[derive(Debug, Clone)]
struct HeaderLine {
    name: HeaderName,
    line: Part,
    /// Relative to `line`: the name as written, and the value trimmed of LWS.
    name_span: Span,
    value: Span,
}

impl HeaderLine {
    fn value<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        &self.line.bytes(buf)[at(&self.value)]
    }

    fn raw_name<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        &self.line.bytes(buf)[at(&self.name_span)]
    }
}

/// A header as the application sees it.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub name: HeaderName,
    /// The name exactly as written (compact, odd case...).
    pub raw_name: &'a [u8],
    /// The value without surrounding LWS; folded lines keep their CRLF.
    pub value: &'a [u8],
}

impl<'a> Header<'a> {
    /// The header's full name, whatever form it was written in.
    pub fn full_name(&self) -> &'a [u8] {
        match self.name {
            HeaderName::Other => self.raw_name,
            known => known.as_str().as_bytes(),
        }
    }
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct SipMessage {
    buf: Bytes,
    start: Part,
    kind: StartKind,
    headers: Vec<HeaderLine>,
    /// The empty line ending the header section; empty when a datagram ended
    /// right after the last header line.
    blank: Part,
    body: Part,
    edited: bool,
}

impl SipMessage {
    /// Parses one message received as a UDP datagram: the body runs to
    /// Content-Length (octets past it are discarded, RFC 3261 §18.3) or to
    /// the end of the datagram when there is no Content-Length.
    pub fn parse_datagram(datagram: Bytes) -> Result<SipMessage, ParseError> {
        parse::parse(datagram, parse::Mode::Datagram)
    }

    /// Parses one message that [`frame_stream`] cut from a stream.
    pub fn parse_framed(message: Bytes) -> Result<SipMessage, ParseError> {
        parse::parse(message, parse::Mode::Stream)
    }

    /// Parses only the start line and headers of a message whose framing
    /// failed, so that the refusal can still be addressed to its sender.
    pub fn parse_head(message: Bytes) -> Result<SipMessage, ParseError> {
        parse::parse(message, parse::Mode::HeadOnly)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.kind, StartKind::Request { .. })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.kind {
            StartKind::Request { method, .. } => Some(method),
            StartKind::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&[u8]> {
        match &self.kind {
            StartKind::Request { uri, .. } => Some(&self.start_line()[at(uri)]),
            StartKind::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.kind {
            StartKind::Response { status, .. } => Some(status),
            StartKind::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&[u8]> {
        match &self.kind {
            StartKind::Response { reason, .. } => Some(&self.start_line()[at(reason)]),
            StartKind::Request { .. } => None,
        }
    }

    pub fn version(&self) -> &[u8] {
        let span = match &self.kind {
            StartKind::Request { version, .. } | StartKind::Response { version, .. } => version,
        };
        &self.start_line()[at(span)]
    }

    /// The start line including its line terminator.
    pub fn start_line(&self) -> &[u8] {
        self.start.bytes(&self.buf)
    }

    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> {
        self.headers.iter().map(|h| Header {
            name: h.name,
            raw_name: h.raw_name(&self.buf),
            value: h.value(&self.buf),
        })
    }

    /// The values of every header line with this name, in order.
    pub fn header_values(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| h.value(&self.buf))
    }

    /// The first value of a header, for the single-valued ones.
    pub fn header(&self, name: HeaderName) -> Option<&[u8]> {
        self.header_values(name).next()
    }

    /// The value of an unrecognised header, matched case-insensitively.
    pub fn other_header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|h| {
                h.name == HeaderName::Other && h.raw_name.eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|h| h.value)
    }

    pub fn body(&self) -> &[u8] {
        self.body.bytes(&self.buf)
    }

    /// The message as it goes on the wire. Unedited, this is the received
    /// buffer itself (no copy).
    pub fn to_bytes(&self) -> Bytes {
        if !self.edited {
            return self.buf.clone();
        }
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out.freeze()
    }

    /// A copy with only the header lines `keep` accepts, and the body, in
    /// a buffer of its own sized to fit: for a message kept as long as a
    /// call lasts, which should not pin all the rest it carried.
    pub fn compact(&self, keep: impl Fn(HeaderName) -> bool) -> SipMessage {
        let kept = || self.headers.iter().filter(|h| keep(h.name));
        let len = self.start.bytes(&self.buf).len()
            + kept().map(|h| h.line.bytes(&self.buf).len()).sum::<usize>()
            + self.blank.bytes(&self.buf).len()
            + self.body().len();
        let mut out = BytesMut::with_capacity(len);
        out.put_slice(self.start.bytes(&self.buf));
        for h in kept() {
            out.put_slice(h.line.bytes(&self.buf));
        }
        out.put_slice(self.blank.bytes(&self.buf));
        out.put_slice(self.body());
        match SipMessage::parse_datagram(out.freeze()) {
            Ok(mut compact) => {
                compact.headers.shrink_to_fit();
                compact
            }
            // Only what parsed before can be in it; should that ever fail,
            // the whole message is kept.
            Err(_) => self.clone(),
        }
    }

    pub fn encoded_len(&self) -> usize {
        self.parts().map(<[u8]>::len).sum()
    }

    pub fn write_to(&self, out: &mut BytesMut) {
        for part in self.parts() {
            out.put_slice(part);
        }
    }

    fn parts(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.start.bytes(&self.buf))
            .chain(self.headers.iter().map(|h| h.line.bytes(&self.buf)))
            .chain([self.blank.bytes(&self.buf), self.body.bytes(&self.buf)])
    }

    // ---- edits ----------------------------------------------------------

    /// Replaces the Request-URI; the rest of the request line is kept.
    pub fn set_request_uri(&mut self, new_uri: &[u8]) {
        let StartKind::Request { uri, version, .. } = &mut self.kind else {
            return;
        };
        let old = self.start.bytes(&self.buf);
        let mut line = BytesMut::with_capacity(old.len() + new_uri.len());
        line.put_slice(&old[..uri.start as usize]);
        line.put_slice(new_uri);
        line.put_slice(&old[uri.end as usize..]);
        let shift = new_uri.len() as i64 - i64::from(uri.end - uri.start);
        *uri = uri.start..uri.start + new_uri.len() as u32;
        *version = shifted(version, shift);
        self.start = Part::owned(line.freeze());
        self.edited = true;
    }

    /// Replaces the value of the `index`-th header line with this name,
    /// keeping the name as the sender wrote it. Returns false if absent.
    pub fn set_header_value(&mut self, name: HeaderName, index: usize, value: &[u8]) -> bool {
        let Some(pos) = self.nth_header(name, index) else {
            return false;
        };
        let h = &self.headers[pos];
        let old = h.line.bytes(&self.buf);
        // Everything around the value (name, spacing, line end) is kept.
        let prefix = &old[..h.value.start as usize];
        let suffix = &old[h.value.end as usize..];
        let mut line = BytesMut::with_capacity(prefix.len() + value.len() + suffix.len());
        line.put_slice(prefix);
        line.put_slice(value);
        line.put_slice(suffix);
        let value_span = prefix.len() as u32..(prefix.len() + value.len()) as u32;
        let name_span = h.name_span.clone();
        self.headers[pos] = HeaderLine {
            name,
            line: Part::owned(line.freeze()),
            name_span,
            value: value_span,
        };
        self.edited = true;
        true
    }

    /// Sets a single-valued header: replaces the first, removes any others,
    /// or appends it when absent.
    pub fn set_header(&mut self, name: HeaderName, value: &[u8]) {
        if self.set_header_value(name, 0, value) {
            let first = self.nth_header(name, 0);
            let mut i = 0;
            self.headers.retain(|h| {
                let keep = h.name != name || Some(i) == first;
                i += 1;
                keep
            });
        } else {
            self.push_header(name.as_str().as_bytes(), value);
        }
    }

    /// Removes every header line with this name.
    pub fn remove_headers(&mut self, name: HeaderName) -> usize {
        let before = self.headers.len();
        self.headers.retain(|h| h.name != name);
        let removed = before - self.headers.len();
        self.edited |= removed > 0;
        removed
    }

    /// Removes an unrecognised header by name, case-insensitively.
    pub fn remove_other_header(&mut self, name: &str) -> usize {
        let before = self.headers.len();
        let buf = &self.buf;
        self.headers.retain(|h| {
            h.name != HeaderName::Other || !h.raw_name(buf).eq_ignore_ascii_case(name.as_bytes())
        });
        let removed = before - self.headers.len();
        self.edited |= removed > 0;
        removed
    }

    /// Inserts a header line before the `position`-th header line.
    pub fn insert_header(&mut self, position: usize, name: &[u8], value: &[u8]) {
        let mut line = BytesMut::with_capacity(name.len() + value.len() + 4);
        line.put_slice(name);
        line.put_slice(b": ");
        line.put_slice(value);
        line.put_slice(b"\r\n");
        let name_end = name.len() as u32;
        let value_start = name_end + 2;
        let header = HeaderLine {
            name: HeaderName::from_bytes(name),
            line: Part::owned(line.freeze()),
            name_span: 0..name_end,
            value: value_start..value_start + value.len() as u32,
        };
        self.headers
            .insert(position.min(self.headers.len()), header);
        self.edited = true;
    }

    /// Appends a header line after the last one.
    pub fn push_header(&mut self, name: &[u8], value: &[u8]) {
        self.insert_header(self.headers.len(), name, value);
    }

    /// Replaces the body and keeps Content-Length in step with it.
    pub fn set_body(&mut self, body: Bytes) {
        let len = body.len().to_string();
        self.body = Part::owned(body);
        if self.blank.bytes(&self.buf).is_empty() {
            self.blank = Part::owned(Bytes::from_static(b"\r\n"));
        }
        self.set_header(HeaderName::ContentLength, len.as_bytes());
        self.edited = true;
    }

    fn nth_header(&self, name: HeaderName, index: usize) -> Option<usize> {
        self.headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.name == name)
            .nth(index)
            .map(|(i, _)| i)
    }
}

fn shifted(span: &Span, by: i64) -> Span {
    let move_by = |x: u32| (i64::from(x) + by) as u32;
    move_by(span.start)..move_by(span.end)
}

#[cfg(test)]
mod tests;
