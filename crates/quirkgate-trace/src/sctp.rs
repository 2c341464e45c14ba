//! SCTP: DATA chunks, and reassembly of the user messages a sender split across several of them
//! (a large SIP-I INVITE with its ISUP body does not fit one path MTU).

use crate::pending::Pending;
use crate::transport::{ports, Ports};
use crate::wire::{after, be16, be32, byte};
use crate::SkipReason;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// SCTP user data sits in DATA chunks; other chunk types are control and are ignored.
const CHUNK_DATA: u8 = 0;
/// The chunk holds the first fragment of a user message.
const FLAG_BEGIN: u8 = 0x02;
/// The chunk holds the last fragment of a user message.
const FLAG_END: u8 = 0x01;
/// Fragment bytes one stream may hold; SIP messages are far smaller, so more means a broken or
/// hostile capture and the stream's fragments are given up (counted as malformed).
const MAX_HELD_PER_STREAM: usize = 256 << 10;
/// Bounds memory at 64 MiB when a capture is full of unfinished messages.
const MAX_PENDING: usize = 256;
/// A stream whose fragments stop arriving for this long (capture time) is given up.
const FRAGMENT_TIMEOUT_NS: u64 = 60_000_000_000;

/// One DATA chunk: which stream it belongs to and which part of a user message it carries.
pub(crate) struct DataChunk<'a> {
    tsn: u32,
    stream: u16,
    begin: bool,
    end: bool,
    data: &'a [u8],
}

/// One SCTP packet may bundle several messages, so every DATA chunk is returned.
pub(crate) fn parse(d: &[u8]) -> Result<(Ports, Vec<DataChunk<'_>>), SkipReason> {
    let mut chunks = after(d, 12)?;
    let mut data = Vec::new();
    while let Some(&kind) = chunks.first() {
        let len = usize::from(be16(chunks, 2)?);
        if len < 4 {
            return Err(SkipReason::Malformed);
        }
        let chunk = chunks.get(..len).ok_or(SkipReason::Malformed)?;
        if kind == CHUNK_DATA {
            let flags = byte(chunk, 1)?;
            data.push(DataChunk {
                tsn: be32(chunk, 4)?,
                stream: be16(chunk, 8)?,
                begin: flags & FLAG_BEGIN != 0,
                end: flags & FLAG_END != 0,
                data: after(chunk, 16)?,
            });
        }
        // Chunks are padded to 4 bytes; the last one's padding may be missing.
        chunks = chunks.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Ok((ports(d)?, data))
}

/// Fragments are reassembled per direction of an association and per stream.
type StreamKey = (SocketAddr, SocketAddr, u16);

/// A fragment keeps its flags, because only they mark where a message starts and ends.
struct Fragment {
    begin: bool,
    end: bool,
    data: Vec<u8>,
}

/// One stream's held fragments by TSN; a message's fragments carry consecutive TSNs.
#[derive(Default)]
struct Held {
    fragments: BTreeMap<u32, Fragment>,
    bytes: usize,
}

/// Keeps fragments across packets until their message is complete.
pub(crate) struct Reassembler {
    pending: Pending<StreamKey, Held>,
}

impl Default for Reassembler {
    /// The limits are fixed, so an empty reassembler needs no arguments.
    fn default() -> Self {
        Reassembler {
            pending: Pending::new(MAX_PENDING, FRAGMENT_TIMEOUT_NS),
        }
    }
}

impl Reassembler {
    /// The whole user message once the chunk completes one (at once for an unfragmented
    /// chunk); a fragment that leaves its message incomplete is held as [`SkipReason::Buffered`].
    pub(crate) fn message<'a>(
        &mut self,
        now_ns: u64,
        (src, dst): (SocketAddr, SocketAddr),
        chunk: DataChunk<'a>,
    ) -> Result<Cow<'a, [u8]>, SkipReason> {
        if chunk.begin && chunk.end {
            return Ok(Cow::Borrowed(chunk.data));
        }
        if chunk.data.is_empty() {
            // RFC 9260 forbids DATA chunks without user data; holding them would cost memory
            // that the byte limit does not see.
            return Err(SkipReason::NoPayload);
        }
        let key = (src, dst, chunk.stream);
        let held = self.pending.touch(key, now_ns);
        if held.fragments.contains_key(&chunk.tsn) {
            return Err(SkipReason::Duplicate);
        }
        held.bytes += chunk.data.len();
        if held.bytes > MAX_HELD_PER_STREAM {
            self.pending.remove(&key);
            return Err(SkipReason::Malformed);
        }
        let fragment = Fragment {
            begin: chunk.begin,
            end: chunk.end,
            data: chunk.data.to_vec(),
        };
        held.fragments.insert(chunk.tsn, fragment);
        let (first, last) = held.span(chunk.tsn).ok_or(SkipReason::Buffered)?;
        let mut message = Vec::new();
        let mut tsn = first;
        while let Some(fragment) = held.fragments.remove(&tsn) {
            held.bytes -= fragment.data.len();
            message.extend_from_slice(&fragment.data);
            if tsn == last {
                break;
            }
            tsn = tsn.wrapping_add(1);
        }
        if held.fragments.is_empty() {
            self.pending.remove(&key);
        }
        Ok(Cow::Owned(message))
    }
}

impl Held {
    /// First and last TSN of the message that `tsn` belongs to, once all its fragments are held.
    /// TSNs wrap around, so neighbours are found by wrapping arithmetic rather than map order.
    fn span(&self, tsn: u32) -> Option<(u32, u32)> {
        let mut first = tsn;
        while !self.fragments.get(&first)?.begin {
            let previous = first.wrapping_sub(1);
            // The end of an earlier message right before a middle fragment: the begin was lost.
            if self.fragments.get(&previous)?.end {
                return None;
            }
            first = previous;
        }
        let mut last = tsn;
        while !self.fragments.get(&last)?.end {
            let next = last.wrapping_add(1);
            if self.fragments.get(&next)?.begin {
                return None;
            }
            last = next;
        }
        Some((first, last))
    }
}
