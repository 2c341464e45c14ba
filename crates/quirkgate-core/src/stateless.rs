//! Stateless answers: refusals of requests that never reach a transaction
//! (malformed, or failing validation), and the NAT stamps of RFC 3581.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::msg::build::{response, MessageWriter};
use crate::msg::headers::Via;
use crate::msg::{HeaderName, Method, ParseError, SipMessage};

/// The answer to bytes that did not parse: a 400 saying why, when the
/// header section is readable enough to address one (RFC 4475 `clerr`,
/// `ncl`); nothing for garbage.
pub fn refuse_malformed(datagram: Bytes, source: SocketAddr, error: &ParseError) -> Option<Bytes> {
    let head = SipMessage::parse_head(datagram).ok()?;
    refuse(head, source, 400, &error.to_string())
}

/// Refuses a request with `status`; the reason phrase of a 400 says what
/// was wrong. Responses and ACKs are never answered (RFC 3261 §8.2.1).
pub fn refuse(msg: SipMessage, source: SocketAddr, status: u16, reason: &str) -> Option<Bytes> {
    // Never answer an ACK, and never answer a response (RFC 3261 §8.2.1).
    if msg.method().is_none_or(|m| *m == Method::Ack) {
        return None;
    }
    // A response is routed by Via and matched by branch and CSeq method
    // (RFC 3261 §17.1.3): without them no one could use the answer.
    msg.header(HeaderName::Via)?;
    msg.header(HeaderName::CSeq)?;
    let phrase = match status {
        505 => "Version Not Supported".to_string(),
        _ => format!("Bad Request: {reason}"),
    };
    Some(start(msg, source, status, &phrase)?.finish(b""))
}

fn start(
    mut msg: SipMessage,
    source: SocketAddr,
    status: u16,
    reason: &str,
) -> Option<MessageWriter> {
    stamp_received(&mut msg, source);
    let tag = stateless_tag(&msg);
    Some(response(&msg, status, reason, Some(&tag)))
}

/// RFC 3261 §18.2.1 and RFC 3581: record where the request really came
/// from in its top Via, so the response reaches a phone behind NAT.
pub fn stamp_received(msg: &mut SipMessage, source: SocketAddr) {
    let Some(line) = msg.header(HeaderName::Via) else {
        return;
    };
    let (first, rest) = match crate::msg::syntax::find_unquoted(line, b',') {
        Some(i) => (&line[..i], Some(&line[i..])),
        None => (line, None),
    };
    let Ok(via) = Via::parse(first) else {
        return;
    };
    let ip = source.ip().to_string();
    let wants_rport = via.rport() == Some(None);
    let host = via
        .host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(via.host);
    let needs_received = host != ip.as_bytes() || wants_rport;
    if !needs_received && !wants_rport {
        return;
    }
    // Rebuild the value from its parts: sent-protocol and sent-by as
    // written, then the parameters, the bare `rport` flag given its value.
    let first = crate::msg::syntax::trim_lws(first);
    let head = first.split(|&b| b == b';').next().unwrap_or(first);
    let mut value = Vec::with_capacity(line.len() + 40);
    value.extend_from_slice(crate::msg::syntax::trim_lws(head));
    for (name, v) in via.params.iter() {
        value.push(b';');
        value.extend_from_slice(name);
        if wants_rport && name.eq_ignore_ascii_case(b"rport") {
            value.extend_from_slice(format!("={}", source.port()).as_bytes());
        } else if let Some(v) = v {
            value.push(b'=');
            value.extend_from_slice(v);
        }
    }
    if needs_received && via.received().is_none() {
        value.extend_from_slice(b";received=");
        value.extend_from_slice(ip.as_bytes());
    }
    if let Some(rest) = rest {
        value.extend_from_slice(rest);
    }
    msg.set_header_value(HeaderName::Via, 0, &value);
}

/// A To tag derived from the request, so a retransmitted request gets the
/// same tag without any state being kept.
pub(crate) fn stateless_tag(msg: &SipMessage) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        msg.call_id().unwrap_or_default(),
        msg.header(HeaderName::From).unwrap_or_default(),
        msg.header(HeaderName::CSeq).unwrap_or_default(),
    ];
    for b in parts.iter().flat_map(|p| p.iter()) {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("qg{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::validate;

    fn src() -> SocketAddr {
        "198.51.100.7:40123".parse().unwrap()
    }

    /// What the gateway answers statelessly to these bytes.
    fn answer(bytes: &'static [u8]) -> Option<SipMessage> {
        let data = Bytes::from_static(bytes);
        let out = match SipMessage::parse_datagram(data.clone()) {
            Err(e) => refuse_malformed(data, src(), &e),
            Ok(msg) => match validate(&msg) {
                Err(r) => refuse(msg, src(), r.status, &r.error.to_string()),
                Ok(()) => {
                    let mut msg = msg;
                    stamp_received(&mut msg, src());
                    start(msg, src(), 200, "OK").map(|w| w.finish(b""))
                }
            },
        };
        out.map(|b| SipMessage::parse_datagram(b).unwrap())
    }

    const OPTIONS: &[u8] = b"OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKa;rport\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn nat_stamps_and_stable_tags() {
        let r = answer(OPTIONS).unwrap();
        let via = r.top_via().unwrap().unwrap();
        assert_eq!(via.rport(), Some(Some(40123)));
        assert_eq!(via.received(), Some(&b"198.51.100.7"[..]));
        assert_eq!(via.branch(), Some(&b"z9hG4bKa"[..]));
        // The same request gets the same tag: retransmissions stay consistent.
        let again = answer(OPTIONS).unwrap();
        assert_eq!(
            r.to_header().unwrap().unwrap().tag(),
            again.to_header().unwrap().unwrap().tag()
        );
    }

    #[test]
    fn malformed_request_gets_400_saying_why() {
        let r = answer(
            b"OPTIONS sip:gw SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:gw>\r\nCall-ID: c1\r\nCSeq: 99999999999 OPTIONS\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status(), Some(400));
        let reason = String::from_utf8_lossy(r.reason().unwrap()).into_owned();
        assert_eq!(
            reason,
            "Bad Request: CSeq: sequence number is larger than 4294967295"
        );
    }

    #[test]
    fn content_length_beyond_datagram_gets_400() {
        let r = answer(
            b"OPTIONS sip:gw SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:gw>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 9999\r\n\r\nshort",
        )
        .unwrap();
        assert_eq!(r.status(), Some(400));
        assert!(r
            .reason()
            .unwrap()
            .ends_with(b"exceeds the 5 body bytes received"));
    }

    #[test]
    fn garbage_and_responses_get_nothing() {
        assert!(answer(b"\x00\x01garbage").is_none());
        assert!(refuse(
            SipMessage::parse_datagram(Bytes::from_static(
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\nCSeq: 1 X\r\n\r\n"
            ))
            .unwrap(),
            src(),
            400,
            "x"
        )
        .is_none());
    }

    #[test]
    fn wrong_version_gets_505() {
        let r = answer(
            b"OPTIONS sip:gw SIP/7.0\r\nVia: SIP/7.0/UDP 10.0.0.2\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:gw>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status(), Some(505));
    }
}
