//! IPv4 and IPv6: header and extension-header walking, and bounded fragment reassembly.

use crate::pending::Pending;
use crate::wire::{after, be16, be32, byte};
use crate::SkipReason;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// RFC 791/8200 cap a reassembled datagram at 64 KiB; anything larger is hostile.
const MAX_DATAGRAM: usize = 65_535;
/// Bounds memory at about 64 MiB when a capture is full of unmatched fragments.
const MAX_PENDING: usize = 1024;
/// A datagram whose fragments stop arriving for this long (capture time) is given up.
const FRAGMENT_TIMEOUT_NS: u64 = 60_000_000_000;

/// The layers above only need addresses, protocol and the (possibly reassembled) payload.
pub(crate) struct Datagram<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub payload: Cow<'a, [u8]>,
}

/// Fragments of different datagrams interleave, so they are told apart by this key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

/// A fragment still has to be placed before its datagram can be decoded further.
struct Fragment<'a> {
    key: FragKey,
    offset: usize,
    more: bool,
    data: &'a [u8],
}

/// Collects one datagram's fragments in whatever order they arrive.
#[derive(Default)]
struct Partial {
    data: Vec<u8>,
    have: Vec<Range<usize>>,
    total: Option<usize>,
}

/// Keeps reassembly state across packets, since fragments arrive in separate frames.
pub(crate) struct Defrag {
    pending: Pending<FragKey, Partial>,
}

impl Default for Defrag {
    /// The limits are fixed, so an empty reassembler needs no arguments.
    fn default() -> Self {
        Defrag {
            pending: Pending::new(MAX_PENDING, FRAGMENT_TIMEOUT_NS),
        }
    }
}

/// IPv6 extension-header walking ends either at the upper-layer protocol or at a fragment header.
enum Upper<'a> {
    Proto(u8, &'a [u8]),
    Fragment(Fragment<'a>),
}

impl Defrag {
    /// Callers want a whole datagram or nothing; fragments are held as [`SkipReason::Buffered`].
    pub(crate) fn datagram<'a>(
        &mut self,
        now_ns: u64,
        pkt: &'a [u8],
    ) -> Result<Datagram<'a>, SkipReason> {
        match byte(pkt, 0)? >> 4 {
            4 => self.ipv4(now_ns, pkt),
            6 => self.ipv6(now_ns, pkt),
            _ => Err(SkipReason::NotIp),
        }
    }

    /// IPv4 carries fragmentation in the fixed header, so no walking is needed.
    fn ipv4<'a>(&mut self, now_ns: u64, pkt: &'a [u8]) -> Result<Datagram<'a>, SkipReason> {
        let ihl = usize::from(byte(pkt, 0)? & 0x0f) * 4;
        // A zero total length is what TCP segmentation offload leaves in locally sent packets.
        let total = match usize::from(be16(pkt, 2)?) {
            0 => pkt.len(),
            n => n,
        };
        if ihl < 20 || total < ihl || total > pkt.len() {
            return Err(SkipReason::Malformed);
        }
        let src = IpAddr::V4(Ipv4Addr::from(be32(pkt, 12)?));
        let dst = IpAddr::V4(Ipv4Addr::from(be32(pkt, 16)?));
        let proto = byte(pkt, 9)?;
        let payload = &pkt[ihl..total];
        let flags = be16(pkt, 6)?;
        let offset = usize::from(flags & 0x1fff) * 8;
        let more = flags & 0x2000 != 0;
        if !more && offset == 0 {
            return Ok(Datagram {
                src,
                dst,
                proto,
                payload: Cow::Borrowed(payload),
            });
        }
        let id = u32::from(be16(pkt, 4)?);
        let key = FragKey {
            src,
            dst,
            id,
            proto,
        };
        let whole = self.insert(
            now_ns,
            Fragment {
                key,
                offset,
                more,
                data: payload,
            },
        )?;
        Ok(Datagram {
            src,
            dst,
            proto,
            payload: Cow::Owned(whole),
        })
    }

    /// IPv6 may put fragment and other extension headers before the upper layer.
    fn ipv6<'a>(&mut self, now_ns: u64, pkt: &'a [u8]) -> Result<Datagram<'a>, SkipReason> {
        let addr = |at: usize| -> Result<IpAddr, SkipReason> {
            let octets: [u8; 16] = pkt
                .get(at..at + 16)
                .and_then(|b| b.try_into().ok())
                .ok_or(SkipReason::Malformed)?;
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        };
        let (src, dst) = (addr(8)?, addr(24)?);
        // A zero payload length means a jumbogram or offload; trust the captured length then.
        let end = match usize::from(be16(pkt, 4)?) {
            0 => pkt.len(),
            n => 40 + n,
        };
        let body = pkt.get(40..end).ok_or(SkipReason::Malformed)?;
        let frag = match walk(src, dst, byte(pkt, 6)?, body)? {
            Upper::Proto(proto, payload) => {
                let payload = Cow::Borrowed(payload);
                return Ok(Datagram {
                    src,
                    dst,
                    proto,
                    payload,
                });
            }
            Upper::Fragment(frag) => frag,
        };
        let next = frag.key.proto;
        let mut whole = self.insert(now_ns, frag)?;
        // The reassembled part may itself start with more extension headers.
        let (proto, header_len) = match walk(src, dst, next, &whole)? {
            Upper::Proto(proto, payload) => (proto, whole.len() - payload.len()),
            Upper::Fragment(_) => return Err(SkipReason::Malformed),
        };
        whole.drain(..header_len);
        Ok(Datagram {
            src,
            dst,
            proto,
            payload: Cow::Owned(whole),
        })
    }

    /// Fragments are placed at their offset; the datagram is released once the ranges close.
    fn insert(&mut self, now_ns: u64, frag: Fragment<'_>) -> Result<Vec<u8>, SkipReason> {
        let end = frag.offset + frag.data.len();
        if end > MAX_DATAGRAM {
            self.pending.remove(&frag.key);
            return Err(SkipReason::Malformed);
        }
        let partial = self.pending.touch(frag.key, now_ns);
        let inconsistent = match (frag.more, partial.total) {
            (true, Some(t)) => end > t,
            (true, None) => false,
            (false, Some(t)) => end != t,
            (false, None) => partial.data.len() > end,
        };
        if inconsistent {
            // Two different ends for one datagram: its fragments cannot be trusted.
            self.pending.remove(&frag.key);
            return Err(SkipReason::Malformed);
        }
        if !frag.more {
            partial.total = Some(end);
        }
        if partial.data.len() < end {
            partial.data.resize(end, 0);
        }
        partial.data[frag.offset..end].copy_from_slice(frag.data);
        partial.add(frag.offset..end);
        match partial.total {
            Some(t) if partial.have.first() == Some(&(0..t)) => Ok(self
                .pending
                .remove(&frag.key)
                .map(|p| p.data)
                .unwrap_or_default()),
            _ => Err(SkipReason::Buffered),
        }
    }
}

