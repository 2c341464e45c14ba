//! SIP over WebSocket (RFC 7118): a TCP direction whose stream begins with its half of an HTTP
//! `Upgrade: websocket` handshake carries RFC 6455 frames, and each message they make up is one
//! whole SIP message, so it is handed out like a datagram rather than as stream bytes.
//!
//! Each direction decides from its own half of the handshake (the client's request, the
//! server's 101), because a capture may hold only one direction of a connection.

use crate::tcp::FlowKey;
use crate::wire::{be16, be32, be64};
use crate::{Payload, SkipReason, Stamp, Transport};
use bytes::Bytes;
use std::collections::VecDeque;

/// A handshake is a few hundred bytes plus cookies; a longer header is no handshake worth
/// waiting for.
const MAX_HANDSHAKE: usize = 64 << 10;
/// SIP messages are far smaller, so a longer WebSocket message means a broken or hostile
/// capture; it is dropped rather than held.
const MAX_MESSAGE: usize = 1 << 20;
/// How the client's half of a handshake begins.
const REQUEST: &[u8] = b"GET ";
/// How the server's half begins: the status line accepting the upgrade.
const ACCEPTED: &[u8] = b"HTTP/1.1 101";

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xa;
/// Opcodes with this bit are control frames: never SIP, never fragmented, at most 125 bytes.
const CONTROL: u8 = 0x8;

/// In-order stream bytes as TCP reassembly delivers them, with the packet that completed them.
pub(crate) struct Piece {
    pub stamp: Stamp,
    /// Bytes are missing before this piece (loss, or a capture joined mid-stream).
    pub gap: bool,
    pub data: Vec<u8>,
}

/// What one TCP direction's in-order bytes turn out to carry.
pub(crate) enum Stream {
    /// The bytes so far could begin a handshake, so they are held until that is decided.
    Sniffing(Sniff),
    /// Plain TCP bytes, handed on as they come; `gap` when bytes were dropped since the last.
    Plain { gap: bool },
    /// Past the handshake: WebSocket frames.
    Frames(Frames),
}

impl Default for Stream {
    /// Only the start of a stream can be a handshake, so every flow starts out sniffing.
    fn default() -> Self {
        Stream::Sniffing(Sniff::default())
    }
}

impl Stream {
    /// Hands in-order bytes on as payloads; when they yield none, says why.
    pub(crate) fn push(
        &mut self,
        key: FlowKey,
        piece: Piece,
        out: &mut VecDeque<Payload>,
    ) -> Option<SkipReason> {
        let emitted = out.len();
        let reason = match self {
            Stream::Plain { gap } => {
                let gap = std::mem::take(gap) || piece.gap;
                out.push_back(tcp_payload(key, piece.stamp, gap, Bytes::from(piece.data)));
                return None;
            }
            // Frame boundaries cannot be found after a hole, so the rest is plain TCP.
            Stream::Frames(_) if piece.gap => {
                *self = Stream::Plain { gap: true };
                return self.push(key, piece, out);
            }
            Stream::Frames(frames) => frames.push(key, piece.stamp, &piece.data, out),
            Stream::Sniffing(sniff) => {
                let stamp = piece.stamp;
                match sniff.push(piece) {
                    Verdict::Undecided => SkipReason::Buffered,
                    Verdict::Plain => {
                        std::mem::take(sniff).release(key, out);
                        *self = Stream::Plain { gap: false };
                        SkipReason::Buffered
                    }
                    Verdict::Handshake(len) => {
                        // The header ends in this piece, so what follows it is this piece's.
                        let rest = sniff.bytes.split_off(len);
                        let mut frames = Frames::default();
                        let reason = frames.push(key, stamp, &rest, out);
                        *self = Stream::Frames(frames);
                        reason
                    }
                }
            }
        };
        if reason == SkipReason::Malformed {
            // Broken framing: nothing after it can be trusted to start a frame.
            *self = Stream::Plain { gap: true };
        }
        (out.len() == emitted).then_some(reason)
    }

