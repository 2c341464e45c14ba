//! Reads every capture of the shared corpus (by relative path; the files are not ours to copy)
//! and checks the SIP yield against what tshark reports in the corpus README.

use quirkgate_trace::{
    looks_like_sip, Payload, SkipReason, Stats, TraceError, TraceReader, Transport,
};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const CORPUS: &str = "../../../shared/corpus/pcaps";

/// Microsoft Network Monitor 2.x, not pcap/pcapng: the one capture in its own container format.
const NETMON: &str = "sipnab_c07-sip-r2.cap";

/// (file, packet records, SIP in whole-message payloads (UDP, SCTP, WebSocket), complete SIP
/// messages framed from TCP). The last two are tshark's "SIP frames" split by transport unless a
/// comment says otherwise.
const EXPECTED: &[(&str, u64, usize, usize)] = &[
    ("arkime_gtp-iphone.pcap", 106, 4, 13),
    ("heplify_erspan_sip_ipv4_udp.pcapng", 140, 140, 0),
    ("heplify_sip_ipv4_tcp_fragmented.pcap", 1542, 0, 406),
    ("heplify_sip_ipv6_udp.pcap", 6, 6, 0),
    // Frames 1 and 2 carry one INVITE in two DATA chunks; see `sctp_messages_are_reassembled`.
    ("heplify_sip_sctp.pcap", 5, 4, 0),
    // 28 over UDP, 11 in WebSocket frames; see `websocket_messages_are_unwrapped`.
    ("heplify_sip_tcp_websocket.pcap", 61, 39, 0),
    ("ndpi_FAX-Call-t38-CA-TDM-SIP-FB-1.pcap", 1552, 92, 0),
    // tshark 52: six fuzzed frames (253 432 454 602 603 640) claim IP/UDP lengths beyond the
    // captured bytes; tshark dissects what is there, the reader skips them as Malformed.
    ("ndpi_fuzz-2006-06-26-2594.pcap", 691, 46, 0),
    ("pcapplusplus_sip_reqs.pcap", 4, 4, 0),
    ("pcapplusplus_sip_resp.pcap", 7, 6, 1),
    ("sipnab_Asterisk_ZFONE_XLITE.pcap", 1042, 27, 0),
    ("sipnab_DTMFsipinfo.pcap", 32, 32, 0),
    ("sipnab_SIP_CALL_RTP_G711.pcap", 4269, 14, 0),
    ("sipnab_SIP_DTMF2.cap", 1360, 29, 0),
    ("sipnab_b2bua-asterisk.pcapng", 416, 60, 0),
    (NETMON, 39, 12, 0),
    ("sipnab_metasploit-sip-invite-spoof.pcap", 3, 2, 0),
    ("sipnab_rtp-protocol.pcap", 259, 9, 0),
    ("sipnab_sip-488-codec-reject.pcapng", 13, 13, 0),
    ("sipnab_sip-over-tcp.pcap", 84, 0, 7),
    ("sipnab_sip-routing-error.pcapng", 58, 58, 0),
    ("sngrep_aaa.pcap", 691, 81, 0),
    ("sngrep_ipip.pcap", 4, 0, 4),
    ("sngrep_ipv6frag.pcap", 34, 32, 0),
    (
        "snort3demo_SIP_Eyebeam2Eyebeam_Video_Audio.pcap",
        3606,
        68,
        0,
    ),
    ("suricata-verify_sip-body-large.pcap", 16, 0, 2),
    ("suricata-verify_sip_compact_form.pcap", 1, 1, 0),
    ("zeek_invalid-content-length.pcap", 2, 2, 0),
    // Counted by both: the junk "DB" glued to REGISTER still forms a method token.
    ("zeek_sip-junk-before-request.pcap", 2, 1, 0),
    ("zeek_sip-long-request-response-paths.pcap", 2, 2, 0),
];

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(CORPUS)
        .join(name)
}

