//! Text traces: SIP messages as text, each block preceded by a line giving
//! time, transport, source and destination, as sngrep, ngrep and Kamailio's
//! logs write them, e.g.
//!
//! ```text
//! 2026/11/23 10:00:01.250000 UDP 10.0.0.1:5060 -> 10.0.0.2:5060
//! U 2026/11/23 10:00:01.250000 10.0.0.1:5060 -> 10.0.0.2:5060
//! 2026-11-23T10:00:01.250Z udp:10.0.0.1:5060 -> udp:10.0.0.2:5060
//! ```
//!
//! or plain messages separated by blank lines, whose hosts are then taken
//! from the messages themselves (Via, Request-URI). Lines may end in LF or
//! CRLF; the message is rebuilt with CRLF.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use quirkgate_core::msg::SipMessage;
use quirkgate_trace::{looks_like_sip, Payload, Transport};

use super::CaptureError;

/// Whether the first bytes read like text rather than a binary file.
pub(super) fn looks_like_text(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(4096)];
    !sample.is_empty()
        && sample
            .iter()
            .all(|&b| b >= 0x20 || b == b'\n' || b == b'\r' || b == b'\t')
}

/// Where a block came from, as its preceding line says.
#[derive(Debug, Clone, PartialEq)]
struct Origin {
    time_ns: u64,
    transport: Transport,
    src: SocketAddr,
    dst: SocketAddr,
}

struct Block {
    line: u64,
    origin: Option<Origin>,
    lines: Vec<Vec<u8>>,
    /// Index of the empty line ending the head, once seen.
    head_end: Option<usize>,
    body_bytes: usize,
}

impl Block {
    fn new(line: u64, origin: Option<Origin>) -> Block {
        Block {
            line,
            origin,
            lines: Vec::new(),
            head_end: None,
            body_bytes: 0,
        }
    }

    fn add(&mut self, line: Vec<u8>) {
        if self.head_end.is_some() {
            self.body_bytes += line.len() + 2;
        } else if line.is_empty() && !self.lines.is_empty() {
            self.head_end = Some(self.lines.len());
        }
        if !self.lines.is_empty() || !line.is_empty() {
            self.lines.push(line);
        }
    }

    /// In a plain trace, a start line begins the next message once this one
    /// is complete by its Content-Length, or after a blank line that follows
    /// some body (a wrong Content-Length must not swallow the rest).
    fn ends_before(&self, previous_blank: bool) -> bool {
        self.complete() || (previous_blank && self.body_bytes > 2)
    }

