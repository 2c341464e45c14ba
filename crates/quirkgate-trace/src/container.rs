//! Capture containers: pcap (either byte order, µs or ns), pcapng and NetMon 2.x (in `netmon`),
//! read in bounded memory.

use crate::netmon::NetMon;
use crate::TraceError;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{
    EnhancedPacketBlock, InterfaceDescriptionBlock, LegacyPcapReader, Linktype, PcapBlockOwned,
    PcapError, PcapNGReader,
};
use std::io::{self, Read};

/// Starting read buffer; it only grows when a single record needs more.
const INITIAL_BUFFER: usize = 64 << 10;
/// Largest record accepted, so a corrupt length cannot make the buffer grow without bound.
pub(crate) const MAX_BUFFER: usize = 16 << 20;
/// Bounds per-section interface state against a file that is nothing but IDBs.
const MAX_INTERFACES: usize = 1 << 16;

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const NETMON_2_MAGIC: [u8; 4] = *b"GMBU";
const PCAP_MAGICS: [[u8; 4]; 5] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // µs, little-endian
    [0xa1, 0xb2, 0xc3, 0xd4], // µs, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // ns, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // ns, big-endian
    [0x34, 0xcd, 0xb2, 0xa1], // Kuznetzov's modified pcap
];

/// The link layer needs the record with its link type and the time it was captured.
pub(crate) struct Frame<'a> {
    pub number: u64,
    pub time_ns: u64,
    /// `None` for media that have no pcap link type (NetMon's Token Ring, FDDI, ATM, 802.11...).
    pub linktype: Option<Linktype>,
    pub data: &'a [u8],
}

/// pcapng timestamps are counted in a per-interface unit from a per-interface offset.
struct Interface {
    linktype: Linktype,
    units_per_sec: u64,
    offset_sec: i64,
}

/// pcap-parser reads pcap and pcapng with one iteration protocol; NetMon has its own reader.
enum Format<R: Read> {
    Pcap(LegacyPcapReader<Prefixed<R>>),
    PcapNg(PcapNGReader<Prefixed<R>>),
    NetMon(NetMon<R>),
}

/// Yields records one by one; only the current record is kept in memory.
pub(crate) struct Container<R: Read> {
    format: Format<R>,
    packets: u64,
    pcap_linktype: Linktype,
    pcap_ns: bool,
    interfaces: Vec<Interface>,
    last_time_ns: u64,
    frame: Vec<u8>,
    buffer: usize,
}

impl<R: Read> Container<R> {
    /// The format is chosen by magic number, so a non-capture fails here rather than later.
    pub(crate) fn new(mut r: R) -> Result<Self, TraceError> {
        let mut magic = [0u8; 4];
        read_exact(&mut r, &mut magic, 1)?;
        if magic == NETMON_2_MAGIC {
            return Ok(Self::with_format(Format::NetMon(NetMon::new(r)?)));
        }
        let input = Prefixed {
            head: magic,
            used: 0,
            inner: r,
        };
        let format = if magic == PCAPNG_MAGIC {
            PcapNGReader::new(INITIAL_BUFFER, input).map(Format::PcapNg)
        } else if PCAP_MAGICS.contains(&magic) {
            LegacyPcapReader::new(INITIAL_BUFFER, input).map(Format::Pcap)
        } else {
            return Err(TraceError::BadMagic { packet: 1, magic });
        };
        Ok(Self::with_format(format.map_err(|e| convert(e, 1))?))
    }

    /// The per-format state starts the same whatever the format.
    fn with_format(format: Format<R>) -> Self {
        Container {
            format,
            packets: 0,
            pcap_linktype: Linktype::ETHERNET,
            pcap_ns: false,
            interfaces: Vec::new(),
            last_time_ns: 0,
            frame: Vec::new(),
            buffer: INITIAL_BUFFER,
        }
    }

