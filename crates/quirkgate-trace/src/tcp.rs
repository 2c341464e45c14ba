//! TCP: per-direction stream reassembly, because SIP messages are split across and coalesced
//! within segments, and captures contain retransmissions and losses. The in-order bytes then go
//! through [`Stream`], which unwraps WebSocket flows and passes everything else on as it is.

use crate::transport::ports;
use crate::websocket::{Piece, Stream};
use crate::wire::{after, be32, byte};
use crate::{Payload, SkipReason, Stamp};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// Out-of-order bytes one flow may hold while waiting for a hole to be filled.
const MAX_HELD_PER_FLOW: usize = 1 << 20;
/// Caps held bytes over all flows, so a capture of many broken flows stays bounded.
const MAX_HELD_TOTAL: usize = 64 << 20;
/// Caps flow state; the least recently active flow is given up first.
const MAX_FLOWS: usize = 4096;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;

/// A flow is one direction of a connection; each direction is its own byte stream.
pub(crate) type FlowKey = (SocketAddr, SocketAddr);

/// The fields reassembly needs, parsed once per packet.
pub(crate) struct Segment<'a> {
    key: FlowKey,
    seq: u32,
    flags: u8,
    data: &'a [u8],
}

impl<'a> Segment<'a> {
    /// The IP layer knows the addresses; the TCP header adds ports, sequence and flags.
    pub(crate) fn parse(src: IpAddr, dst: IpAddr, d: &'a [u8]) -> Result<Self, SkipReason> {
        let p = ports(d)?;
        let header_len = usize::from(byte(d, 12)? >> 4) * 4;
        if header_len < 20 {
            return Err(SkipReason::Malformed);
        }
        Ok(Segment {
            key: (SocketAddr::new(src, p.src), SocketAddr::new(dst, p.dst)),
            seq: be32(d, 4)?,
            flags: byte(d, 13)?,
            data: after(d, header_len)?,
        })
    }
}

/// Bytes received ahead of the stream position, remembered with the packet that carried them.
struct Held {
    data: Vec<u8>,
    stamp: Stamp,
}

/// Stream offsets are 64-bit and relative to `base`, so sequence wrap-around never reorders data.
struct Flow {
    isn: Option<u32>,
    base: u32,
    delivered: u64,
    gap: bool,
    held: BTreeMap<u64, Held>,
    held_bytes: usize,
    last_frame: u64,
    stream: Stream,
}

/// Flows outlive packets, so their state is kept here between calls.
#[derive(Default)]
pub(crate) struct Reassembler {
    flows: HashMap<FlowKey, Flow>,
    held_total: usize,
}

impl Reassembler {
    /// Delivers whatever became contiguous; reports why nothing was delivered otherwise.
    pub(crate) fn segment(
        &mut self,
        stamp: Stamp,
        seg: Segment<'_>,
        out: &mut VecDeque<Payload>,
    ) -> Result<(), SkipReason> {
        let emitted = out.len();
        let syn = seg.flags & SYN != 0;
        // A SYN occupies one sequence number before the data.
        let data_seq = if syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let isn = syn.then_some(seg.seq);
        if !self.flows.contains_key(&seg.key) && (syn || !seg.data.is_empty()) {
            self.evict_if_full(out);
            self.flows.insert(seg.key, Flow::new(isn, data_seq, stamp));
        }
        let Some(flow) = self.flows.get_mut(&seg.key) else {
            return Err(SkipReason::NoPayload);
        };
        let held_before = flow.held_bytes;
        if syn && flow.isn != isn {
            // A new connection on the same ports: the old one's holes will never be filled.
            flow.flush(seg.key, out);
            *flow = Flow::new(isn, data_seq, stamp);
        }
        flow.last_frame = stamp.frame;
        let added = flow.add(data_seq, seg.data, stamp);
        let consumed = flow.deliver(seg.key, out);
        let held_total = self.held_total - held_before + flow.held_bytes;
        if seg.flags & (FIN | RST) != 0
            || flow.held_bytes > MAX_HELD_PER_FLOW
            || held_total > MAX_HELD_TOTAL
        {
            flow.flush(seg.key, out);
        }
        self.held_total = self.held_total - held_before + flow.held_bytes;
        match added {
            _ if out.len() > emitted => Ok(()),
            Err(reason) => Err(reason),
            Ok(()) => Err(consumed.unwrap_or(SkipReason::Buffered)),
        }
    }

