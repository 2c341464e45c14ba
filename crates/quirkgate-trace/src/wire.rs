//! Bounds-checked reads of big-endian header fields.

use crate::SkipReason;

/// Header fields come from the capture, so a short packet must become a skip, never a panic.
pub(crate) fn be16(d: &[u8], at: usize) -> Result<u16, SkipReason> {
    d.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes)
        .ok_or(SkipReason::Malformed)
}

/// Same reason as [`be16`], for 32-bit fields.
pub(crate) fn be32(d: &[u8], at: usize) -> Result<u32, SkipReason> {
    d.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(SkipReason::Malformed)
}

/// Same reason as [`be16`], for 64-bit fields (WebSocket payload lengths).
pub(crate) fn be64(d: &[u8], at: usize) -> Result<u64, SkipReason> {
    d.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(SkipReason::Malformed)
}

/// Single header bytes are read as often as wide fields and need the same guard.
pub(crate) fn byte(d: &[u8], at: usize) -> Result<u8, SkipReason> {
    d.get(at).copied().ok_or(SkipReason::Malformed)
}

/// Header lengths are attacker-controlled, so slicing past them must be checked.
pub(crate) fn after(d: &[u8], at: usize) -> Result<&[u8], SkipReason> {
    d.get(at..).ok_or(SkipReason::Malformed)
}
