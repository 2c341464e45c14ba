//! Holding area for partial messages (IP datagrams, SCTP user messages) until their last piece
//! arrives, bounded in count and age because a capture may never deliver that piece.

use std::collections::HashMap;
use std::hash::Hash;

/// Each entry remembers when (capture time) it last received a piece.
pub(crate) struct Pending<K, V> {
    entries: HashMap<K, (u64, V)>,
    max: usize,
    timeout_ns: u64,
}

impl<K: Copy + Eq + Hash, V: Default> Pending<K, V> {
    /// At most `max` entries; one idle for longer than `timeout_ns` is given up.
    pub(crate) fn new(max: usize, timeout_ns: u64) -> Self {
        Pending {
            entries: HashMap::new(),
            max,
            timeout_ns,
        }
    }

    /// The state for `key`, created if new, after dropping what is stale and, when full, the
    /// longest idle entry.
    pub(crate) fn touch(&mut self, key: K, now_ns: u64) -> &mut V {
        let timeout_ns = self.timeout_ns;
        self.entries
            .retain(|_, (last_ns, _)| now_ns.saturating_sub(*last_ns) <= timeout_ns);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (last_ns, _))| *last_ns)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        let (last_ns, value) = self.entries.entry(key).or_default();
        *last_ns = now_ns;
        value
    }

    /// Completed or hopeless entries leave the holding area.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(_, value)| value)
    }
}
