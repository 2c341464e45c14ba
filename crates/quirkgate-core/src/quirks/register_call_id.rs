//! `register_call_id`: when a REGISTER gets a Call-ID of its own.
//!
//! RFC 3261 §10.2.4 keeps one Call-ID for a registration and raises the
//! CSeq. Some registrars track registrations by Call-ID and refuse the
//! next CSeq of a Call-ID they have seen (one answered `400` with
//! `P-Registrar-Error: Invalid CSeq number` to the authenticated retry
//! after its own 401); others lock a Call-ID once a REGISTER on it failed.

/// How a line picks the Call-ID of its next REGISTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegisterCallId {
    /// One Call-ID per registration, CSeq + 1 each time.
    #[default]
    Stable,
    /// A fresh Call-ID (and CSeq 1) for every REGISTER, the authenticated
    /// retry after a 401/407 included.
    PerRequest,
    /// Stable, but a fresh Call-ID after a REGISTER that failed.
    AfterFailure,
}

/// Why a REGISTER is about to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The first one, a refresh, or an unregistration.
    Plain,
    /// The answer to a 401/407 challenge.
    ChallengeAnswer,
    /// A retry after a failed REGISTER.
    AfterFailure,
}

impl RegisterCallId {
    /// Whether this REGISTER starts a new Call-ID (and CSeq space).
    pub fn fresh(self, attempt: Attempt) -> bool {
        match self {
            RegisterCallId::Stable => false,
            RegisterCallId::PerRequest => true,
            RegisterCallId::AfterFailure => attempt == Attempt::AfterFailure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_renews_the_call_id_when_it_says() {
        use Attempt::*;
        let all = [Plain, ChallengeAnswer, AfterFailure];
        assert!(all.iter().all(|&a| !RegisterCallId::Stable.fresh(a)));
        assert!(all.iter().all(|&a| RegisterCallId::PerRequest.fresh(a)));
        let after = RegisterCallId::AfterFailure;
        assert_eq!(
            all.map(|a| after.fresh(a)),
            [false, false, true],
            "only a failure renews it"
        );
    }
}
