//! Scenario tests of the whole sans-IO gateway: simulated phones exchange
//! SIP with it over a virtual clock. One scenario per test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::auth::authorization;
use crate::dialplan::tests::route;
use crate::dialplan::{BlacklistRule, DialPlan, Route, Transition};
use crate::msg::headers::AuthField;
use crate::quirks::{Quirks, Registration};

const GW: &str = "127.0.0.1:5060";

struct Phone {
    number: &'static str,
    addr: SocketAddr,
    password: &'static str,
}

const fn phone(number: &'static str, host: u8, port: u16, password: &'static str) -> Phone {
    Phone {
        number,
        addr: SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, host)),
            port,
        ),
        password,
    }
}

const ALICE: Phone = phone("100", 10, 5062, "alice-pw");
const BOB: Phone = phone("101", 20, 5064, "bob-pw");
/// Bob's second device.
const BOB2: Phone = phone("101", 21, 5066, "bob-pw");

struct Harness {
    gw: Gateway,
    now: Time,
    /// Everything the gateway sent, oldest first, not yet looked at.
    out: Vec<(SocketAddr, SipMessage)>,
    /// Calls dialled so far: each gets its own Call-ID and branches.
    dialled: u32,
}

fn user(p: &Phone, multi_device: bool) -> LocalUser {
    LocalUser {
        number: p.number.into(),
        password: Some(p.password.into()),
        allow_ips: vec![],
        contact: None,
        multi_device,
        nat: NatMode::Auto,
    }
}

impl Harness {
    fn new(users: Vec<LocalUser>) -> Harness {
        Harness::with(GatewayConfig {
            users,
            ..GatewayConfig::default()
        })
    }

    fn with(config: GatewayConfig) -> Harness {
        let config = GatewayConfig {
            listeners: vec![(Transport::Udp, GW.parse().unwrap())],
            ..config
        };
        Harness {
            gw: Gateway::new(config, [9; 32]),
            now: Time::from_micros(1_000_000),
            out: Vec::new(),
            dialled: 0,
        }
    }

    fn standard() -> Harness {
        Harness::new(vec![user(&ALICE, false), user(&BOB, true)])
    }

    fn flow(from: SocketAddr) -> Flow {
        Flow {
            transport: Transport::Udp,
            local: GW.parse().unwrap(),
            remote: from,
            conn: None,
        }
    }

    fn send(&mut self, from: SocketAddr, text: &str) {
        self.send_bytes(
            from,
            Bytes::from(text.replace("\r\n", "\n").replace('\n', "\r\n")),
        );
    }

    fn send_bytes(&mut self, from: SocketAddr, data: Bytes) {
        self.gw.handle_message(self.now, Harness::flow(from), data);
        self.collect();
    }

    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        while let Some(t) = self.gw.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.gw.handle_timeout(self.now);
            self.collect();
        }
        self.now = until;
    }

    fn collect(&mut self) {
        while let Some(t) = self.gw.poll_transmit() {
            let msg = SipMessage::parse_datagram(t.data).expect("the gateway sends valid SIP");
            assert!(
                validate(&msg).is_ok(),
                "the gateway sends valid SIP: {msg:?}"
            );
            self.out.push((t.flow.remote, msg));
        }
    }

    /// The messages sent to `to` since the last look, as first lines.
    fn lines_to(&mut self, to: SocketAddr) -> Vec<String> {
        self.take(to).iter().map(first_line).collect()
    }

    fn take(&mut self, to: SocketAddr) -> Vec<SipMessage> {
        let (mine, rest) = std::mem::take(&mut self.out)
            .into_iter()
            .partition(|(a, _)| *a == to);
        self.out = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// The last message to `to` whose first line starts with `start`.
    fn last(&mut self, to: SocketAddr, start: &str) -> SipMessage {
        let all = self.take(to);
        all.into_iter()
            .rev()
            .find(|m| first_line(m).starts_with(start))
            .unwrap_or_else(|| panic!("nothing starting with {start:?} was sent to {to}"))
    }

    fn register(&mut self, p: &Phone) {
        let reg = |auth: &str, cseq: u32| {
            format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\n\
Via: SIP/2.0/UDP {addr};branch=z9hG4bKreg{cseq}{port};rport\n\
From: <sip:{n}@127.0.0.1>;tag=r{port}\nTo: <sip:{n}@127.0.0.1>\n\
Call-ID: reg-{port}\nCSeq: {cseq} REGISTER\nContact: <sip:{n}@{addr}>\nExpires: 600\nMax-Forwards: 70\n{auth}Content-Length: 0\n\n",
                addr = p.addr,
                n = p.number,
                port = p.addr.port()
            )
        };
        self.send(p.addr, &reg("", 1));
        let challenge = self.last(p.addr, "SIP/2.0 401");
        let www = challenge.header(HeaderName::WwwAuthenticate).unwrap();
        let field = AuthField::parse_all(www).unwrap().remove(0);
        let creds = authorization(
            &field,
            b"REGISTER",
            b"sip:127.0.0.1",
            p.number,
            p.password,
            "cn",
            1,
        )
        .unwrap();
        self.send(p.addr, &reg(&format!("Authorization: {creds}\n"), 2));
        assert_eq!(self.lines_to(p.addr), ["SIP/2.0 200 OK"]);
    }

    /// Alice dials `number`, answering the proxy challenge.
    fn dial(&mut self, from: &Phone, number: &str) -> String {
        self.dial_with(from, number, "")
    }

    /// Dials with `extra` header lines in the INVITE.
    fn dial_with(&mut self, from: &Phone, number: &str, extra: &str) -> String {
        self.dialled += 1;
        // The first call is `call-a`; later ones are told apart.
        let call = match self.dialled {
            1 => String::new(),
            n => n.to_string(),
        };
        let invite = |auth: &str, cseq: u32| {
            format!(
                "INVITE sip:{number}@127.0.0.1 SIP/2.0\n\
Via: SIP/2.0/UDP {addr};branch=z9hG4bKinv{call}{cseq};rport\n\
From: \"Alice\" <sip:{n}@127.0.0.1>;tag=caller\nTo: <sip:{number}@127.0.0.1>\n\
Call-ID: call-a{call}\nCSeq: {cseq} INVITE\nContact: <sip:{n}@{addr}>\nMax-Forwards: 70\n\
X-Office-Note: kept as is\n{extra}{auth}Content-Type: application/sdp\nContent-Length: 10\n\nv=0\r\ns=a\r\n",
                addr = from.addr,
                n = from.number
            )
        };
        self.send(from.addr, &invite("", 1));
        let challenge = self.last(from.addr, "SIP/2.0 407");
        self.send(from.addr, &ack_for(&challenge, from.addr));
        let field = AuthField::parse_all(challenge.header(HeaderName::ProxyAuthenticate).unwrap())
            .unwrap()
            .remove(0);
        let uri = format!("sip:{number}@127.0.0.1");
        let creds = authorization(
            &field,
            b"INVITE",
            uri.as_bytes(),
            from.number,
            from.password,
            "cn",
            1,
        )
        .unwrap();
        let text = invite(&format!("Proxy-Authorization: {creds}\n"), 2);
        self.send(from.addr, &text);
        text
    }
}

