//! `options_ping`: OPTIONS requests that tell whether a peer is up. Some
//! providers answer OPTIONS with an odd status while perfectly alive (a
//! `404` for the domain URI, a `405`), which `up` can list as alive.

use std::time::Duration;

/// OPTIONS pings of a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    pub interval: Duration,
    /// Unanswered pings in a row before the peer counts as down.
    pub misses: u32,
    /// Statuses that count as alive; empty means every final response but
    /// 408, 480 and 5xx.
    pub up_statuses: Vec<u16>,
}

impl PingConfig {
    /// Whether a final response to a ping says the peer is up.
    pub fn alive(&self, status: u16) -> bool {
        if self.up_statuses.is_empty() {
            !matches!(status, 408 | 480 | 500..=599)
        } else {
            self.up_statuses.contains(&status)
        }
    }
}