    /// At the end of the capture no hole can be filled any more, so everything held is delivered.
    pub(crate) fn finish(&mut self, out: &mut VecDeque<Payload>) {
        let mut flows: Vec<_> = self.flows.drain().collect();
        // Deterministic output order, whatever the hash map's order.
        flows.sort_by_key(|(key, _)| *key);
        for (key, mut flow) in flows {
            flow.flush(key, out);
        }
        self.held_total = 0;
    }

    /// Keeps flow state bounded by giving up the least recently active flow.
    fn evict_if_full(&mut self, out: &mut VecDeque<Payload>) {
        if self.flows.len() < MAX_FLOWS {
            return;
        }
        let oldest = self
            .flows
            .iter()
            .min_by_key(|(_, f)| f.last_frame)
            .map(|(k, _)| *k);
        if let Some((key, mut flow)) = oldest.and_then(|k| self.flows.remove_entry(&k)) {
            self.held_total -= flow.held_bytes;
            flow.flush(key, out);
        }
    }
}

impl Flow {
    /// Without a SYN the capture joined mid-stream, which the consumer must treat like a gap.
    fn new(isn: Option<u32>, data_seq: u32, stamp: Stamp) -> Self {
        Flow {
            isn,
            base: data_seq,
            delivered: 0,
            gap: isn.is_none(),
            held: BTreeMap::new(),
            held_bytes: 0,
            last_frame: stamp.frame,
            stream: Stream::default(),
        }
    }

    /// Places a segment by sequence number, dropping what was already delivered.
    fn add(&mut self, seq: u32, data: &[u8], stamp: Stamp) -> Result<(), SkipReason> {
        if data.is_empty() {
            return Err(SkipReason::NoPayload);
        }
        // Sequence numbers are stream offsets modulo 2^32, so the truncation is intended.
        let next = self.base.wrapping_add(self.delivered as u32);
        // Signed distance from the stream position; valid within half the sequence space.
        let rel = i64::from(seq.wrapping_sub(next) as i32);
        let stale = usize::try_from(-rel).unwrap_or(0);
        if stale >= data.len() {
            return Err(SkipReason::Duplicate);
        }
        let start = self.delivered + rel.max(0).unsigned_abs();
        let data = &data[stale..];
        if self
            .held
            .get(&start)
            .is_some_and(|h| h.data.len() >= data.len())
        {
            return Err(SkipReason::Duplicate);
        }
        let held = Held {
            data: data.to_vec(),
            stamp,
        };
        self.held_bytes += data.len();
        if let Some(old) = self.held.insert(start, held) {
            self.held_bytes -= old.data.len();
        }
        Ok(())
    }

    /// Hands the bytes that have become contiguous to the stream as one piece; when they yield
    /// no payload, says why.
    fn deliver(&mut self, key: FlowKey, out: &mut VecDeque<Payload>) -> Option<SkipReason> {
        let mut chunk: Option<Held> = None;
        while let Some(entry) = self.held.first_entry() {
            let start = *entry.key();
            if start > self.delivered {
                break;
            }
            let mut held = entry.remove();
            self.held_bytes -= held.data.len();
            // Overlapping segments: keep only what lies past the stream position.
            let overlap = usize::try_from(self.delivered - start).unwrap_or(usize::MAX);
            if overlap >= held.data.len() {
                continue;
            }
            held.data.drain(..overlap);
            self.delivered += held.data.len() as u64;
            match &mut chunk {
                None => chunk = Some(held),
                Some(c) => {
                    c.data.extend_from_slice(&held.data);
                    c.stamp = c.stamp.max(held.stamp);
                }
            }
        }
        let c = chunk?;
        let piece = Piece {
            stamp: c.stamp,
            gap: std::mem::take(&mut self.gap),
            data: c.data,
        };
        self.stream.push(key, piece, out)
    }

    /// Gives up on every hole, delivering each run after one with `gap_before` set; no bytes
    /// will complete what the stream holds undecided.
    fn flush(&mut self, key: FlowKey, out: &mut VecDeque<Payload>) {
        self.deliver(key, out);
        while let Some(&start) = self.held.keys().next() {
            self.delivered = start;
            self.gap = true;
            self.deliver(key, out);
        }
        self.stream.finish(key, out);
    }
}