fn first_line(m: &SipMessage) -> String {
    let b = m.to_bytes();
    String::from_utf8_lossy(&b)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn ack_for(resp: &SipMessage, from: SocketAddr) -> String {
    let via = resp.header(HeaderName::Via).unwrap();
    let _ = from;
    format!(
        "ACK sip:127.0.0.1 SIP/2.0\nVia: {}\nFrom: {}\nTo: {}\nCall-ID: {}\nCSeq: {} ACK\nMax-Forwards: 70\nContent-Length: 0\n\n",
        String::from_utf8_lossy(via),
        String::from_utf8_lossy(resp.header(HeaderName::From).unwrap()),
        String::from_utf8_lossy(resp.header(HeaderName::To).unwrap()),
        String::from_utf8_lossy(resp.call_id().unwrap()),
        resp.cseq().unwrap().unwrap().seq
    )
}

/// A callee's response to the gateway's request.
fn answer(
    req: &SipMessage,
    status: u16,
    tag: &str,
    contact: SocketAddr,
    extra: &str,
    body: &str,
) -> String {
    let mut w = crate::msg::build::response(req, status, "Reason", Some(tag));
    w.header(b"Contact", format!("<sip:callee@{contact}>").as_bytes());
    for line in extra.lines().filter(|l| !l.is_empty()) {
        let (n, v) = line.split_once(": ").unwrap();
        w.header(n.as_bytes(), v.as_bytes());
    }
    if !body.is_empty() {
        w.header(b"Content-Type", b"application/sdp");
    }
    String::from_utf8(w.finish(body.as_bytes()).to_vec()).unwrap()
}

/// A request inside the dialog a received message established, from the
/// phone at `from` (which is the `to` party of `msg` if `as_callee`).
fn in_dialog(
    msg: &SipMessage,
    method: &str,
    cseq: u32,
    from: SocketAddr,
    as_callee: bool,
    body: &str,
) -> String {
    let (f, t) = if as_callee {
        (
            msg.header(HeaderName::To).unwrap(),
            msg.header(HeaderName::From).unwrap(),
        )
    } else {
        (
            msg.header(HeaderName::From).unwrap(),
            msg.header(HeaderName::To).unwrap(),
        )
    };
    let target = msg.contacts().next().unwrap().unwrap().uri.to_vec();
    format!(
        "{method} {} SIP/2.0\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{method}{cseq}{}\nFrom: {}\nTo: {}\nCall-ID: {}\n\
CSeq: {cseq} {method}\nContact: <sip:x@{from}>\nMax-Forwards: 70\n{}Content-Length: {}\n\n{body}",
        String::from_utf8_lossy(&target),
        from.port(),
        String::from_utf8_lossy(f),
        String::from_utf8_lossy(t),
        String::from_utf8_lossy(msg.call_id().unwrap()),
        if body.is_empty() { "" } else { "Content-Type: application/sdp\n" },
        body.len()
    )
}

// ---- registrar --------------------------------------------------------

#[test]
fn register_with_digest_then_binding_is_reported() {
    let mut h = Harness::standard();
    h.register(&ALICE);
    match h.gw.poll_event() {
        Some(Event::Bindings { number, bindings }) => {
            assert_eq!(number, "100");
            assert_eq!(bindings.len(), 1);
            assert_eq!(bindings[0].contact, format!("sip:100@{}", ALICE.addr));
            assert_eq!(bindings[0].expires_in, Duration::from_secs(600));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn register_with_a_wrong_password_is_challenged_again() {
    let mut h = Harness::standard();
    let wrong = Phone {
        password: "guess",
        ..ALICE
    };
    h.send(wrong.addr, &format!("REGISTER sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {};branch=z9hG4bKw1\nFrom: <sip:100@127.0.0.1>;tag=w\nTo: <sip:100@127.0.0.1>\nCall-ID: w\nCSeq: 1 REGISTER\nContact: <sip:100@{}>\nContent-Length: 0\n\n", wrong.addr, wrong.addr));
    let ch = h.last(wrong.addr, "SIP/2.0 401");
    let field = AuthField::parse_all(ch.header(HeaderName::WwwAuthenticate).unwrap())
        .unwrap()
        .remove(0);
    let creds = authorization(
        &field,
        b"REGISTER",
        b"sip:127.0.0.1",
        "100",
        "guess",
        "c",
        1,
    )
    .unwrap();
    h.send(wrong.addr, &format!("REGISTER sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {};branch=z9hG4bKw2\nFrom: <sip:100@127.0.0.1>;tag=w\nTo: <sip:100@127.0.0.1>\nCall-ID: w\nCSeq: 2 REGISTER\nContact: <sip:100@{}>\nAuthorization: {creds}\nContent-Length: 0\n\n", wrong.addr, wrong.addr));
    assert_eq!(h.lines_to(wrong.addr), ["SIP/2.0 401 Unauthorized"]);
    assert!(h.gw.poll_event().is_none());
}

// ---- calls ----------------------------------------------------------------

/// Alice calls Bob's phone; returns the INVITE Bob received.
fn ring_bob(h: &mut Harness) -> SipMessage {
    h.register(&ALICE);
    h.register(&BOB);
    h.dial(&ALICE, "101");
    assert_eq!(h.lines_to(ALICE.addr), ["SIP/2.0 100 Trying"]);
    let invite = h.last(BOB.addr, "INVITE");
    h.send(BOB.addr, &answer(&invite, 180, "bobtag", BOB.addr, "", ""));
    assert_eq!(h.lines_to(ALICE.addr), ["SIP/2.0 180 Reason"]);
    invite
}

#[test]
fn call_between_registered_phones() {
    let mut h = Harness::standard();
    let invite = ring_bob(&mut h);
    // The callee leg is a dialog of its own: nothing of Alice's leg leaks.
    assert_eq!(
        invite.request_uri(),
        Some(format!("sip:101@{}", BOB.addr).as_bytes())
    );
    assert_ne!(invite.call_id(), Some(&b"call-a"[..]));
    assert!(
        !invite.to_bytes().windows(6).any(|w| w == b"caller"),
        "no caller tag on the callee leg"
    );
    assert_eq!(invite.vias().count(), 1);
    assert_eq!(
        invite.other_header("X-Office-Note"),
        Some(&b"kept as is"[..]),
        "unknown headers pass"
    );
    assert_eq!(invite.body(), b"v=0\r\ns=a\r\n");
    let from = invite.from_header().unwrap().unwrap();
    assert_eq!(from.display_name, Some(&b"\"Alice\""[..]));
    assert!(from.uri.starts_with(b"sip:100@"));

    h.send(
        BOB.addr,
        &answer(&invite, 200, "bobtag", BOB.addr, "", "v=0\r\ns=b\r\n"),
    );
    assert_eq!(
        h.lines_to(BOB.addr),
        [format!("ACK sip:callee@{} SIP/2.0", BOB.addr)]
    );
    let ok = h.last(ALICE.addr, "SIP/2.0 200");
    assert_eq!(ok.body(), b"v=0\r\ns=b\r\n");
    assert_eq!(ok.call_id(), Some(&b"call-a"[..]));
    h.send(ALICE.addr, &ack_for(&ok, ALICE.addr));

    // Alice hangs up: she gets 200, Bob gets a BYE on his own dialog.
    h.send(ALICE.addr, &in_dialog(&ok, "BYE", 3, ALICE.addr, false, ""));
    assert_eq!(h.lines_to(ALICE.addr), ["SIP/2.0 200 OK"]);
    let bye = h.last(BOB.addr, "BYE");
    assert_eq!(bye.call_id(), invite.call_id());
    assert_eq!(
        bye.to_header().unwrap().unwrap().tag(),
        Some(&b"bobtag"[..])
    );
    assert_eq!(h.gw.call_count(), 0);
}

#[test]
fn unknown_number_gets_404_and_offline_user_480() {
    let mut h = Harness::standard();
    h.register(&ALICE);
    h.dial(&ALICE, "999");
    assert_eq!(
        h.lines_to(ALICE.addr),
        ["SIP/2.0 100 Trying", "SIP/2.0 404 Not Found"]
    );
    let mut h = Harness::standard();
    h.register(&ALICE);
    h.dial(&ALICE, "101");
    assert_eq!(
        h.lines_to(ALICE.addr),
        ["SIP/2.0 100 Trying", "SIP/2.0 480 Temporarily Unavailable"]
    );
}

#[test]
fn busy_486_passes_through() {
    let mut h = Harness::standard();
    let invite = ring_bob(&mut h);
    h.send(
        BOB.addr,
        &answer(&invite, 486, "bobtag", BOB.addr, "Retry-After: 60\n", ""),
    );
    assert_eq!(
        h.lines_to(BOB.addr),
        [format!("ACK sip:101@{} SIP/2.0", BOB.addr)]
    );
    let busy = h.last(ALICE.addr, "SIP/2.0 486");
    assert_eq!(busy.other_header("Retry-After"), Some(&b"60"[..]));
    assert_eq!(h.gw.call_count(), 0);
}

#[test]
fn caller_cancel_before_answer() {
    let mut h = Harness::standard();
    let invite = ring_bob(&mut h);
    let text = h.dial_text_cancel();
    h.send(ALICE.addr, &text);
    let answers = h.take(ALICE.addr);
    let lines: Vec<String> = answers.iter().map(first_line).collect();
    assert_eq!(lines, ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]);
    let tag = |m: &SipMessage| m.to_header().unwrap().unwrap().tag().map(<[u8]>::to_vec);
    assert!(tag(&answers[0]).is_some());
    assert_eq!(
        tag(&answers[0]),
        tag(&answers[1]),
        "one To tag for the CANCEL's 200 and the 487 (§9.2)"
    );
    let cancel = h.last(BOB.addr, "CANCEL");
    assert_eq!(
        cancel.top_via().unwrap().unwrap().branch(),
        invite.top_via().unwrap().unwrap().branch()
    );
    h.send(BOB.addr, &answer(&cancel, 200, "bobtag", BOB.addr, "", ""));
    h.send(BOB.addr, &answer(&invite, 487, "bobtag", BOB.addr, "", ""));
    assert_eq!(
        h.lines_to(BOB.addr),
        [format!("ACK sip:101@{} SIP/2.0", BOB.addr)]
    );
    assert!(
        h.lines_to(ALICE.addr).is_empty(),
        "the caller already has its 487"
    );
    assert_eq!(h.gw.call_count(), 0);
}

impl Harness {
    fn dial_text_cancel(&self) -> String {
        format!(
            "CANCEL sip:101@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKinv2;rport\n\
From: \"Alice\" <sip:100@127.0.0.1>;tag=caller\nTo: <sip:101@127.0.0.1>\nCall-ID: call-a\nCSeq: 2 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n",
            addr = ALICE.addr
        )
    }
}

#[test]
fn cancel_races_200() {
    let mut h = Harness::standard();
    let invite = ring_bob(&mut h);
    h.send(ALICE.addr, &h.dial_text_cancel());
    let _cancel = h.last(BOB.addr, "CANCEL");
    // Bob answered before our CANCEL reached him.
    h.send(
        BOB.addr,
        &answer(&invite, 200, "bobtag", BOB.addr, "", "v=0\r\n"),
    );
    let to_bob = h.lines_to(BOB.addr);
    assert_eq!(to_bob.len(), 2, "{to_bob:?}");
    assert!(
        to_bob[0].starts_with("ACK ") && to_bob[1].starts_with("BYE "),
        "{to_bob:?}"
    );
    let to_alice = h.take(ALICE.addr);
    assert!(
        to_alice
            .iter()
            .all(|m| m.status() != Some(200) || m.cseq().unwrap().unwrap().method == b"CANCEL"),
        "the caller never sees the INVITE's 200"
    );
    assert_eq!(h.gw.call_count(), 0, "the crossed call is gone");
}

#[test]
fn forked_2xx_gets_bye() {
    let mut h = Harness::standard();
    h.register(&ALICE);
    h.register(&BOB);
    h.register(&BOB2);
    h.dial(&ALICE, "101");
    let first = h.last(BOB.addr, "INVITE");
    let second = h.last(BOB2.addr, "INVITE");
    h.send(
        BOB.addr,
        &answer(&first, 200, "one", BOB.addr, "", "v=0\r\n"),
    );
    let ok = h.last(ALICE.addr, "SIP/2.0 200");
    assert_eq!(ok.body(), b"v=0\r\n");
    // The other device rang and gets CANCELled once it said 180.
    h.send(BOB2.addr, &answer(&second, 180, "two", BOB2.addr, "", ""));
    assert_eq!(
        h.lines_to(BOB2.addr),
        [format!("CANCEL sip:101@{} SIP/2.0", BOB2.addr)]
    );
    // ... but it answered anyway: ACK and BYE that dialog.
    h.send(
        BOB2.addr,
        &answer(&second, 200, "two", BOB2.addr, "", "v=0\r\n"),
    );
    let to_second = h.lines_to(BOB2.addr);
    assert_eq!(to_second.len(), 2, "{to_second:?}");
    assert!(to_second[0].starts_with("ACK ") && to_second[1].starts_with("BYE "));
    assert!(
        h.lines_to(ALICE.addr).is_empty(),
        "the caller keeps the first answer only"
    );
}

#[test]
fn unanswered_2xx_is_retransmitted_then_the_call_ends() {
    let mut h = Harness::standard();
    let invite = ring_bob(&mut h);
    h.send(
        BOB.addr,
        &answer(&invite, 200, "bobtag", BOB.addr, "", "v=0\r\n"),
    );
    h.take(BOB.addr);
    h.take(ALICE.addr);
    h.advance(Duration::from_secs(31));
    let retransmits = h.lines_to(ALICE.addr);
    assert!(
        retransmits.len() >= 7 && retransmits.iter().all(|l| l.starts_with("SIP/2.0 200")),
        "{retransmits:?}"
    );
    h.advance(Duration::from_millis(1500));
    let ends = h.lines_to(BOB.addr);
    assert!(ends.iter().any(|l| l.starts_with("BYE ")), "{ends:?}");
    assert_eq!(h.gw.call_count(), 0);
}

#[test]
fn keepalive_without_sdp_is_answered_locally() {
    let mut h = Harness::standard();
    let (_, ok) = answered_call(&mut h);
    for (cseq, method) in [(3, "UPDATE"), (4, "INFO"), (5, "MESSAGE")] {
        h.send(
            ALICE.addr,
            &in_dialog(&ok, method, cseq, ALICE.addr, false, ""),
        );
        assert_eq!(h.lines_to(ALICE.addr), ["SIP/2.0 200 OK"], "{method}");
    }
    assert!(
        h.lines_to(BOB.addr).is_empty(),
        "keep-alives are not relayed"
    );
    // The same request for a dialog that does not exist: 481.
    let gone = in_dialog(&ok, "UPDATE", 6, ALICE.addr, false, "")
        .replace("Call-ID: call-a", "Call-ID: nope");
    h.send(ALICE.addr, &gone);
    assert_eq!(
        h.lines_to(ALICE.addr),
        ["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
}

#[test]
fn message_without_sdp_outside_a_dialog_is_not_a_keepalive() {
    let mut h = Harness::standard();
    h.send(ALICE.addr, &format!("MESSAGE sip:101@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {};branch=z9hG4bKm1\nFrom: <sip:100@127.0.0.1>;tag=m\nTo: <sip:101@127.0.0.1>\nCall-ID: m1\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n", ALICE.addr));
    assert_eq!(h.lines_to(ALICE.addr), ["SIP/2.0 405 Method Not Allowed"]);
}

#[test]
fn reinvite_with_sdp_is_relayed_and_acked() {
    let mut h = Harness::standard();
    let (invite, ok) = answered_call(&mut h);
    h.send(
        ALICE.addr,
        &in_dialog(&ok, "INVITE", 3, ALICE.addr, false, "v=0\r\nhold\r\n"),
    );
    let reinvite = h.last(BOB.addr, "INVITE");
    assert_eq!(reinvite.body(), b"v=0\r\nhold\r\n");
    assert_eq!(
        reinvite.call_id(),
        invite.call_id(),
        "the callee leg's own dialog"
    );
    h.send(
        BOB.addr,
        &answer(&reinvite, 200, "bobtag", BOB.addr, "", "v=0\r\nheld\r\n"),
    );
    assert!(h.lines_to(BOB.addr).iter().any(|l| l.starts_with("ACK ")));
    let ok2 = h.last(ALICE.addr, "SIP/2.0 200");
    assert_eq!(ok2.body(), b"v=0\r\nheld\r\n");
    assert_eq!(ok2.cseq().unwrap().unwrap().seq, 3);
}

#[test]
fn redirect_sends_181_and_follows_the_contact() {
    let mut h = Harness::new(vec![
        user(&ALICE, false),
        user(&BOB, false),
        LocalUser {
            number: "102".into(),
            password: Some("carol".into()),
            allow_ips: vec![],
            contact: Some("sip:102@192.0.2.30:5070".into()),
            multi_device: false,
            nat: NatMode::Auto,
        },
    ]);
    let invite = ring_bob(&mut h);
    h.send(
        BOB.addr,
        &answer(
            &invite,
            302,
            "bobtag",
            "127.0.0.1:5060".parse().unwrap(),
            "",
            "",
        )
        .replace("sip:callee@127.0.0.1:5060", "sip:102@127.0.0.1"),
    );
    let forwarded = h.last(ALICE.addr, "SIP/2.0 181");
    assert_eq!(
        forwarded.header(HeaderName::CallInfo),
        Some(&b"purpose=forwarding, username=\"102\", contact=\"sip:102@127.0.0.1\""[..])
    );
    let carol: SocketAddr = "192.0.2.30:5070".parse().unwrap();
    let to_carol = h.last(carol, "INVITE");
    assert_eq!(
        to_carol.request_uri(),
        Some(&b"sip:102@192.0.2.30:5070"[..])
    );
}

#[test]
fn prack_answered_locally_when_callee_requires_100rel() {
    let mut h = Harness::standard();
    h.register(&ALICE);
    h.register(&BOB);
    h.dial(&ALICE, "101");
    let invite = h.last(BOB.addr, "INVITE");
    h.send(
        BOB.addr,
        &answer(
            &invite,
            183,
            "bobtag",
            BOB.addr,
            "Require: 100rel\nRSeq: 1\n",
            "v=0\r\n",
        ),
    );
    let prack = h.last(BOB.addr, "PRACK");
    assert_eq!(
        prack.header(HeaderName::RAck),
        Some(format!("1 {} INVITE", invite.cseq().unwrap().unwrap().seq).as_bytes())
    );
    let early = h.last(ALICE.addr, "SIP/2.0 183");
    assert!(
        !early.has_option_tag(HeaderName::Require, "100rel"),
        "the caller gets it unreliably"
    );
    assert!(early.rseq().is_none());
    assert_eq!(early.body(), b"v=0\r\n", "early media SDP passes");
}

#[test]
fn ip_authorised_device_calls_without_digest() {
    let trusted = LocalUser {
        allow_ips: vec![ALICE.addr.ip()],
        password: None,
        ..user(&ALICE, false)
    };
    let mut h = Harness::new(vec![trusted, user(&BOB, false)]);
    h.register(&BOB);
    h.send(ALICE.addr, &format!("INVITE sip:101@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {a};branch=z9hG4bKip1\nFrom: <sip:100@127.0.0.1>;tag=ip\nTo: <sip:101@127.0.0.1>\nCall-ID: ip1\nCSeq: 1 INVITE\nContact: <sip:100@{a}>\nContent-Length: 0\n\n", a = ALICE.addr));
    assert_eq!(h.lines_to(ALICE.addr), ["SIP/2.0 100 Trying"]);
    let invite = h.last(BOB.addr, "INVITE");
    assert!(invite
        .from_header()
        .unwrap()
        .unwrap()
        .uri
        .starts_with(b"sip:100@"));
}

#[test]
fn callee_timeout_gives_the_caller_408() {
    let mut h = Harness::standard();
    h.register(&ALICE);
    h.register(&BOB);
    h.dial(&ALICE, "101");
    h.take(ALICE.addr);
    h.advance(Duration::from_secs(33));
    assert_eq!(h.last(ALICE.addr, "SIP/2.0").status(), Some(408));
    assert_eq!(h.gw.call_count(), 0);
}

#[test]
fn options_to_the_gateway_lists_what_it_does() {
    let mut h = Harness::standard();
    h.send(ALICE.addr, &format!("OPTIONS sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {};branch=z9hG4bKo1\nFrom: <sip:x@y>;tag=o\nTo: <sip:127.0.0.1>\nCall-ID: o1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n", ALICE.addr));
    let ok = h.last(ALICE.addr, "SIP/2.0 200");
    assert_eq!(ok.header(HeaderName::Allow), Some(ALLOW.as_bytes()));
    assert_eq!(ok.header(HeaderName::Supported), Some(SUPPORTED.as_bytes()));
}

#[test]
fn unknown_scheme_416_and_unsupported_extension_420() {
    let mut h = Harness::standard();
    h.send(ALICE.addr, &format!("OPTIONS urn:x:y SIP/2.0\nVia: SIP/2.0/UDP {};branch=z9hG4bKu1\nFrom: <sip:x@y>;tag=o\nTo: <sip:127.0.0.1>\nCall-ID: u1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n", ALICE.addr));
    assert_eq!(
        h.lines_to(ALICE.addr),
        ["SIP/2.0 416 Unsupported URI Scheme"]
    );
    h.send(ALICE.addr, &format!("OPTIONS sip:127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {};branch=z9hG4bKu2\nFrom: <sip:x@y>;tag=o\nTo: <sip:127.0.0.1>\nCall-ID: u2\nCSeq: 1 OPTIONS\nRequire: foo, 100rel\nContent-Length: 0\n\n", ALICE.addr));
    let r = h.last(ALICE.addr, "SIP/2.0 420");
    assert_eq!(r.header(HeaderName::Unsupported), Some(&b"foo"[..]));
}

/// Alice dials Bob offering 100rel; Bob answers with a reliable 183.
fn reliable_183(h: &mut Harness) -> (SipMessage, SipMessage) {
    h.register(&ALICE);
    h.register(&BOB);
    h.dial_with(&ALICE, "101", "Supported: 100rel\n");
    h.take(ALICE.addr);
    let bob_invite = h.last(BOB.addr, "INVITE");
    assert!(
        bob_invite.has_option_tag(HeaderName::Supported, "100rel"),
        "the offer is relayed"
    );
    h.send(
        BOB.addr,
        &answer(
            &bob_invite,
            183,
            "bobrel",
            BOB.addr,
            "Require: 100rel\nRSeq: 5\n",
            "v=0\r\n",
        ),
    );
    let early = h.last(ALICE.addr, "SIP/2.0 183");
    (bob_invite, early)
}

#[test]
fn prack_relayed_when_both_legs_support_100rel() {
    let mut h = Harness::standard();
    let (bob_invite, early) = reliable_183(&mut h);
    assert!(early.has_option_tag(HeaderName::Require, "100rel"));
    assert_eq!(
        early.rseq().unwrap().unwrap(),
        1,
        "our own RSeq space on the caller leg"
    );
    assert!(
        h.lines_to(BOB.addr).is_empty(),
        "no local PRACK: the caller's is relayed"
    );

    let prack = format!(
        "PRACK sip:101@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {a};branch=z9hG4bKpr1\nFrom: \"Alice\" <sip:100@127.0.0.1>;tag=caller\n\
To: {to}\nCall-ID: call-a\nCSeq: 3 PRACK\nRAck: 1 2 INVITE\nMax-Forwards: 70\nContent-Length: 0\n\n",
        a = ALICE.addr,
        to = String::from_utf8_lossy(early.header(HeaderName::To).unwrap())
    );
    h.send(ALICE.addr, &prack);
    let bob_prack = h.last(BOB.addr, "PRACK");
    let seq = bob_invite.cseq().unwrap().unwrap().seq;
    assert_eq!(
        bob_prack.header(HeaderName::RAck),
        Some(format!("5 {seq} INVITE").as_bytes())
    );
    h.send(
        BOB.addr,
        &answer(&bob_prack, 200, "bobrel", BOB.addr, "", ""),
    );
    let ok = h.last(ALICE.addr, "SIP/2.0 200");
    assert_eq!(ok.cseq().unwrap().unwrap().method, b"PRACK");
}

#[test]
fn reliable_provisional_is_retransmitted_until_prack() {
    let mut h = Harness::standard();
    let _ = reliable_183(&mut h);
    h.advance(Duration::from_millis(1600));
    let again = h.lines_to(ALICE.addr);
    assert_eq!(
        again,
        ["SIP/2.0 183 Reason", "SIP/2.0 183 Reason"],
        "at T1 and 3*T1"
    );
    h.advance(Duration::from_secs(31));
    let last = h.take(ALICE.addr);
    assert_eq!(
        last.last().and_then(SipMessage::status),
        Some(504),
        "no PRACK: the call is refused"
    );
    assert!(h
        .lines_to(BOB.addr)
        .iter()
        .any(|l| l.starts_with("CANCEL ")));
}

/// Alice and Bob in an answered, ACKed call; returns (Bob's INVITE, Alice's 200).
fn answered_call(h: &mut Harness) -> (SipMessage, SipMessage) {
    let invite = ring_bob(h);
    h.send(
        BOB.addr,
        &answer(&invite, 200, "bobtag", BOB.addr, "", "v=0\r\n"),
    );
    let ok = h.last(ALICE.addr, "SIP/2.0 200");
    h.send(ALICE.addr, &ack_for(&ok, ALICE.addr));
    h.take(BOB.addr);
    (invite, ok)
}

#[test]
fn callee_hangs_up() {
    let mut h = Harness::standard();
    let (invite, ok) = answered_call(&mut h);
    // Bob's BYE goes to the Contact the gateway gave him.
    h.send(BOB.addr, &in_dialog(&invite, "BYE", 1, BOB.addr, true, ""));
    assert_eq!(h.lines_to(BOB.addr), ["SIP/2.0 200 OK"]);
    let bye = h.last(ALICE.addr, "BYE");
    assert_eq!(bye.call_id(), ok.call_id(), "on the caller's own dialog");
    assert_eq!(
        bye.to_header().unwrap().unwrap().tag(),
        Some(&b"caller"[..])
    );
    assert_eq!(
        bye.request_uri(),
        Some(format!("sip:100@{}", ALICE.addr).as_bytes())
    );
    assert_eq!(h.gw.call_count(), 0);
}

#[test]
fn cancel_after_the_answer_has_no_effect() {
    let mut h = Harness::standard();
    let (_, ok) = answered_call(&mut h);
    // The caller's CANCEL crossed our 200 on the wire.
    h.send(ALICE.addr, &h.dial_text_cancel());
    assert_eq!(h.lines_to(ALICE.addr), ["SIP/2.0 200 OK"]);
    assert!(
        h.lines_to(BOB.addr).is_empty(),
        "nothing reaches the callee"
    );
    assert_eq!(h.gw.call_count(), 1, "the call stands until a BYE");
    h.send(ALICE.addr, &in_dialog(&ok, "BYE", 3, ALICE.addr, false, ""));
    assert_eq!(h.gw.call_count(), 0);
}

// ---- lines: registering at a provider --------------------------------------

const PROVIDER: &str = "198.51.100.50:5060";

fn acme_line(name: &str, refine: Option<Transition>) -> LineConfig {
    LineConfig {
        name: name.into(),
        transport: Transport::Udp,
        registrar: PROVIDER.parse().unwrap(),
        fallbacks: vec![],
        domain: "sip.acme.example".into(),
        username: "1001".into(),
        password: "line-secret".into(),
        number: Some("+4930123456".into()),
        refine,
        quirks: Arc::new(Quirks {
            registration: Registration {
                expires: 600,
                ..Registration::default()
            },
            ..Quirks::default()
        }),
    }
}

fn line_harness() -> Harness {
    line_harness_with(GatewayConfig {
        lines: vec![acme_line("acme", None)],
        ..GatewayConfig::default()
    })
}

fn line_harness_with(config: GatewayConfig) -> Harness {
    let mut h = Harness::with(config);
    h.gw.start(h.now);
    h.collect();
    h
}

fn provider() -> SocketAddr {
    PROVIDER.parse().unwrap()
}

/// The registrar's side: a challenge that checks the answer for real.
fn challenge(req: &SipMessage, nonce: &str) -> String {
    let mut w = crate::msg::build::response(req, 401, "Unauthorized", Some("reg"));
    w.header(
        b"WWW-Authenticate",
        format!("Digest realm=\"acme\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5").as_bytes(),
    );
    String::from_utf8(w.finish(b"").to_vec()).unwrap()
}

fn registrar_ok(req: &SipMessage, expires: u32) -> String {
    let mut w = crate::msg::build::response(req, 200, "OK", Some("reg"));
    let contact = req.header(HeaderName::Contact).unwrap();
    w.header(
        b"Contact",
        &[contact, format!(";expires={expires}").as_bytes()].concat(),
    );
    String::from_utf8(w.finish(b"").to_vec()).unwrap()
}

fn verify(req: &SipMessage, nonce: &str) -> bool {
    let creds = req
        .auth_fields(HeaderName::Authorization)
        .next()
        .unwrap()
        .unwrap();
    let expected = crate::auth::digest_response(&crate::auth::DigestInput {
        algorithm: crate::auth::Algorithm::Md5,
        username: b"1001",
        realm: b"acme",
        password: b"line-secret",
        method: b"REGISTER",
        uri: &creds.param("uri").unwrap(),
        nonce: nonce.as_bytes(),
        qop_auth: Some((&creds.param("nc").unwrap(), &creds.param("cnonce").unwrap())),
    });
    creds.param("response").as_deref() == Some(expected.as_bytes())
}

#[test]
fn line_registers_through_a_challenge_and_refreshes_at_half_the_expiry() {
    let mut h = line_harness();
    let first = h.last(provider(), "REGISTER");
    assert_eq!(first.request_uri(), Some(&b"sip:sip.acme.example"[..]));
    assert_eq!(
        first.header(HeaderName::To),
        Some(&b"<sip:1001@sip.acme.example>"[..])
    );
    assert_eq!(h.gw.lines()[0].state, LineState::Registering);
    h.send(provider(), &challenge(&first, "n1"));
    let second = h.last(provider(), "REGISTER");
    assert!(verify(&second, "n1"), "the digest answer is right");
    assert_eq!(
        second.call_id(),
        first.call_id(),
        "one Call-ID per registration (RFC 3261 §10.2.4)"
    );
    assert_eq!(
        second.cseq().unwrap().unwrap().seq,
        first.cseq().unwrap().unwrap().seq + 1
    );
    h.send(provider(), &registrar_ok(&second, 120));
    let status = &h.gw.lines()[0];
    assert_eq!(
        (status.state, status.last_status),
        (LineState::Registered, Some(200))
    );
    // Granted 120 s: refreshed after 60 s, not before.
    h.advance(Duration::from_secs(59));
    assert!(h.take(provider()).is_empty());
    h.advance(Duration::from_secs(2));
    let refresh = h.last(provider(), "REGISTER");
    assert_eq!(refresh.call_id(), first.call_id());
}

#[test]
fn line_failure_is_recorded_and_retried_with_back_off() {
    let mut h = line_harness();
    let first = h.last(provider(), "REGISTER");
    let mut w = crate::msg::build::response(&first, 400, "Bad Request", Some("reg"));
    w.header(b"P-Registrar-Error", b"Invalid CSeq number");
    h.send_bytes(provider(), w.finish(b""));
    let status = h.gw.lines()[0].clone();
    assert_eq!(status.state, LineState::Failed);
    assert_eq!(status.last_status, Some(400));
    assert_eq!(
        status.registrar_error.as_deref(),
        Some("Invalid CSeq number")
    );
    h.advance(Duration::from_secs(29));
    assert!(h.take(provider()).is_empty(), "no hammering");
    h.advance(Duration::from_secs(2));
    let retry = h.last(provider(), "REGISTER");
    h.send_bytes(
        provider(),
        crate::msg::build::response(&retry, 500, "Server Error", Some("r")).finish(b""),
    );
    h.advance(Duration::from_secs(59));
    assert!(
        h.take(provider()).is_empty(),
        "the second wait is twice as long"
    );
    h.advance(Duration::from_secs(2));
    let again = h.last(provider(), "REGISTER");
    assert_eq!(again.call_id(), first.call_id());
}

#[test]
fn wrong_line_password_fails_instead_of_looping() {
    let mut h = line_harness();
    let first = h.last(provider(), "REGISTER");
    h.send(provider(), &challenge(&first, "n1"));
    let second = h.last(provider(), "REGISTER");
    // Registrars hand out a fresh nonce with every challenge.
    h.send(provider(), &challenge(&second, "n2"));
    assert!(
        h.take(provider()).is_empty(),
        "the same challenge twice is a refusal"
    );
    assert_eq!(h.gw.lines()[0].state, LineState::Failed);
}

#[test]
fn line_403_stops_retrying() {
    let mut h = line_harness();
    let first = h.last(provider(), "REGISTER");
    h.send_bytes(
        provider(),
        crate::msg::build::response(&first, 403, "Forbidden", Some("r")).finish(b""),
    );
    assert_eq!(h.gw.lines()[0].state, LineState::Failed);
    h.advance(Duration::from_secs(3600));
    assert!(h.take(provider()).is_empty());
}

#[test]
fn line_unregisters_on_shutdown() {
    let mut h = line_harness();
    let first = h.last(provider(), "REGISTER");
    h.send(provider(), &registrar_ok(&first, 600));
    h.gw.shutdown(h.now);
    h.collect();
    let bye = h.last(provider(), "REGISTER");
    assert_eq!(bye.header(HeaderName::Expires), Some(&b"0"[..]));
    h.send(provider(), &registrar_ok(&bye, 0));
    assert_eq!(h.gw.lines()[0].state, LineState::Idle);
}

// ---- calls through lines ----------------------------------------------------

/// The office: Alice and Bob, the acme line, "9" for an outside line.
fn office(extra_routes: Vec<Route>, blacklist: Vec<BlacklistRule>) -> Harness {
    let mut routes = vec![
        route(
            "9",
            "user:none",
            Some(Transition::Delete { at: 0, len: 1 }),
            true,
        ),
        route("0", "line:acme", None, false),
        route("+4930123456", "user:100", None, false),
    ];
    routes.extend(extra_routes);
    let mut h = line_harness_with(GatewayConfig {
        users: vec![user(&ALICE, false), user(&BOB, false)],
        lines: vec![acme_line("acme", None)],
        dialplan: DialPlan::new(routes, blacklist),
        ..GatewayConfig::default()
    });
    let register = h.last(provider(), "REGISTER");
    h.send(provider(), &registrar_ok(&register, 600));
    h.register(&ALICE);
    h
}

#[test]
fn outgoing_call_through_a_line_answers_the_providers_challenge() {
    let mut h = office(vec![], vec![]);
    h.dial(&ALICE, "9030123");
    let first = h.last(provider(), "INVITE");
    assert_eq!(
        first.request_uri(),
        Some(&b"sip:030123@sip.acme.example"[..]),
        "9 deleted, the line's domain"
    );
    assert!(
        first
            .from_header()
            .unwrap()
            .unwrap()
            .uri
            .starts_with(b"sip:1001@sip.acme.example"),
        "as the line's account"
    );
    assert_eq!(first.body(), b"v=0\r\ns=a\r\n");
    let mut w =
        crate::msg::build::response(&first, 407, "Proxy Authentication Required", Some("prov"));
    w.header(
        b"Proxy-Authenticate",
        b"Digest realm=\"acme\", nonce=\"pn1\", qop=\"auth\"",
    );
    h.send_bytes(provider(), w.finish(b""));
    let sent = h.take(provider());
    assert!(first_line(&sent[0]).starts_with("ACK "), "the 407 is ACKed");
    let second = sent
        .iter()
        .find(|m| first_line(m).starts_with("INVITE"))
        .expect("resent with credentials");
    assert_eq!(second.call_id(), first.call_id());
    assert_eq!(
        second.cseq().unwrap().unwrap().seq,
        first.cseq().unwrap().unwrap().seq + 1
    );
    let creds = second
        .auth_fields(HeaderName::ProxyAuthorization)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(creds.param("username").as_deref(), Some(&b"1001"[..]));
    assert_eq!(
        creds.param("uri").as_deref(),
        Some(&b"sip:030123@sip.acme.example"[..])
    );
    assert!(
        h.lines_to(ALICE.addr).iter().all(|l| !l.contains("407")),
        "the caller never sees the provider's challenge"
    );
    h.send(
        provider(),
        &answer(second, 200, "prov", provider(), "", "v=0\r\n"),
    );
    let ack = h.last(provider(), "ACK");
    assert!(
        ack.header(HeaderName::ProxyAuthorization).is_some(),
        "the 2xx ACK carries the INVITE's credentials"
    );
    let ok = h.last(ALICE.addr, "SIP/2.0 200");
    assert_eq!(ok.body(), b"v=0\r\n");
}

#[test]
fn round_robin_over_a_group_with_refined_numbers() {
    let mut h = line_harness_with(GatewayConfig {
        users: vec![user(&ALICE, false)],
        lines: vec![
            acme_line("zero", None),
            acme_line(
                "china",
                Some(Transition::Replace {
                    at: 0,
                    len: 1,
                    with: "0086".into(),
                }),
            ),
        ],
        groups: [(
            "out".to_string(),
            vec!["zero".to_string(), "china".to_string()],
        )]
        .into(),
        dialplan: DialPlan::new(vec![route("0", "group:out", None, false)], vec![]),
        ..GatewayConfig::default()
    });
    h.take(provider());
    h.register(&ALICE);
    let mut dialled = Vec::new();
    for call in ["a", "b"] {
        let text = format!(
            "INVITE sip:010123@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {a};branch=z9hG4bKrr{call}\nFrom: <sip:100@127.0.0.1>;tag=rr{call}\n\
To: <sip:010123@127.0.0.1>\nCall-ID: rr-{call}\nCSeq: 1 INVITE\nContact: <sip:100@{a}>\nContent-Length: 0\n\n",
            a = ALICE.addr
        );
        let ch = {
            h.send(ALICE.addr, &text);
            h.last(ALICE.addr, "SIP/2.0 407")
        };
        let field = AuthField::parse_all(ch.header(HeaderName::ProxyAuthenticate).unwrap())
            .unwrap()
            .remove(0);
        let creds = authorization(
            &field,
            b"INVITE",
            b"sip:010123@127.0.0.1",
            "100",
            ALICE.password,
            "c",
            1,
        )
        .unwrap();
        h.send(
            ALICE.addr,
            &text
                .replace(
                    "CSeq: 1 INVITE",
                    &format!("CSeq: 2 INVITE\nProxy-Authorization: {creds}"),
                )
                .replace("z9hG4bKrr", "z9hG4bKrs"),
        );
        dialled.push(h.last(provider(), "INVITE").request_uri().unwrap().to_vec());
    }
    assert_eq!(
        dialled,
        vec![
            b"sip:010123@sip.acme.example".to_vec(),
            b"sip:008610123@sip.acme.example".to_vec()
        ]
    );
}

fn from_provider(called: &str, from: &str, extra: &str) -> String {
    format!(
        "INVITE sip:{called}@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {p};branch=z9hG4bKin1\nFrom: {from};tag=pv\n\
To: <sip:{called}@sip.acme.example>\nCall-ID: in-1\nCSeq: 1 INVITE\nContact: <sip:pstn@{p}>\n{extra}Content-Length: 0\n\n",
        p = PROVIDER
    )
}

#[test]
fn a_call_from_the_provider_reaches_the_did_user() {
    let mut h = office(vec![], vec![]);
    h.send(
        provider(),
        &from_provider("1001", "<sip:+4989555@sip.acme.example>", ""),
    );
    assert_eq!(
        h.lines_to(provider()),
        ["SIP/2.0 100 Trying"],
        "no challenge for the provider"
    );
    let invite = h.last(ALICE.addr, "INVITE");
    assert!(
        invite
            .from_header()
            .unwrap()
            .unwrap()
            .uri
            .starts_with(b"sip:+4989555@"),
        "the caller's number"
    );
}

#[test]
fn the_provider_cannot_call_out_through_the_office() {
    let mut h = office(vec![], vec![]);
    h.send(
        provider(),
        &from_provider("0301234", "<sip:+4989555@sip.acme.example>", ""),
    );
    assert_eq!(
        h.lines_to(provider()),
        ["SIP/2.0 100 Trying", "SIP/2.0 404 Not Found"]
    );
}

#[test]
fn anonymous_callers_are_blocked() {
    let rule = BlacklistRule {
        caller: "anonymous".into(),
        called: "*".into(),
        rate: 100,
        status: 433,
    };
    let mut h = office(vec![], vec![rule]);
    h.send(
        provider(),
        &from_provider(
            "1001",
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
            "",
        ),
    );
    assert_eq!(
        h.lines_to(provider()),
        ["SIP/2.0 100 Trying", "SIP/2.0 433 Call Rejected"]
    );
    h.send(
        provider(),
        &from_provider("1001", "<sip:+4989555@sip.acme.example>", "Privacy: id\n")
            .replace("z9hG4bKin1", "z9hG4bKin2")
            .replace("in-1", "in-2"),
    );
    assert_eq!(
        h.lines_to(provider()),
        ["SIP/2.0 100 Trying", "SIP/2.0 433 Call Rejected"]
    );
    h.send(
        provider(),
        &from_provider("1001", "<sip:+4989555@sip.acme.example>", "")
            .replace("z9hG4bKin1", "z9hG4bKin3")
            .replace("in-1", "in-3"),
    );
    assert!(
        h.last(ALICE.addr, "INVITE").call_id().is_some(),
        "a caller with a number gets through"
    );
}

// ---- trunks and peer health --------------------------------------------------

fn trunk(name: &str, address: &str, ping: bool) -> TrunkConfig {
    TrunkConfig {
        transit: false,
        name: name.into(),
        transport: Transport::Udp,
        address: address.parse().unwrap(),
        fallbacks: vec![],
        domain: "gw.pstn.example".into(),
        credentials: None,
        match_port: false,
        refine: None,
        quirks: Arc::new(Quirks {
            options_ping: ping.then(|| PingConfig {
                interval: Duration::from_secs(5),
                misses: 2,
                up_statuses: vec![],
            }),
            ..Quirks::default()
        }),
    }
}

const TRUNK_A: &str = "198.51.100.60:5060";
const TRUNK_B: &str = "198.51.100.61:5060";

fn pstn_office(trunks: Vec<TrunkConfig>, target: &str) -> Harness {
    let mut h = line_harness_with(GatewayConfig {
        users: vec![user(&ALICE, false)],
        trunks,
        groups: [("pstn".to_string(), vec!["a".to_string(), "b".to_string()])].into(),
        dialplan: DialPlan::new(vec![route("00", target, None, false)], vec![]),
        ..GatewayConfig::default()
    });
    h.register(&ALICE);
    h
}

/// Answers every pending OPTIONS to `peer` with 200.
fn answer_pings(h: &mut Harness, peer: SocketAddr) {
    for ping in h
        .take(peer)
        .into_iter()
        .filter(|m| first_line(m).starts_with("OPTIONS"))
    {
        h.send_bytes(
            peer,
            crate::msg::build::response(&ping, 200, "OK", Some("p")).finish(b""),
        );
    }
}

#[test]
fn outgoing_call_through_a_trunk() {
    let mut h = pstn_office(vec![trunk("a", TRUNK_A, false)], "trunk:a");
    h.dial(&ALICE, "0049301234");
    let invite = h.last(TRUNK_A.parse().unwrap(), "INVITE");
    assert_eq!(
        invite.request_uri(),
        Some(&b"sip:0049301234@gw.pstn.example"[..])
    );
    assert!(invite
        .from_header()
        .unwrap()
        .unwrap()
        .uri
        .starts_with(b"sip:100@gw.pstn.example"));
}

#[test]
fn an_unreachable_trunk_is_skipped_after_its_pings_fail() {
    let (a, b): (SocketAddr, SocketAddr) = (TRUNK_A.parse().unwrap(), TRUNK_B.parse().unwrap());
    let mut h = pstn_office(
        vec![trunk("a", TRUNK_A, true), trunk("b", TRUNK_B, true)],
        "group:pstn",
    );
    // b answers its pings, a never does: after two misses a is down.
    for _ in 0..3 {
        answer_pings(&mut h, b);
        h.advance(Duration::from_secs(5));
    }
    answer_pings(&mut h, b);
    h.take(a);
    for _ in 0..2 {
        h.dial(&ALICE, "0049301234");
        assert!(
            h.take(a)
                .iter()
                .all(|m| !first_line(m).starts_with("INVITE")),
            "the down trunk is skipped"
        );
        assert!(!h.take(b).is_empty(), "the call went to b");
    }
    // a answers again: back in the rotation.
    h.advance(Duration::from_secs(5));
    answer_pings(&mut h, a);
    answer_pings(&mut h, b);
    let mut to_a = 0;
    for _ in 0..2 {
        h.dial(&ALICE, "0049301234");
        to_a += h
            .take(a)
            .iter()
            .filter(|m| first_line(m).starts_with("INVITE"))
            .count();
        h.take(b);
    }
    assert!(to_a >= 1, "round-robin uses a again");
}

#[test]
fn a_trunk_is_recognised_by_its_address_when_it_calls_in() {
    let mut h = pstn_office(vec![trunk("a", TRUNK_A, false)], "trunk:a");
    let text = "INVITE sip:100@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.60:5099;branch=z9hG4bKtr1\nFrom: <sip:+4989555@gw.pstn.example>;tag=tr\n\
To: <sip:100@127.0.0.1>\nCall-ID: tr-1\nCSeq: 1 INVITE\nContact: <sip:pstn@198.51.100.60:5099>\nContent-Length: 0\n\n";
    let from: SocketAddr = "198.51.100.60:5099".parse().unwrap();
    h.send(from, text);
    assert_eq!(
        h.lines_to(from),
        ["SIP/2.0 100 Trying"],
        "no challenge for the trunk"
    );
    assert!(h
        .last(ALICE.addr, "INVITE")
        .from_header()
        .unwrap()
        .unwrap()
        .uri
        .starts_with(b"sip:+4989555@"));
}

#[test]
fn a_transit_trunk_reaches_other_trunks_and_only_a_transit_trunk_does() {
    let transit = TrunkConfig {
        transit: true,
        ..trunk("a", TRUNK_A, false)
    };
    let call = |h: &mut Harness| {
        let text = "INVITE sip:0049895@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.60:5060;branch=z9hG4bKtt1\nFrom: <sip:+4989555@gw.pstn.example>;tag=tt\n\
To: <sip:0049895@127.0.0.1>\nCall-ID: tt-1\nCSeq: 1 INVITE\nContact: <sip:pstn@198.51.100.60>\nContent-Length: 0\n\n";
        h.send(TRUNK_A.parse().unwrap(), text);
    };
    let mut h = pstn_office(vec![transit, trunk("b", TRUNK_B, false)], "trunk:b");
    call(&mut h);
    let out = h.last(TRUNK_B.parse().unwrap(), "INVITE");
    assert!(out.request_uri().unwrap().starts_with(b"sip:0049895@"));
    // Without `transit` a trunk reaches office phones only.
    let mut h = pstn_office(
        vec![trunk("a", TRUNK_A, false), trunk("b", TRUNK_B, false)],
        "trunk:b",
    );
    call(&mut h);
    assert!(h.take(TRUNK_B.parse().unwrap()).is_empty());
    assert_eq!(
        h.lines_to(TRUNK_A.parse().unwrap())
            .last()
            .map(String::as_str),
        Some("SIP/2.0 404 Not Found")
    );
}

// ---- call limits -------------------------------------------------------------

#[test]
fn the_global_call_limit_refuses_with_503_and_retry_after() {
    let mut h = Harness::with(GatewayConfig {
        users: vec![user(&ALICE, false), user(&BOB, true)],
        max_calls: Some(1),
        ..GatewayConfig::default()
    });
    let _ = ring_bob(&mut h);
    // Refused before any challenge: an overloaded gateway spends nothing.
    h.send(ALICE.addr, &format!("INVITE sip:101@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {a};branch=z9hG4bKlim\nFrom: <sip:100@127.0.0.1>;tag=l\nTo: <sip:101@127.0.0.1>\nCall-ID: lim\nCSeq: 1 INVITE\nContact: <sip:100@{a}>\nContent-Length: 0\n\n", a = ALICE.addr));
    let refused = h.last(ALICE.addr, "SIP/2.0 503");
    assert_eq!(refused.other_header("Retry-After"), Some(&b"5"[..]));
    assert!(
        h.lines_to(BOB.addr).is_empty(),
        "the second call never reaches the callee"
    );
}

#[test]
fn an_unanswered_call_is_cancelled_after_the_no_answer_timeout() {
    let mut h = Harness::with(GatewayConfig {
        users: vec![user(&ALICE, false), user(&BOB, true)],
        no_answer_timeout: Some(Duration::from_secs(20)),
        ..GatewayConfig::default()
    });
    let invite = ring_bob(&mut h);
    h.advance(Duration::from_secs(19));
    assert!(h.take(BOB.addr).is_empty());
    h.advance(Duration::from_secs(2));
    assert!(h
        .lines_to(ALICE.addr)
        .contains(&"SIP/2.0 480 Temporarily Unavailable: No Answer".to_string()));
    let cancel = h.last(BOB.addr, "CANCEL");
    h.send(BOB.addr, &answer(&cancel, 200, "bobtag", BOB.addr, "", ""));
    h.send(BOB.addr, &answer(&invite, 487, "bobtag", BOB.addr, "", ""));
    assert_eq!(h.gw.call_count(), 0);
}

#[test]
fn a_line_fails_over_to_the_next_dns_target() {
    let backup: SocketAddr = "198.51.100.51:5060".parse().unwrap();
    let mut line = acme_line("acme", None);
    line.fallbacks = vec![(Transport::Udp, backup)];
    let mut h = line_harness_with(GatewayConfig {
        lines: vec![line],
        ..GatewayConfig::default()
    });
    let first = h.last(provider(), "REGISTER");
    h.send_bytes(
        provider(),
        crate::msg::build::response(&first, 503, "Service Unavailable", Some("r")).finish(b""),
    );
    let second = h.last(backup, "REGISTER");
    assert_eq!(
        second.call_id(),
        first.call_id(),
        "the same registration, elsewhere"
    );
    h.send(backup, &registrar_ok(&second, 600));
    assert_eq!(h.gw.lines()[0].state, LineState::Registered);
}

#[test]
fn a_trunk_call_fails_over_to_the_next_dns_target_on_503() {
    let mut t = trunk("a", TRUNK_A, false);
    let backup: SocketAddr = TRUNK_B.parse().unwrap();
    t.fallbacks = vec![(Transport::Udp, backup)];
    let mut h = pstn_office(vec![t], "trunk:a");
    h.dial(&ALICE, "0049301234");
    let first = h.last(TRUNK_A.parse().unwrap(), "INVITE");
    h.send_bytes(
        TRUNK_A.parse().unwrap(),
        crate::msg::build::response(&first, 503, "Service Unavailable", Some("x")).finish(b""),
    );
    let second = h.last(backup, "INVITE");
    assert_eq!(
        second.request_uri(),
        first.request_uri(),
        "the same call, at the next target"
    );
    assert!(
        h.lines_to(ALICE.addr).iter().all(|l| !l.contains("503")),
        "the caller does not see the first target's 503"
    );
}

#[test]
fn lines_sharing_a_route_prefix_are_used_round_robin() {
    let mut h = line_harness_with(GatewayConfig {
        users: vec![user(&ALICE, false)],
        lines: vec![
            acme_line("x", None),
            acme_line(
                "y",
                Some(Transition::Insert {
                    at: 0,
                    with: "9".into(),
                }),
            ),
        ],
        dialplan: DialPlan::new(
            vec![
                route("0", "line:x", None, false),
                route("0", "line:y", None, false),
            ],
            vec![],
        ),
        ..GatewayConfig::default()
    });
    h.take(provider());
    h.register(&ALICE);
    let mut uris = Vec::new();
    for _ in 0..2 {
        h.dial(&ALICE, "0301");
        uris.push(h.last(provider(), "INVITE").request_uri().unwrap().to_vec());
    }
    assert_eq!(
        uris,
        [
            b"sip:0301@sip.acme.example".to_vec(),
            b"sip:90301@sip.acme.example".to_vec()
        ]
    );
}

#[test]
fn a_retransmitted_2xx_is_acked_again() {
    let mut h = Harness::standard();
    let invite = ring_bob(&mut h);
    let ok = answer(&invite, 200, "bobtag", BOB.addr, "", "v=0\r\n");
    h.send(BOB.addr, &ok);
    assert!(h.lines_to(BOB.addr)[0].starts_with("ACK "));
    // Our ACK was lost: Bob retransmits his 200.
    h.send(BOB.addr, &ok);
    assert_eq!(h.lines_to(BOB.addr).len(), 1, "ACKed again, nothing else");
}

#[test]
fn a_dialled_number_cannot_inject_headers() {
    assert_eq!(uri_number(b"sip:0301%20SIP/2.0%0D%0AX-Evil:%201@gw"), None);
    assert_eq!(uri_number(b"sip:%22quoted%22@gw"), None);
    assert_eq!(uri_number(b"sip:+49301234@gw"), Some("+49301234".into()));
    assert_eq!(uri_number(b"tel:+49-30-1234"), Some("+49301234".into()));
}

#[test]
fn an_outside_caller_cannot_make_a_phone_answer_by_itself() {
    let mut h = office(vec![], vec![]);
    let text = from_provider(
        "1001",
        "<sip:+4989555@sip.acme.example>",
        "Alert-Info: <http://x>;info=alert-autoanswer\nRemote-Party-ID: <sip:100@office>\nX-Kept: yes\n",
    );
    h.send(provider(), &text);
    let invite = h.last(ALICE.addr, "INVITE");
    assert_eq!(invite.other_header("Alert-Info"), None);
    assert_eq!(invite.other_header("Remote-Party-ID"), None);
    assert_eq!(
        invite.other_header("X-Kept"),
        Some(&b"yes"[..]),
        "other headers still pass"
    );
}

#[test]
fn a_late_offer_gets_the_callers_answer_in_the_callees_ack() {
    let trusted = LocalUser {
        allow_ips: vec![ALICE.addr.ip()],
        ..user(&ALICE, false)
    };
    let mut h = Harness::new(vec![trusted, user(&BOB, false)]);
    h.register(&BOB);
    // No SDP in the INVITE: the offer will come in the 200.
    h.send(ALICE.addr, &format!("INVITE sip:101@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {a};branch=z9hG4bKlate\nFrom: <sip:100@127.0.0.1>;tag=late\nTo: <sip:101@127.0.0.1>\nCall-ID: late-1\nCSeq: 1 INVITE\nContact: <sip:100@{a}>\nContent-Length: 0\n\n", a = ALICE.addr));
    let invite = h.last(BOB.addr, "INVITE");
    assert!(invite.body().is_empty());
    h.send(
        BOB.addr,
        &answer(&invite, 200, "bobtag", BOB.addr, "", "v=0\r\noffer\r\n"),
    );
    assert!(
        h.take(BOB.addr).is_empty(),
        "the callee's ACK waits for the caller's answer"
    );
    let ok = h.last(ALICE.addr, "SIP/2.0 200");
    assert_eq!(ok.body(), b"v=0\r\noffer\r\n");
    let ack = ack_for(&ok, ALICE.addr).replace(
        "Content-Length: 0\n\n",
        "Content-Type: application/sdp\nContent-Length: 11\n\nv=0\r\nanswer",
    );
    h.send(ALICE.addr, &ack);
    let bob_ack = h.last(BOB.addr, "ACK");
    assert_eq!(bob_ack.body(), b"v=0\r\nanswer");
    assert_eq!(
        bob_ack.header(HeaderName::ContentType),
        Some(&b"application/sdp"[..])
    );
}

#[test]
fn our_2xx_to_a_re_invite_is_retransmitted_until_the_ack() {
    let mut h = Harness::standard();
    let (_, ok) = answered_call(&mut h);
    h.send(
        ALICE.addr,
        &in_dialog(&ok, "INVITE", 3, ALICE.addr, false, "v=0\r\nhold\r\n"),
    );
    let reinvite = h.last(BOB.addr, "INVITE");
    h.send(
        BOB.addr,
        &answer(&reinvite, 200, "bobtag", BOB.addr, "", "v=0\r\nheld\r\n"),
    );
    let first = h.last(ALICE.addr, "SIP/2.0 200");
    h.advance(Duration::from_millis(600));
    assert_eq!(
        h.lines_to(ALICE.addr),
        ["SIP/2.0 200 Reason"],
        "resent after T1"
    );
    h.send(
        ALICE.addr,
        &ack_for(&first, ALICE.addr).replace("CSeq: 1 ACK", "CSeq: 3 ACK"),
    );
    h.advance(Duration::from_secs(5));
    assert!(h.take(ALICE.addr).is_empty(), "the ACK stops it");
}
