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
fn truncated_record_names_the_packet() {
    let frame = ether(0x0800, &ipv4(17, &udp(5060, 5060, SIP)));
    let capture = pcap(1, &[frame.clone(), frame]);
    for cut in [5, 30] {
        let mut reader = TraceReader::new(&capture[..capture.len() - cut]).expect("header");
        assert!(reader.next().is_some_and(|r| r.is_ok()));
        let err = reader.next().and_then(Result::err).expect("an error");
        assert!(
            matches!(err, TraceError::Truncated { packet: 2 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("packet 2"));
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
    for magic in [
        &b"\xd4\xc3\xb2\xa1"[..],
        b"\xa1\xb2\x3c\x4d",
        b"\x0a\x0d\x0d\x0a",
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
    let capture = pcap(1, &frames);
    for i in 24..capture.len() {
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
    let data = |tsn: u8, user: &[u8]| {
        let len = u16::try_from(16 + user.len()).expect("small chunk");
        let mut c = [
            &[0, 3][..],
            &len.to_be_bytes(),
            &[0, 0, 0, tsn],
            &[0; 8],
            user,
        ]
        .concat();
        c.resize(c.len().next_multiple_of(4), 0);
        c
    };
    let sack = [3, 0, 0, 16, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0];
    let packet = [
        &[0x13, 0xc4, 0x13, 0xc4][..],
        &[0; 8],
        &sack,
        &data(1, SIP),
        &data(2, b"odd"),
    ]
    .concat();
    let arp = ether(0x0806, &[0; 28]);
    let icmp = ether(0x0800, &ipv4(1, &[8, 0, 0, 0]));
    let (payloads, stats) = read(&pcap(1, &[ether(0x0800, &ipv4(132, &packet)), arp, icmp]));
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
