//! Lines against a real provider: Kamailio (Debian) as a digest registrar.

mod common;

use std::time::{Duration, Instant};

use common::{config_with_users, http_get, Gateway, Kamailio, TempDir};

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
            .cloned()
            .unwrap();
        if found["state"] == state || Instant::now() > deadline {
            return found;
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
