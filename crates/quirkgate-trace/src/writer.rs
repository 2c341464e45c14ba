//! Writes what a gateway sent and received as a classic pcap file (raw IP
//! link type), so its SIP can be opened in Wireshark, read back by
//! [`crate::TraceReader`], and committed as a capture beside a test.
//! Stream payloads become TCP segments on a synthetic connection whose
//! first segment per direction is a SYN, so readers see a clean start.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// LINKTYPE_RAW: each record starts with an IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 262_144;
const TCP_SYN: u8 = 0x02;
const TCP_PSH_ACK: u8 = 0x18;

pub struct PcapWriter<W: Write> {
    out: W,
    /// The next sequence number of each TCP direction.
    tcp_seq: HashMap<(SocketAddr, SocketAddr), u32>,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&SNAPLEN.to_le_bytes())?;
        out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
        Ok(PcapWriter {
            out,
            tcp_seq: HashMap::new(),
        })
    }

    /// One UDP datagram; `time_us` is microseconds since the Unix epoch.
    pub fn udp(
        &mut self,
        time_us: u64,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let mut segment = Vec::with_capacity(8 + payload.len());
        segment.extend_from_slice(&src.port().to_be_bytes());
        segment.extend_from_slice(&dst.port().to_be_bytes());
        segment.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        segment.extend_from_slice(&[0, 0]);
        segment.extend_from_slice(payload);
        let sum = checksum(src.ip(), dst.ip(), 17, &segment);
        // A computed 0 is sent as all ones (RFC 768).
        let sum = if sum == 0 { 0xffff } else { sum };
        segment[6..8].copy_from_slice(&sum.to_be_bytes());
        self.packet(time_us, src.ip(), dst.ip(), 17, &segment)
    }

    /// Bytes of a stream from `src` to `dst`.
    pub fn tcp(
        &mut self,
        time_us: u64,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let key = (src, dst);
        if let std::collections::hash_map::Entry::Vacant(e) = self.tcp_seq.entry(key) {
            e.insert(1);
            self.tcp_segment(time_us, src, dst, 0, TCP_SYN, &[])?;
        }
        let seq = self.tcp_seq[&key];
        self.tcp_seq
            .insert(key, seq.wrapping_add(payload.len() as u32));
        self.tcp_segment(time_us, src, dst, seq, TCP_PSH_ACK, payload)
    }

    fn tcp_segment(
        &mut self,
        time_us: u64,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let ack = self.tcp_seq.get(&(dst, src)).copied().unwrap_or(0);
        let mut segment = Vec::with_capacity(20 + payload.len());
        segment.extend_from_slice(&src.port().to_be_bytes());
        segment.extend_from_slice(&dst.port().to_be_bytes());
        segment.extend_from_slice(&seq.to_be_bytes());
        segment.extend_from_slice(&ack.to_be_bytes());
        segment.push(5 << 4);
        segment.push(flags);
        segment.extend_from_slice(&65535u16.to_be_bytes());
        segment.extend_from_slice(&[0, 0, 0, 0]);
        segment.extend_from_slice(payload);
        let sum = checksum(src.ip(), dst.ip(), 6, &segment);
        segment[16..18].copy_from_slice(&sum.to_be_bytes());
        self.packet(time_us, src.ip(), dst.ip(), 6, &segment)
    }

    fn packet(
        &mut self,
        time_us: u64,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        segment: &[u8],
    ) -> io::Result<()> {
        let mut ip = Vec::with_capacity(40);
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                ip.extend_from_slice(&[0x45, 0]);
                ip.extend_from_slice(&((20 + segment.len()) as u16).to_be_bytes());
                ip.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
                ip.extend_from_slice(&s.octets());
                ip.extend_from_slice(&d.octets());
                let sum = !fold(sum_words(&ip, 0));
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            _ => {
                let (s, d) = (v6(src), v6(dst));
                ip.extend_from_slice(&[0x60, 0, 0, 0]);
                ip.extend_from_slice(&(segment.len() as u16).to_be_bytes());
                ip.extend_from_slice(&[protocol, 64]);
                ip.extend_from_slice(&s);
                ip.extend_from_slice(&d);
            }
        }
        let length = (ip.len() + segment.len()) as u32;
        self.out
            .write_all(&((time_us / 1_000_000) as u32).to_le_bytes())?;
        self.out
            .write_all(&((time_us % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&length.to_le_bytes())?;
        self.out.write_all(&length.to_le_bytes())?;
        self.out.write_all(&ip)?;
        self.out.write_all(segment)?;
        self.out.flush()
    }
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

fn sum_words(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The UDP/TCP checksum over the pseudo-header and the segment.
fn checksum(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, protocol]);
            pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        }
        _ => {
            pseudo.extend_from_slice(&v6(src));
            pseudo.extend_from_slice(&v6(dst));
            pseudo.extend_from_slice(&(segment.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, protocol]);
        }
    }
    !fold(sum_words(segment, sum_words(&pseudo, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TraceReader, Transport};

    #[test]
    fn what_is_written_reads_back() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let a: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let c: SocketAddr = "[::1]:5080".parse().unwrap();
        let msg = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        w.udp(1_700_000_000_000_001, a, b, msg).unwrap();
        w.tcp(1_700_000_000_000_002, a, b, &msg[..10]).unwrap();
        w.tcp(1_700_000_000_000_003, a, b, &msg[10..]).unwrap();
        w.udp(1_700_000_000_000_004, c, c, msg).unwrap();
        let bytes = w.out;
        let payloads: Vec<_> = TraceReader::new(&bytes[..])
            .unwrap()
            .map(|p| p.unwrap())
            .collect();
        assert_eq!(payloads[0].transport, Transport::Udp);
        assert_eq!((payloads[0].src, payloads[0].dst), (a, b));
        assert_eq!(&payloads[0].data[..], msg);
        assert_eq!(payloads[0].time_ns, 1_700_000_000_000_001_000);
        let stream: Vec<u8> = payloads
            .iter()
            .filter(|p| p.transport == Transport::Tcp)
            .flat_map(|p| p.data.to_vec())
            .collect();
        assert_eq!(&stream[..], msg);
        assert_eq!(payloads.last().unwrap().src, c);
    }
}