    fn complete(&self) -> bool {
        let Some(end) = self.head_end else {
            return false;
        };
        let length = self.lines[..end]
            .iter()
            .find_map(|l| {
                let text = std::str::from_utf8(l).ok()?;
                let (name, value) = text.split_once(':')?;
                let name = name.trim();
                (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
            .unwrap_or(0);
        self.body_bytes >= length
    }

    /// The message with CRLF line ends: head, empty line, body lines.
    fn bytes(mut self) -> Vec<u8> {
        while self.lines.last().is_some_and(Vec::is_empty) {
            self.lines.pop();
        }
        let mut out = Vec::new();
        let end = self
            .head_end
            .unwrap_or(self.lines.len())
            .min(self.lines.len());
        for line in &self.lines[..end] {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        for line in self.lines.iter().skip(end + 1) {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

pub(crate) struct TextReader<R> {
    reader: R,
    line: u64,
    current: Option<Block>,
    /// A trace with origin lines; otherwise a plain one.
    has_origins: bool,
    blocks: u64,
    hosts: Hosts,
    done: bool,
}

impl<R: BufRead> TextReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        TextReader {
            reader,
            line: 0,
            current: None,
            has_origins: false,
            blocks: 0,
            hosts: Hosts::default(),
            done: false,
        }
    }

    pub(crate) fn blocks(&self) -> u64 {
        self.blocks
    }

    fn read_line(&mut self) -> Result<Option<Vec<u8>>, CaptureError> {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .map_err(|e| CaptureError {
                packet: self.line + 1,
                what: format!("read error: {e}"),
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        Ok(Some(line))
    }

    /// Turns a finished block into a payload; `None` for a block that holds
    /// no SIP message (a comment, a stray line).
    fn finish(&mut self, block: Block) -> Option<Payload> {
        let line = block.line;
        let origin = block.origin.clone();
        let data = Bytes::from(block.bytes());
        if !looks_like_sip(&data) {
            return None;
        }
        self.blocks += 1;
        let origin = origin.unwrap_or_else(|| self.hosts.guess(&data));
        Some(super::payload(
            line,
            origin.time_ns,
            origin.transport,
            origin.src,
            origin.dst,
            data,
        ))
    }
}

impl<R: BufRead> Iterator for TextReader<R> {
    type Item = Result<Payload, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match self.read_line() {
                Ok(Some(line)) => line,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let ended = if let Some(origin) = origin_line(&line) {
                self.has_origins = true;
                let ended = self.current.replace(Block::new(self.line, Some(origin)));
                if let Some(payload) = ended.and_then(|b| self.finish(b)) {
                    return Some(Ok(payload));
                }
                continue;
            } else if !self.has_origins
                && looks_like_sip(&line)
                && self
                    .current
                    .as_ref()
                    .is_none_or(|b| b.ends_before(b.lines.last().is_some_and(Vec::is_empty)))
            {
                self.current.replace(Block::new(self.line, None))
            } else {
                None
            };
            if let Some(block) = &mut self.current {
                block.add(line);
            }
            if let Some(payload) = ended.and_then(|b| self.finish(b)) {
                return Some(Ok(payload));
            }
        }
        let last = self.current.take()?;
        self.finish(last).map(Ok)
    }
}

/// Reads a line such as `2026/11/23 10:00:01.25 UDP 10.0.0.1:5060 -> 10.0.0.2:5060`.
fn origin_line(line: &[u8]) -> Option<Origin> {
    let text = std::str::from_utf8(line).ok()?;
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let arrow = tokens.iter().position(|t| *t == "->" || *t == "→")?;
    if arrow == 0 || arrow + 1 >= tokens.len() {
        return None;
    }
    let (src_transport, src) = address(tokens[arrow - 1])?;
    let (dst_transport, dst) = address(tokens[arrow + 1])?;
    let mut transport = src_transport.or(dst_transport);
    let mut date = None;
    let mut time = None;
    for token in &tokens[..arrow - 1] {
        let token = token.trim_end_matches(':');
        if let Some(t) = transport_name(token) {
            transport = transport.or(Some(t));
        } else if let Some((d, t)) = token
            .split_once('T')
            .and_then(|(d, t)| Some((civil_days(d)?, clock_ns(t.trim_end_matches('Z'))?)))
        {
            date = Some(d);
            time = Some(t);
        } else if let Some(d) = civil_days(token) {
            date = Some(d);
        } else if let Some(t) = clock_ns(token) {
            time = Some(t);
        }
    }
    let day_ns = date.unwrap_or(0) * 86_400 * 1_000_000_000;
    Some(Origin {
        time_ns: day_ns + time.unwrap_or(0),
        transport: transport.unwrap_or(Transport::Udp),
        src,
        dst,
    })
}

fn transport_name(token: &str) -> Option<Transport> {
    match token.to_ascii_uppercase().as_str() {
        "UDP" | "U" => Some(Transport::Udp),
        "TCP" | "T" | "TLS" => Some(Transport::Tcp),
        "WS" | "WSS" => Some(Transport::Ws),
        "SCTP" | "S" => Some(Transport::Sctp),
        _ => None,
    }
}

/// `10.0.0.1:5060`, `[2001:db8::1]:5060`, `10.0.0.1`, `udp:10.0.0.1:5060`.
fn address(token: &str) -> Option<(Option<Transport>, SocketAddr)> {
    let token = token.trim_end_matches([':', ',']);
    let (transport, rest) = match token.split_once(':') {
        Some((proto, rest)) if transport_name(proto).is_some() && !proto.is_empty() => {
            (transport_name(proto), rest)
        }
        _ => (None, token),
    };
    if let Ok(addr) = rest.parse::<SocketAddr>() {
        return Some((transport, addr));
    }
    let ip: IpAddr = rest.trim_matches(['[', ']']).parse().ok()?;
    Some((transport, SocketAddr::new(ip, 5060)))
}

/// Days since 1970-01-01 of `YYYY/MM/DD` or `YYYY-MM-DD`.
fn civil_days(s: &str) -> Option<u64> {
    let mut parts = s.split(['/', '-']);
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    // Nanoseconds since 1970 fit a u64 until 2554.
    if parts.next().is_some() || !(1970..=2500).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    if !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

/// Nanoseconds into the day of `HH:MM:SS[.fraction]`.
fn clock_ns(s: &str) -> Option<u64> {
    let (hms, fraction) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.split(':');
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let sec: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
        return None;
    }
    let frac_ns = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u64>().ok()? * 10u64.pow(9 - fraction.len() as u32)
    };
    Some(((h * 60 + m) * 60 + sec) * 1_000_000_000 + frac_ns)
}

/// Hosts of a plain trace: taken from the messages, names given stable
/// documentation addresses (192.0.2.0/24) so a ladder can still be drawn.
#[derive(Default)]
struct Hosts {
    names: HashMap<String, IpAddr>,
    /// Each transaction's request direction, so its responses go back.
    requests: HashMap<(Vec<u8>, Vec<u8>), (SocketAddr, SocketAddr)>,
}

impl Hosts {
    fn host(&mut self, name: &[u8], port: Option<u16>) -> SocketAddr {
        let name = String::from_utf8_lossy(name)
            .trim_matches(['[', ']'])
            .to_string();
        let ip = name.parse().unwrap_or_else(|_| {
            let next = self.names.len() + 1;
            // 192.0.2.1-253, then the IPv6 documentation prefix: never two
            // names on one address.
            let ip = match u8::try_from(next) {
                Ok(n) if n < 254 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)),
                _ => IpAddr::V6(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (next >> 16) as u16,
                    next as u16,
                )),
            };
            *self.names.entry(name).or_insert(ip)
        });
        SocketAddr::new(ip, port.unwrap_or(5060))
    }

    fn guess(&mut self, data: &Bytes) -> Origin {
        let unknown = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)), 5060);
        let mut origin = Origin {
            time_ns: 0,
            transport: Transport::Udp,
            src: unknown,
            dst: unknown,
        };
        let Ok(msg) = SipMessage::parse_datagram(data.clone()) else {
            return origin;
        };
        let key = (
            msg.call_id().unwrap_or_default().to_vec(),
            msg.header(quirkgate_core::msg::HeaderName::CSeq)
                .unwrap_or_default()
                .to_vec(),
        );
        let via = msg.top_via().and_then(Result::ok);
        if let Some(via) = &via {
            if let Some(t) = transport_name(&String::from_utf8_lossy(via.transport)) {
                origin.transport = t;
            }
        }
        if msg.is_request() {
            if let Some(via) = &via {
                origin.src = self.host(via.host, via.port);
            }
            let uri = msg.request_uri().unwrap_or_default();
            if let Ok(quirkgate_core::msg::uri::Uri::Sip(sip)) =
                quirkgate_core::msg::uri::Uri::parse(uri)
            {
                origin.dst = self.host(sip.host, sip.port);
            }
            self.requests.insert(key, (origin.src, origin.dst));
        } else if let Some((src, dst)) = self.requests.get(&key) {
            origin.src = *dst;
            origin.dst = *src;
        } else if let Some(via) = &via {
            origin.dst = self.host(via.host, via.port);
        }
        origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_lines_of_several_tools() {
        let o = origin_line(b"2026/11/23 10:00:01.250000 10.0.0.1:5060 -> 10.0.0.2:5080").unwrap();
        assert_eq!(o.src, "10.0.0.1:5060".parse().unwrap());
        assert_eq!(o.dst, "10.0.0.2:5080".parse().unwrap());
        assert_eq!(o.transport, Transport::Udp);
        // 2026-11-23 is day 20780 since the epoch.
        assert_eq!(
            o.time_ns,
            (20780 * 86_400 + 36_001) * 1_000_000_000 + 250_000_000
        );
        let o = origin_line(b"T 2026/11/23 10:00:01.25 10.0.0.1:5060 -> 10.0.0.2:5060").unwrap();
        assert_eq!(o.transport, Transport::Tcp);
        let o = origin_line(
            b"2026-11-23T10:00:01.250Z udp:[2001:db8::1]:5060 -> udp:[2001:db8::2]:5060",
        )
        .unwrap();
        assert_eq!(o.src, "[2001:db8::1]:5060".parse().unwrap());
        assert_eq!(o.time_ns % 1_000_000_000, 250_000_000);
        assert!(origin_line(b"Via: SIP/2.0/UDP 10.0.0.1:5060").is_none());
        assert!(origin_line(b"a -> b").is_none());
    }

