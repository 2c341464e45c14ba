//! Writing messages the gateway originates: responses it answers itself and
//! the requests of its own legs.

use bytes::{BufMut, Bytes, BytesMut};

use super::name::HeaderName;
use super::SipMessage;

/// Writes a message line by line into one buffer; Content-Length is added by
/// [`MessageWriter::finish`] so it can never disagree with the body.
pub struct MessageWriter {
    buf: BytesMut,
}

impl MessageWriter {
    pub fn request(method: &[u8], uri: &[u8]) -> Self {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(method);
        buf.put_u8(b' ');
        buf.put_slice(uri);
        buf.put_slice(b" SIP/2.0\r\n");
        MessageWriter { buf }
    }

    pub fn status(status: u16, reason: &str) -> Self {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(b"SIP/2.0 ");
        buf.put_slice(status.to_string().as_bytes());
        buf.put_u8(b' ');
        // A reason phrase built from untrusted text must stay on one line.
        buf.extend(
            reason
                .bytes()
                .map(|b| if b.is_ascii_control() { b' ' } else { b }),
        );
        buf.put_slice(b"\r\n");
        MessageWriter { buf }
    }

    pub fn header(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        self.buf.put_slice(name);
        self.buf.put_slice(b": ");
        self.buf.put_slice(value);
        self.buf.put_slice(b"\r\n");
        self
    }

    pub fn known(&mut self, name: HeaderName, value: &[u8]) -> &mut Self {
        self.header(name.as_str().as_bytes(), value)
    }

    /// Ends the header section with Content-Length and appends the body.
    pub fn finish(mut self, body: &[u8]) -> Bytes {
        self.buf.put_slice(b"Content-Length: ");
        self.buf.put_slice(body.len().to_string().as_bytes());
        self.buf.put_slice(b"\r\n\r\n");
        self.buf.put_slice(body);
        self.buf.freeze()
    }
}

/// A From/To value with a tag parameter added. A stray trailing ';' (which
/// the parser tolerates) is dropped first, or the result would hold ';;'.
pub fn with_tag(value: &[u8], tag: &[u8]) -> Vec<u8> {
    let end = value
        .iter()
        .rposition(|&b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    let mut v = Vec::with_capacity(end + tag.len() + 5);
    v.extend_from_slice(&value[..end]);
    v.extend_from_slice(b";tag=");
    v.extend_from_slice(tag);
    v
}

/// Starts a response to `request` (RFC 3261 §8.2.6.2): Via, From, Call-ID
/// and CSeq copied as received, To copied with `to_tag` added when the
/// request had none.
pub fn response(
    request: &SipMessage,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
) -> MessageWriter {
    let mut w = MessageWriter::status(status, reason);
    for via in request.header_values(HeaderName::Via) {
        w.known(HeaderName::Via, via);
    }
    if let Some(from) = request.header(HeaderName::From) {
        w.known(HeaderName::From, from);
    }
    if let Some(to) = request.header(HeaderName::To) {
        let has_tag = request
            .to_header()
            .and_then(Result::ok)
            .is_some_and(|t| t.tag().is_some());
        match to_tag {
            Some(tag) if !has_tag => {
                w.known(HeaderName::To, &with_tag(to, tag.as_bytes()));
            }
            _ => {
                w.known(HeaderName::To, to);
            }
        }
    }
    for name in [HeaderName::CallId, HeaderName::CSeq] {
        if let Some(v) = request.header(name) {
            w.known(name, v);
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_after_a_stray_semicolon() {
        assert_eq!(with_tag(b"sip:a@b;", b"t"), b"sip:a@b;tag=t");
        assert_eq!(with_tag(b"<sip:a@b>", b"t"), b"<sip:a@b>;tag=t");
    }

    #[test]
    fn response_copies_the_transaction_headers() {
        let req = SipMessage::parse_datagram(Bytes::from_static(
            b"OPTIONS sip:gw SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nv: SIP/2.0/UDP b\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:gw>\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\n\r\n",
        ))
        .unwrap();
        let mut w = response(&req, 200, "OK\r\nInjected: x", Some("t9"));
        w.header(b"Allow", b"INVITE, ACK");
        let resp = SipMessage::parse_datagram(w.finish(b"")).unwrap();
        assert_eq!(resp.status(), Some(200));
        assert_eq!(resp.reason(), Some(&b"OK  Injected: x"[..]));
        assert_eq!(resp.vias().count(), 2);
        assert_eq!(resp.to_header().unwrap().unwrap().tag(), Some(&b"t9"[..]));
        assert_eq!(resp.cseq().unwrap().unwrap().seq, 7);
        assert!(crate::msg::validate(&resp).is_ok());
    }
}
