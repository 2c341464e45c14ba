use super::*;

const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
X-Custom:   kept   exactly  \r\n\
Contact: <sip:alice@192.0.2.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

fn parse(bytes: &'static [u8]) -> SipMessage {
    SipMessage::parse_datagram(Bytes::from_static(bytes)).expect("parses")
}

#[test]
fn unedited_message_is_the_same_buffer() {
    let msg = parse(INVITE);
    assert_eq!(&msg.to_bytes()[..], INVITE);
    assert_eq!(msg.encoded_len(), INVITE.len());
    assert_eq!(msg.method(), Some(&Method::Invite));
    assert_eq!(msg.request_uri(), Some(&b"sip:bob@example.com"[..]));
    assert_eq!(msg.body(), b"v=0\n");
    assert_eq!(msg.other_header("x-custom"), Some(&b"kept   exactly"[..]));
}

#[test]
fn editing_one_header_changes_only_its_value() {
    let mut msg = parse(INVITE);
    assert!(msg.set_header_value(HeaderName::MaxForwards, 0, b"69"));
    let out = msg.to_bytes();
    let expected = String::from_utf8_lossy(INVITE).replace("Max-Forwards: 70", "Max-Forwards: 69");
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn request_uri_edit_keeps_the_rest_of_the_line() {
    let mut msg = parse(INVITE);
    msg.set_request_uri(b"sip:+4930123@gw.example.net;user=phone");
    assert_eq!(
        msg.request_uri(),
        Some(&b"sip:+4930123@gw.example.net;user=phone"[..])
    );
    assert_eq!(msg.version(), b"SIP/2.0");
    assert!(msg
        .to_bytes()
        .starts_with(b"INVITE sip:+4930123@gw.example.net;user=phone SIP/2.0\r\nVia:"));
}

#[test]
fn body_edit_updates_content_length() {
    let mut msg = parse(INVITE);
    msg.set_body(Bytes::from_static(b"v=0\r\no=- 1 1 IN IP4 x\r\n"));
    let reparsed = SipMessage::parse_datagram(msg.to_bytes()).unwrap();
    assert_eq!(reparsed.content_length().unwrap().unwrap(), 23);
    assert_eq!(reparsed.body(), b"v=0\r\no=- 1 1 IN IP4 x\r\n");
}

#[test]
fn headers_can_be_removed_and_added() {
    let mut msg = parse(INVITE);
    assert_eq!(msg.remove_other_header("X-CUSTOM"), 1);
    msg.insert_header(0, b"Via", b"SIP/2.0/UDP gw.example.net;branch=z9hG4bKnew");
    let vias: Vec<_> = msg.vias().map(|v| v.unwrap().host.to_vec()).collect();
    assert_eq!(
        vias,
        vec![b"gw.example.net".to_vec(), b"192.0.2.1".to_vec()]
    );
    assert!(!msg.to_bytes().windows(8).any(|w| w == b"X-Custom"));
}

#[test]
fn typed_views() {
    let msg = parse(INVITE);
    assert_eq!(msg.cseq().unwrap().unwrap().seq, 314159);
    assert_eq!(
        msg.from_header().unwrap().unwrap().tag(),
        Some(&b"1928301774"[..])
    );
    assert_eq!(msg.to_header().unwrap().unwrap().tag(), None);
    assert_eq!(msg.max_forwards().unwrap().unwrap(), 70);
    assert_eq!(msg.content_type().unwrap().unwrap(), b"application/sdp");
    assert_eq!(
        msg.top_via().unwrap().unwrap().branch(),
        Some(&b"z9hG4bK776asdhds"[..])
    );
    assert_eq!(msg.contacts().count(), 1);
    assert!(validate(&msg).is_ok());
}

#[test]
fn extra_datagram_bytes_are_not_part_of_the_message() {
    let msg = parse(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\ngarbage");
    assert_eq!(
        &msg.to_bytes()[..],
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn content_length_beyond_the_datagram_is_an_error_naming_the_header() {
    let err = SipMessage::parse_datagram(Bytes::from_static(
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 9999\r\n\r\nabc",
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Content-Length: 9999 exceeds the 3 body bytes received"
    );
}

#[test]
fn star_contact() {
    let msg = parse(b"REGISTER sip:r SIP/2.0\r\nContact: *\r\nExpires: 0\r\n\r\n");
    assert!(msg.contact_is_star());
    assert_eq!(msg.contacts().count(), 0);
}
