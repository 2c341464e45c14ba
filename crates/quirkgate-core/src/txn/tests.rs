//! One scenario per test, driven by a virtual clock.

use super::*;
use crate::transport::Transport;

fn flow(transport: Transport) -> Flow {
    Flow {
        transport,
        local: "127.0.0.1:5060".parse().unwrap(),
        remote: "192.0.2.10:5062".parse().unwrap(),
        conn: None,
    }
}

fn at(ms: u64) -> Time {
    Time::from_micros(ms * 1000)
}

fn msg(text: &str) -> SipMessage {
    SipMessage::parse_datagram(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
}

fn request(method: &str, branch: &str, to_tag: &str) -> SipMessage {
    msg(&format!(
        "{method} sip:100@127.0.0.1 SIP/2.0\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;branch={branch}\n\
From: <sip:101@127.0.0.1>;tag=f1\n\
To: <sip:100@127.0.0.1>{to_tag}\n\
Call-ID: call-1\n\
CSeq: 1 {method}\n\
Max-Forwards: 70\n\
Content-Length: 0\n\n"
    ))
}

fn reply(req: &SipMessage, status: u16) -> Bytes {
    response(req, status, "Status", Some("t1")).finish(b"")
}

fn events(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

fn sent(layer: &mut TransactionLayer) -> Vec<String> {
    std::iter::from_fn(|| layer.poll_transmit())
        .map(|t| {
            String::from_utf8_lossy(&t.data)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn new_request(layer: &mut TransactionLayer) -> TxId {
    let ev = events(layer);
    match ev.as_slice() {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("expected one request, got {other:?}"),
    }
}

#[test]
fn invite_server_sends_100_at_once_and_absorbs_retransmissions() {
    let mut l = TransactionLayer::new();
    let invite = request("INVITE", "z9hG4bKinv1", "");
    l.receive(at(0), invite.clone(), flow(Transport::Udp));
    assert_eq!(sent(&mut l), ["SIP/2.0 100 Trying"]);
    new_request(&mut l);
    l.receive(at(500), invite, flow(Transport::Udp));
    assert!(
        events(&mut l).is_empty(),
        "a retransmission is not a new request"
    );
    assert_eq!(
        sent(&mut l),
        ["SIP/2.0 100 Trying"],
        "the last response is repeated"
    );
}

#[test]
fn invite_server_retransmits_error_response_until_ack() {
    let mut l = TransactionLayer::new();
    let invite = request("INVITE", "z9hG4bKinv2", "");
    l.receive(at(0), invite.clone(), flow(Transport::Udp));
    let tx = new_request(&mut l);
    sent(&mut l);
    l.respond(at(10), tx, reply(&invite, 486));
    assert_eq!(sent(&mut l), ["SIP/2.0 486 Status"]);
    // Timer G: T1, then 2*T1 ...
    l.handle_timeout(at(510));
    assert_eq!(sent(&mut l), ["SIP/2.0 486 Status"]);
    l.handle_timeout(at(1000));
    assert!(
        sent(&mut l).is_empty(),
        "next retransmission only after 2*T1"
    );
    l.handle_timeout(at(1510));
    assert_eq!(sent(&mut l).len(), 1);
    // The ACK confirms: no more retransmissions, the transaction ends after T4.
    l.receive(
        at(1600),
        request("ACK", "z9hG4bKinv2", ";tag=t1"),
        flow(Transport::Udp),
    );
    assert!(
        events(&mut l).is_empty(),
        "a non-2xx ACK stays in the transaction"
    );
    l.handle_timeout(at(20_000));
    assert!(sent(&mut l).is_empty());
    assert!(l.is_empty());
}

#[test]
fn invite_server_without_ack_times_out_with_timer_h() {
    let mut l = TransactionLayer::new();
    let invite = request("INVITE", "z9hG4bKinv3", "");
    l.receive(at(0), invite.clone(), flow(Transport::Udp));
    let tx = new_request(&mut l);
    l.respond(at(0), tx, reply(&invite, 404));
    l.handle_timeout(at(31_999));
    assert!(events(&mut l).is_empty());
    l.handle_timeout(at(32_000));
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::NoAck { tx: t }] if *t == tx));
    assert!(l.is_empty());
}

#[test]
fn invite_server_2xx_absorbs_retransmits_and_passes_the_ack_up() {
    let mut l = TransactionLayer::new();
    let invite = request("INVITE", "z9hG4bKinv4", "");
    l.receive(at(0), invite.clone(), flow(Transport::Udp));
    let tx = new_request(&mut l);
    sent(&mut l);
    l.respond(at(5), tx, reply(&invite, 200));
    assert_eq!(sent(&mut l), ["SIP/2.0 200 Status"]);
    l.receive(at(500), invite, flow(Transport::Udp));
    assert!(
        events(&mut l).is_empty(),
        "RFC 6026: retransmitted INVITE absorbed"
    );
    assert!(
        sent(&mut l).is_empty(),
        "the 2xx is the dialog's to retransmit"
    );
    l.receive(
        at(600),
        request("ACK", "z9hG4bKack4", ";tag=t1"),
        flow(Transport::Udp),
    );
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::Ack { .. }]));
    l.handle_timeout(at(32_005));
    assert!(l.is_empty(), "Timer L ends the transaction");
}

