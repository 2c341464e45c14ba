//! Glues the layers together: link, IP (recursing through tunnels), then the transports.

use crate::container::Frame;
use crate::ip::Defrag;
use crate::sctp;
use crate::tcp::{self, Segment};
use crate::transport::{self, Ports};
use crate::tunnel::{self, GTP_U_PORT};
use crate::{link, Payload, SkipReason, Stamp, Stats, Transport};
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// Tunnels nest, and a hostile capture could nest them until the stack overflows.
const MAX_DEPTH: u8 = 8;

const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
const PROTO_SCTP: u8 = 132;

/// Reassembly state spans packets, and one packet can yield several payloads, hence a queue.
#[derive(Default)]
pub(crate) struct Decoder {
    defrag: Defrag,
    sctp: sctp::Reassembler,
    tcp: tcp::Reassembler,
    queue: VecDeque<Payload>,
    stats: Stats,
}

impl Decoder {
    /// Every packet either yields payloads or is counted under the reason it did not.
    pub(crate) fn frame(&mut self, frame: &Frame<'_>) {
        self.stats.packets += 1;
        let stamp = Stamp {
            frame: frame.number,
            time_ns: frame.time_ns,
        };
        let result = frame
            .linktype
            .ok_or(SkipReason::LinkType)
            .and_then(|linktype| link::decode(linktype, frame.data))
            .and_then(|ip| self.ip(stamp, ip, 0));
        if let Err(reason) = result {
            *self.stats.skipped.entry(reason).or_default() += 1;
        }
    }

    /// No more packets will come, so TCP data held behind holes is released.
    pub(crate) fn finish(&mut self) {
        self.tcp.finish(&mut self.queue);
    }

    /// Payloads are handed out in the order they became available.
    pub(crate) fn pop(&mut self) -> Option<Payload> {
        let payload = self.queue.pop_front()?;
        self.stats.payloads += 1;
        Some(payload)
    }

    /// Exposed through the reader for tooling.
    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Decodes one IP packet; tunnels call back in here with their inner packet.
    fn ip(&mut self, stamp: Stamp, pkt: &[u8], depth: u8) -> Result<(), SkipReason> {
        if depth > MAX_DEPTH {
            return Err(SkipReason::Malformed);
        }
        let datagram = self.defrag.datagram(stamp.time_ns, pkt)?;
        let (src, dst, d) = (datagram.src, datagram.dst, &datagram.payload[..]);
        match datagram.proto {
            PROTO_UDP => {
                let (ports, payload) = transport::udp(d)?;
                if ports.src == GTP_U_PORT || ports.dst == GTP_U_PORT {
                    if let Some(inner) = tunnel::gtpu(payload) {
                        return self.ip(stamp, inner, depth + 1);
                    }
                }
                self.emit(stamp, Transport::Udp, (src, dst, ports), payload)
            }
            PROTO_SCTP => {
                let (ports, chunks) = sctp::parse(d)?;
                let key = (
                    SocketAddr::new(src, ports.src),
                    SocketAddr::new(dst, ports.dst),
                );
                // Any message makes the packet count as yielding; otherwise the first reason
                // more telling than an empty chunk stands.
                let mut result = Err(SkipReason::NoPayload);
                for chunk in chunks {
                    let chunk_result = self
                        .sctp
                        .message(stamp.time_ns, key, chunk)
                        .and_then(|m| self.emit(stamp, Transport::Sctp, (src, dst, ports), &m));
                    if chunk_result.is_ok() || result == Err(SkipReason::NoPayload) {
                        result = chunk_result;
                    }
                }
                result
            }
            PROTO_TCP => self
                .tcp
                .segment(stamp, Segment::parse(src, dst, d)?, &mut self.queue),
            PROTO_IPIP | PROTO_IPV6 => self.ip(stamp, d, depth + 1),
            PROTO_GRE => self.ip(stamp, tunnel::gre(d)?, depth + 1),
            _ => Err(SkipReason::Protocol),
        }
    }

    /// Datagram transports yield each non-empty payload as it is.
    fn emit(
        &mut self,
        stamp: Stamp,
        transport: Transport,
        (src, dst, ports): (IpAddr, IpAddr, Ports),
        data: &[u8],
    ) -> Result<(), SkipReason> {
        if data.is_empty() {
            return Err(SkipReason::NoPayload);
        }
        self.queue.push_back(Payload {
            frame: stamp.frame,
            time_ns: stamp.time_ns,
            transport,
            src: SocketAddr::new(src, ports.src),
            dst: SocketAddr::new(dst, ports.dst),
            data: Bytes::copy_from_slice(data),
            gap_before: false,
        });
        Ok(())
    }
}
