//! Hand-built captures for the cases the corpus does not cover, or covers only by luck.

use crate::{looks_like_sip, Payload, SkipReason, Stats, TraceError, TraceReader, Transport};

const SIP: &[u8] = b"OPTIONS sip:x@example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;

fn pcap(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).expect("small frame");
        for v in [i as u32 + 1, 0, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    [&[0u8; 12][..], &ethertype.to_be_bytes(), payload].concat()
}

fn ipv4_frag(proto: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("small packet");
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    [h, payload.to_vec()].concat()
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_frag(proto, 1, 0, payload)
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("small packet");
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    [h, payload.to_vec()].concat()
}

fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).expect("small datagram");
    [
        &src.to_be_bytes()[..],
        &dst.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        payload,
    ]
    .concat()
}

fn tcp(src: u16, dst: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = [
        &src.to_be_bytes()[..],
        &dst.to_be_bytes(),
        &seq.to_be_bytes(),
    ]
    .concat();
    h.extend_from_slice(&[0, 0, 0, 0, 0x50, flags | 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    [h, payload.to_vec()].concat()
}

/// One TCP direction from 10.0.0.1:`src` to 10.0.0.2:`dst` in Ethernet: its SYN, then one
/// segment per piece.
fn tcp_flow(src: u16, dst: u16, pieces: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut seq = 7u32;
    let mut frames = vec![ether(0x0800, &ipv4(6, &tcp(src, dst, seq, SYN, b"")))];
    seq += 1;
    for piece in pieces {
        frames.push(ether(0x0800, &ipv4(6, &tcp(src, dst, seq, 0, piece))));
        seq += u32::try_from(piece.len()).expect("small segment");
    }
    frames
}

/// The client's half of an RFC 7118 handshake.
const WS_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: sip.example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// The server's half.
const WS_ACCEPT: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: sip\r\n\r\n";
/// A client's masking key.
const WS_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const WS_TEXT: u8 = 0x81;
const WS_BINARY: u8 = 0x82;

/// One RFC 6455 frame; `first` holds FIN (0x80) and the opcode, `mask` a client's key.
fn ws_frame(first: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let masked = if mask.is_some() { 0x80 } else { 0 };
    let mut f = vec![first];
    if let Ok(len @ 0..=125) = u8::try_from(payload.len()) {
        f.push(masked | len);
    } else if let Ok(len) = u16::try_from(payload.len()) {
        f.push(masked | 126);
        f.extend_from_slice(&len.to_be_bytes());
    } else {
        f.push(masked | 127);
        f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    }
    match mask {
        Some(mask) => {
            f.extend_from_slice(&mask);
            f.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// One SCTP DATA chunk; `flags` holds the B (0x02) and E (0x01) bits.
fn sctp_data(tsn: u32, stream: u16, flags: u8, user: &[u8]) -> Vec<u8> {
    let len = u16::try_from(16 + user.len()).expect("small chunk");
    let mut c = [
        &[0, flags][..],
        &len.to_be_bytes(),
        &tsn.to_be_bytes(),
        &stream.to_be_bytes(),
        &[0; 6],
        user,
    ]
    .concat();
    c.resize(c.len().next_multiple_of(4), 0);
    c
}

/// An SCTP packet from 10.0.0.1 to 10.0.0.2 in Ethernet, bundling `chunks`.
fn sctp(src: u16, dst: u16, chunks: &[Vec<u8>]) -> Vec<u8> {
    let common = [&src.to_be_bytes()[..], &dst.to_be_bytes(), &[0; 8]].concat();
    ether(0x0800, &ipv4(132, &[common, chunks.concat()].concat()))
}

/// A NetMon 2.`minor` capture, frame table last; each record is (µs after the start, media type
/// for the 2.1+ trailer, bytes). 2.3 trailers carry a UTC time of 1.7e9 s plus the offset. The
/// start is 2024-02-29 23:59:59.999 ([`NETMON_START_NS`]).
fn netmon(minor: u8, records: &[(u64, u16, Vec<u8>)]) -> Vec<u8> {
    let trailer_len = [0, 2, 6, 15][usize::from(minor.min(3))];
    let (mut body, mut table) = (Vec::new(), Vec::new());
    for (delta_us, media, data) in records {
        let offset = u32::try_from(128 + body.len()).expect("small capture");
        table.extend_from_slice(&offset.to_le_bytes());
        let len = u32::try_from(data.len()).expect("small frame");
        body.extend_from_slice(&delta_us.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(data);
        let filetime = ((11_644_473_600 + 1_700_000_000) * 10_000_000u64)
            .wrapping_add(delta_us.wrapping_mul(10));
        let trailer = [
            &media.to_le_bytes()[..],
            &[0; 4],
            &filetime.to_le_bytes(),
            &[0],
        ]
        .concat();
        body.extend_from_slice(&trailer[..trailer_len]);
    }
    let mut out = b"GMBU".to_vec();
    out.extend_from_slice(&[minor, 2, 1, 0]);
    for field in [2024u16, 2, 4, 29, 23, 59, 59, 999] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    let table_offset = u32::try_from(128 + body.len()).expect("small capture");
    let table_len = u32::try_from(table.len()).expect("small table");
    out.extend_from_slice(&table_offset.to_le_bytes());
    out.extend_from_slice(&table_len.to_le_bytes());
    out.resize(128, 0);
    [out, body, table].concat()
}

const NETMON_START_NS: u64 = 1_709_251_199_999_000_000;

fn read(capture: &[u8]) -> (Vec<Payload>, Stats) {
    let mut reader = TraceReader::new(capture).expect("valid header");
    let payloads = reader
        .by_ref()
        .collect::<Result<Vec<_>, _>>()
        .expect("valid capture");
    (payloads, reader.stats().clone())
}

fn skipped(stats: &Stats, reason: SkipReason) -> u64 {
    stats.skipped.get(&reason).copied().unwrap_or(0)
}

#[test]
fn ipv4_fragments_reassemble_out_of_order() {
    let datagram = udp(5060, 5060, &[SIP, &[b'x'; 100]].concat());
    let (first, second) = datagram.split_at(64);
    let frames = [
        ether(0x0800, &ipv4_frag(17, 7, 64 / 8, second)),
        ether(0x0800, &ipv4_frag(17, 9, 0x2000, first)), // other datagram, never completed
        ether(0x0800, &ipv4_frag(17, 7, 0x2000, first)),
    ];
    let (payloads, stats) = read(&pcap(1, &frames));
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0].data, datagram[8..]);
    assert_eq!(payloads[0].frame, 3);
    assert_eq!(skipped(&stats, SkipReason::Buffered), 2);
}

#[test]
fn ipv6_fragments_reassemble_after_extension_headers() {
    let datagram = udp(5060, 5060, &[SIP, &[b'y'; 200]].concat());
    let pieces = [&datagram[..96], &datagram[96..192], &datagram[192..]];
    let fragment = |index: usize| {
        let offset = u16::try_from(index * 96).expect("small offset");
        let more = u16::from(index < 2);
        let hop_by_hop = [44, 0, 1, 4, 0, 0, 0, 0]; // PadN option, then the fragment header
        let mut frag = vec![17, 0];
        frag.extend_from_slice(&(offset | more).to_be_bytes());
        frag.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        ipv6(0, &[&hop_by_hop[..], &frag, pieces[index]].concat())
    };
    let frames = [fragment(2), fragment(0), fragment(1)];
    let (payloads, stats) = read(&pcap(229, &frames));
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0].data, datagram[8..]);
    assert_eq!(payloads[0].src.to_string(), "[fd00::1]:5060");
    assert_eq!(skipped(&stats, SkipReason::Buffered), 2);
}

#[test]
fn tcp_reorders_drops_retransmissions_and_flags_gaps() {
    let isn = u32::MAX - 2; // the stream wraps the sequence space after three bytes
    let seg = |offset: u32, flags: u8, data: &[u8]| {
        ether(
            0x0800,
            &ipv4(6, &tcp(5060, 40000, isn.wrapping_add(offset), flags, data)),
        )
    };
    let back = |seq: u32, data: &[u8]| ether(0x0800, &ipv4(6, &tcp(40000, 5060, seq, 0, data)));
    let frames = [
        seg(0, SYN, b""),
        seg(1, 0, b"AAAA"),
        seg(9, 0, b"CCCC"),
        seg(5, 0, b"BBBB"),
        seg(1, 0, b"AAAA"),  // retransmission
        seg(11, 0, b"CCDD"), // overlaps what was delivered
        seg(19, 0, b"FFFF"), // "EEEE" at 15 is lost
        seg(23, FIN, b""),   // the hole can no longer be filled
        back(1000, b"XXXX"), // other direction, joined mid-stream
        back(1006, b"ZZ"),   // hole still open at the end of the capture
    ];
    let (payloads, stats) = read(&pcap(1, &frames));
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.frame, &p.data[..], p.gap_before))
        .collect();
    assert_eq!(
        got,
        [
            (2, &b"AAAA"[..], false),
            (4, b"BBBBCCCC", false),
            (6, b"DD", false),
            (7, b"FFFF", true),
            (9, b"XXXX", true),
            (10, b"ZZ", true),
        ]
    );
    assert!(payloads.iter().all(|p| p.transport == Transport::Tcp));
    assert_eq!(skipped(&stats, SkipReason::Duplicate), 1);
    assert_eq!(skipped(&stats, SkipReason::Buffered), 3);
    assert_eq!(skipped(&stats, SkipReason::NoPayload), 1);
    assert_eq!(stats.payloads, 6);
}