#[test]
fn non_invite_server_repeats_its_final_response() {
    let mut l = TransactionLayer::new();
    let options = request("OPTIONS", "z9hG4bKopt1", "");
    l.receive(at(0), options.clone(), flow(Transport::Udp));
    let tx = new_request(&mut l);
    assert!(sent(&mut l).is_empty(), "no 100 for non-INVITE");
    l.respond(at(1), tx, reply(&options, 200));
    sent(&mut l);
    l.receive(at(800), options, flow(Transport::Udp));
    assert_eq!(sent(&mut l), ["SIP/2.0 200 Status"]);
    l.handle_timeout(at(32_001));
    assert!(l.is_empty(), "Timer J");
}

#[test]
fn cancel_matches_a_pending_invite() {
    let mut l = TransactionLayer::new();
    let invite = request("INVITE", "z9hG4bKinv5", "");
    l.receive(at(0), invite, flow(Transport::Udp));
    let invite_tx = new_request(&mut l);
    sent(&mut l);
    let cancel = request("CANCEL", "z9hG4bKinv5", "");
    l.receive(at(100), cancel.clone(), flow(Transport::Udp));
    let ev = events(&mut l);
    let [TxEvent::Cancelled {
        invite, cancel_tx, ..
    }] = ev.as_slice()
    else {
        panic!("{ev:?}");
    };
    assert_eq!(*invite, invite_tx);
    assert!(
        sent(&mut l).is_empty(),
        "the TU answers the CANCEL, with its own tag"
    );
    l.respond(at(101), *cancel_tx, reply(&cancel, 200));
    assert_eq!(sent(&mut l), ["SIP/2.0 200 Status"]);
}

