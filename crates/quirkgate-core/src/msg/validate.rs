//! Full validation of a parsed message: the grammar of every header the
//! gateway owns, then the rules a UAS applies before it accepts a request
//! (RFC 3261 §8.2, RFC 4475 §3.3). The framing parse is deliberately lax so
//! that pass-through traffic is never refused for a header nobody reads;
//! this is where a message is judged whole, with the status code to answer.

use super::error::show;
use super::headers::{AuthField, CSeq, NameAddr, Via};
use super::name::HeaderName;
use super::syntax::{is_lws, is_token, parse_decimal, split_list, trim_lws};
use super::uri::Uri;
use super::{ParseError, SipMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The bytes break the SIP grammar.
    Syntax,
    /// Well-formed, but a UAS must refuse it (RFC 4475 §3.3: missing or
    /// repeated mandatory headers, CSeq/method mismatch, unknown version).
    Semantic,
}

/// Why a message is refused and what a UAS answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub kind: RejectionKind,
    pub error: ParseError,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

fn syntax(error: ParseError) -> Rejection {
    Rejection {
        status: 400,
        kind: RejectionKind::Syntax,
        error,
    }
}

fn semantic(status: u16, error: ParseError) -> Rejection {
    Rejection {
        status,
        kind: RejectionKind::Semantic,
        error,
    }
}

/// Validates a message completely; the first problem found is reported.
pub fn validate(msg: &SipMessage) -> Result<(), Rejection> {
    if let Some(uri) = msg.request_uri() {
        let parsed = Uri::parse(uri)
            .map_err(|e| syntax(ParseError::start_line(format!("Request-URI: {e}"))))?;
        if matches!(&parsed, Uri::Sip(u) if u.headers.is_some()) {
            // RFC 4475 `escruri`: headers in a Request-URI would be turned
            // into real headers by a careless element.
            return Err(syntax(ParseError::start_line(
                "Request-URI must not carry URI headers ('?...')",
            )));
        }
    }
    for h in msg.headers() {
        check_header(h.name, h.value)
            .map_err(|reason| syntax(ParseError::header(h.raw_name, reason)))?;
    }
    check_semantics(msg)
}

pub(crate) fn check_header(name: HeaderName, value: &[u8]) -> Result<(), String> {
    let each = |f: &dyn Fn(&[u8]) -> Result<(), String>| split_list(value).try_for_each(f);
    match name {
        HeaderName::Via => each(&|v| Via::parse(v).map(drop)),
        HeaderName::From | HeaderName::To => NameAddr::parse_checked(value).map(drop),
        HeaderName::Contact if trim_lws(value) == b"*" => Ok(()),
        HeaderName::Contact
        | HeaderName::Route
        | HeaderName::RecordRoute
        | HeaderName::PAssertedIdentity => each(&|v| NameAddr::parse_checked(v).map(drop)),
        HeaderName::CSeq => CSeq::parse(value).map(drop),
        HeaderName::CallId => check_call_id(value),
        HeaderName::MaxForwards => parse_decimal(value, 255)
            .map(drop)
            .map_err(|e| e.describe(255)),
        // A bad Expires does not make the message invalid: RFC 3261 §20.19
        // says to treat it as 3600 (RFC 4475 `scalar02`); the typed view
        // reports it to whoever reads it.
        HeaderName::MinSe | HeaderName::SessionExpires => {
            let end = memchr::memchr(b';', value).unwrap_or(value.len());
            delta_seconds(trim_lws(&value[..end]))
        }
        HeaderName::RSeq => parse_decimal(value, (1 << 31) - 1)
            .map(drop)
            .map_err(|e| e.describe((1 << 31) - 1)),
        HeaderName::Require
        | HeaderName::ProxyRequire
        | HeaderName::Supported
        | HeaderName::Unsupported
        | HeaderName::Allow => each(&|v| {
            if is_token(v) {
                Ok(())
            } else {
                Err(format!("'{}' is not a token", show(v)))
            }
        }),
        HeaderName::WwwAuthenticate
        | HeaderName::ProxyAuthenticate
        | HeaderName::Authorization
        | HeaderName::ProxyAuthorization => AuthField::parse_all(value).map(drop),
        HeaderName::Date => check_date(value),
        // Content-Length was checked by the framing; the rest are not the
        // gateway's to judge.
        _ => Ok(()),
    }
}

fn delta_seconds(v: &[u8]) -> Result<(), String> {
    let max = u64::from(u32::MAX);
    parse_decimal(v, max).map(drop).map_err(|e| e.describe(max))
}

/// `callid = word [ "@" word ]`: no whitespace, at most one '@'.
fn check_call_id(v: &[u8]) -> Result<(), String> {
    if v.is_empty() || v.iter().any(|&b| is_lws(b) || b.is_ascii_control()) {
        return Err(format!(
            "'{}' is not a Call-ID (empty or with whitespace)",
            show(v)
        ));
    }
    if v.iter().filter(|&&b| b == b'@').count() > 1 {
        return Err("more than one '@'".into());
    }
    Ok(())
}

/// RFC 3261 §20.17: `Date: Sat, 13 Nov 2010 23:29:00 GMT`, always GMT
/// (RFC 4475 `baddate`).
fn check_date(v: &[u8]) -> Result<(), String> {
    let bad = || format!("'{}' is not an RFC 1123 date in GMT", show(v));
    let s = std::str::from_utf8(v).map_err(|_| bad())?;
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [wkday, day, month, year, time, zone] = parts[..] else {
        return Err(bad());
    };
    let days = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time_ok = time.split(':').count() == 3 && time.split(':').all(|t| digits(t, 2));
    if days.contains(&wkday)
        && digits(day, 2)
        && months.contains(&month)
        && digits(year, 4)
        && time_ok
        && zone == "GMT"
    {
        Ok(())
    } else {
        Err(bad())
    }
}

fn check_semantics(msg: &SipMessage) -> Result<(), Rejection> {
    if !msg.version().eq_ignore_ascii_case(b"SIP/2.0") {
        return Err(semantic(
            505,
            ParseError::start_line(format!("unsupported version '{}'", show(msg.version()))),
        ));
    }
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        if msg.header(name).is_none() {
            return Err(semantic(
                400,
                ParseError::message(format!("missing {} header", name.as_str())),
            ));
        }
    }
    let mut seen: Vec<HeaderName> = Vec::new();
    for h in msg.headers().filter(|h| h.name.is_single_valued()) {
        if seen.contains(&h.name) {
            return Err(semantic(
                400,
                ParseError::message(format!("more than one {} header", h.name.as_str())),
            ));
        }
        seen.push(h.name);
    }
    if let (Some(method), Some(Ok(cseq))) = (msg.method(), msg.cseq()) {
        if cseq.method != method.as_bytes() {
            return Err(semantic(
                400,
                ParseError::header(
                    b"CSeq",
                    format!(
                        "method {} does not match the request method {}",
                        show(cseq.method),
                        method
                    ),
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(check_date(b"Sat, 15 Oct 2005 04:44:56 GMT").is_ok());
        assert!(check_date(b"Fri, 01 Jan 2010 16:00:00 EST").is_err());
        assert!(check_date(b"yesterday").is_err());
    }

    #[test]
    fn call_ids() {
        assert!(check_call_id(b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok());
        assert!(check_call_id(b"a b").is_err());
        assert!(check_call_id(b"a@b@c").is_err());
    }
}