    /// The next packet record, skipping metadata blocks; `None` at a clean end of file.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame<'_>>, TraceError> {
        let packet = self.packets + 1;
        let reader: &mut dyn PcapReaderIterator = match &mut self.format {
            Format::Pcap(r) => r,
            Format::PcapNg(r) => r,
            Format::NetMon(netmon) => {
                let frame = netmon.next_frame(packet)?;
                if frame.is_some() {
                    self.packets = packet;
                }
                return Ok(frame);
            }
        };
        let linktype = loop {
            let (len, block) = match reader.next() {
                Ok(next) => next,
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) => {
                    reader.refill().map_err(|e| convert(e, packet))?;
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    self.buffer *= 2;
                    if self.buffer > MAX_BUFFER || !reader.grow(self.buffer) {
                        return Err(TraceError::TooLarge {
                            packet,
                            limit: MAX_BUFFER,
                        });
                    }
                    reader.refill().map_err(|e| convert(e, packet))?;
                    continue;
                }
                Err(e) => return Err(convert(e, packet)),
            };
            let record = match &block {
                PcapBlockOwned::LegacyHeader(h) => {
                    self.pcap_linktype = h.network;
                    self.pcap_ns = h.is_nanosecond_precision();
                    None
                }
                PcapBlockOwned::Legacy(b) => {
                    let frac = u64::from(b.ts_usec) * if self.pcap_ns { 1 } else { 1000 };
                    self.last_time_ns = u64::from(b.ts_sec) * 1_000_000_000 + frac;
                    Some((self.pcap_linktype, b.data))
                }
                PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                    self.interfaces.clear();
                    None
                }
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    if self.interfaces.len() >= MAX_INTERFACES {
                        return Err(malformed(packet, "too many interfaces"));
                    }
                    self.interfaces.push(interface(idb, packet)?);
                    None
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                    let iface = find_interface(&self.interfaces, epb.if_id, packet)?;
                    self.last_time_ns = iface.time_ns(epb);
                    Some((iface.linktype, epb.packet_data()))
                }
                // Simple packets have no timestamp: the last one seen stands in.
                PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                    let iface = find_interface(&self.interfaces, 0, packet)?;
                    Some((iface.linktype, spb.packet_data()))
                }
                PcapBlockOwned::NG(_) => None,
            };
            let linktype = record.map(|(linktype, data)| {
                self.frame.clear();
                self.frame.extend_from_slice(data);
                linktype
            });
            reader.consume(len);
            if let Some(linktype) = linktype {
                break linktype;
            }
        };
        self.packets = packet;
        Ok(Some(Frame {
            number: packet,
            time_ns: self.last_time_ns,
            linktype: Some(linktype),
            data: &self.frame,
        }))
    }
}

/// A packet block must name an interface its section declared.
fn find_interface(
    interfaces: &[Interface],
    id: u32,
    packet: u64,
) -> Result<&Interface, TraceError> {
    usize::try_from(id)
        .ok()
        .and_then(|i| interfaces.get(i))
        .ok_or_else(|| malformed(packet, format!("packet names undeclared interface {id}")))
}

/// Resolution and offset are validated once per interface instead of per packet.
fn interface(idb: &InterfaceDescriptionBlock<'_>, packet: u64) -> Result<Interface, TraceError> {
    let exp = u32::from(idb.if_tsresol & 0x7f);
    let units_per_sec = if idb.if_tsresol & 0x80 == 0 {
        10u64.checked_pow(exp)
    } else {
        2u64.checked_pow(exp)
    };
    let units_per_sec = units_per_sec.ok_or_else(|| {
        malformed(
            packet,
            format!("invalid if_tsresol {:#04x}", idb.if_tsresol),
        )
    })?;
    Ok(Interface {
        linktype: idb.linktype,
        units_per_sec,
        offset_sec: idb.if_tsoffset,
    })
}

impl Interface {
    /// Converts in 128-bit arithmetic so no resolution or offset can overflow.
    fn time_ns(&self, epb: &EnhancedPacketBlock<'_>) -> u64 {
        let ts = (u128::from(epb.ts_high) << 32) | u128::from(epb.ts_low);
        let units = u128::from(self.units_per_sec);
        let ns = ts / units * 1_000_000_000 + ts % units * 1_000_000_000 / units;
        let ns =
            i128::try_from(ns).unwrap_or(i128::MAX) + i128::from(self.offset_sec) * 1_000_000_000;
        u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
    }
}

/// pcap-parser's errors carry borrowed input; ours carry the packet number instead.
fn convert(e: PcapError<&[u8]>, packet: u64) -> TraceError {
    match e {
        PcapError::UnexpectedEof | PcapError::Eof | PcapError::Incomplete(_) => {
            TraceError::Truncated { packet }
        }
        PcapError::ReadError => TraceError::Io {
            packet,
            source: io::Error::other("read failed"),
        },
        PcapError::BufferTooSmall => TraceError::TooLarge {
            packet,
            limit: MAX_BUFFER,
        },
        PcapError::HeaderNotRecognized => malformed(packet, "header not recognised"),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            malformed(packet, format!("record structure ({kind:?})"))
        }
    }
}

/// Fills `buf` completely; running out of input means the file was cut inside a record.
pub(crate) fn read_exact<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    packet: u64,
) -> Result<(), TraceError> {
    r.read_exact(buf).map_err(|e| io_error(e, packet))
}

/// End of input inside a record is a truncated capture; anything else is the reader's failure.
pub(crate) fn io_error(e: io::Error, packet: u64) -> TraceError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => TraceError::Truncated { packet },
        _ => TraceError::Io { packet, source: e },
    }
}

/// Keeps error construction short at the many call sites.
pub(crate) fn malformed(packet: u64, what: impl Into<String>) -> TraceError {
    TraceError::Malformed {
        packet,
        what: what.into(),
    }
}

/// Puts back the magic bytes read for format detection, and fills each read completely,
/// because pcap-parser treats a short read of the file header as a broken file.
struct Prefixed<R> {
    head: [u8; 4],
    used: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let head = &self.head[self.used..];
        let mut n = head.len().min(buf.len());
        buf[..n].copy_from_slice(&head[..n]);
        self.used += n;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(n)
    }
}
