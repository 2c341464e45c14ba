//! `register_expires`, `register_retry`, `register_retry_max`: how long a
//! line asks to stay registered and how it retries after a failure.
//! Registrars that drop bindings early want a short interval; a registrar
//! that is flaky at start-up is better retried sooner than the default.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// The registration interval asked for, in seconds.
    pub expires: u32,
    /// The first retry after a failure; each further one waits twice as
    /// long, up to `retry_max`.
    pub retry: Duration,
    pub retry_max: Duration,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            expires: 3600,
            retry: Duration::from_secs(30),
            retry_max: Duration::from_secs(600),
        }
    }
}

impl Registration {
    /// The wait before retrying after `failures` failures in a row.
    pub fn retry_after(&self, failures: u32) -> Duration {
        self.retry
            .saturating_mul(1 << failures.min(16))
            .min(self.retry_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_the_cap() {
        let r = Registration::default();
        let waits: Vec<u64> = (0..7).map(|f| r.retry_after(f).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        let quick = Registration {
            retry: Duration::from_secs(2),
            retry_max: Duration::from_secs(5),
            ..r
        };
        assert_eq!(quick.retry_after(0).as_secs(), 2);
        assert_eq!(quick.retry_after(3).as_secs(), 5);
    }
}
