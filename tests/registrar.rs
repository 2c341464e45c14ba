//! The registrar against a real client (sipsak, from Debian) and over real
//! sockets: digest REGISTER, OPTIONS over UDP and TCP, a wrong password,
//! and registrations that survive a restart of the gateway.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{config_with_users, Gateway, TempDir};
use quirkgate_core::msg::{HeaderName, Method, SipMessage};

const USERS: &str = "[[user]]\nnumber = \"100\"\npassword = \"secret-100\"\n\
                     [[user]]\nnumber = \"200\"\nallow_ips = [\"127.0.0.1\"]\n";

fn sipsak(args: &[&str]) -> (bool, String) {
    // An explicit local port: parallel sipsak runs must not share one.
    let local = common::free_port_pair().to_string();
    let out = Command::new("sipsak")
        .args(args)
        .args(["-l", &local])
        .output()
        .expect("sipsak is installed (scripts/test installs it)");
    let text = format!("sipsak {args:?} -l {local}\n")
        + &String::from_utf8_lossy(&out.stdout)
        + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// sipsak's usrloc mode: REGISTER with digest, then checks the binding.
fn sipsak_register(port: u16, contact: &str, password: &str) -> (bool, String) {
    sipsak(&[
        "-U",
        "-C",
        contact,
        "-s",
        &format!("sip:100@127.0.0.1:{port}"),
        "-u",
        "100",
        "-a",
        password,
        "-x",
        "300",
        "-vv",
    ])
}

#[test]
fn sipsak_registers_with_digest_and_pings_over_udp_and_tcp() {
    let dir = TempDir::new("sipsak");
    let gw = Gateway::start(dir.path(), Some(&config_with_users(dir.path(), USERS)));
    let port = gw.udp.unwrap().port();

    let (ok, out) = sipsak_register(port, "sip:100@127.0.0.1:45999", "secret-100");
    assert!(ok, "sipsak registers: {out}\n{}", gw.log_text());
    let (ok, out) = sipsak_register(port, "sip:100@127.0.0.1:45999", "wrong");
    assert!(!ok, "a wrong password is refused: {out}");
    assert!(out.contains("401 Unauthorized"), "{out}");

    for transport in ["udp", "tcp"] {
        let tcp_port = gw.tcp.unwrap().port();
        let target = if transport == "udp" { port } else { tcp_port };
        let (ok, out) = sipsak(&[
            "-s",
            &format!("sip:gw@127.0.0.1:{target}"),
            "--transport",
            transport,
            "-vv",
        ]);
        assert!(
            ok && out.contains("200 OK"),
            "OPTIONS over {transport}: {out}"
        );
    }

    // What crossed the wire, in the gateway's own message log.
    let log = gw.log_text();
    assert!(
        log.contains("WWW-Authenticate: Digest realm=\"quirkgate\""),
        "challenge sent"
    );
    assert!(
        log.contains("Contact: <sip:100@127.0.0.1:45999>;expires=300"),
        "binding confirmed with its expiry"
    );
}

fn invite_from_trusted_200(port: u16, sock: &UdpSocket) {
    let me = sock.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:100@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKrestart;rport\r\n\
         From: <sip:200@127.0.0.1>;tag=t200\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: restart-1\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:200@{me}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(invite.as_bytes(), ("127.0.0.1", port))
        .unwrap();
}

#[test]
fn registrations_survive_a_restart() {
    let dir = TempDir::new("restart");
    let config = config_with_users(dir.path(), USERS);
    // The "phone" is a socket of this test; sipsak registers it.
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    phone
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let contact = format!("sip:100@{}", phone.local_addr().unwrap());
    {
        let gw = Gateway::start(dir.path(), Some(&config));
        let (ok, out) = sipsak_register(gw.udp.unwrap().port(), &contact, "secret-100");
        assert!(ok, "{out}\n{}", gw.log_text());
    }
    // A new process on the same database, on another port.
    let gw = Gateway::start(dir.path(), Some(&config));
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    invite_from_trusted_200(gw.udp.unwrap().port(), &caller);
    let mut buf = [0u8; 65535];
    let (n, _) = phone
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("the restored binding is called ({e}):\n{}", gw.log_text()));
    let msg = SipMessage::parse_datagram(Bytes::copy_from_slice(&buf[..n])).unwrap();
    assert_eq!(msg.method(), Some(&Method::Invite));
    assert_eq!(msg.request_uri(), Some(contact.as_bytes()));
    assert!(msg
        .header(HeaderName::From)
        .unwrap()
        .starts_with(b"<sip:200@"));
}