fn open(name: &str) -> Result<TraceReader<BufReader<File>>, TraceError> {
    let file = File::open(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    TraceReader::new(BufReader::new(file))
}

fn read(name: &str) -> (Vec<Payload>, Stats) {
    let mut reader = open(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let payloads = reader
        .by_ref()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (payloads, reader.stats().clone())
}

/// One TCP direction, split into runs of contiguous bytes at every reported gap.
fn tcp_runs(payloads: &[Payload]) -> BTreeMap<(SocketAddr, SocketAddr), Vec<Vec<u8>>> {
    let mut flows: BTreeMap<_, Vec<Vec<u8>>> = BTreeMap::new();
    for p in payloads.iter().filter(|p| p.transport == Transport::Tcp) {
        let runs = flows.entry((p.src, p.dst)).or_default();
        match runs.last_mut() {
            Some(run) if !p.gap_before => run.extend_from_slice(&p.data),
            _ => runs.push(p.data.to_vec()),
        }
    }
    flows
}

/// What framing one TCP direction as SIP found.
#[derive(Debug, Default, PartialEq)]
struct Framing {
    messages: usize,
    skipped_bytes: usize,
    incomplete_tail: bool,
}

/// Frames SIP the way a consumer would: start line, headers up to the blank line, then
/// Content-Length bytes of body; after a gap (or non-SIP bytes) it looks for the next start line.
fn frame_sip(runs: &[Vec<u8>]) -> Framing {
    let mut f = Framing::default();
    for run in runs {
        let mut rest = &run[..];
        loop {
            // RFC 5626 keep-alives are bare CRLFs between messages.
            rest = rest.trim_ascii_start();
            if rest.is_empty() {
                break;
            }
            if !looks_like_sip(rest) {
                let next = (1..rest.len())
                    .find(|&i| rest[i - 1] == b'\n' && looks_like_sip(&rest[i..]))
                    .unwrap_or(rest.len());
                f.skipped_bytes += next;
                rest = &rest[next..];
                continue;
            }
            let head = find(rest, b"\r\n\r\n").map(|i| i + 4);
            let end = head.map(|h| h + content_length(&rest[..h]).unwrap_or(0));
            match end.filter(|&e| e <= rest.len()) {
                Some(end) => {
                    f.messages += 1;
                    rest = &rest[end..];
                }
                None => {
                    f.incomplete_tail = true;
                    break;
                }
            }
        }
    }
    f
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line[..colon].trim_ascii();
        let is_cl = name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l");
        is_cl.then(|| {
            std::str::from_utf8(&line[colon + 1..])
                .ok()?
                .trim()
                .parse()
                .ok()
        })?
    })
}

#[test]
fn every_capture_matches_tshark() {
    let mut on_disk: Vec<String> = std::fs::read_dir(path(""))
        .expect("corpus directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != "README.md")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|e| e.0.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "the corpus and this table must list the same files"
    );

    for &(name, packets, datagram_sip, tcp_sip) in EXPECTED {
        let (payloads, stats) = read(name);
        assert_eq!(stats.packets, packets, "{name}: packet records");
        assert_eq!(stats.payloads, payloads.len() as u64, "{name}");
        let datagrams = payloads
            .iter()
            .filter(|p| p.transport != Transport::Tcp && looks_like_sip(&p.data))
            .count();
        assert_eq!(
            datagrams, datagram_sip,
            "{name}: SIP over UDP/SCTP/WebSocket; {stats:?}"
        );
        let mut messages = 0;
        for (flow, runs) in tcp_runs(&payloads) {
            let framing = frame_sip(&runs);
            if framing.messages > 0 {
                // A direction that carries SIP must frame cleanly from end to end.
                let clean = Framing {
                    messages: framing.messages,
                    ..Framing::default()
                };
                assert_eq!(framing, clean, "{name}: {flow:?}");
            }
            messages += framing.messages;
        }
        assert_eq!(messages, tcp_sip, "{name}: SIP messages framed from TCP");
    }
}

