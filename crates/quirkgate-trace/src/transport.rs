//! UDP, and the port pair every transport starts with (TCP and SCTP need reassembly and live in
//! `tcp` and `sctp`).

use crate::wire::be16;
use crate::SkipReason;

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