impl Partial {
    /// Overlapping and duplicated fragments are legal, so coverage is kept as merged ranges.
    fn add(&mut self, r: Range<usize>) {
        self.have.push(r);
        self.have.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(self.have.len());
        for r in self.have.drain(..) {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        self.have = merged;
    }
}

/// IPv6 chains optional headers; the upper-layer protocol is only known after walking them.
fn walk(src: IpAddr, dst: IpAddr, mut next: u8, mut d: &[u8]) -> Result<Upper<'_>, SkipReason> {
    loop {
        match next {
            0 | 43 | 51 | 60 => {
                // Hop-by-hop, routing and destination options count 8-octet units beyond the
                // first; the authentication header counts 4-octet units beyond the first two.
                let units = usize::from(byte(d, 1)?);
                let len = if next == 51 {
                    (units + 2) * 4
                } else {
                    (units + 1) * 8
                };
                next = byte(d, 0)?;
                d = after(d, len)?;
            }
            44 => {
                let offset_flags = be16(d, 2)?;
                let key = FragKey {
                    src,
                    dst,
                    id: be32(d, 4)?,
                    proto: byte(d, 0)?,
                };
                let offset = usize::from(offset_flags & 0xfff8);
                let more = offset_flags & 1 != 0;
                let data = after(d, 8)?;
                if offset == 0 && !more {
                    // An atomic fragment (RFC 6946) is a whole datagram.
                    next = key.proto;
                    d = data;
                } else {
                    return Ok(Upper::Fragment(Fragment {
                        key,
                        offset,
                        more,
                        data,
                    }));
                }
            }
            59 => return Err(SkipReason::NoPayload),
            proto => return Ok(Upper::Proto(proto, d)),
        }
    }
}
