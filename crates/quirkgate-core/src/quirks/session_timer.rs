//! `session_timer`, `session_expires`, `min_se`, `session_refresher`,
//! `session_refresh_method`: session timers on the provider leg (RFC 4028).
//! Providers that clear calls they think are dead want refreshes; some
//! refuse an INVITE without `Session-Expires` (`421` with `Require: timer`),
//! some take refreshes only as UPDATE, some only as re-INVITE.

use std::time::Duration;

use crate::msg::SipMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimerMode {
    /// No session timer is offered; the provider's own is ignored.
    #[default]
    Off,
    /// `Supported: timer` and a `Session-Expires` the provider may lower;
    /// refreshes as the 2xx says.
    Accept,
    /// As `Accept`, with `Require: timer`; refreshes even when the 2xx
    /// names no interval.
    Require,
}

/// Who refreshes, as asked in our INVITE (the 2xx decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refresher {
    /// The gateway (the UAC of the provider leg).
    #[default]
    Uac,
    /// The provider.
    Uas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshMethod {
    /// UPDATE without a body (RFC 4028 §9 recommends it).
    #[default]
    Update,
    /// re-INVITE with the session's current offer.
    Invite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    pub mode: TimerMode,
    /// The interval asked for, in seconds.
    pub expires: u32,
    /// The smallest interval we accept (never below RFC 4028's 90 s).
    pub min_se: u32,
    pub refresher: Refresher,
    pub method: RefreshMethod,
}

impl Default for SessionTimer {
    fn default() -> Self {
        SessionTimer {
            mode: TimerMode::Off,
            expires: 1800,
            min_se: 90,
            refresher: Refresher::Uac,
            method: RefreshMethod::Update,
        }
    }
}

/// The session timer a 2xx settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub interval: Duration,
    /// The gateway refreshes (otherwise it watches the provider do it).
    pub we_refresh: bool,
}

impl SessionTimer {
    pub fn enabled(&self) -> bool {
        self.mode != TimerMode::Off
    }

    /// The option tag for Supported, if any.
    pub fn supported(&self) -> Option<&'static str> {
        self.enabled().then_some("timer")
    }

    /// The option tag for Require, if any.
    pub fn required(&self) -> Option<&'static str> {
        (self.mode == TimerMode::Require).then_some("timer")
    }

    /// `Session-Expires` and `Min-SE` of our INVITE, at `interval`.
    pub fn invite_headers(&self, interval: u32) -> Option<(String, String)> {
        if !self.enabled() {
            return None;
        }
        let refresher = match self.refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        Some((
            format!("{interval};refresher={refresher}"),
            self.min_se.max(90).to_string(),
        ))
    }

    /// The interval to ask for after a `422` naming `min_se` (RFC 4028
    /// §7.4); `None` when it exceeds what we would ask anyway tenfold,
    /// which would keep a dead call up for hours.
    pub fn after_422(&self, min_se: u32) -> Option<u32> {
        (self.enabled() && min_se <= self.expires.saturating_mul(10)).then_some(min_se)
    }

    /// What the 2xx to our INVITE settled on (RFC 4028 §7.2).
    pub fn negotiate(&self, ok: &SipMessage) -> Option<Negotiated> {
        if !self.enabled() {
            return None;
        }
        match ok.session_expires().and_then(Result::ok) {
            Some(se) => Some(Negotiated {
                interval: Duration::from_secs(u64::from(se.seconds.max(90))),
                // The UAS names the refresher; without one it is us.
                we_refresh: !se
                    .refresher()
                    .is_some_and(|r| r.eq_ignore_ascii_case(b"uas")),
            }),
            None if self.mode == TimerMode::Require => Some(Negotiated {
                interval: Duration::from_secs(u64::from(self.expires.max(90))),
                we_refresh: true,
            }),
            None => None,
        }
    }
}

impl Negotiated {
    /// When the refresher sends its refresh: half the interval (§10).
    pub fn refresh_in(&self) -> Duration {
        self.interval / 2
    }

    /// When a session the provider should have refreshed is declared dead:
    /// the interval less a third of it, at most 32 s (§10).
    pub fn expiry_in(&self) -> Duration {
        self.interval - (self.interval / 3).min(Duration::from_secs(32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn ok(se: &str) -> SipMessage {
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{se}Content-Length: 0\r\n\r\n"
        );
        SipMessage::parse_datagram(Bytes::from(text)).unwrap()
    }

    #[test]
    fn the_2xx_decides_interval_and_refresher() {
        let accept = SessionTimer {
            mode: TimerMode::Accept,
            ..SessionTimer::default()
        };
        let n = accept
            .negotiate(&ok("Session-Expires: 600;refresher=uas\r\n"))
            .unwrap();
        assert_eq!(n.interval, Duration::from_secs(600));
        assert!(!n.we_refresh);
        assert_eq!(n.expiry_in(), Duration::from_secs(568));
        let n = accept.negotiate(&ok("Session-Expires: 120\r\n")).unwrap();
        assert!(n.we_refresh);
        assert_eq!(n.refresh_in(), Duration::from_secs(60));
        assert_eq!(accept.negotiate(&ok("")), None, "accept: no timer then");
        let require = SessionTimer {
            mode: TimerMode::Require,
            ..accept
        };
        assert_eq!(
            require.negotiate(&ok("")).map(|n| n.interval),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            SessionTimer::default().negotiate(&ok("Session-Expires: 90\r\n")),
            None
        );
    }

    #[test]
    fn invite_headers_and_422() {
        let t = SessionTimer {
            mode: TimerMode::Require,
            min_se: 30,
            ..SessionTimer::default()
        };
        assert_eq!(
            t.invite_headers(1800),
            Some(("1800;refresher=uac".to_string(), "90".to_string()))
        );
        assert_eq!(t.after_422(3600), Some(3600));
        assert_eq!(t.after_422(86400), None);
        assert_eq!(SessionTimer::default().invite_headers(1800), None);
    }
}
