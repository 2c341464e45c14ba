//! `quirkgate dns NAME --server IP:PORT` against a small DNS server of this
//! test on 127.0.0.1: the real resolver follows NAPTR, SRV and A records
//! and prints the chain.

mod common;

use std::net::UdpSocket;
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, NAPTR, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Answers NAPTR, SRV and A queries for `acme.test` from a fixed zone,
/// everything else with no records, for `queries` queries.
fn serve_zone(socket: UdpSocket, queries: usize) {
    let name = |s: &str| Name::from_str(s).unwrap();
    for _ in 0..queries {
        let mut buf = [0u8; 1500];
        let Ok((n, peer)) = socket.recv_from(&mut buf) else {
            return;
        };
        let query = Message::from_vec(&buf[..n]).unwrap();
        let mut reply = Message::new();
        reply
            .set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(query.op_code())
            .set_recursion_desired(true)
            .set_recursion_available(true)
            .set_authoritative(true)
            .set_response_code(ResponseCode::NoError);
        for q in query.queries() {
            reply.add_query(q.clone());
            let asked = q.name().to_ascii();
            let answer = match (q.query_type(), asked.as_str()) {
                (RecordType::NAPTR, "acme.test.") => Some(RData::NAPTR(NAPTR::new(
                    10,
                    10,
                    b"s".to_vec().into_boxed_slice(),
                    b"SIP+D2U".to_vec().into_boxed_slice(),
                    Vec::new().into_boxed_slice(),
                    name("_sip._udp.acme.test."),
                ))),
                (RecordType::SRV, "_sip._udp.acme.test.") => {
                    Some(RData::SRV(SRV::new(10, 0, 5070, name("sip1.acme.test."))))
                }
                (RecordType::A, "sip1.acme.test.") => Some(RData::A(A::new(127, 0, 0, 1))),
                _ => None,
            };
            if let Some(rdata) = answer {
                reply.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
            }
        }
        socket.send_to(&reply.to_vec().unwrap(), peer).unwrap();
    }
}

#[test]
fn dns_command_follows_naptr_srv_and_a_records() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = socket.local_addr().unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let zone = std::thread::spawn(move || serve_zone(socket, 6));
    let out = common::bin()
        .args(["dns", "acme.test", "--server", &server.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("NAPTR acme.test: 10 10 \"s\" \"SIP+D2U\" _sip._udp.acme.test."),
        "{text}"
    );
    assert!(
        text.contains("SRV _sip._udp.acme.test: 10 0 5070 sip1.acme.test."),
        "{text}"
    );
    assert!(text.contains("A/AAAA sip1.acme.test: 127.0.0.1"), "{text}");
    assert!(
        text.trim_end().ends_with("=> 1. udp 127.0.0.1:5070"),
        "{text}"
    );
    drop(zone);
}
