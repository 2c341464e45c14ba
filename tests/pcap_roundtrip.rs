//! Every SIP message in the shared captures (`../shared/corpus/pcaps/`)
//! round-trips byte-exactly: UDP and SCTP payloads one message each, TCP
//! streams framed by Content-Length as the gateway's TCP transport does.
//! What does not parse is listed with its reason in a reviewed snapshot.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use quirkgate::lint::round_trips;
use quirkgate_core::msg::{frame_stream, Framed, SipMessage};
use quirkgate_trace::{looks_like_sip, TraceReader, Transport};

#[derive(Default)]
struct Tally {
    round_tripped: usize,
    refused: Vec<String>,
}

impl Tally {
    fn datagram(&mut self, frame: u64, data: Bytes) {
        match SipMessage::parse_datagram(data.clone()) {
            Ok(msg) => {
                assert!(
                    round_trips(&data, &msg),
                    "frame {frame} does not round-trip"
                );
                self.round_tripped += 1;
            }
            Err(e) => self.refused.push(format!("frame {frame}: {e}")),
        }
    }
}

#[test]
fn every_sip_message_in_the_shared_captures_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pcaps");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("../shared/corpus/pcaps is present beside the project")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    let mut report = String::new();
    let mut total = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let reader = match TraceReader::new(std::fs::File::open(&path).unwrap()) {
            Ok(r) => r,
            Err(e) => {
                writeln!(report, "{name}: not a capture this reader knows: {e}").unwrap();
                continue;
            }
        };
        let mut tally = Tally::default();
        let mut streams: HashMap<(std::net::SocketAddr, std::net::SocketAddr), BytesMut> =
            HashMap::new();
        for payload in reader {
            let p = payload.unwrap_or_else(|e| panic!("{name}: {e}"));
            match p.transport {
                Transport::Udp | Transport::Sctp | Transport::Ws => {
                    if looks_like_sip(&p.data) {
                        tally.datagram(p.frame, p.data);
                    }
                }
                Transport::Tcp => {
                    let buf = streams.entry((p.src, p.dst)).or_default();
                    if p.gap_before {
                        buf.clear();
                    }
                    buf.extend_from_slice(&p.data);
                    while looks_like_sip(buf.strip_prefix(b"\r\n").unwrap_or(buf)) {
                        match frame_stream(buf, 1 << 20) {
                            Ok(Framed::Message { skip, len }) => {
                                let _ = buf.split_to(skip);
                                tally.datagram(p.frame, buf.split_to(len).freeze());
                            }
                            Ok(Framed::Incomplete { .. }) => break,
                            Err(e) => panic!("{name}: frame {}: {e}", p.frame),
                        }
                    }
                }
            }
        }
        total += tally.round_tripped;
        writeln!(report, "{name}: {} round-trip", tally.round_tripped).unwrap();
        for refused in &tally.refused {
            writeln!(report, "  refused {refused}").unwrap();
        }
    }
    assert!(total > 1000, "the captures were read ({total} messages)");
    insta::assert_snapshot!(report);
}
