//! `quirkgate lint`: judges raw SIP messages the way the gateway would.

use bytes::Bytes;
use quirkgate_core::msg::{validate, RejectionKind, SipMessage};

/// The verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintReport {
    /// `Ok` or the reason the message is invalid.
    pub verdict: Result<(), String>,
    /// What a UAS would answer, for messages that parse but must be refused.
    pub status: Option<u16>,
    /// Whether re-serialising the parsed message gives back the message
    /// bytes exactly; `None` when it did not parse.
    pub round_trips: Option<bool>,
}

/// Lints a file's bytes as one message received in a datagram (octets after
/// Content-Length are not part of the message, RFC 3261 §18.3).
pub fn lint(bytes: &[u8]) -> LintReport {
    let input = Bytes::copy_from_slice(bytes);
    match SipMessage::parse_datagram(input) {
        Err(e) => LintReport {
            verdict: Err(e.to_string()),
            status: Some(400),
            round_trips: None,
        },
        Ok(msg) => {
            let round_trips = Some(round_trips(bytes, &msg));
            match validate(&msg) {
                Ok(()) => LintReport {
                    verdict: Ok(()),
                    status: None,
                    round_trips,
                },
                Err(r) => LintReport {
                    verdict: Err(match r.kind {
                        RejectionKind::Syntax => r.error.to_string(),
                        RejectionKind::Semantic => {
                            format!("{} (well-formed, but a UAS answers {})", r.error, r.status)
                        }
                    }),
                    status: Some(r.status),
                    round_trips,
                },
            }
        }
    }
}

/// The parsed message re-emitted equals the bytes it was parsed from, after
/// any leading CRLF keep-alive. Trailing octets may only be left out when a
/// Content-Length said where the message ended.
pub fn round_trips(input: &[u8], msg: &SipMessage) -> bool {
    let out = msg.to_bytes();
    let skip = input
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let input = &input[skip..];
    let declared_end = msg
        .content_length()
        .and_then(Result::ok)
        .is_some_and(|len| len as usize == msg.body().len());
    input == &out[..] || (declared_end && input.starts_with(&out))
}

impl std::fmt::Display for LintReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.verdict {
            Ok(()) => f.write_str("valid")?,
            Err(reason) => write!(f, "invalid: {reason}")?,
        }
        match self.round_trips {
            Some(true) => f.write_str(" (round-trips byte-exactly)"),
            Some(false) => f.write_str(" (does NOT round-trip byte-exactly)"),
            None => Ok(()),
        }
    }
}
