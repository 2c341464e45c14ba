//! The invariants the parser fuzz target checks, kept in the crate so that
//! the found inputs replay as ordinary tests on the stable toolchain.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::gateway::{Gateway, GatewayConfig, LocalUser};
use crate::msg::validate::check_header;
use crate::msg::{frame_stream, validate, Framed, HeaderName, SipMessage};
use crate::time::Time;
use crate::transport::{Flow, Transport};

/// Feeds arbitrary bytes through every entry point; panics if an invariant
/// breaks: a parsed message must re-emit its own bytes, an edit must keep
/// the message parseable, and any answer the gateway gives must be valid.
pub fn check(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    if let Ok(msg) = SipMessage::parse_datagram(input.clone()) {
        let skip = data
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let out = msg.to_bytes();
        assert!(
            data[skip..].starts_with(&out),
            "re-emitted bytes differ from the input"
        );
        exercise_views(&msg);
        let _ = validate(&msg);

        let mut edited = msg.clone();
        edited.set_header(HeaderName::MaxForwards, b"69");
        let again =
            SipMessage::parse_datagram(edited.to_bytes()).expect("an edited message parses");
        assert_eq!(again.header(HeaderName::MaxForwards), Some(&b"69"[..]));
        assert_eq!(again.body(), msg.body());
    }
    if let Ok(Framed::Message { skip, len }) = frame_stream(data, 1 << 16) {
        assert!(skip + len <= data.len());
        if let Ok(msg) = SipMessage::parse_framed(input.slice(skip..skip + len)) {
            assert_eq!(msg.to_bytes(), input.slice(skip..skip + len));
        }
    }
    // The answer copies Via, From, To, Call-ID and CSeq; it can only be
    // valid when they were present and valid in the request.
    let request_complete = SipMessage::parse_head(input.clone()).is_ok_and(|head| {
        MANDATORY.iter().all(|&name| {
            head.header(name).is_some()
                && head
                    .header_values(name)
                    .all(|v| check_header(name, v).is_ok())
        })
    });
    let mut gateway = Gateway::new(
        GatewayConfig {
            users: vec![LocalUser {
                number: "100".into(),
                password: Some("pw".into()),
                allow_ips: vec![],
                contact: None,
                multi_device: false,
                nat: crate::gateway::NatMode::Auto,
            }],
            ..GatewayConfig::default()
        },
        [0; 32],
    );
    let flow = Flow {
        transport: Transport::Udp,
        local: ([127, 0, 0, 1], 5060).into(),
        remote: SocketAddr::from(([192, 0, 2, 1], 5060)),
        conn: None,
    };
    gateway.handle_message(Time::ZERO, flow, input);
    while let Some(out) = gateway.poll_transmit() {
        let parsed = SipMessage::parse_datagram(out.data).expect("what we send parses");
        if request_complete && !parsed.is_request() {
            if let Err(r) = validate(&parsed) {
                panic!("our own answer is invalid: {r}");
            }
        }
    }
}

const MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

fn exercise_views(msg: &SipMessage) {
    let _ = (
        msg.cseq(),
        msg.from_header(),
        msg.to_header(),
        msg.max_forwards(),
    );
    let _ = (
        msg.content_length(),
        msg.content_type(),
        msg.expires(),
        msg.rseq(),
    );
    let _ = (
        msg.rack(),
        msg.session_expires(),
        msg.min_se(),
        msg.contact_is_star(),
    );
    let _ = msg.vias().count() + msg.contacts().count() + msg.routes().count();
    let _ = msg.record_routes().count()
        + msg.p_asserted_identities().count()
        + msg.call_infos().count();
    let _ = msg.allow().count() + msg.option_tags(HeaderName::Require).count();
    for name in [HeaderName::WwwAuthenticate, HeaderName::Authorization] {
        let _ = msg.auth_fields(name).count();
    }
    if let Some(Ok(to)) = msg.to_header() {
        let _ = to.parsed_uri();
    }
}
