//! Microsoft Network Monitor 2.x captures (magic `GMBU`), which Windows tools wrote and which
//! old sample collections (PROTOS, the Wireshark wiki) still hold.
//!
//! The file is a 128-byte header, the packet records, then a frame table of `u32` record offsets
//! that defines the frames and their order. The table comes last and the input is a stream, so
//! records are walked in file order and the table is checked against that walk when reached.
//! Files whose table reorders records or skips holes (wiretap knows of both) are rejected then.

use crate::container::{io_error, malformed, read_exact, Frame, MAX_BUFFER};
use crate::TraceError;
use pcap_parser::Linktype;
use std::io::{self, BufReader, Read};
use std::ops::RangeInclusive;

/// The header, magic included, is padded to this size; the first record follows it.
const HEADER_LEN: u64 = 128;
/// Converted captures name a pcap LINKTYPE in the low 12 bits of these per-packet media types.
const MEDIA_PCAP_BASE: u16 = 0xe000;
/// Microsoft Message Analyzer's own media types, which sit inside the pcap range but are not pcap.
const MEDIA_ANALYZER: RangeInclusive<u16> = 0xe080..=0xe08a;
/// Payload header, network info and DNS cache records: metadata that Wireshark does not number
/// as frames, so skipping them keeps frame numbers equal to Wireshark's.
const MEDIA_METADATA: RangeInclusive<u16> = 0xfffc..=0xfffe;
/// Seconds from 1601-01-01 (the FILETIME epoch of 2.3's per-packet UTC time) to 1970-01-01.
const FILETIME_UNIX_SECS: i128 = 11_644_473_600;

/// Reads the records one by one; only the current one is kept in memory.
pub(crate) struct NetMon<R> {
    inner: BufReader<R>,
    minor: u8,
    /// Version 2.0 has one media type per file; 2.1 and later name it per record.
    file_linktype: Option<Linktype>,
    start_ns: i128,
    /// Bytes of the file consumed so far, i.e. the offset of the next record.
    pos: u64,
    table_offset: u64,
    table_len: u64,
    trailer_len: u64,
    walked: Offsets,
    frame: Vec<u8>,
}

/// Count and running digest of record offsets, to compare the walk with the frame table in
/// constant memory (the table may list millions of frames).
#[derive(Default, PartialEq)]
struct Offsets {
    count: u64,
    digest: u64,
}

impl Offsets {
    /// FNV-1a over the offsets: a reordered table or a hole changes it (barring a 2^-64 fluke).
    fn add(&mut self, offset: u64) {
        self.count += 1;
        self.digest = (self.digest ^ offset).wrapping_mul(0x0000_0100_0000_01b3);
    }
}

impl<R: Read> NetMon<R> {
    /// Reads the header after the magic, so an unsupported or broken file fails before iteration.
    pub(crate) fn new(inner: R) -> Result<Self, TraceError> {
        let mut reader = NetMon {
            inner: BufReader::new(inner),
            minor: 0,
            file_linktype: None,
            start_ns: 0,
            pos: 4,
            table_offset: 0,
            table_len: 0,
            trailer_len: 0,
            walked: Offsets::default(),
            frame: Vec::new(),
        };
        let mut version = [0u8; 2];
        reader.read(&mut version, 1)?;
        let [minor, major] = version;
        if major != 2 {
            return Err(malformed(
                1,
                format!("NetMon version {major}.{minor} is not supported"),
            ));
        }
        let media = reader.read_u16(1)?;
        let mut system_time = [0u16; 8];
        for field in &mut system_time {
            *field = reader.read_u16(1)?;
        }
        let table_offset = u64::from(reader.read_u32(1)?);
        let table_len = u64::from(reader.read_u32(1)?);
        if table_offset < HEADER_LEN {
            return Err(malformed(1, "frame table overlaps the header"));
        }
        if table_len % 4 != 0 {
            return Err(malformed(1, "frame table length is not a multiple of 4"));
        }
        reader.skip(HEADER_LEN - reader.pos, 1)?;
        reader.minor = minor;
        // The per-record trailer grew with each minor version; its fields come in this order.
        reader.trailer_len = match minor {
            0 => 0,
            1 => 2,
            2 => 6,
            _ => 15,
        };
        reader.file_linktype = linktype(media);
        reader.start_ns = system_time_ns(system_time);
        reader.table_offset = table_offset;
        reader.table_len = table_len;
        Ok(reader)
    }