    fn read(text: &str) -> Vec<Payload> {
        TextReader::new(text.as_bytes())
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn blocks_with_origin_lines_keep_their_bodies() {
        let text = "2026/11/23 10:00:00.000 UDP 10.0.0.1:5060 -> 10.0.0.2:5060\n\
INVITE sip:1@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\nContent-Length: 10\n\nv=0\no=x\n\n\
2026/11/23 10:00:00.100 UDP 10.0.0.2:5060 -> 10.0.0.1:5060\nSIP/2.0 100 Trying\nContent-Length: 0\n\n";
        let p = read(text);
        assert_eq!(p.len(), 2);
        assert!(p[0].data.ends_with(b"\r\n\r\nv=0\r\no=x\r\n"));
        assert_eq!(p[1].time_ns - p[0].time_ns, 100_000_000);
        assert_eq!(p[0].frame, 1);
        assert_eq!(p[1].frame, 9);
    }

    #[test]
    fn plain_messages_get_hosts_from_via_and_request_uri() {
        let text = "# a trace\n\nOPTIONS sip:gw.example SIP/2.0\nVia: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK1\nCall-ID: a\nCSeq: 1 OPTIONS\n\n\
SIP/2.0 200 OK\nVia: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK1\nCall-ID: a\nCSeq: 1 OPTIONS\nContent-Length: 0\n";
        let p = read(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].src, "10.0.0.1:5070".parse().unwrap());
        assert_eq!(p[0].dst, "192.0.2.1:5060".parse().unwrap());
        assert_eq!(p[0].transport, Transport::Tcp);
        assert_eq!((p[1].src, p[1].dst), (p[0].dst, p[0].src));
    }
}
