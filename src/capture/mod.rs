//! The SIP messages of a capture, in capture order: pcap, pcapng and NetMon
//! files through `quirkgate-trace` (which reassembles IP fragments and TCP
//! streams), or text traces (`text`). SIP is found by content, on any port;
//! TCP streams are framed by Content-Length here. Streaming: a message is
//! handed out as soon as it is complete, so memory stays bounded by what is
//! still being reassembled.

mod text;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use quirkgate_core::msg::{frame_stream, Framed, SipMessage};
use quirkgate_trace::{looks_like_sip, Payload, TraceError, TraceReader};

pub use quirkgate_trace::Transport;

/// Larger than any sane SIP message; a stream that outgrows it without
/// framing a message is not SIP, or lost its place.
const MAX_MESSAGE: usize = 256 * 1024;

/// One SIP message of a capture.
#[derive(Debug, Clone)]
pub struct Message {
    /// 1-based, in capture order: how reports refer to it.
    pub number: usize,
    /// The packet (1-based, as in Wireshark) that completed it; for a text
    /// trace, the line its block starts on.
    pub packet: u64,
    /// Nanoseconds since the Unix epoch (or since the trace's start, when
    /// a text trace carries no date).
    pub time_ns: u64,
    pub transport: Transport,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Bytes of a TCP stream were missing before this message.
    pub after_gap: bool,
    pub msg: SipMessage,
}

/// What a capture held besides its SIP messages.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub messages: usize,
    /// Payloads that looked like SIP but did not parse, with the first one's
    /// packet and reason.
    pub unparsed: usize,
    pub first_unparsed: Option<(u64, String)>,
    /// Packets (or text blocks) read.
    pub packets: u64,
}

/// A capture that cannot be read on: what went wrong, and where.
#[derive(Debug)]
pub struct CaptureError {
    pub packet: u64,
    pub what: String,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "packet {}: {}", self.packet, self.what)
    }
}

impl std::error::Error for CaptureError {}

impl From<TraceError> for CaptureError {
    fn from(e: TraceError) -> Self {
        let packet = match &e {
            TraceError::Io { packet, .. }
            | TraceError::BadMagic { packet, .. }
            | TraceError::Truncated { packet }
            | TraceError::TooLarge { packet, .. }
            | TraceError::Malformed { packet, .. } => *packet,
        };
        // The variant's text already names the packet; keep only the rest.
        let text = e.to_string();
        let what = text
            .split_once(": ")
            .map_or(text.clone(), |(_, rest)| rest.to_string());
        CaptureError { packet, what }
    }
}

enum Source<R: BufRead> {
    Packets(Box<TraceReader<R>>),
    Text(Box<text::TextReader<R>>),
}

/// Streams the SIP messages of a capture.
pub struct Messages<R: BufRead> {
    source: Source<R>,
    /// TCP bytes not yet framed, per direction of a connection.
    streams: HashMap<(SocketAddr, SocketAddr), Stream>,
    ready: std::collections::VecDeque<Message>,
    summary: Summary,
    done: bool,
}

#[derive(Default)]
struct Stream {
    buf: BytesMut,
    /// Bytes were lost before what `buf` holds.
    gap: bool,
    /// Lost its place: skip to the next line that starts a SIP message.
    resync: bool,
}

/// A capture file being read, with how far.
pub type FileMessages = Messages<BufReader<Counting<std::fs::File>>>;

/// Opens a capture file of any supported kind. The counter tells how many
/// of the file's bytes have been read, for a progress bar.
pub fn open(path: &Path) -> Result<(FileMessages, Arc<AtomicU64>), CaptureError> {
    let file = std::fs::File::open(path).map_err(|e| CaptureError {
        packet: 0,
        what: format!("cannot open {}: {e}", path.display()),
    })?;
    let counting = Counting::new(file);
    let read = counting.read.clone();
    Ok((
        Messages::new(BufReader::with_capacity(1 << 16, counting))?,
        read,
    ))
}

/// Magic numbers of pcap (both byte orders, µs and ns), pcapng and NetMon.
fn is_packet_capture(head: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 7] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
        *b"GMBU",
        *b"RTSS",
    ];
    head.len() >= 4 && MAGICS.iter().any(|m| head[..4] == m[..])
}