    /// No more bytes will follow these: a handshake still undecided never will be.
    pub(crate) fn finish(&mut self, key: FlowKey, out: &mut VecDeque<Payload>) {
        if let Stream::Sniffing(sniff) = self {
            std::mem::take(sniff).release(key, out);
            *self = Stream::Plain { gap: false };
        }
    }
}

/// Plain TCP bytes become a payload as they are.
fn tcp_payload((src, dst): FlowKey, stamp: Stamp, gap_before: bool, data: Bytes) -> Payload {
    Payload {
        frame: stamp.frame,
        time_ns: stamp.time_ns,
        transport: Transport::Tcp,
        src,
        dst,
        data,
        gap_before,
    }
}

/// The pieces of a stream's beginning, held while it may still be a handshake.
#[derive(Default)]
pub(crate) struct Sniff {
    bytes: Vec<u8>,
    /// Where each piece starts in `bytes`, so that plain TCP goes out exactly as delivered.
    pieces: Vec<(usize, Stamp, bool)>,
}

/// What the stream's beginning has shown so far.
enum Verdict {
    Undecided,
    Plain,
    /// A handshake half of this many bytes, header block included.
    Handshake(usize),
}

impl Sniff {
    /// Decides as soon as the bytes rule a handshake out or its header block is complete.
    fn push(&mut self, piece: Piece) -> Verdict {
        let old = self.bytes.len();
        self.pieces.push((old, piece.stamp, piece.gap));
        self.bytes.extend_from_slice(&piece.data);
        // A hole inside the header means it can never be read whole.
        let hole = piece.gap && old > 0;
        let could_be = |start: &[u8]| {
            let n = self.bytes.len().min(start.len());
            self.bytes[..n] == start[..n]
        };
        if hole || !(could_be(REQUEST) || could_be(ACCEPTED)) {
            return Verdict::Plain;
        }
        // The blank line may straddle the previous piece.
        let from = old.saturating_sub(3);
        let end = self.bytes[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| from + i + 4);
        match end {
            Some(end) if is_upgrade(&self.bytes[..end]) => Verdict::Handshake(end),
            Some(_) => Verdict::Plain,
            None if self.bytes.len() > MAX_HANDSHAKE => Verdict::Plain,
            None => Verdict::Undecided,
        }
    }

    /// Not a handshake after all: the pieces go out as the TCP payloads they would have been.
    fn release(self, key: FlowKey, out: &mut VecDeque<Payload>) {
        let bytes = Bytes::from(self.bytes);
        let ends = self.pieces.iter().skip(1).map(|p| p.0).chain([bytes.len()]);
        for (&(start, stamp, gap), end) in self.pieces.iter().zip(ends) {
            out.push_back(tcp_payload(key, stamp, gap, bytes.slice(start..end)));
        }
    }
}

/// Either half of the handshake: a `GET ... HTTP/1.1` request or a 101 response, with
/// `Upgrade: websocket` among its headers. The subprotocol (`sip`) is not required, because
/// the consumer picks SIP out of the messages anyway.
fn is_upgrade(head: &[u8]) -> bool {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let start = lines.next().unwrap_or_default();
    let request = start.starts_with(REQUEST) && start.ends_with(b" HTTP/1.1");
    let accepted =
        start.starts_with(ACCEPTED) && matches!(start.get(ACCEPTED.len()), None | Some(b' '));
    (request || accepted)
        && lines.any(|line| {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return false;
            };
            line[..colon].trim_ascii().eq_ignore_ascii_case(b"upgrade")
                && line[colon + 1..]
                    .split(|&b| b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"websocket"))
        })
}

/// Decodes frames across pieces, holding at most one unfinished frame and one unfinished
/// message, each bounded by [`MAX_MESSAGE`].
#[derive(Default)]
pub(crate) struct Frames {
    /// Bytes of the frame not yet complete.
    pending: Vec<u8>,
    /// The unmasked data of the message being assembled.
    message: Vec<u8>,
    /// The message's first frame came without FIN, so continuation frames are due.
    open: bool,
}