#[test]
fn cancel_without_a_pending_invite_gets_481() {
    let mut l = TransactionLayer::new();
    l.receive(
        at(0),
        request("CANCEL", "z9hG4bKnone", ""),
        flow(Transport::Udp),
    );
    assert_eq!(
        sent(&mut l),
        ["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    assert!(events(&mut l).is_empty());
}

#[test]
fn merged_request_gets_482() {
    let mut l = TransactionLayer::new();
    l.receive(
        at(0),
        request("INVITE", "z9hG4bKpath1", ""),
        flow(Transport::Udp),
    );
    new_request(&mut l);
    sent(&mut l);
    // Same From tag, Call-ID and CSeq, no To tag, another branch: it forked
    // upstream and came back by a second path (RFC 3261 §8.2.2.2).
    l.receive(
        at(10),
        request("INVITE", "z9hG4bKpath2", ""),
        flow(Transport::Udp),
    );
    assert_eq!(sent(&mut l), ["SIP/2.0 482 Loop Detected"]);
    assert!(events(&mut l).is_empty());
}

fn outgoing(method: &str, branch: &str) -> SipMessage {
    msg(&format!(
        "{method} sip:200@192.0.2.10:5062 SIP/2.0\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\n\
From: <sip:100@127.0.0.1>;tag=gw1\n\
To: <sip:200@127.0.0.1>\n\
Call-ID: out-1\n\
CSeq: 7 {method}\n\
Route: <sip:proxy.example;lr>\n\
Max-Forwards: 70\n\
Content-Length: 0\n\n"
    ))
}

fn response_to(req: &SipMessage, status: u16, tag: &str) -> SipMessage {
    SipMessage::parse_datagram(response(req, status, "R", Some(tag)).finish(b"")).unwrap()
}

#[test]
fn invite_client_doubles_timer_a_and_gives_up_with_timer_b() {
    let mut l = TransactionLayer::new();
    let tx = l.send_request(at(0), outgoing("INVITE", "z9hG4bKc1"), flow(Transport::Udp));
    assert_eq!(sent(&mut l).len(), 1);
    let mut retransmits = vec![];
    for ms in (0..=32_000).step_by(100) {
        l.handle_timeout(at(ms));
        if !sent(&mut l).is_empty() {
            retransmits.push(ms);
        }
    }
    // 0.5 s, 1.5 s, 3.5 s, 7.5 s, 15.5 s, 31.5 s after the first send.
    assert_eq!(retransmits, [500, 1500, 3500, 7500, 15500, 31500]);
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::Timeout { tx: t }] if *t == tx));
    assert!(l.is_empty());
}

#[test]
fn invite_client_acks_a_failure_and_reacks_its_retransmissions() {
    let mut l = TransactionLayer::new();
    let invite = outgoing("INVITE", "z9hG4bKc2");
    l.send_request(at(0), invite.clone(), flow(Transport::Udp));
    sent(&mut l);
    let busy = response_to(&invite, 486, "callee");
    l.receive(at(50), busy.clone(), flow(Transport::Udp));
    let acks: Vec<_> = std::iter::from_fn(|| l.poll_transmit()).collect();
    assert_eq!(acks.len(), 1);
    let ack = SipMessage::parse_datagram(acks[0].data.clone()).unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert_eq!(
        ack.top_via().unwrap().unwrap().branch(),
        Some(&b"z9hG4bKc2"[..])
    );
    assert_eq!(
        ack.to_header().unwrap().unwrap().tag(),
        Some(&b"callee"[..])
    );
    assert_eq!(ack.header(HeaderName::CSeq), Some(&b"7 ACK"[..]));
    assert_eq!(
        ack.header(HeaderName::Route),
        Some(&b"<sip:proxy.example;lr>"[..])
    );
    assert_eq!(events(&mut l).len(), 1, "the 486 goes up once");
    l.receive(at(600), busy, flow(Transport::Udp));
    assert_eq!(sent(&mut l), ["ACK sip:200@192.0.2.10:5062 SIP/2.0"]);
    assert!(events(&mut l).is_empty(), "a retransmitted 486 is absorbed");
    l.handle_timeout(at(32_050));
    assert!(l.is_empty(), "Timer D");
}

