//! Reads pcap, pcapng and NetMon 2.x captures and yields the transport payloads that may carry
//! SIP (UDP datagrams, SCTP user messages, TCP stream bytes, and WebSocket messages unwrapped
//! from TCP), so quirkgate can be tested against real-world traffic. Streaming and bounded in
//! memory; no SIP parsing beyond [`looks_like_sip`].

mod container;
mod decode;
mod ip;
mod link;
mod netmon;
mod pending;
mod sctp;
mod tcp;
mod transport;
mod tunnel;
mod websocket;
mod wire;
mod writer;

#[cfg(test)]
mod tests;

pub use writer::PcapWriter;

use bytes::Bytes;
use container::Container;
use decode::Decoder;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;

/// SIP framing differs per transport: datagrams and WebSocket messages are whole messages, TCP
/// is a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Each payload is one whole datagram, usually one SIP message.
    Udp,
    /// Payloads are stream pieces; SIP messages must be framed by Content-Length.
    Tcp,
    /// Each payload is one whole SIP message, like UDP (RFC 7118): one WebSocket message from a
    /// TCP flow that began with an HTTP `Upgrade: websocket` handshake, unmasked and with its
    /// fragments joined. The handshake and the ping, pong and close frames are not handed out.
    Ws,
    /// Each payload is one user message, reassembled if the sender split it across DATA chunks;
    /// normally one SIP message (SIP-I trunks use it).
    Sctp,
}

/// SIP identifies peers by address and port, so that is what a payload carries.
pub type Endpoint = SocketAddr;

/// One unit of transport data, with enough context to attribute it to a flow and a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// 1-based as in Wireshark, to find the packet there (the last contributor if reassembled).
    pub frame: u64,
    /// Capture time in ns since the Unix epoch, for timer-sensitive replay.
    pub time_ns: u64,
    /// Tells the consumer whether to frame messages itself (TCP) or not.
    pub transport: Transport,
    /// Sender, to tell the directions of a dialog apart.
    pub src: Endpoint,
    /// Receiver, for the same reason.
    pub dst: Endpoint,
    /// UDP: one datagram; SCTP: one user message; WS: one WebSocket message; TCP: the next
    /// in-order bytes.
    pub data: Bytes,
    /// TCP only: bytes are missing before this chunk (loss, or a mid-stream start), so resync.
    pub gap_before: bool,
}

/// Tooling wants to know why packets produced nothing, without that being an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The capture's link type is not one this crate decodes.
    LinkType,
    /// The frame holds no IP (ARP, LLDP, STP, PPP control...).
    NotIp,
    /// An IP protocol other than UDP, TCP, SCTP and the tunnels (ICMP, ESP, OSPF...).
    Protocol,
    /// A header is cut short or inconsistent (snap length, corruption, fuzzing), or WebSocket
    /// framing broke or a message outgrew its limit; that flow's later bytes come out as plain
    /// TCP after a gap.
    Malformed,
    /// The transport carried no data (pure ACK, SCTP control chunks, empty datagram, WebSocket
    /// handshake or control frames).
    NoPayload,
    /// A retransmission: TCP bytes already delivered, or an SCTP fragment already held.
    Duplicate,
    /// An IP fragment, SCTP message fragment, out-of-order TCP segment, part of a WebSocket
    /// message, or a stream start that may be a WebSocket handshake, held: its bytes come out
    /// with a later packet.
    Buffered,
}

impl fmt::Display for SkipReason {
    /// Stable lowercase names keep tool output greppable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::LinkType => "link-type",
            SkipReason::NotIp => "not-ip",
            SkipReason::Protocol => "protocol",
            SkipReason::Malformed => "malformed",
            SkipReason::NoPayload => "no-payload",
            SkipReason::Duplicate => "duplicate",
            SkipReason::Buffered => "buffered",
        })
    }
}

/// Lets tooling report coverage: every packet read either yielded payloads or is in `skipped`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packet records read from the capture.
    pub packets: u64,
    /// Payloads handed out by the iterator.
    pub payloads: u64,
    /// Packets that yielded nothing when read, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
}

/// Only a broken capture file is an error; undecodable packets are skipped and counted.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Reading failed below the parser, e.g. on a pipe or a bad disk.
    #[error("packet {packet}: read error: {source}")]
    Io { packet: u64, source: io::Error },
    /// Catches non-capture input before anything is decoded.
    #[error("packet {packet}: not a pcap, pcapng or NetMon 2.x file (magic {magic:02x?})")]
    BadMagic { packet: u64, magic: [u8; 4] },
    /// The file ends inside a header or record, typically a capture cut off while written.
    #[error("packet {packet}: capture file ends inside a record")]
    Truncated { packet: u64 },
    /// A record claims more than `limit` bytes, which only a corrupt length field does.
    #[error("packet {packet}: record larger than {limit} bytes")]
    TooLarge { packet: u64, limit: usize },
    /// The container structure is inconsistent.
    #[error("packet {packet}: malformed capture: {what}")]
    Malformed { packet: u64, what: String },
}

/// Timestamps of the packet a piece of data came with travel together through reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp {
    pub frame: u64,
    pub time_ns: u64,
}

/// Streams payloads out of a capture without loading it whole.
pub struct TraceReader<R: Read> {
    container: Container<R>,
    decoder: Decoder,
    done: bool,
}

impl<R: Read> TraceReader<R> {
    /// Reads the file header now, so a non-capture fails before iteration starts.
    pub fn new(r: R) -> Result<Self, TraceError> {
        Ok(TraceReader {
            container: Container::new(r)?,
            decoder: Decoder::default(),
            done: false,
        })
    }

    /// Counts so far; complete once the iterator has returned `None`.
    pub fn stats(&self) -> &Stats {
        self.decoder.stats()
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Payload, TraceError>;

    /// After an error the iterator still hands out what was already reassembled, then ends.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(payload) = self.decoder.pop() {
                return Some(Ok(payload));
            }
            if self.done {
                return None;
            }
            match self.container.next_frame() {
                Ok(Some(frame)) => self.decoder.frame(&frame),
                Ok(None) => {
                    self.done = true;
                    self.decoder.finish();
                }
                Err(e) => {
                    self.done = true;
                    self.decoder.finish();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Lets the consumer pick SIP out of any port cheaply: is the first line a SIP start line?
///
/// That is a status line (`SIP/2.0 NNN ...`) or a request line (`<token> <uri> SIP/2.0`).
pub fn looks_like_sip(data: &[u8]) -> bool {
    // A lone CR ends the line too, as in tshark; other control bytes mean binary data.
    let end = data
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(data.len());
    let line = &data[..end];
    if line.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return false;
    }
    let is_version = |s: &[u8]| s.eq_ignore_ascii_case(b"SIP/2.0");
    let is_token = |s: &[u8]| {
        !s.is_empty()
            && s.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    };
    let mut parts = line.split(|&b| b == b' ');
    let first = parts.next().unwrap_or_default();
    let second = parts.next().unwrap_or_default();
    if is_version(first) {
        return second.len() == 3 && second.iter().all(u8::is_ascii_digit);
    }
    is_token(first)
        && !second.is_empty()
        && parts.next().is_some_and(is_version)
        && parts.next().is_none()
}
