//! Datagram transports: UDP and SCTP headers (TCP needs reassembly and lives in `tcp`).

use crate::wire::{after, be16};
use crate::SkipReason;

/// SCTP user data sits in DATA chunks; other chunk types are control and are ignored.
const SCTP_DATA: u8 = 0;

/// UDP, TCP and SCTP all start with the two ports, and the consumer needs nothing else from them.
#[derive(Clone, Copy)]
pub(crate) struct Ports {
    pub src: u16,
    pub dst: u16,
}

/// Shared by every transport because the port pair is at the same place in each.
pub(crate) fn ports(d: &[u8]) -> Result<Ports, SkipReason> {
    Ok(Ports {
        src: be16(d, 0)?,
        dst: be16(d, 2)?,
    })
}

/// The UDP length, not the IP length, bounds the payload (link padding may follow).
pub(crate) fn udp(d: &[u8]) -> Result<(Ports, &[u8]), SkipReason> {
    let len = usize::from(be16(d, 4)?);
    let payload = d.get(8..len).ok_or(SkipReason::Malformed)?;
    Ok((ports(d)?, payload))
}

/// One SCTP packet may bundle several messages, so every DATA chunk's user data is returned.
pub(crate) fn sctp(d: &[u8]) -> Result<(Ports, Vec<&[u8]>), SkipReason> {
    let mut chunks = after(d, 12)?;
    let mut data = Vec::new();
    while let Some(&kind) = chunks.first() {
        let len = usize::from(be16(chunks, 2)?);
        if len < 4 {
            return Err(SkipReason::Malformed);
        }
        let chunk = chunks.get(..len).ok_or(SkipReason::Malformed)?;
        if kind == SCTP_DATA {
            data.push(after(chunk, 16)?);
        }
        // Chunks are padded to 4 bytes; the last one's padding may be missing.
        chunks = chunks.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Ok((ports(d)?, data))
}
