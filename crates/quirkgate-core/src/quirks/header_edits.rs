//! `strip_headers`, `add_headers`: headers removed from, or added to, the
//! requests the gateway sends to the peer. Some providers refuse INVITEs
//! that carry a vendor header, others want a fixed account header.

use crate::msg::build::MessageWriter;

/// Header edits toward one peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderEdits {
    /// Names (any case) never sent to the peer.
    pub strip: Vec<String>,
    /// `(name, value)` pairs added to every request to the peer.
    pub add: Vec<(String, String)>,
}

impl HeaderEdits {
    pub fn strips(&self, name: &[u8]) -> bool {
        self.strip
            .iter()
            .any(|s| s.as_bytes().eq_ignore_ascii_case(name))
    }

    pub fn add_to(&self, w: &mut MessageWriter) {
        for (name, value) in &self.add {
            w.header(name.as_bytes(), value.as_bytes());
        }
    }
}