#[test]
fn websocket_client_frames_are_unmasked() {
    // The handshake spans two segments; the frame is masked, as every client frame is.
    let (request_start, request_end) = WS_REQUEST.split_at(20);
    let frames = tcp_flow(
        40000,
        8080,
        &[
            request_start,
            request_end,
            &ws_frame(WS_TEXT, Some(WS_MASK), SIP),
        ],
    );
    let (payloads, stats) = read(&pcap(1, &frames));
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.frame, p.transport, &p.data[..], p.gap_before))
        .collect();
    assert_eq!(got, [(4, Transport::Ws, SIP, false)]);
    assert_eq!(
        (payloads[0].src.port(), payloads[0].dst.port()),
        (40000, 8080)
    );
    assert_eq!(skipped(&stats, SkipReason::Buffered), 1); // the handshake's start
    assert_eq!(skipped(&stats, SkipReason::NoPayload), 2); // the SYN, the handshake's end
}

#[test]
fn websocket_frames_of_every_length_encoding() {
    let long = [SIP, &[b'x'; 300][..]].concat();
    let huge = [SIP, &vec![b'y'; 70_000][..]].concat();
    let (short_frame, long_frame) = (ws_frame(WS_TEXT, None, SIP), ws_frame(WS_TEXT, None, &long));
    let huge_frame = ws_frame(WS_BINARY, None, &huge);
    let lengths = (usize::from(short_frame[1]), long_frame[1], huge_frame[1]);
    assert_eq!(lengths, (SIP.len(), 126, 127));
    let (huge_start, huge_end) = huge_frame.split_at(40_000);
    // The 101 and the first frame share a segment; the 64-bit frame spans two.
    let frames = tcp_flow(
        8080,
        40000,
        &[
            &[WS_ACCEPT, &short_frame].concat(),
            &long_frame,
            huge_start,
            huge_end,
        ],
    );
    let (payloads, stats) = read(&pcap(1, &frames));
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.frame, p.transport, &p.data[..]))
        .collect();
    assert_eq!(
        got,
        [
            (2, Transport::Ws, SIP),
            (3, Transport::Ws, &long[..]),
            (5, Transport::Ws, &huge[..]),
        ]
    );
    assert_eq!(skipped(&stats, SkipReason::Buffered), 1);
}