impl Frames {
    /// Emits every message the bytes complete; otherwise says why they yielded none
    /// ([`SkipReason::Malformed`] when the framing broke, and the stream must be abandoned).
    fn push(
        &mut self,
        (src, dst): FlowKey,
        stamp: Stamp,
        data: &[u8],
        out: &mut VecDeque<Payload>,
    ) -> SkipReason {
        self.pending.extend_from_slice(data);
        let mut at = 0;
        loop {
            let frame = match Frame::parse(&self.pending[at..], MAX_MESSAGE - self.message.len()) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(reason) => return reason,
            };
            at += frame.size;
            match frame.opcode {
                OP_CONTINUATION if !self.open => return SkipReason::Malformed,
                OP_TEXT | OP_BINARY if self.open => return SkipReason::Malformed,
                OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
                // Ping, pong and close (validated by the parser) carry no SIP.
                _ => continue,
            }
            let start = self.message.len();
            self.message.extend_from_slice(frame.payload);
            if let Some(mask) = frame.mask {
                self.message[start..]
                    .iter_mut()
                    .zip(mask.iter().cycle())
                    .for_each(|(b, m)| *b ^= m);
            }
            self.open = !frame.fin;
            // An empty message carries nothing to hand out.
            if frame.fin && !self.message.is_empty() {
                out.push_back(Payload {
                    frame: stamp.frame,
                    time_ns: stamp.time_ns,
                    transport: Transport::Ws,
                    src,
                    dst,
                    data: Bytes::from(std::mem::take(&mut self.message)),
                    gap_before: false,
                });
            }
        }
        self.pending.drain(..at);
        if self.pending.is_empty() && !self.open {
            // Everything was handshake, control frames or empty messages.
            SkipReason::NoPayload
        } else {
            SkipReason::Buffered
        }
    }
}

/// One complete frame, its payload still masked.
struct Frame<'a> {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &'a [u8],
    /// Header and payload, to step to the next frame.
    size: usize,
}

impl<'a> Frame<'a> {
    /// The frame at the start of `d`, once all of it is there. A data frame may add at most
    /// `room` bytes to its message; its length is checked against that from the header alone,
    /// so an oversized frame is refused before its payload is held.
    fn parse(d: &'a [u8], room: usize) -> Result<Option<Self>, SkipReason> {
        let (Some(&b0), Some(&b1)) = (d.first(), d.get(1)) else {
            return Ok(None);
        };
        let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
        let known = [
            OP_CONTINUATION,
            OP_TEXT,
            OP_BINARY,
            OP_CLOSE,
            OP_PING,
            OP_PONG,
        ];
        // RSV bits mean an extension (permessage-deflate) whose data this crate cannot read.
        if b0 & 0x70 != 0 || !known.contains(&opcode) {
            return Err(SkipReason::Malformed);
        }
        let short_len = b1 & 0x7f;
        let len_bytes = match short_len {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask_at = 2 + len_bytes;
        let header = mask_at + if b1 & 0x80 != 0 { 4 } else { 0 };
        if d.len() < header {
            return Ok(None);
        }
        let len = match len_bytes {
            2 => u64::from(be16(d, 2)?),
            8 => be64(d, 2)?,
            _ => u64::from(short_len),
        };
        let too_long = if opcode & CONTROL != 0 {
            !fin || len > 125
        } else {
            len > room as u64
        };
        if too_long {
            return Err(SkipReason::Malformed);
        }
        // At most `room` or 125 bytes, so neither conversion nor addition can overflow.
        let size = header + len as usize;
        let Some(payload) = d.get(header..size) else {
            return Ok(None);
        };
        let mask = if header > mask_at {
            Some(be32(d, mask_at)?.to_be_bytes())
        } else {
            None
        };
        Ok(Some(Frame {
            fin,
            opcode,
            mask,
            payload,
            size,
        }))
    }
}
