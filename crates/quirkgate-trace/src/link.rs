//! Link layer: strips what lies below IP (Ethernet, VLAN, PPPoE, MPLS, cooked, loopback).

use crate::wire::{after, be16, byte};
use crate::SkipReason;
use pcap_parser::Linktype;

/// OpenBSD's DLT_RAW, which some writers store verbatim instead of mapping it to 101.
const LINKTYPE_RAW_OPENBSD: Linktype = Linktype(12);

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_MPLS: u16 = 0x8847;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

/// Each capture names its own framing, so the IP packet must be found per link type.
pub(crate) fn decode(linktype: Linktype, frame: &[u8]) -> Result<&[u8], SkipReason> {
    match linktype {
        Linktype::ETHERNET => ethernet(frame),
        Linktype::NULL | Linktype::LOOP => loopback(frame),
        Linktype::RAW | LINKTYPE_RAW_OPENBSD | Linktype::IPV4 | Linktype::IPV6 => Ok(frame),
        Linktype::LINUX_SLL => ethertype(be16(frame, 14)?, after(frame, 16)?),
        Linktype::LINUX_SLL2 => ethertype(be16(frame, 0)?, after(frame, 20)?),
        _ => Err(SkipReason::LinkType),
    }
}

/// Tunnels (GRE bridging, ERSPAN) carry whole Ethernet frames, so this is shared with them.
pub(crate) fn ethernet(frame: &[u8]) -> Result<&[u8], SkipReason> {
    let ty = be16(frame, 12)?;
    if ty < 0x0600 {
        // An 802.3 length field: LLC traffic such as STP, never IP here.
        return Err(SkipReason::NotIp);
    }
    ethertype(ty, after(frame, 14)?)
}

/// GRE reuses EtherType numbers, so VLAN/PPPoE/MPLS unwrapping is shared with it.
pub(crate) fn ethertype(mut ty: u16, mut d: &[u8]) -> Result<&[u8], SkipReason> {
    loop {
        match ty {
            ETH_IPV4 | ETH_IPV6 => return Ok(d),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                ty = be16(d, 2)?;
                d = after(d, 4)?;
            }
            ETH_PPPOE_SESSION => return pppoe(d),
            ETH_MPLS => return mpls(d),
            _ => return Err(SkipReason::NotIp),
        }
    }
}

/// PPPoE session frames wrap PPP, whose own protocol field decides whether IP follows.
fn pppoe(d: &[u8]) -> Result<&[u8], SkipReason> {
    let len = usize::from(be16(d, 4)?);
    let payload = d.get(8..6 + len).ok_or(SkipReason::Malformed)?;
    match be16(d, 6)? {
        PPP_IPV4 | PPP_IPV6 => Ok(payload),
        _ => Err(SkipReason::NotIp),
    }
}

/// MPLS has no next-protocol field, so IP is recognised by its version nibble after the labels.
fn mpls(mut d: &[u8]) -> Result<&[u8], SkipReason> {
    loop {
        let bottom = byte(d, 2)? & 1 == 1;
        d = after(d, 4)?;
        if bottom {
            break;
        }
    }
    match byte(d, 0)? >> 4 {
        4 | 6 => Ok(d),
        _ => Err(SkipReason::NotIp),
    }
}

/// The loopback header holds the writer's host-order AF_ value, whose number differs per OS.
fn loopback(frame: &[u8]) -> Result<&[u8], SkipReason> {
    let af: [u8; 4] = frame
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(SkipReason::Malformed)?;
    // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (Net/OpenBSD), 28 (FreeBSD), 30 (macOS).
    let is_ip = |v: u32| matches!(v, 2 | 10 | 24 | 28 | 30);
    if is_ip(u32::from_le_bytes(af)) || is_ip(u32::from_be_bytes(af)) {
        after(frame, 4)
    } else {
        Err(SkipReason::NotIp)
    }
}
