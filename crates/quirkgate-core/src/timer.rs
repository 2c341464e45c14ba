//! A timer table: every armed timer is one ordered entry, so the next
//! deadline is the first entry and re-arming replaces the old entry instead
//! of leaving stale ones behind.

use std::collections::BTreeSet;
use std::hash::Hash;

use foldhash::{HashMap, HashMapExt};

use crate::time::Time;

#[derive(Debug)]
pub struct TimerTable<K: Ord + Hash + Copy> {
    by_time: BTreeSet<(Time, K)>,
    armed: HashMap<K, Time>,
}

impl<K: Ord + Hash + Copy> Default for TimerTable<K> {
    fn default() -> Self {
        TimerTable {
            by_time: BTreeSet::new(),
            armed: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Copy> TimerTable<K> {
    /// Arms `key` to fire at `at`, replacing an earlier arming of it.
    pub fn set(&mut self, key: K, at: Time) {
        if let Some(old) = self.armed.insert(key, at) {
            self.by_time.remove(&(old, key));
        }
        self.by_time.insert((at, key));
    }

    pub fn cancel(&mut self, key: K) {
        if let Some(old) = self.armed.remove(&key) {
            self.by_time.remove(&(old, key));
        }
    }

    pub fn next_deadline(&self) -> Option<Time> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// Removes and returns the earliest timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Time) -> Option<K> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.armed.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.armed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rearming_replaces_and_order_holds() {
        let mut t = TimerTable::default();
        t.set(1u32, Time::from_micros(50));
        t.set(2, Time::from_micros(20));
        t.set(1, Time::from_micros(10));
        assert_eq!(t.len(), 2);
        assert_eq!(t.next_deadline(), Some(Time::from_micros(10)));
        assert_eq!(t.pop_due(Time::from_micros(5)), None);
        assert_eq!(t.pop_due(Time::from_micros(100)), Some(1));
        t.cancel(2);
        assert!(t.is_empty());
        assert_eq!(t.pop_due(Time::from_micros(100)), None);
    }
}
