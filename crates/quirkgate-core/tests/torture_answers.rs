//! What the gateway answers to each RFC 4475 / RFC 5118 torture message
//! received over UDP: the status codes the RFCs ask for where they ask, and
//! a reviewed snapshot of every answer.

// Tests read the shared corpus from disk; the I/O ban is for the library.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use bytes::Bytes;
use quirkgate_core::gateway::{Gateway, GatewayConfig};
use quirkgate_core::msg::SipMessage;
use quirkgate_core::time::Time;
use quirkgate_core::transport::{Flow, Transport};

fn answers(data: &[u8]) -> Vec<SipMessage> {
    let mut gw = Gateway::new(GatewayConfig::default(), [3; 32]);
    let flow = Flow {
        transport: Transport::Udp,
        local: "127.0.0.1:5060".parse().unwrap(),
        remote: "192.0.2.99:5060".parse().unwrap(),
        conn: None,
    };
    gw.handle_message(Time::from_micros(1), flow, Bytes::copy_from_slice(data));
    std::iter::from_fn(|| gw.poll_transmit())
        .map(|t| SipMessage::parse_datagram(t.data).expect("our answers parse"))
        .collect()
}

#[test]
fn torture_messages_get_the_answers_the_rfcs_ask_for() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/torture");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("../shared/corpus/torture is present beside the project")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    files.sort();
    let mut report = Vec::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let got = answers(&std::fs::read(path).unwrap());
        let statuses: Vec<u16> = got.iter().filter_map(SipMessage::status).collect();
        let expected: Option<&[u16]> = match name.as_str() {
            // RFC 4475 §3.3.2/3.3.3: unknown or unsupported URI scheme.
            "unkscm.valid" | "novelsc.valid" => Some(&[416]),
            // §3.3.5: an extension we do not support in Require.
            "bext01.valid" => Some(&[420]),
            // §3.1.2.16: unknown SIP version.
            "badvers.invalid" => Some(&[505]),
            // §3.1.2.2, 3.1.2.3, 3.3.9: framing errors over UDP.
            "clerr.invalid" | "ncl.invalid" | "mcl01.invalid" => Some(&[400]),
            // §3.1.2.8-10: a Request-Line with stray whitespace.
            "lwsruri.invalid" | "lwsstart.invalid" | "trws.invalid" => Some(&[400]),
            // §3.1.2.17/18, 3.3.1, 3.3.8: well-formed, but refused by a UAS.
            "mismatch01.invalid" | "mismatch02.invalid" | "insuf.invalid" | "multi01.invalid" => {
                Some(&[400])
            }
            // §3.1.2.19, 3.1.2.5, 3.3.10 and the valid responses: a
            // response is never answered.
            "bigcode.invalid" | "scalarlg.invalid" | "bcast.valid" | "noreason.valid"
            | "unreason.valid" => Some(&[]),
            // §3.3.11: Max-Forwards 0 on an OPTIONS to us is answered.
            "zeromf.valid" => Some(&[200]),
            _ => None,
        };
        if let Some(expected) = expected {
            assert_eq!(statuses, expected, "{name}");
        }
        let lines: Vec<String> = got
            .iter()
            .map(|m| {
                String::from_utf8_lossy(&m.to_bytes())
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        report.push(format!(
            "{name}: {}",
            if lines.is_empty() {
                "(no answer)".into()
            } else {
                lines.join(" | ")
            }
        ));
    }
    assert_eq!(files.len(), 61);
    insta::assert_snapshot!(report.join("\n"));
}