impl<R: BufRead> Messages<R> {
    /// Tells a packet capture from a text trace by its first bytes.
    pub fn new(mut reader: R) -> Result<Self, CaptureError> {
        let head = reader
            .fill_buf()
            .map_err(|e| CaptureError {
                packet: 0,
                what: format!("read error: {e}"),
            })?
            .to_vec();
        let source = if is_packet_capture(&head) {
            Source::Packets(Box::new(TraceReader::new(reader)?))
        } else if text::looks_like_text(&head) {
            Source::Text(Box::new(text::TextReader::new(reader)))
        } else {
            return Err(CaptureError {
                packet: 1,
                what: "neither a pcap, pcapng or NetMon capture nor a text trace of SIP messages"
                    .into(),
            });
        };
        Ok(Messages {
            source,
            streams: HashMap::new(),
            ready: Default::default(),
            summary: Summary::default(),
            done: false,
        })
    }

    /// Counts so far; complete once the iterator has ended.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    fn unparsed(&mut self, packet: u64, reason: String) {
        self.summary.unparsed += 1;
        self.summary.first_unparsed.get_or_insert((packet, reason));
    }

    fn push(&mut self, p: &Payload, msg: SipMessage, after_gap: bool) {
        self.summary.messages += 1;
        self.ready.push_back(Message {
            number: self.summary.messages,
            packet: p.frame,
            time_ns: p.time_ns,
            transport: p.transport,
            src: p.src,
            dst: p.dst,
            after_gap,
            msg,
        });
    }

    fn payload(&mut self, p: Payload) {
        // A text trace's block is one whole message, whatever its transport.
        let whole = matches!(self.source, Source::Text(_));
        match p.transport {
            Transport::Tcp if !whole => self.stream_bytes(p),
            _ => {
                if !looks_like_sip(&p.data) {
                    return;
                }
                match SipMessage::parse_datagram(p.data.clone()) {
                    Ok(msg) => self.push(&p, msg, false),
                    Err(e) => self.unparsed(p.frame, e.to_string()),
                }
            }
        }
    }

    /// Frames the messages a TCP payload completes.
    fn stream_bytes(&mut self, p: Payload) {
        let key = (p.src, p.dst);
        if !self.streams.contains_key(&key) && sip_line_start(&p.data).is_none() {
            // No SIP start line here: a stream of something else (or the
            // middle of a message whose start was not captured) keeps no
            // state, so memory follows SIP flows only.
            return;
        }
        let stream = self.streams.entry(key).or_default();
        if p.gap_before {
            stream.buf.clear();
            stream.gap = true;
            stream.resync = true;
        }
        if stream.buf.is_empty() && !looks_like_sip(&p.data) {
            // Keep-alives or a message tail before the next start line.
            stream.resync = true;
        }
        stream.buf.extend_from_slice(&p.data);
        let mut framed = Vec::new();
        let mut failed = None;
        loop {
            if stream.resync {
                match sip_line_start(&stream.buf) {
                    Some(at) => {
                        let _ = stream.buf.split_to(at);
                        stream.resync = false;
                    }
                    None => {
                        // Keep a possible partial start line only.
                        let keep = stream.buf.len().min(256);
                        let drop = stream.buf.len() - keep;
                        let _ = stream.buf.split_to(drop);
                        break;
                    }
                }
            }
            match frame_stream(&stream.buf, MAX_MESSAGE) {
                Ok(Framed::Message { skip, len }) => {
                    let _ = stream.buf.split_to(skip);
                    let bytes = stream.buf.split_to(len).freeze();
                    framed.push((bytes, std::mem::take(&mut stream.gap)));
                }
                Ok(Framed::Incomplete { skip }) => {
                    let _ = stream.buf.split_to(skip);
                    break;
                }
                Err(e) => {
                    // Skip this start line only: the messages after it
                    // may still frame.
                    failed = Some(e.to_string());
                    let _ = stream.buf.split_to(1);
                    stream.gap = true;
                    stream.resync = true;
                }
            }
        }
        if stream.buf.is_empty() && !stream.resync {
            self.streams.remove(&(p.src, p.dst));
        }
        for (bytes, gap) in framed {
            if !looks_like_sip(&bytes) {
                continue;
            }
            match SipMessage::parse_framed(bytes) {
                Ok(msg) => self.push(&p, msg, gap),
                Err(e) => self.unparsed(p.frame, e.to_string()),
            }
        }
        if let Some(reason) = failed {
            self.unparsed(p.frame, reason);
        }
    }
}

