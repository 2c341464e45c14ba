//! Lines against a real provider: Kamailio (Debian) as a digest registrar.

mod common;

use std::time::{Duration, Instant};

use common::{config_with_users, http_get, Gateway, Kamailio, Phone, TempDir};

fn lines_json(gw: &Gateway) -> serde_json::Value {
    serde_json::from_str(&http_get(gw.admin, "/api/lines")).unwrap()
}

/// Polls the admin API until `line` reaches `state`.
fn wait_state(gw: &Gateway, line: &str, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = lines_json(gw);
        let found = lines
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == line)
            .cloned();
        match found {
            Some(found) if found["state"] == state || Instant::now() > deadline => return found,
            None if Instant::now() > deadline => panic!("no line {line} in {lines}"),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_line_registers_at_kamailio_and_a_wrong_password_is_reported() {
    let kamailio = Kamailio::start("registrar.cfg", &[("__PASSWORD__", "line-secret")]);
    let dir = TempDir::new("provider");
    let registrar = format!("sip:127.0.0.1:{}", kamailio.port);
    let lines = format!(
        "[[line]]\nname = \"acme\"\nregistrar = \"{registrar}\"\nusername = \"1001\"\npassword = \"line-secret\"\nexpires = 120\n\
         [[line]]\nname = \"typo\"\nregistrar = \"{registrar}\"\nusername = \"1002\"\npassword = \"line-secert\"\n"
    );
    let gw = Gateway::start(dir.path(), Some(&config_with_users(dir.path(), &lines)));

    let acme = wait_state(&gw, "acme", "registered");
    assert_eq!(acme["state"], "registered", "{acme}\n{}", gw.log_text());
    assert_eq!(acme["last_status"], 200);
    let typo = wait_state(&gw, "typo", "failed");
    assert_eq!(typo["state"], "failed");
    assert_eq!(
        typo["last_status"], 401,
        "Kamailio challenged again: {typo}"
    );

    // What crossed the wire: Kamailio's challenge and our digest answer.
    let log = gw.log_text();
    assert!(
        log.contains("WWW-Authenticate: Digest realm=\"127.0.0.1"),
        "{log}"
    );
    assert!(
        log.contains("Authorization: Digest username=\"1001\""),
        "{log}"
    );
    assert!(log.contains("Contact: <sip:1001@127.0.0.1:"), "{log}");
}

#[test]
fn calls_go_out_and_come_in_through_a_line_at_kamailio() {
    let kamailio = Kamailio::start(
        "provider.cfg",
        &[("__PASSWORD__", "line-secret"), ("__LINE__", "1001")],
    );
    // The world outside: a phone registered at the provider as 5551234.
    let remote = Phone::start("5551234", "line-secret", kamailio.port, 25, None);
    remote.expect("[1 binding]", 10);

    let dir = TempDir::new("provider-calls");
    let office = format!(
        "[[user]]\nnumber = \"100\"\npassword = \"pw-100\"\n\
         [[line]]\nname = \"acme\"\nregistrar = \"sip:127.0.0.1:{port}\"\nusername = \"1001\"\npassword = \"line-secret\"\n\
         number = \"+4930123456\"\n\
         [[route]]\nprefix = \"9\"\nto = \"user:none\"\ntransition = {{ kind = \"delete\", at = 0, len = 1 }}\nreanalyse = true\n\
         [[route]]\nprefix = \"5\"\nto = \"line:acme\"\n\
         [[route]]\nprefix = \"+4930123456\"\nto = \"user:100\"\n",
        port = kamailio.port
    );
    let gw = Gateway::start(dir.path(), Some(&config_with_users(dir.path(), &office)));
    assert_eq!(wait_state(&gw, "acme", "registered")["state"], "registered");
    let udp = gw.udp.unwrap().port();

    // Out: the office phone dials 9 5551234.
    let phone = Phone::start(
        "100",
        "pw-100",
        udp,
        6,
        Some(&format!("/dial sip:95551234@127.0.0.1:{udp}")),
    );
    phone.expect("Call established", 10);
    remote.expect("Call established", 5);
    remote.expect("session closed", 15);
    let log = gw.log_text();
    assert!(
        log.contains("INVITE sip:5551234@127.0.0.1:"),
        "9 deleted, sent to the provider: {log}"
    );
    assert!(
        log.contains("Proxy-Authorization: Digest username=\"1001\""),
        "the provider's challenge answered: {log}"
    );
    drop(phone);

    // In: the outside phone calls the line's account; the DID rings 100.
    let phone = Phone::start("100", "pw-100", udp, 20, None);
    phone.expect("[1 binding]", 10);
    let caller = Phone::start(
        "5551234",
        "line-secret",
        kamailio.port,
        6,
        Some(&format!("/dial sip:1001@127.0.0.1:{}", kamailio.port)),
    );
    caller.expect("Call established", 10);
    phone.expect("Call established", 5);
    let incoming = phone.sip(&phone.own_addr());
    let invite = incoming
        .iter()
        .find(|l| !l.sent && l.msg.method().is_some_and(|m| m.as_bytes() == b"INVITE"))
        .unwrap();
    assert!(
        invite
            .msg
            .from_header()
            .unwrap()
            .unwrap()
            .uri
            .starts_with(b"sip:5551234@"),
        "the caller's number reaches the office phone"
    );
}
