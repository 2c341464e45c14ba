//! Parse + re-serialise throughput of the message model.
//!
//! `cargo bench -p quirkgate-core --bench parse` prints, for a typical INVITE
//! with SDP and a 200 OK, messages per second and MB per second for:
//! parse then re-emit unedited (the pass-through path), parse then edit one
//! header then re-emit (the copy path), and parse then validate every owned
//! header (what a UAS does before it accepts a request).

// A benchmark measures wall time; the clock ban is for the library itself.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use quirkgate_core::msg::{validate, HeaderName, SipMessage};

const INVITE: &[u8] = b"INVITE sip:+4930123456@gw.provider.example;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---c8f5b8e1a2b3c4d5;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:100@192.0.2.10:5060;transport=udp>\r\n\
To: <sip:+4930123456@gw.provider.example;user=phone>\r\n\
From: \"Office 100\" <sip:100@office.example>;tag=4d2a9c1e\r\n\
Call-ID: 7f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f@192.0.2.10\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE, UPDATE, PRACK\r\n\
Supported: replaces, timer, 100rel\r\n\
Session-Expires: 1800;refresher=uac\r\n\
Min-SE: 90\r\n\
User-Agent: Office Phone 4.2.1\r\n\
P-Asserted-Identity: <sip:+4930999000@office.example>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 260\r\n\
\r\n\
v=0\r\n\
o=- 3912345678 3912345678 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 8 0 18 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---c8f5b8e1a2b3c4d5;rport=5060;received=192.0.2.10\r\n\
Record-Route: <sip:198.51.100.1;lr>\r\n\
Contact: <sip:+4930123456@198.51.100.20:5060>\r\n\
To: <sip:+4930123456@gw.provider.example;user=phone>;tag=as5f3e9a1c\r\n\
From: \"Office 100\" <sip:100@office.example>;tag=4d2a9c1e\r\n\
Call-ID: 7f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f@192.0.2.10\r\n\
CSeq: 1 INVITE\r\n\
Server: Provider SBC\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY\r\n\
Supported: replaces, timer\r\n\
Content-Length: 0\r\n\
\r\n";

fn measure(name: &str, msg: &'static [u8], op: impl Fn(Bytes) -> usize) {
    let input = Bytes::from_static(msg);
    // Warm up, then run for a fixed wall time and report the rate.
    for _ in 0..10_000 {
        black_box(op(input.clone()));
    }
    let budget = Duration::from_millis(700);
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            black_box(op(black_box(input.clone())));
        }
        n += 1000;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_sec = n as f64 / secs;
    println!(
        "{name:<50} {:>12.0} msg/s {:>9.1} MB/s {:>8.0} ns/msg",
        per_sec,
        per_sec * msg.len() as f64 / 1e6,
        1e9 / per_sec
    );
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is not supported.
    println!(
        "message model throughput (one core, {} / {} byte messages)",
        INVITE.len(),
        OK.len()
    );
    for (label, msg) in [("INVITE+SDP", INVITE), ("200 OK", OK)] {
        measure(&format!("{label}: parse + re-emit unedited"), msg, |b| {
            SipMessage::parse_datagram(b).unwrap().to_bytes().len()
        });
        measure(
            &format!("{label}: parse + edit Max-Forwards/To + re-emit"),
            msg,
            |b| {
                let mut m = SipMessage::parse_datagram(b).unwrap();
                m.set_header_value(HeaderName::MaxForwards, 0, b"69");
                m.set_header_value(HeaderName::To, 0, b"<sip:+4930123456@gw.provider.example>");
                m.to_bytes().len()
            },
        );
        measure(
            &format!("{label}: parse + validate all owned headers"),
            msg,
            |b| {
                let m = SipMessage::parse_datagram(b).unwrap();
                validate(&m).unwrap();
                m.encoded_len()
            },
        );
    }
}
