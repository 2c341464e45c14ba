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
        "[[line]]\nname = \"acme\"\nregistrar = \"{registrar}\"\nusername = \"1001\"\npassword = \"line-secret\"\nquirks = {{ register_expires = 120 }}\n\
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

/// Sends an INVITE from a socket of this test and returns the first final
/// status that comes back.
fn call_and_wait(
    from: &std::net::UdpSocket,
    to: std::net::SocketAddr,
    uri: &str,
    from_header: &str,
    call: &str,
) -> u16 {
    let me = from.local_addr().unwrap();
    let invite = format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call};rport\r\nFrom: {from_header};tag={call}\r\n\
         To: <{uri}>\r\nCall-ID: {call}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:test@{me}>\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    from.send_to(invite.as_bytes(), to).unwrap();
    from.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 65535];
    loop {
        let (n, _) = from.recv_from(&mut buf).expect("a final response");
        let text = String::from_utf8_lossy(&buf[..n]);
        let status: u16 = text.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0);
        if status >= 200 && text.contains(&format!("Call-ID: {call}@test")) {
            return status;
        }
    }
}

const TRUSTED: &str = "[[user]]\nnumber = \"100\"\nallow_ips = [\"127.0.0.1\"]\n";

#[test]
fn calls_go_round_robin_over_two_lines_at_kamailio() {
    // Two providers wanting different number formats, one dial plan: line
    // b refines the called number just before the call leaves on it.
    let kamailio = Kamailio::start(
        "provider.cfg",
        &[("__PASSWORD__", "line-secret"), ("__LINE__", "1001")],
    );
    let dir = TempDir::new("provider-rr");
    let office = format!(
        "{TRUSTED}[[line]]\nname = \"a\"\nregistrar = \"sip:127.0.0.1:{port}\"\nusername = \"1001\"\npassword = \"line-secret\"\n\
         [[line]]\nname = \"b\"\nregistrar = \"sip:127.0.0.1:{port}\"\nusername = \"1002\"\npassword = \"line-secret\"\n\
         refine = {{ kind = \"insert\", at = 0, with = \"0086\" }}\n\
         [[group]]\nname = \"out\"\nlines = [\"a\", \"b\"]\n[[route]]\nprefix = \"5\"\nto = \"group:out\"\n",
        port = kamailio.port
    );
    let gw = Gateway::start(dir.path(), Some(&config_with_users(dir.path(), &office)));
    wait_state(&gw, "a", "registered");
    wait_state(&gw, "b", "registered");
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Nobody is registered as 5550001 at the provider: it answers 404,
    // which passes through; what matters is which line each call took.
    for call in ["rr1", "rr2"] {
        let status = call_and_wait(
            &phone,
            gw.udp.unwrap(),
            "sip:5550001@127.0.0.1",
            "<sip:100@127.0.0.1>",
            call,
        );
        assert_eq!(status, 404, "{}", gw.log_text());
    }
    // The From of every INVITE the gateway sent to the provider, in order.
    let log = gw.log_text();
    // (Request-URI user, From user) of every INVITE sent to the provider.
    let to_provider = format!("@127.0.0.1:{} SIP/2.0", kamailio.port);
    let sent: Vec<(String, String)> = log
        .split("INVITE sip:")
        .skip(1)
        .filter(|msg| {
            msg.lines()
                .next()
                .is_some_and(|l| l.ends_with(&to_provider))
        })
        .filter_map(|msg| {
            let called = msg.split('@').next()?.to_string();
            let from = msg.lines().find(|l| l.starts_with("From:"))?;
            let user = from.split("<sip:").nth(1)?.split('@').next()?.to_string();
            Some((called, user))
        })
        .collect();
    let users: Vec<&str> = sent.iter().map(|(_, u)| u.as_str()).collect();
    let first_b = users
        .iter()
        .position(|u| *u == "1002")
        .expect("the second call took line b");
    assert!(
        users[..first_b].iter().all(|u| *u == "1001") && first_b > 0,
        "{users:?}"
    );
}

#[test]
fn an_unreachable_trunk_is_skipped_after_its_pings_fail() {
    let kamailio = Kamailio::start(
        "provider.cfg",
        &[("__PASSWORD__", "line-secret"), ("__LINE__", "1001")],
    );
    // A port nobody listens on: pings to it go unanswered.
    let dead = common::free_port_pair();
    let dir = TempDir::new("provider-dead");
    let office = format!(
        "{TRUSTED}[[trunk]]\nname = \"dead\"\naddress = \"sip:127.0.0.1:{dead}\"\nquirks = {{ options_ping = {{ interval = 1, misses = 2 }} }}\n\
         [[trunk]]\nname = \"kam\"\naddress = \"sip:127.0.0.1:{port}\"\nquirks = {{ options_ping = {{ interval = 1, misses = 2 }} }}\n\
         [[group]]\nname = \"pstn\"\nlines = [\"dead\", \"kam\"]\n[[route]]\nprefix = \"5\"\nto = \"group:pstn\"\n",
        port = kamailio.port
    );
    let gw = Gateway::start(dir.path(), Some(&config_with_users(dir.path(), &office)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.log_text().contains("peer down") {
        assert!(
            Instant::now() < deadline,
            "the dead trunk was never marked down:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for call in ["dt1", "dt2"] {
        let status = call_and_wait(
            &phone,
            gw.udp.unwrap(),
            "sip:5550001@127.0.0.1",
            "<sip:100@127.0.0.1>",
            call,
        );
        assert_eq!(status, 404, "Kamailio answered, not the dead trunk");
    }
    let log = gw.log_text();
    assert!(
        !log.contains(&format!("INVITE sip:5550001@127.0.0.1:{dead}")),
        "no INVITE went to the dead trunk"
    );
    assert!(log.contains("peer=dead"), "{log}");
}

#[test]
fn an_anonymous_call_through_the_provider_is_refused_as_configured() {
    let kamailio = Kamailio::start(
        "provider.cfg",
        &[("__PASSWORD__", "line-secret"), ("__LINE__", "1001")],
    );
    let dir = TempDir::new("provider-anon");
    let office = format!(
        "[[user]]\nnumber = \"100\"\npassword = \"pw\"\n\
         [[line]]\nname = \"acme\"\nregistrar = \"sip:127.0.0.1:{port}\"\nusername = \"1001\"\npassword = \"line-secret\"\n\
         number = \"100\"\n[[blacklist]]\ncaller = \"anonymous\"\nstatus = 433\n",
        port = kamailio.port
    );
    let gw = Gateway::start(dir.path(), Some(&config_with_users(dir.path(), &office)));
    wait_state(&gw, "acme", "registered");
    // The outside world calls the line's account through the provider.
    let outside = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let provider: std::net::SocketAddr = format!("127.0.0.1:{}", kamailio.port).parse().unwrap();
    let uri = format!("sip:1001@127.0.0.1:{}", kamailio.port);
    let status = call_and_wait(
        &outside,
        provider,
        &uri,
        "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
        "anon1",
    );
    assert_eq!(status, 433, "{}", gw.log_text());
}
