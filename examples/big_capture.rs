//! Writes a large synthetic capture of complete calls, to measure how
//! `quirkgate replay` streams: `cargo run --release --example big_capture
//! -- FILE [MEGABYTES]`, then `/usr/bin/time -v quirkgate replay FILE`.
//! Calls overlap (a new one every 10 ms, each lasting 30 s), so the reader
//! holds a realistic number of dialogs at once.

use std::io::BufWriter;
use std::net::SocketAddr;

use quirkgate_trace::PcapWriter;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "big.pcap".into());
    let megabytes: u64 = args.next().and_then(|m| m.parse().ok()).unwrap_or(100);
    let mut pcap = PcapWriter::new(BufWriter::new(std::fs::File::create(&path)?))?;
    let phone: SocketAddr = "10.0.0.1:5060".parse().unwrap();
    let provider: SocketAddr = "10.0.0.2:5060".parse().unwrap();
    let start_us = 1_795_428_000_000_000u64;
    let mut written = 0u64;
    let mut call = 0u64;
    let mut pending = Pending::default();
    let mut seq = 0;
    while written < megabytes << 20 {
        let t = start_us + call * 10_000;
        let id = format!("call-{call}@10.0.0.1");
        let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
        let head = |first: &str, cseq: &str, to_tag: bool, body: &str| {
            format!(
                "{first}\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{call}{}\r\nFrom: <sip:100@10.0.0.1>;tag=f{call}\r\nTo: <sip:0215550{call}@10.0.0.2>{}\r\nCall-ID: {id}\r\nCSeq: {cseq}\r\nContact: <sip:100@10.0.0.1>\r\nContent-Length: {}\r\n\r\n{body}",
                cseq.split(' ').nth(1).unwrap_or(""),
                if to_tag { format!(";tag=t{call}") } else { String::new() },
                body.len()
            )
        };
        let ruri = format!("INVITE sip:0215550{call}@10.0.0.2 SIP/2.0");
        for (dt, from_phone, text) in [
            (0, true, head(&ruri, "1 INVITE", false, sdp)),
            (
                2_000,
                false,
                head("SIP/2.0 100 Trying", "1 INVITE", false, ""),
            ),
            (
                50_000,
                false,
                head("SIP/2.0 180 Ringing", "1 INVITE", true, ""),
            ),
            (
                3_000_000,
                false,
                head("SIP/2.0 200 OK", "1 INVITE", true, sdp),
            ),
            (
                3_001_000,
                true,
                head("ACK sip:0215550@10.0.0.2 SIP/2.0", "1 ACK", true, ""),
            ),
            (
                30_000_000,
                true,
                head("BYE sip:0215550@10.0.0.2 SIP/2.0", "2 BYE", true, ""),
            ),
            (30_002_000, false, head("SIP/2.0 200 OK", "2 BYE", true, "")),
        ] {
            seq += 1;
            pending.push(std::cmp::Reverse((t + dt, seq, from_phone, text)));
        }
        written += write_until(&mut pcap, &mut pending, t, phone, provider)?;
        call += 1;
    }
    write_until(&mut pcap, &mut pending, u64::MAX, phone, provider)?;
    eprintln!("{path}: {call} calls");
    Ok(())
}

/// Messages of all calls not written yet, earliest first: (time, order,
/// from the phone, text).
type Pending = std::collections::BinaryHeap<std::cmp::Reverse<(u64, u64, bool, String)>>;

/// Writes the pending messages up to `until`; returns the bytes written.
fn write_until(
    pcap: &mut PcapWriter<BufWriter<std::fs::File>>,
    pending: &mut Pending,
    until: u64,
    phone: SocketAddr,
    provider: SocketAddr,
) -> std::io::Result<u64> {
    let mut written = 0;
    while pending
        .peek()
        .is_some_and(|std::cmp::Reverse(m)| m.0 <= until)
    {
        let Some(std::cmp::Reverse((when, _, from_phone, text))) = pending.pop() else {
            break;
        };
        let (src, dst) = if from_phone {
            (phone, provider)
        } else {
            (provider, phone)
        };
        pcap.udp(when, src, dst, text.as_bytes())?;
        written += text.len() as u64 + 44;
    }
    Ok(written)
}