#[test]
fn websocket_fragments_join_around_control_frames() {
    let (first, rest) = SIP.split_at(20);
    let frames = tcp_flow(
        40000,
        8080,
        &[
            WS_REQUEST,
            &ws_frame(0x01, Some(WS_MASK), first), // text without FIN
            &ws_frame(0x89, Some(WS_MASK), b"hb"), // ping amid the message
            &ws_frame(0x80, Some(WS_MASK), rest),  // continuation with FIN
            &ws_frame(0x88, Some(WS_MASK), &[3, 0xe8]), // close
        ],
    );
    let (payloads, stats) = read(&pcap(1, &frames));
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.frame, p.transport, &p.data[..]))
        .collect();
    assert_eq!(got, [(5, Transport::Ws, SIP)]);
    assert_eq!(skipped(&stats, SkipReason::Buffered), 2);
    assert_eq!(skipped(&stats, SkipReason::NoPayload), 3);
}

#[test]
fn broken_websocket_streams_and_plain_http_stay_tcp() {
    // A 2 MiB frame is refused from its header alone.
    let oversized = [
        &[WS_BINARY, 127][..],
        &(2u64 << 20).to_be_bytes(),
        &[b'z'; 100],
    ]
    .concat();
    let not_upgraded = b"GET / HTTP/1.1\r\nHost: a\r\n";
    let unfinished = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n";
    let frames = [
        tcp_flow(40000, 8080, &[WS_REQUEST, b"\xff\xfegarbage", SIP]), // frames 1-4
        tcp_flow(40001, 8080, &[WS_REQUEST, &oversized, SIP]),         // 5-8
        tcp_flow(40002, 80, &[not_upgraded, b"\r\n"]),                 // 9-11
        tcp_flow(40003, 80, &[unfinished]),                            // 12-13
    ]
    .concat();
    let (payloads, stats) = read(&pcap(1, &frames));
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.frame, p.transport, &p.data[..], p.gap_before))
        .collect();
    assert_eq!(
        got,
        [
            // After broken framing the stream resumes as TCP, past a gap.
            (4, Transport::Tcp, SIP, true),
            (8, Transport::Tcp, SIP, true),
            // Held while they might have been a handshake, then handed on unchanged.
            (10, Transport::Tcp, &not_upgraded[..], false),
            (11, Transport::Tcp, b"\r\n", false),
            (13, Transport::Tcp, &unfinished[..], false),
        ]
    );
    assert_eq!(skipped(&stats, SkipReason::Malformed), 2);
    assert_eq!(skipped(&stats, SkipReason::Buffered), 2);
}