/// Where, at a line start, the next SIP start line begins: a whole line
/// that is a status line or a request of a SIP method, so that the tail of
/// a cut line (`VITE sip:...`) is not taken for one.
fn sip_line_start(buf: &[u8]) -> Option<usize> {
    const METHODS: [&[u8]; 14] = [
        b"INVITE ",
        b"ACK ",
        b"BYE ",
        b"CANCEL ",
        b"OPTIONS ",
        b"REGISTER ",
        b"PRACK ",
        b"SUBSCRIBE ",
        b"NOTIFY ",
        b"PUBLISH ",
        b"INFO ",
        b"REFER ",
        b"MESSAGE ",
        b"UPDATE ",
    ];
    let mut at = 0;
    loop {
        let line = &buf[at..];
        let known = line.starts_with(b"SIP/2.0 ") || METHODS.iter().any(|m| line.starts_with(m));
        if known && looks_like_sip(line) && line.contains(&b'\n') {
            return Some(at);
        }
        at += memchr::memchr(b'\n', line)? + 1;
    }
}

impl<R: BufRead> Iterator for Messages<R> {
    type Item = Result<Message, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(m) = self.ready.pop_front() {
                return Some(Ok(m));
            }
            if self.done {
                return None;
            }
            let next = match &mut self.source {
                Source::Packets(reader) => {
                    let item = reader.next();
                    self.summary.packets = reader.stats().packets;
                    item.map(|r| r.map_err(CaptureError::from))
                }
                Source::Text(reader) => {
                    let item = reader.next();
                    self.summary.packets = reader.blocks();
                    item
                }
            };
            match next {
                Some(Ok(p)) => self.payload(p),
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => self.done = true,
            }
        }
    }
}

/// Counts the bytes read, for a progress bar over a large file.
pub struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R> Counting<R> {
    pub fn new(inner: R) -> Self {
        Counting {
            inner,
            read: Default::default(),
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The whole payload of a text block or packet, as `quirkgate-trace` hands
/// it out; text traces build the same.
pub(crate) fn payload(
    frame: u64,
    time_ns: u64,
    transport: Transport,
    src: SocketAddr,
    dst: SocketAddr,
    data: Bytes,
) -> Payload {
    Payload {
        frame,
        time_ns,
        transport,
        src,
        dst,
        data,
        gap_before: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCP payloads as `quirkgate-trace` hands them out, one per call: the
    /// messages framed, and how many flows still hold state.
    fn stream(chunks: &[(&[u8], bool)]) -> (Vec<Message>, usize) {
        let mut messages = Messages {
            source: Source::Text(Box::new(text::TextReader::new(&b""[..]))),
            streams: HashMap::new(),
            ready: Default::default(),
            summary: Summary::default(),
            done: true,
        };
        let (a, b) = (
            "10.0.0.1:5060".parse().unwrap(),
            "10.0.0.2:5060".parse().unwrap(),
        );
        for (i, (data, gap)) in chunks.iter().enumerate() {
            let mut p = payload(
                i as u64 + 1,
                0,
                Transport::Tcp,
                a,
                b,
                Bytes::copy_from_slice(data),
            );
            p.gap_before = *gap;
            messages.stream_bytes(p);
        }
        let held = messages.streams.len();
        (messages.ready.into_iter().collect(), held)
    }

    const OPTIONS: &[u8] =
        b"OPTIONS sip:b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn keepalives_and_split_messages_frame() {
        let (head, tail) = OPTIONS.split_at(30);
        let mut first = b"\r\n\r\n".to_vec();
        first.extend_from_slice(OPTIONS);
        first.extend_from_slice(head);
        let (got, _) = stream(&[(&first, false), (tail, false), (OPTIONS, false)]);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|m| !m.after_gap));
    }

    #[test]
    fn after_a_gap_framing_resumes_at_a_whole_start_line() {
        // The stream starts mid-message: the tail of a cut start line is
        // not taken for one.
        let mut data = b"VITE sip:a SIP/2.0\r\nX: 1\r\n\r\n".to_vec();
        data.extend_from_slice(OPTIONS);
        let (got, _) = stream(&[(&data, true)]);
        assert_eq!(got.len(), 1);
        assert!(got[0].after_gap);
        assert_eq!(got[0].msg.method().unwrap().as_bytes(), b"OPTIONS");
    }

    #[test]
    fn a_bad_content_length_loses_only_its_message() {
        let mut data = b"OPTIONS sip:b SIP/2.0\r\nContent-Length: x\r\n\r\n".to_vec();
        data.extend_from_slice(OPTIONS);
        let (got, _) = stream(&[(&data, false)]);
        assert_eq!(got.len(), 1);
        assert!(got[0].after_gap);
    }

    #[test]
    fn a_stream_without_sip_keeps_no_state() {
        let (got, held) = stream(&[(b"GET / HTTP/1.1\r\n\r\n", false), (b"more", false)]);
        assert!(got.is_empty());
        assert_eq!(held, 0);
    }
}