#[test]
fn invite_client_passes_every_forked_2xx_up() {
    let mut l = TransactionLayer::new();
    let invite = outgoing("INVITE", "z9hG4bKc3");
    l.send_request(at(0), invite.clone(), flow(Transport::Udp));
    l.receive(at(10), response_to(&invite, 180, "a"), flow(Transport::Udp));
    l.receive(at(20), response_to(&invite, 200, "a"), flow(Transport::Udp));
    l.receive(at(30), response_to(&invite, 200, "b"), flow(Transport::Udp));
    let statuses: Vec<_> = events(&mut l)
        .into_iter()
        .map(|e| match e {
            TxEvent::Response { msg, .. } => msg.status().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, [180, 200, 200]);
    l.handle_timeout(at(32_020));
    assert!(l.is_empty(), "Timer M");
    l.receive(
        at(40_000),
        response_to(&invite, 200, "b"),
        flow(Transport::Udp),
    );
    assert!(matches!(
        events(&mut l).as_slice(),
        [TxEvent::Stray2xx { .. }]
    ));
}

#[test]
fn non_invite_client_retransmits_up_to_t2_and_stops_on_final() {
    let mut l = TransactionLayer::new();
    let options = outgoing("OPTIONS", "z9hG4bKc4");
    l.send_request(at(0), options.clone(), flow(Transport::Udp));
    sent(&mut l);
    let mut retransmits = vec![];
    for ms in (0..=20_000).step_by(100) {
        l.handle_timeout(at(ms));
        if !sent(&mut l).is_empty() {
            retransmits.push(ms);
        }
    }
    // E doubles from T1 and is capped at T2 = 4 s.
    assert_eq!(retransmits, [500, 1500, 3500, 7500, 11500, 15500, 19500]);
    l.receive(
        at(20_100),
        response_to(&options, 200, "x"),
        flow(Transport::Udp),
    );
    assert_eq!(events(&mut l).len(), 1);
    l.handle_timeout(at(24_000));
    assert!(sent(&mut l).is_empty());
    l.handle_timeout(at(25_100));
    assert!(l.is_empty(), "Timer K = T4");
}

#[test]
fn reliable_transports_never_retransmit() {
    let mut l = TransactionLayer::new();
    let options = outgoing("OPTIONS", "z9hG4bKc5");
    let tx = l.send_request(at(0), options, flow(Transport::Tcp));
    assert_eq!(sent(&mut l).len(), 1);
    l.handle_timeout(at(31_999));
    assert!(sent(&mut l).is_empty());
    l.handle_timeout(at(32_000));
    assert!(matches!(events(&mut l).as_slice(), [TxEvent::Timeout { tx: t }] if *t == tx));
}

#[test]
fn cancel_after_the_final_response_gets_200_and_has_no_effect() {
    let mut l = TransactionLayer::new();
    let invite = request("INVITE", "z9hG4bKinv6", "");
    l.receive(at(0), invite.clone(), flow(Transport::Udp));
    let tx = new_request(&mut l);
    l.respond(at(5), tx, reply(&invite, 200));
    sent(&mut l);
    l.receive(
        at(10),
        request("CANCEL", "z9hG4bKinv6", ""),
        flow(Transport::Udp),
    );
    assert_eq!(sent(&mut l), ["SIP/2.0 200 OK"]);
    assert!(
        events(&mut l).is_empty(),
        "the call stands; the caller must BYE"
    );
}

#[test]
fn cancel_waits_for_a_provisional_and_copies_the_invite() {
    let mut l = TransactionLayer::new();
    let invite = outgoing("INVITE", "z9hG4bKc6");
    let tx = l.send_request(at(0), invite.clone(), flow(Transport::Udp));
    sent(&mut l);
    assert_eq!(
        l.cancel(at(10), tx),
        None,
        "no CANCEL before a provisional (§9.1)"
    );
    l.receive(at(20), response_to(&invite, 180, "r"), flow(Transport::Udp));
    events(&mut l);
    assert!(l.cancel(at(30), tx).is_some());
    let cancel = SipMessage::parse_datagram(l.poll_transmit().unwrap().data).unwrap();
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.request_uri(), invite.request_uri());
    assert_eq!(cancel.header(HeaderName::CSeq), Some(&b"7 CANCEL"[..]));
    assert_eq!(
        cancel.top_via().unwrap().unwrap().branch(),
        Some(&b"z9hG4bKc6"[..])
    );
    assert_eq!(cancel.header(HeaderName::To), invite.header(HeaderName::To));
}

#[test]
fn a_ringing_invite_does_not_time_out() {
    let mut l = TransactionLayer::new();
    let invite = outgoing("INVITE", "z9hG4bKc7");
    l.send_request(at(0), invite.clone(), flow(Transport::Udp));
    sent(&mut l);
    l.receive(
        at(100),
        response_to(&invite, 180, "r"),
        flow(Transport::Udp),
    );
    events(&mut l);
    l.handle_timeout(at(120_000));
    assert!(events(&mut l).is_empty(), "no Timer B once Proceeding");
    assert!(sent(&mut l).is_empty(), "and no retransmissions");
    assert_eq!(l.len(), 1);
}
