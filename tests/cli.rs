//! The `quirkgate` binary end to end: lint's exit status, config errors, and
//! `run` answering over real UDP and TCP sockets on loopback.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::{bin, config_with_users, Gateway, TempDir};
use quirkgate_core::msg::SipMessage;

fn torture(pattern: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/torture");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(pattern))
        .collect();
    files.sort();
    files
}

#[test]
fn lint_exit_status_follows_the_verdicts() {
    let valid = bin()
        .arg("lint")
        .args(torture(".valid.sip"))
        .output()
        .unwrap();
    assert!(valid.status.success());
    let out = String::from_utf8(valid.stdout).unwrap();
    assert_eq!(out.lines().count(), 38);
    assert!(
        out.lines()
            .all(|l| l.ends_with(": valid (round-trips byte-exactly)")),
        "{out}"
    );

    let invalid = bin()
        .arg("lint")
        .args(torture(".invalid.sip"))
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(1));
    let out = String::from_utf8(invalid.stdout).unwrap();
    assert_eq!(
        out.lines().filter(|l| l.contains(": invalid: ")).count(),
        23,
        "{out}"
    );
}

#[test]
fn check_reports_a_misspelt_key_with_file_and_line() {
    let dir = TempDir::new("check");
    let path = dir.path().join("office.toml");
    std::fs::write(
        &path,
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\nmax_mesage_size = 10\n",
    )
    .unwrap();
    let out = bin().arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!(
            "{}:3:1: unknown field `max_mesage_size`",
            path.display()
        )),
        "{err}"
    );
}

fn options(branch: &str) -> String {
    format!(
        "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{branch};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: {branch}@test\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Sends a datagram and waits up to `wait` for the answer.
fn udp_exchange(
    sock: &UdpSocket,
    to: SocketAddr,
    msg: &[u8],
    wait: Duration,
) -> Option<SipMessage> {
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(msg, to).unwrap();
    let mut buf = [0u8; 65535];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Some(SipMessage::parse_datagram(Bytes::copy_from_slice(&buf[..n])).unwrap()),
        Err(_) => None,
    }
}

#[test]
fn run_answers_options_over_udp_and_tcp_and_survives_bad_input() {
    let dir = TempDir::new("run");
    let gw = Gateway::start(
        dir.path(),
        Some(&config_with_users(
            dir.path(),
            "[[user]]\nnumber = \"100\"\npassword = \"pw\"\n",
        )),
    );
    let (udp, tcp) = (gw.udp.unwrap(), gw.tcp.unwrap());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let answered = |msg: &[u8]| udp_exchange(&sock, udp, msg, Duration::from_secs(5));

    let ok = answered(options("a1").as_bytes()).expect("OPTIONS is answered");
    assert_eq!(ok.status(), Some(200));
    assert!(ok.header(quirkgate_core::msg::HeaderName::Allow).is_some());
    let via = ok.top_via().unwrap().unwrap();
    assert_eq!(via.rport(), Some(Some(sock.local_addr().unwrap().port())));

    // Garbage is dropped without an answer, and the gateway keeps serving.
    assert!(udp_exchange(
        &sock,
        udp,
        b"\x16\x03\x01garbage",
        Duration::from_millis(300)
    )
    .is_none());
    // A huge Content-Length gets a 400 that says why.
    let huge = options("a2").replace("Content-Length: 0", "Content-Length: 99999999");
    let bad = answered(huge.as_bytes()).expect("answered");
    assert_eq!(bad.status(), Some(400));
    assert!(String::from_utf8_lossy(bad.reason().unwrap()).contains("Content-Length"));
    assert_eq!(
        answered(options("a3").as_bytes()).unwrap().status(),
        Some(200)
    );

    // TCP: two requests in one write plus a CRLF keep-alive, framed apart.
    let mut tcp = TcpStream::connect(tcp).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    tcp.write_all(format!("\r\n\r\n{}{}", options("t1"), options("t2")).as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.windows(12).filter(|w| w == b"SIP/2.0 200 ").count() < 2 {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "connection stayed open");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(got).unwrap();
    assert!(
        text.contains("branch=z9hG4bKt1") && text.contains("branch=z9hG4bKt2"),
        "{text}"
    );
    assert_eq!(text.matches("SIP/2.0 200 OK\r\n").count(), 2);

    // A truncated TCP message: the peer goes away mid-message; that is
    // logged once and the gateway keeps serving.
    let mut cut = TcpStream::connect(gw.tcp.unwrap()).unwrap();
    cut.write_all(&options("cut").as_bytes()[..60]).unwrap();
    drop(cut);
    let mut again = TcpStream::connect(gw.tcp.unwrap()).unwrap();
    again
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    again.write_all(options("t3").as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = again.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));
    let log = gw.log_text();
    assert_eq!(
        log.matches("tcp connection closed inside a message")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("refused a malformed message").count(),
        2,
        "garbage and the huge Content-Length: {log}"
    );

    // The admin API answers.
    let mut http = TcpStream::connect(gw.admin).unwrap();
    http.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    http.read_to_string(&mut body).unwrap();
    assert!(
        body.starts_with("HTTP/1.1 200") && body.contains("\"status\":\"ok\""),
        "{body}"
    );
}

#[test]
fn run_without_config_uses_the_embedded_default_and_prints_demo_users() {
    // Only the parse of the embedded default is checked here: binding its
    // fixed ports (5060, 8080) would collide with parallel tests.
    let config = quirkgate::config::Config::embedded();
    assert_eq!(config.sip.listen[0].to_string(), "udp:127.0.0.1:5060");
    assert_eq!(config.sip.listen[1].to_string(), "tcp:127.0.0.1:5060");
    assert_eq!(config.admin.listen.to_string(), "127.0.0.1:8080");
    assert!(config.users.iter().all(|u| u.password.is_some()));
}
