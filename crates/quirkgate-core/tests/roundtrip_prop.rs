//! Property: whatever the spelling, spacing, folding and line ends of a
//! message, parsing and re-emitting it gives back the same bytes, and an
//! edit changes only the edited value.

use bytes::Bytes;
use proptest::prelude::*;
use quirkgate_core::msg::{frame_stream, Framed, HeaderName, SipMessage};

fn eol() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\r\n"), Just("\n")]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Via".to_string()),
        Just("v".to_string()),
        Just("fRoM".to_string()),
        Just("To".to_string()),
        Just("Call-ID".to_string()),
        Just("i".to_string()),
        Just("CSeq".to_string()),
        Just("Max-Forwards".to_string()),
        Just("Contact".to_string()),
        "X-[A-Za-z0-9!%*_+`'~.-]{1,12}",
    ]
}

/// A value with arbitrary printable bytes and UTF-8, optionally folded.
fn header_value() -> impl Strategy<Value = String> {
    (
        "[ -~\u{e9}\u{4e2d}]{0,40}",
        proptest::option::of(("[ \t]{1,3}", "[!-~][ -~]{0,20}")),
    )
        .prop_map(|(v, fold)| match fold {
            Some((ws, more)) => format!("{}\r\n{ws}{more}", v.trim()),
            None => v.trim().to_string(),
        })
}

fn start_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            "[A-Z]{3,10}",
            "sip:[a-z0-9]{1,8}@[a-z0-9.]{1,12}(;[a-z]{1,5}=[a-z0-9]{1,5}){0,2}"
        )
            .prop_map(|(m, u)| format!("{m} {u} SIP/2.0")),
        (100u16..700, "[ -~]{0,20}").prop_map(|(c, r)| format!("SIP/2.0 {c} {r}")),
    ]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        start_line(),
        eol(),
        proptest::collection::vec(
            (
                header_name(),
                "[ \t]{0,2}",
                "[ \t]{0,3}",
                header_value(),
                eol(),
            ),
            0..12,
        ),
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
    )
        .prop_map(|(start, start_eol, headers, body, with_length)| {
            let mut m = format!("{start}{start_eol}").into_bytes();
            for (name, before, after, value, eol) in headers {
                m.extend_from_slice(format!("{name}{before}:{after}{value}{eol}").as_bytes());
            }
            if with_length {
                m.extend_from_slice(format!("l: {}\r\n", body.len()).as_bytes());
            }
            m.extend_from_slice(b"\r\n");
            m.extend_from_slice(&body);
            m
        })
}

proptest! {
    #[test]
    fn datagram_round_trip(bytes in message()) {
        let msg = SipMessage::parse_datagram(Bytes::from(bytes.clone())).unwrap();
        prop_assert_eq!(&msg.to_bytes()[..], &bytes[..]);
    }

    #[test]
    fn stream_framing_round_trip(bytes in message(), keepalive in "(\r\n){0,3}") {
        let msg = SipMessage::parse_datagram(Bytes::from(bytes.clone())).unwrap();
        // On a stream the length comes from Content-Length alone.
        let mut framed = msg.clone();
        framed.set_header(HeaderName::ContentLength, msg.body().len().to_string().as_bytes());
        let wire = [keepalive.as_bytes(), &framed.to_bytes(), b"OPTIONS sip:next SIP/2.0\r\n"].concat();
        let Framed::Message { skip, len } = frame_stream(&wire, 1 << 20).unwrap() else {
            panic!("a whole message is framed");
        };
        prop_assert_eq!(skip, keepalive.len());
        let again = SipMessage::parse_framed(Bytes::copy_from_slice(&wire[skip..skip + len])).unwrap();
        prop_assert_eq!(again.to_bytes(), framed.to_bytes());
    }

    #[test]
    fn edit_changes_only_the_value(bytes in message(), new_value in "[!-~]{1,30}") {
        let mut msg = SipMessage::parse_datagram(Bytes::from(bytes.clone())).unwrap();
        let before = msg.to_bytes();
        // An unedited message's views point into its buffer, so the value's
        // position in the original bytes is known exactly.
        let Some(range) = msg.headers().find(|h| h.name == HeaderName::CallId).map(|h| {
            let start = h.value.as_ptr() as usize - before.as_ptr() as usize;
            start..start + h.value.len()
        }) else {
            return Ok(());
        };
        msg.set_header_value(HeaderName::CallId, 0, new_value.as_bytes());
        let expected = [&before[..range.start], new_value.as_bytes(), &before[range.end..]].concat();
        prop_assert_eq!(&msg.to_bytes()[..], &expected[..]);
    }
}