    /// The next frame in table order; `None` once the frame table is reached and agrees.
    pub(crate) fn next_frame(&mut self, packet: u64) -> Result<Option<Frame<'_>>, TraceError> {
        loop {
            if self.pos == self.table_offset {
                self.check_table(packet)?;
                return Ok(None);
            }
            self.walked.add(self.pos);
            // Timestamp offset, original length, captured length, then the captured bytes.
            let delta_us = self.read_u64(packet)?;
            self.skip(4, packet)?; // the original frame length: only the captured bytes matter
            let captured = u64::from(self.read_u32(packet)?);
            let end = self.pos + captured + self.trailer_len;
            if end > self.table_offset {
                return Err(malformed(packet, "record runs into the frame table"));
            }
            if captured > MAX_BUFFER as u64 {
                return Err(TraceError::TooLarge {
                    packet,
                    limit: MAX_BUFFER,
                });
            }
            self.frame.clear();
            let read = (&mut self.inner)
                .take(captured)
                .read_to_end(&mut self.frame)
                .map_err(|e| io_error(e, packet))?;
            self.pos += read as u64;
            if (read as u64) < captured {
                return Err(TraceError::Truncated { packet });
            }
            // Unsigned µs by the letter, but Microsoft has it scaled to 100 ns units and read as
            // signed, which is how an offset before the start is written; wiretap does the same.
            let mut time_ns = self.start_ns + i128::from(delta_us.wrapping_mul(10) as i64) * 100;
            let mut link = self.file_linktype;
            if self.minor >= 1 {
                let media = self.read_u16(packet)?;
                if MEDIA_METADATA.contains(&media) {
                    self.skip(end - self.pos, packet)?;
                    continue;
                }
                link = linktype(media);
            }
            if self.minor >= 2 {
                self.skip(4, packet)?; // process table index
            }
            if self.minor >= 3 {
                // 2.3 adds the UTC time in 100 ns units since 1601, which wins over the offset.
                let filetime = i128::from(self.read_u64(packet)?);
                time_ns = (filetime - FILETIME_UNIX_SECS * 10_000_000) * 100;
                self.skip(1, packet)?; // time zone index
            }
            return Ok(Some(Frame {
                number: packet,
                time_ns: u64::try_from(time_ns.max(0)).unwrap_or(u64::MAX),
                linktype: link,
                data: &self.frame,
            }));
        }
    }

    /// The table must list exactly the records walked, in the same order.
    fn check_table(&mut self, packet: u64) -> Result<(), TraceError> {
        let mut listed = Offsets::default();
        for _ in 0..self.table_len / 4 {
            listed.add(u64::from(self.read_u32(packet)?));
        }
        if listed != self.walked {
            return Err(malformed(
                packet,
                format!(
                    "frame table lists {} records, not the {} found in file order",
                    listed.count, self.walked.count
                ),
            ));
        }
        Ok(())
    }

    /// Reads keep `pos` current, since record offsets are checked against the frame table.
    fn read(&mut self, buf: &mut [u8], packet: u64) -> Result<(), TraceError> {
        read_exact(&mut self.inner, buf, packet)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Fields the reader has no use for still have to be consumed.
    fn skip(&mut self, len: u64, packet: u64) -> Result<(), TraceError> {
        let skipped = io::copy(&mut (&mut self.inner).take(len), &mut io::sink())
            .map_err(|e| io_error(e, packet))?;
        self.pos += skipped;
        if skipped < len {
            return Err(TraceError::Truncated { packet });
        }
        Ok(())
    }

    /// Little-endian, as everything in the format.
    fn read_u16(&mut self, packet: u64) -> Result<u16, TraceError> {
        let mut b = [0u8; 2];
        self.read(&mut b, packet)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Same as [`Self::read_u16`], for 32-bit fields.
    fn read_u32(&mut self, packet: u64) -> Result<u32, TraceError> {
        let mut b = [0u8; 4];
        self.read(&mut b, packet)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Same as [`Self::read_u16`], for 64-bit fields.
    fn read_u64(&mut self, packet: u64) -> Result<u64, TraceError> {
        let mut b = [0u8; 8];
        self.read(&mut b, packet)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// NetMon numbers media its own way; only those the link layer decodes get a link type.
fn linktype(media: u16) -> Option<Linktype> {
    match media {
        // 0 is what NetMon 3.4 VPN captures write for Ethernet frames.
        0 | 1 => Some(Linktype::ETHERNET),
        // "Tunneling interfaces", "Wireless WAN" and "Raw IP frames" all carry bare IP.
        7..=9 => Some(Linktype::RAW),
        m if MEDIA_ANALYZER.contains(&m) => None,
        m if m & 0xf000 == MEDIA_PCAP_BASE => Some(Linktype(i32::from(m & 0x0fff))),
        _ => None,
    }
}

/// The capture start is a SYSTEMTIME (year, month, weekday, day, hour, minute, second, ms) with
/// no time zone; it is taken as UTC, which is what tshark shows when run in UTC. Out-of-range
/// fields carry over like C's `mktime`, which wiretap uses, rather than failing.
fn system_time_ns([year, month, _, day, hour, min, sec, ms]: [u16; 8]) -> i128 {
    let months = i64::from(year) * 12 + i64::from(month) - 1;
    let days =
        days_from_civil(months.div_euclid(12), months.rem_euclid(12) + 1) + i64::from(day) - 1;
    let secs = i128::from(days) * 86_400
        + i128::from(hour) * 3600
        + i128::from(min) * 60
        + i128::from(sec);
    secs * 1_000_000_000 + i128::from(ms) * 1_000_000
}

/// Days from 1970-01-01 to the first of the month, in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm, with March as the first month so leap days come last).
fn days_from_civil(year: i64, month: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
