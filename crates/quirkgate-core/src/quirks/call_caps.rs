//! `max_calls_in`, `max_calls_out`, `max_calls`: how many calls a trunk or
//! line carries at once. A trunk sold for N channels answers `503` (or
//! worse, drops a call in progress) beyond N; the gateway refuses the extra
//! call itself, on the side it came from, and the peer never sees it.

/// Per-peer caps; `None` is unlimited and `Some(0)` closes a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallCaps {
    pub incoming: Option<u32>,
    pub outgoing: Option<u32>,
    pub total: Option<u32>,
}

/// Which way a call crosses the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The peer calls the office.
    In,
    /// The office calls out through the peer.
    Out,
}

/// The calls a peer carries now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActiveCalls {
    pub incoming: u32,
    pub outgoing: u32,
}

impl ActiveCalls {
    pub fn add(&mut self, direction: Direction) {
        match direction {
            Direction::In => self.incoming += 1,
            Direction::Out => self.outgoing += 1,
        }
    }

    pub fn remove(&mut self, direction: Direction) {
        match direction {
            Direction::In => self.incoming = self.incoming.saturating_sub(1),
            Direction::Out => self.outgoing = self.outgoing.saturating_sub(1),
        }
    }
}

impl CallCaps {
    /// Whether one more call in `direction` stays within every cap.
    pub fn admits(&self, active: ActiveCalls, direction: Direction) -> bool {
        let (count, cap) = match direction {
            Direction::In => (active.incoming, self.incoming),
            Direction::Out => (active.outgoing, self.outgoing),
        };
        let total = active.incoming + active.outgoing;
        cap.is_none_or(|c| count < c) && self.total.is_none_or(|c| total < c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_direction_and_the_total_are_capped() {
        let caps = CallCaps {
            incoming: Some(1),
            outgoing: Some(0),
            total: Some(2),
        };
        let idle = ActiveCalls::default();
        assert!(caps.admits(idle, Direction::In));
        assert!(!caps.admits(idle, Direction::Out), "0 closes a direction");
        let one_in = ActiveCalls {
            incoming: 1,
            outgoing: 0,
        };
        assert!(!caps.admits(one_in, Direction::In));
        let total = CallCaps {
            total: Some(2),
            ..CallCaps::default()
        };
        let two = ActiveCalls {
            incoming: 1,
            outgoing: 1,
        };
        assert!(!total.admits(two, Direction::Out));
        assert!(CallCaps::default().admits(two, Direction::In));
    }
}
