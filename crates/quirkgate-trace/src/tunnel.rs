//! Tunnels that hide mirrored or subscriber SIP: GRE, ERSPAN and GTP-U.

use crate::link;
use crate::wire::{after, be16, byte};
use crate::SkipReason;

const GRE_CHECKSUM: u16 = 0x8000;
const GRE_ROUTING: u16 = 0x4000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQUENCE: u16 = 0x1000;
const GRE_TRANSPARENT_ETHERNET: u16 = 0x6558;
const GRE_ERSPAN_1_2: u16 = 0x88be;
const GRE_ERSPAN_3: u16 = 0x22eb;
/// GTP-U has no magic number, so it is recognised by its registered port.
pub(crate) const GTP_U_PORT: u16 = 2152;
const GTP_G_PDU: u8 = 255;

/// Port mirroring and overlays wrap traffic in GRE; returns the inner IP packet.
pub(crate) fn gre(d: &[u8]) -> Result<&[u8], SkipReason> {
    let flags = be16(d, 0)?;
    if flags & 0x0007 != 0 || flags & GRE_ROUTING != 0 {
        // Version 1 is PPTP's enhanced GRE (PPP inside); source routing is obsolete.
        return Err(SkipReason::Protocol);
    }
    let optional = [GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    let inner = after(d, 4 + 4 * optional)?;
    match be16(d, 2)? {
        GRE_TRANSPARENT_ETHERNET => link::ethernet(inner),
        // Type I has no ERSPAN header and no GRE sequence number; type II has both.
        GRE_ERSPAN_1_2 if flags & GRE_SEQUENCE == 0 => link::ethernet(inner),
        GRE_ERSPAN_1_2 => link::ethernet(after(inner, 8)?),
        GRE_ERSPAN_3 => erspan3(inner),
        proto => link::ethertype(proto, inner),
    }
}

/// ERSPAN type III has an optional subheader and may mirror bare IP instead of Ethernet.
fn erspan3(d: &[u8]) -> Result<&[u8], SkipReason> {
    let has_subheader = byte(d, 11)? & 0x01 != 0;
    let frame = after(d, if has_subheader { 20 } else { 12 })?;
    match (byte(d, 10)? >> 2) & 0x1f {
        0 => link::ethernet(frame),
        2 => Ok(frame),
        _ => Err(SkipReason::Protocol),
    }
}

/// Mobile captures carry subscriber traffic in GTP-U; `None` when the datagram is not a G-PDU,
/// so the caller can hand it on as ordinary UDP.
pub(crate) fn gtpu(d: &[u8]) -> Option<&[u8]> {
    let flags = byte(d, 0).ok()?;
    // Version 1 with protocol type GTP (not GTP').
    if flags & 0xf0 != 0x30 || byte(d, 1).ok()? != GTP_G_PDU {
        return None;
    }
    let end = 8 + usize::from(be16(d, 2).ok()?);
    let mut at = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number and next-extension type come as one 4-byte block.
        let mut next_ext = byte(d, 11).ok()?;
        at = 12;
        while next_ext != 0 {
            let len = usize::from(byte(d, at).ok()?) * 4;
            if len == 0 {
                return None;
            }
            at += len;
            next_ext = byte(d, at - 1).ok()?;
        }
    }
    d.get(at..end)
}