#[test]
fn truncated_record_names_the_packet() {
    let frame = ether(0x0800, &ipv4(17, &udp(5060, 5060, SIP)));
    let capture = pcap(1, &[frame.clone(), frame.clone()]);
    let netmon = netmon(1, &[(0, 1, frame.clone()), (5, 1, frame)]);
    // The NetMon frame table (two 4-byte entries) follows the last record.
    let cuts = [
        (&capture, capture.len() - 5, 2),
        (&capture, capture.len() - 30, 2),
        (&netmon, netmon.len() - 8 - 1, 2),
        (&netmon, netmon.len() - 8 - 30, 2),
        (&netmon, netmon.len() - 3, 3),
    ];
    for (capture, cut, packet) in cuts {
        let mut reader = TraceReader::new(&capture[..cut]).expect("header");
        for _ in 1..packet {
            assert!(reader.next().is_some_and(|r| r.is_ok()));
        }
        let err = reader.next().and_then(Result::err).expect("an error");
        assert!(
            matches!(err, TraceError::Truncated { packet: p } if p == packet),
            "cut at {cut}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("packet {packet}")));
        assert!(reader.next().is_none());
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let err = TraceReader::new(&b"GET / HTTP/1.1\r\n\r\n"[..]).err();
    assert!(matches!(err, Some(TraceError::BadMagic { packet: 1, .. })));
    assert!(matches!(
        TraceReader::new(&b"\xd4\xc3"[..]).err(),
        Some(TraceError::Truncated { packet: 1 })
    ));
    let netmon_header = netmon(0, &[]);
    assert!(matches!(
        TraceReader::new(&netmon_header[..40]).err(),
        Some(TraceError::Truncated { packet: 1 })
    ));
    for (at, value, what) in [
        (5, 1, "NetMon version 1.0"),     // major version
        (24, 100, "overlaps the header"), // frame table offset
        (28, 6, "not a multiple of 4"),   // frame table length
    ] {
        let mut bad = netmon_header.to_vec();
        bad[at] = value;
        let err = TraceReader::new(&bad[..]).err().expect("refused");
        assert!(err.to_string().starts_with("packet 1: "), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }

    // A deterministic byte soup behind each valid magic must end in an error, never a panic.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let soup: Vec<u8> = (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    // A NetMon header whose frame table lies past the soup, so the soup is walked as records.
    let mut soup_as_records = netmon_header;
    soup_as_records[24..28].copy_from_slice(&(128 + 8192u32).to_le_bytes());
    for magic in [
        &b"\xd4\xc3\xb2\xa1"[..],
        b"\xa1\xb2\x3c\x4d",
        b"\x0a\x0d\x0d\x0a",
        b"GMBU",
        &soup_as_records,
    ] {
        let input = [magic, &soup].concat();
        let errors = TraceReader::new(&input[..]).map_or(1, |r| r.filter(Result::is_err).count());
        assert_eq!(errors, 1);
    }
}

#[test]
fn corrupted_captures_never_panic() {
    let frames: Vec<Vec<u8>> = [
        ipv4(17, &udp(5060, 5060, SIP)),
        ipv4(6, &tcp(5060, 5061, 7, SYN, b"")),
        ipv4(6, &tcp(5060, 5061, 8, 0, SIP)),
        ipv4(6, &tcp(8080, 40000, 7, SYN, b"")),
        ipv4(
            6,
            &tcp(
                8080,
                40000,
                8,
                0,
                &[WS_ACCEPT, &ws_frame(WS_TEXT, None, SIP)].concat(),
            ),
        ),
        ipv4_frag(17, 3, 0x2000, &udp(1, 2, &[0; 16])),
        ipv6(44, &[17, 0, 0, 9, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]),
        ipv4(
            47,
            &[0xb0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]
    .iter()
    .map(|ip| ether(0x0800, ip))
    .collect();
    let records: Vec<_> = (0..).zip(&frames).map(|(t, f)| (t, 1, f.clone())).collect();
    // Record corruption must not panic; the headers are left intact, so reading must start.
    for (capture, header_len) in [(pcap(1, &frames), 24), (netmon(3, &records), 128)] {
        for i in header_len..capture.len() {
            for flip in [0xff, 0x80, 0x01] {
                let mut bad = capture.clone();
                bad[i] ^= flip;
                TraceReader::new(&bad[..])
                    .map(|r| r.count())
                    .expect("header untouched");
            }
            TraceReader::new(&capture[..i])
                .map(|r| r.count())
                .expect("header untouched");
        }
    }
}

#[test]
fn link_layers_and_tunnels_reach_the_same_datagram() {
    let inner = ipv4(17, &udp(5060, 5080, SIP));
    let inner6 = ipv6(17, &udp(5060, 5080, SIP));
    let gre = |flags: u16, proto: u16, extra: &[u8], payload: &[u8]| {
        let mut h = [&flags.to_be_bytes()[..], &proto.to_be_bytes()].concat();
        h.extend_from_slice(&[0u8; 12][..4 * (flags >> 12).count_ones() as usize]);
        ether(0x0800, &ipv4(47, &[&h[..], extra, payload].concat()))
    };
    let erspan3 = [
        0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let gtp = [0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0, 0];
    let gtp = [
        &gtp[..2],
        &u16::try_from(8 + inner.len()).expect("small").to_be_bytes(),
        &gtp[4..],
    ]
    .concat();
    let cases: Vec<(u32, Vec<u8>)> = vec![
        (
            1,
            ether(
                0x88a8,
                &[&[0, 1, 0x81, 0][..], &[0, 2, 8, 0], &inner].concat(),
            ),
        ),
        (
            1,
            ether(
                0x8864,
                &[
                    &[0x11, 0, 0, 1][..],
                    &u16::try_from(inner.len() + 2).expect("small").to_be_bytes(),
                    &[0, 0x21],
                    &inner,
                ]
                .concat(),
            ),
        ),
        (
            1,
            ether(
                0x8847,
                &[&[0, 0, 16, 64][..], &[0, 0, 33, 64], &inner].concat(),
            ),
        ),
        (0, [&2u32.to_le_bytes()[..], &inner].concat()),
        (0, [&30u32.to_be_bytes()[..], &inner6].concat()),
        (113, [&[0u8; 14][..], &[8, 0], &inner].concat()),
        (276, [&[0x86, 0xdd][..], &[0u8; 18], &inner6].concat()),
        (101, inner.clone()),
        (12, inner6.clone()),
        (228, inner.clone()),
        (1, gre(0xb000, 0x0800, &[], &inner)),
        (
            1,
            gre(
                0x1000,
                0x88be,
                &[0x10, 0, 0, 1, 0, 0, 0, 0],
                &ether(0x0800, &inner),
            ),
        ),
        (1, gre(0x0000, 0x22eb, &erspan3, &ether(0x86dd, &inner6))),
        (1, gre(0x2000, 0x6558, &[], &ether(0x0800, &inner))),
        (1, ether(0x0800, &ipv4(4, &inner))),
        (1, ether(0x86dd, &ipv6(4, &inner))),
        (
            1,
            ether(
                0x0800,
                &ipv4(17, &udp(2152, 2152, &[&gtp[..], &inner].concat())),
            ),
        ),
    ];
    for (i, (linktype, frame)) in cases.into_iter().enumerate() {
        let (payloads, stats) = read(&pcap(linktype, &[frame]));
        assert_eq!(payloads.len(), 1, "case {i}: {stats:?}");
        assert_eq!(payloads[0].data, SIP, "case {i}");
        assert_eq!(
            (payloads[0].src.port(), payloads[0].dst.port()),
            (5060, 5080),
            "case {i}"
        );
    }
}

#[test]
fn sctp_yields_every_data_chunk_and_skips_the_rest() {
    let sack = [3, 0, 0, 16, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0].to_vec();
    let packet = sctp(
        5060,
        5060,
        &[sack, sctp_data(1, 0, 3, SIP), sctp_data(2, 0, 3, b"odd")],
    );
    let arp = ether(0x0806, &[0; 28]);
    let icmp = ether(0x0800, &ipv4(1, &[8, 0, 0, 0]));
    let (payloads, stats) = read(&pcap(1, &[packet, arp, icmp]));
    let got: Vec<_> = payloads
        .iter()
        .map(|p| (p.transport, &p.data[..]))
        .collect();
    assert_eq!(
        got,
        [(Transport::Sctp, SIP), (Transport::Sctp, &b"odd"[..])]
    );
    assert_eq!(skipped(&stats, SkipReason::NotIp), 1);
    assert_eq!(skipped(&stats, SkipReason::Protocol), 1);
    assert_eq!(stats.packets, 3);
}

#[test]
fn sctp_fragments_reassemble_out_of_order() {
    const BEGIN: u8 = 2;
    const END: u8 = 1;
    let invite = [SIP, &[b'a'; 300][..]].concat();
    let (a1, rest) = invite.split_at(100);
    let (a2, a3) = rest.split_at(100);
    let frames = [
        // Message A on stream 1, its TSNs wrapping around: last fragment first.
        sctp(5060, 5060, &[sctp_data(1, 1, END, a3)]),
        sctp(5060, 5060, &[sctp_data(u32::MAX, 1, BEGIN, a1)]),
        // Message B's end on stream 2, bundled with an unfragmented message on stream 1.
        sctp(
            5060,
            5060,
            &[
                sctp_data(3, 2, END, b"-B2"),
                sctp_data(4, 1, BEGIN | END, b"C"),
            ],
        ),
        sctp(5060, 5060, &[sctp_data(3, 2, END, b"-B2")]), // retransmission
        sctp(5060, 5060, &[sctp_data(0, 1, 0, a2)]),       // A complete
        // B's begin, but in the other direction: not part of B.
        sctp(5061, 5060, &[sctp_data(2, 2, BEGIN, b"X")]),
        sctp(5060, 5060, &[sctp_data(2, 2, BEGIN, b"B1")]), // B complete
        // D loses its middle fragment; F, after it on the same stream, still comes out.
        sctp(
            5060,
            5060,
            &[sctp_data(10, 1, BEGIN, b"D1"), sctp_data(12, 1, END, b"D3")],
        ),
        sctp(
            5060,
            5060,
            &[sctp_data(14, 1, END, b"F2"), sctp_data(13, 1, BEGIN, b"F1")],
        ),
    ];
    let (payloads, stats) = read(&pcap(1, &frames));
    let got: Vec<_> = payloads.iter().map(|p| (p.frame, &p.data[..])).collect();
    assert_eq!(
        got,
        [
            (3, &b"C"[..]),
            (5, &invite[..]),
            (7, b"B1-B2"),
            (9, b"F1F2"),
        ]
    );
    assert!(payloads.iter().all(|p| p.transport == Transport::Sctp));
    assert_eq!(skipped(&stats, SkipReason::Buffered), 4);
    assert_eq!(skipped(&stats, SkipReason::Duplicate), 1);
}

#[test]
fn sctp_fragments_beyond_the_stream_limit_are_given_up() {
    let piece = [b'z'; 60_000];
    let mut frames = vec![sctp(5060, 5060, &[sctp_data(0, 0, 2, &piece)])]; // the begin
    frames.extend((1..6).map(|tsn| sctp(5060, 5060, &[sctp_data(tsn, 0, 0, &piece)])));
    frames.push(sctp(5060, 5060, &[sctp_data(6, 0, 1, SIP)])); // the end
    let (payloads, stats) = read(&pcap(1, &frames));
    assert!(payloads.is_empty());
    // 256 KiB is reached with the fifth piece; the rest no longer has a begin to join.
    assert_eq!(skipped(&stats, SkipReason::Malformed), 1);
    assert_eq!(skipped(&stats, SkipReason::Buffered), 6);
}

#[test]
fn netmon_records_follow_version_media_and_time() {
    let eth = ether(0x0800, &ipv4(17, &udp(5060, 5060, SIP)));
    let raw = ipv4(17, &udp(5060, 5060, SIP));
    let frames_at = |capture: &[u8]| -> Vec<(u64, u64)> {
        read(capture)
            .0
            .iter()
            .map(|p| (p.frame, p.time_ns))
            .collect()
    };

    // 2.0: one media type for the file, times as offsets from the header's SYSTEMTIME; an
    // offset of 2^64 - 1 µs is -1 µs, as wiretap reads it.
    let v20 = netmon(
        0,
        &[
            (0, 0, eth.clone()),
            (1_000, 0, eth.clone()),
            (u64::MAX, 0, eth.clone()),
        ],
    );
    assert_eq!(
        frames_at(&v20),
        [
            (1, NETMON_START_NS),
            (2, NETMON_START_NS + 1_000_000),
            (3, NETMON_START_NS - 1_000)
        ]
    );

    // 2.1: media per record; pcap link types ride on 0xE000; metadata records are not frames.
    let v21 = netmon(
        1,
        &[
            (0, 1, eth.clone()),
            (1, 0xe000 | 101, raw.clone()),
            (2, 0xfffd, b"network info".to_vec()),
            (3, 9, raw.clone()),
            (4, 2, vec![0; 40]),      // Token Ring
            (5, 0xe080, vec![0; 40]), // a Message Analyzer type, not pcap's 128
            (6, 1, eth.clone()),
        ],
    );
    let (payloads, stats) = read(&v21);
    let frames: Vec<u64> = payloads.iter().map(|p| p.frame).collect();
    assert_eq!(frames, [1, 2, 3, 6]);
    assert_eq!(stats.packets, 6);
    assert_eq!(skipped(&stats, SkipReason::LinkType), 2);

    // 2.3: the per-record UTC time wins over the offset.
    let v23 = netmon(3, &[(7, 1, eth.clone())]);
    assert_eq!(frames_at(&v23), [(1, 1_700_000_000_000_007_000)]);

    // A frame table that disagrees with the file order ends the capture with an error.
    let mut swapped = netmon(0, &[(0, 0, eth.clone()), (1, 0, eth)]);
    let table = swapped.len() - 8;
    swapped[table..].rotate_left(4);
    let results: Vec<_> = TraceReader::new(&swapped[..]).expect("header").collect();
    assert_eq!(results.len(), 3);
    let err = results[2].as_ref().expect_err("an error");
    assert!(
        matches!(err, TraceError::Malformed { packet: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn pcapng_uses_each_interface_link_type_and_resolution() {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(12 + body.len().next_multiple_of(4)).expect("small block");
        let mut b = [&kind.to_le_bytes()[..], &len.to_le_bytes(), body].concat();
        b.resize(len as usize - 4, 0);
        [b, len.to_le_bytes().to_vec()].concat()
    }
    let idb = |linktype: u16, options: &[u8]| {
        block(
            1,
            &[
                &linktype.to_le_bytes()[..],
                &[0, 0],
                &0u32.to_le_bytes(),
                options,
            ]
            .concat(),
        )
    };
    let epb = |iface: u32, ts: u64, data: &[u8]| {
        let len = u32::try_from(data.len()).expect("small packet");
        let head = [iface, (ts >> 32) as u32, ts as u32, len, len];
        let head: Vec<u8> = head.iter().flat_map(|v| v.to_le_bytes()).collect();
        block(6, &[&head[..], data].concat())
    };
    let shb = block(
        0x0a0d_0d0a,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    let nanos = [9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]; // if_tsresol = 10^-9, end of options
    let ts_ns = 1_700_000_000_123_456_789u64;
    let capture = [
        shb,
        idb(1, &nanos),
        idb(101, &[]),
        epb(0, ts_ns, &ether(0x0800, &ipv4(17, &udp(5060, 5060, SIP)))),
        epb(1, ts_ns / 1000, &ipv4(17, &udp(5060, 5060, SIP))),
    ]
    .concat();
    let (payloads, _) = read(&capture);
    let got: Vec<_> = payloads.iter().map(|p| (p.frame, p.time_ns)).collect();
    assert_eq!(got, [(1, ts_ns), (2, ts_ns / 1000 * 1000)]);
}

#[test]
fn sip_start_lines_are_recognised() {
    for yes in [
        &b"INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n"[..],
        b"SIP/2.0 200 OK\r\n",
        b"SIP/2.0 100\r\n",
        b"sip/2.0 180 Ringing\n",
        b"MESSAGE tel:+7 SIP/2.0",
        b"X-CUSTOM.method sip:a SIP/2.0\rVia: y",
    ] {
        assert!(looks_like_sip(yes), "{:?}", String::from_utf8_lossy(yes));
    }
    for no in [
        &b""[..],
        b"\r\nINVITE sip:bob@example.com SIP/2.0\r\n",
        b"GET / HTTP/1.1\r\n",
        b"SIP/2.0 2000 OK\r\n",
        b"INVITE sip:bob@example.com SIP/2.0 extra\r\n",
        b"INVITE  SIP/2.0\r\n",
        b"INV(TE sip:a SIP/2.0\r\n",
        b"REGISTER s%s\0sip.example.com SIP/2.0\r\n",
        b"HTTP/1.1 200 OK\r\n",
    ] {
        assert!(!looks_like_sip(no), "{:?}", String::from_utf8_lossy(no));
    }
}
