//! Real phones (baresip, from Debian) register with digest to
//! `quirkgate run` on its embedded default configuration and call each
//! other through it. The assertions read the SIP each phone itself logged.

mod common;

use common::{Gateway, Logged, Phone, TempDir};
use quirkgate_core::msg::{HeaderName, SipMessage};

fn first_line(m: &SipMessage) -> String {
    String::from_utf8_lossy(&m.to_bytes())
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn lines(log: &[Logged], sent: bool) -> Vec<String> {
    log.iter()
        .filter(|l| l.sent == sent)
        .map(|l| first_line(&l.msg))
        .collect()
}

#[test]
fn two_baresip_phones_register_and_call_through_the_embedded_default() {
    let dir = TempDir::new("phones");
    // No configuration: the embedded default, SIP on 127.0.0.1:5060 with
    // demo users 100 and 101.
    let gateway = Gateway::start(dir.path(), None);
    assert_eq!(gateway.udp.unwrap().port(), 5060);

    let bob = Phone::start("101", "demo-101", 5060, 20, None);
    bob.expect("[1 binding]", 10);
    let alice = Phone::start(
        "100",
        "demo-100",
        5060,
        6,
        Some("/dial sip:101@127.0.0.1:5060"),
    );
    alice.expect("Call established", 10);
    bob.expect("Call established", 5);
    // Alice quits after 6 s, hanging up; Bob must see the BYE.
    bob.expect("session closed", 15);

    let alice_log = alice.sip(&alice.own_addr());
    let bob_log = bob.sip(&bob.own_addr());
    let alice_got = lines(&alice_log, false);
    let alice_sent = lines(&alice_log, true);
    for expected in [
        "SIP/2.0 407 Proxy Authentication Required",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 Answering",
    ] {
        assert!(
            alice_got.contains(&expected.to_string()),
            "alice got {alice_got:?}"
        );
    }
    assert!(
        alice_sent.iter().any(|l| l.starts_with("ACK ")),
        "{alice_sent:?}"
    );
    assert!(
        alice_sent.iter().any(|l| l.starts_with("BYE ")),
        "{alice_sent:?}"
    );

    let bob_got = lines(&bob_log, false);
    let bob_sent = lines(&bob_log, true);
    assert!(
        bob_sent.contains(&"SIP/2.0 180 Ringing".to_string()),
        "{bob_sent:?}"
    );
    for method in ["INVITE ", "ACK ", "BYE "] {
        assert!(
            bob_got.iter().any(|l| l.starts_with(method)),
            "bob got {bob_got:?}"
        );
    }

    // Two legs, two dialogs: Bob's INVITE shares nothing with Alice's.
    let alice_invite = alice_log
        .iter()
        .find(|l| l.sent && first_line(&l.msg).starts_with("INVITE"))
        .unwrap();
    let bob_invite = bob_log
        .iter()
        .find(|l| !l.sent && first_line(&l.msg).starts_with("INVITE"))
        .unwrap();
    assert_ne!(alice_invite.msg.call_id(), bob_invite.msg.call_id());
    let vias: Vec<_> = bob_invite
        .msg
        .vias()
        .map(|v| v.unwrap().host.to_vec())
        .collect();
    assert_eq!(vias.len(), 1, "only the gateway's Via reaches Bob");
    let sent_by = bob_invite.msg.top_via().unwrap().unwrap();
    assert_eq!(sent_by.port, Some(5060), "the Via is the gateway's");
    let alice_tag = alice_invite
        .msg
        .from_header()
        .unwrap()
        .unwrap()
        .tag()
        .unwrap()
        .to_vec();
    assert!(!bob_invite
        .msg
        .to_bytes()
        .windows(alice_tag.len())
        .any(|w| w == alice_tag.as_slice()));
    assert!(bob_invite
        .msg
        .from_header()
        .unwrap()
        .unwrap()
        .uri
        .starts_with(b"sip:100@"));
    assert_eq!(
        bob_invite.msg.header(HeaderName::ContentType),
        Some(&b"application/sdp"[..]),
        "SDP passes"
    );
    drop(gateway);
}

#[test]
fn a_phone_on_tcp_is_called_over_its_own_connection() {
    let dir = TempDir::new("phones-tcp");
    let config = common::config_with_users(
        dir.path(),
        "[[user]]\nnumber = \"100\"\npassword = \"pw-100\"\n[[user]]\nnumber = \"101\"\npassword = \"pw-101\"\n",
    );
    let gateway = Gateway::start(dir.path(), Some(&config));
    let (udp, tcp) = (gateway.udp.unwrap().port(), gateway.tcp.unwrap().port());
    let bob = Phone::start_on("tcp", "101", "pw-101", tcp, 20, None);
    bob.expect("[1 binding]", 10);
    let alice = Phone::start(
        "100",
        "pw-100",
        udp,
        6,
        Some(&format!("/dial sip:101@127.0.0.1:{udp}")),
    );
    alice.expect("Call established", 10);
    bob.expect("session closed", 15);
    let out = bob.output();
    // baresip prints its transport with each message it logs.
    let gw_to_bob = format!("TCP 127.0.0.1:{tcp} -> ");
    assert!(
        out.contains(&gw_to_bob),
        "the INVITE came over the phone's TCP connection: {out}"
    );
    let bob_log = bob.sip(&bob.own_addr());
    let got = lines(&bob_log, false);
    assert!(
        got.iter().any(|l| l.starts_with("INVITE ")) && got.iter().any(|l| l.starts_with("BYE ")),
        "{got:?}"
    );
}