#[test]
fn netmon_capture_matches_tshark_frame_by_frame() {
    // tshark -r sipnab_c07-sip-r2.cap -T fields -e frame.time_epoch -e udp.length: every frame is
    // one UDP datagram; ms after the first frame, then the UDP payload length.
    const FRAMES: [(u64, usize); 39] = [
        (0, 50),
        (0, 229),
        (4621, 435),
        (4770, 434),
        (4904, 443),
        (5040, 451),
        (5185, 467),
        (5336, 499),
        (5473, 561),
        (5613, 562),
        (5783, 689),
        (6099, 947),
        (6612, 1712),
        (7110, 2491),
        (7612, 4541),
        (8175, 16000),
        (8336, 16000),
        (8510, 16000),
        (8767, 16000),
        (8903, 451),
        (9039, 469),
        (9174, 466),
        (9309, 490),
        (9445, 634),
        (9580, 823),
        (9714, 1207),
        (9847, 1981),
        (9982, 4252),
        (10202, 6589),
        (10491, 12739),
        (10758, 16000),
        (10970, 442),
        (11105, 451),
        (11241, 459),
        (11396, 475),
        (11530, 507),
        (11683, 569),
        (11817, 570),
        (11952, 698),
    ];
    // The header's SYSTEMTIME, 2005-07-17 15:39:20.502, read as UTC like tshark run in UTC.
    const START_NS: u64 = 1_121_614_760_502_000_000;
    let (payloads, stats) = read(NETMON);
    assert_eq!(stats.packets, 39);
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.frame, p.time_ns, p.transport, p.data.len()))
        .collect();
    let want: Vec<_> = (1..)
        .zip(FRAMES)
        .map(|(frame, (ms, len))| (frame, START_NS + ms * 1_000_000, Transport::Udp, len))
        .collect();
    assert_eq!(got, want);
    // tshark's SIP frames: the INVITE (3) and the overlong-method requests (5 to 15).
    let sip: Vec<u64> = payloads
        .iter()
        .filter(|p| looks_like_sip(&p.data))
        .map(|p| p.frame)
        .collect();
    assert_eq!(sip, [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
}

#[test]
fn sctp_messages_are_reassembled() {
    // tshark: frame 1 holds TSN 0 with B=1 E=0, frame 2 TSN 1 with B=0 E=1 (one INVITE); the
    // other frames hold whole messages.
    let (payloads, stats) = read("heplify_sip_sctp.pcap");
    let got: Vec<_> = payloads.iter().map(|p| (p.frame, p.data.len())).collect();
    assert_eq!(got, [(2, 1452 + 312), (3, 365), (4, 457), (5, 440)]);
    assert_eq!(stats.skipped.values().sum::<u64>(), 1, "{stats:?}");
    for p in &payloads {
        assert_eq!(p.transport, Transport::Sctp);
        // A whole user message is exactly one SIP message, body included.
        let clean = Framing {
            messages: 1,
            ..Framing::default()
        };
        assert_eq!(frame_sip(&[p.data.to_vec()]), clean, "frame {}", p.frame);
    }
    assert!(payloads[0]
        .data
        .starts_with(b"INVITE sip:9275890000@VMSSM;user=phone SIP/2.0\r\n"));
}

#[test]
fn truncated_netmon_capture_names_the_packet() {
    let original = std::fs::read(path(NETMON)).expect("readable");
    // Cut inside frame 3's record, then inside the frame table that follows frame 39.
    for (cut, packet) in [(0x20b + 20, 3), (original.len() - 2, 40)] {
        let mut reader = TraceReader::new(&original[..cut]).expect("header intact");
        let err = reader
            .by_ref()
            .find_map(Result::err)
            .expect("a truncation error");
        assert!(
            matches!(err, TraceError::Truncated { packet: p } if p == packet),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn websocket_messages_are_unwrapped() {
    // tshark -Y websocket: one SIP message per WebSocket frame; frame 11 ends the INVITE that
    // frame 10 begins.
    const FRAMES: [u64; 11] = [11, 13, 15, 18, 19, 24, 34, 46, 49, 52, 56];
    let (payloads, stats) = read("heplify_sip_tcp_websocket.pcap");
    let ws: Vec<&Payload> = payloads
        .iter()
        .filter(|p| p.transport == Transport::Ws)
        .collect();
    let frames: Vec<u64> = ws.iter().map(|p| p.frame).collect();
    assert_eq!(frames, FRAMES);
    let client: SocketAddr = "10.243.17.55:43380".parse().expect("address");
    let server: SocketAddr = "10.243.0.157:8080".parse().expect("address");
    for p in &ws {
        assert!(
            [(client, server), (server, client)].contains(&(p.src, p.dst)),
            "frame {}",
            p.frame
        );
        // A whole WebSocket message is exactly one SIP message, body included.
        let clean = Framing {
            messages: 1,
            ..Framing::default()
        };
        assert_eq!(frame_sip(&[p.data.to_vec()]), clean, "frame {}", p.frame);
    }
    // The client's frames are masked, so SIP in them is only visible if every byte is in place.
    assert!(ws[0]
        .data
        .starts_with(b"INVITE sip:+12263382742@dev-mike.tncp.textnow.com SIP/2.0\r\n"));
    let udp = payloads
        .iter()
        .filter(|p| p.transport == Transport::Udp && looks_like_sip(&p.data))
        .count();
    assert_eq!(udp, 28);
    // The handshake is consumed: no raw TCP comes out, SIP or otherwise.
    assert!(tcp_runs(&payloads).is_empty());
    assert_eq!(stats.skipped.get(&SkipReason::Malformed), None, "{stats:?}");
}

#[test]
fn mutated_captures_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in [
        "heplify_sip_sctp.pcap",
        "sngrep_ipv6frag.pcap",
        "arkime_gtp-iphone.pcap",
        "heplify_sip_tcp_websocket.pcap",
        NETMON,
    ] {
        let original = std::fs::read(path(name)).expect("readable");
        for _ in 0..200 {
            let mut bytes = original.clone();
            for _ in 0..8 {
                let at = 24 + (next() as usize) % (bytes.len() - 24);
                bytes[at] = next() as u8;
            }
            if let Ok(reader) = TraceReader::new(&bytes[..]) {
                reader.count();
            }
        }
    }
}
