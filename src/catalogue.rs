//! The quirk catalogue (`quirks/*.toml`): known provider quirks, each with
//! the symptom signature that reveals it in a capture and the profile keys
//! that fix it. Entries are data; this module reads them and matches
//! signatures against the messages of a capture.

use std::collections::HashMap;

use quirkgate_core::msg::SipMessage;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::quirks::QuirkSettings;

/// The catalogue shipped with quirkgate.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "register-call-id",
        include_str!("../quirks/register-call-id.toml"),
    ),
    ("prack-405", include_str!("../quirks/prack-405.toml")),
    (
        "user-phone-required",
        include_str!("../quirks/user-phone-required.toml"),
    ),
    ("tel-uri-only", include_str!("../quirks/tel-uri-only.toml")),
    (
        "channel-limit",
        include_str!("../quirks/channel-limit.toml"),
    ),
    (
        "never-answers",
        include_str!("../quirks/never-answers.toml"),
    ),
    (
        "number-format-e164",
        include_str!("../quirks/number-format-e164.toml"),
    ),
    (
        "session-timer-421",
        include_str!("../quirks/session-timer-421.toml"),
    ),
    ("contact-user", include_str!("../quirks/contact-user.toml")),
    ("from-domain", include_str!("../quirks/from-domain.toml")),
    ("from-user", include_str!("../quirks/from-user.toml")),
    ("pai", include_str!("../quirks/pai.toml")),
    ("header-edits", include_str!("../quirks/header-edits.toml")),
    (
        "register-retry",
        include_str!("../quirks/register-retry.toml"),
    ),
];

/// One catalogue entry.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub title: String,
    /// What goes wrong, in the provider's words on the wire.
    pub symptom: String,
    /// The profile keys that fix it.
    pub fix: QuirkSettings,
    /// A built-in profile that applies the fix.
    pub profile: Option<String>,
    /// Where the quirk was met: a capture, a thread, a date.
    pub source: String,
    /// The captures of the failure and of the fix.
    pub captures: Captures,
    /// Messages that, found in this order, reveal the quirk.
    pub signature: Vec<Step>,
    /// Where the steps must be found: within one Call-ID (default), or
    /// anywhere in the capture.
    #[serde(default)]
    pub scope: Scope,
    /// The fix works around the symptom instead of removing it (a faster
    /// retry after the same refusal): the signature still shows with it.
    #[serde(default)]
    pub symptom_remains: bool,
    /// The provider's stubborn behaviour as data, for `replay
    /// --provider-model`: the first rule that applies answers a request.
    #[serde(default)]
    pub model: Vec<Rule>,
}

/// One stubborn answer of a provider model. A provisional status means the
/// provider says that and nothing more (it rings forever).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The method it answers.
    pub request: String,
    #[serde(default)]
    pub when: Condition,
    pub status: u16,
    pub reason: String,
    /// Header lines (`Name: value`) the answer carries.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Answering a request within a call, the provider then ends the call's
    /// INVITE with this instead of answering it.
    pub invite_fails_with: Option<Answer>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub status: u16,
    pub reason: String,
}

/// When a rule applies; every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// An earlier request of this method had the same Call-ID.
    pub call_id_reused: Option<bool>,
    pub request_uri_has: Option<String>,
    pub request_uri_lacks: Option<String>,
    /// The request carries this header, or lacks it.
    pub header_present: Option<String>,
    pub header_absent: Option<String>,
    /// At least this many calls through the provider are up.
    pub calls_up_at_least: Option<usize>,
}

/// What a model knows of the requests before the one it answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    pub call_id_reused: bool,
    pub calls_up: usize,
}

impl Rule {
    pub fn applies(&self, msg: &SipMessage, seen: Seen) -> bool {
        let method = msg.method().map(|m| m.as_bytes()).unwrap_or_default();
        let w = &self.when;
        let uri =
            String::from_utf8_lossy(msg.request_uri().unwrap_or_default()).to_ascii_lowercase();
        let has_header = |want: &str| {
            msg.headers()
                .any(|h| h.full_name().eq_ignore_ascii_case(want.as_bytes()))
        };
        method.eq_ignore_ascii_case(self.request.as_bytes())
            && w.call_id_reused.is_none_or(|r| r == seen.call_id_reused)
            && w.request_uri_has
                .as_ref()
                .is_none_or(|t| uri.contains(&t.to_ascii_lowercase()))
            && w.request_uri_lacks
                .as_ref()
                .is_none_or(|t| !uri.contains(&t.to_ascii_lowercase()))
            && w.header_present.as_deref().is_none_or(has_header)
            && w.header_absent.as_deref().is_none_or(|h| !has_header(h))
            && w.calls_up_at_least.is_none_or(|n| seen.calls_up >= n)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Captures {
    pub without: String,
    pub with: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    #[default]
    CallId,
    Capture,
}

/// One message of a signature: a request (`request`), or a response to
/// `method` with one of `status`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub request: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub status: Vec<u16>,
    /// A header the message carries, with `contains` in its value.
    pub header: Option<String>,
    pub contains: Option<String>,
    /// Text the Request-URI of the request (or of the request a response
    /// answers) has, or lacks.
    pub request_uri_has: Option<String>,
    pub request_uri_lacks: Option<String>,
    /// At least this many other calls were answered and not yet ended.
    pub calls_up_at_least: Option<usize>,
    /// At least this long after the previous step, in seconds.
    pub seconds_after_previous: Option<f64>,
}

/// A message of a capture, with its time in seconds.
pub struct Captured {
    pub time: f64,
    pub msg: SipMessage,
}

pub fn load(name: &str, text: &str) -> Result<Entry, String> {
    toml::from_str(text).map_err(|e| format!("quirks/{name}.toml: {}", e.message()))
}

/// A transaction of a capture: its Call-ID and CSeq.
type TransactionKey = (Vec<u8>, (u32, Vec<u8>));

fn call_id(msg: &SipMessage) -> Vec<u8> {
    msg.call_id().unwrap_or_default().to_vec()
}

fn cseq(msg: &SipMessage) -> Option<(u32, Vec<u8>)> {
    msg.cseq()?.ok().map(|c| (c.seq, c.method.to_vec()))
}

impl Entry {
    /// Whether the capture shows this quirk's signature.
    pub fn matches(&self, capture: &[Captured]) -> bool {
        self.find(capture).is_some()
    }

    /// The messages (indexes into `capture`) that show this quirk's
    /// signature, one per step: the first match in capture order.
    pub fn find(&self, capture: &[Captured]) -> Option<Vec<usize>> {
        // The Request-URI of every request, to judge the responses.
        let mut uris: HashMap<TransactionKey, Vec<u8>> = HashMap::new();
        // Calls up at each message, counted over the whole capture.
        let mut up_at = Vec::with_capacity(capture.len());
        let mut up: HashMap<Vec<u8>, bool> = HashMap::new();
        for c in capture {
            let m = &c.msg;
            if let (Some(uri), Some(cs)) = (m.request_uri(), cseq(m)) {
                uris.entry((call_id(m), cs)).or_insert_with(|| uri.to_vec());
            }
            up_at.push(up.values().filter(|u| **u).count());
            match (m.status(), cseq(m)) {
                (Some(200..=299), Some((_, method))) if method == b"INVITE" => {
                    up.insert(call_id(m), true);
                }
                (None, Some((_, method))) if method == b"BYE" => {
                    up.insert(call_id(m), false);
                }
                _ => {}
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        match self.scope {
            Scope::Capture => groups.push((0..capture.len()).collect()),
            Scope::CallId => {
                let mut by_id: HashMap<Vec<u8>, usize> = HashMap::new();
                for (i, c) in capture.iter().enumerate() {
                    let g = *by_id.entry(call_id(&c.msg)).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(i);
                }
            }
        }
        groups.iter().find_map(|group| {
            let mut steps = self.signature.iter();
            let mut step = steps.next();
            let mut previous: Option<f64> = None;
            let mut found = Vec::with_capacity(self.signature.len());
            for &i in group {
                let Some(s) = step else { break };
                let c = &capture[i];
                let uri = cseq(&c.msg).and_then(|cs| uris.get(&(call_id(&c.msg), cs)));
                if s.matches(c, uri.map(Vec::as_slice), up_at[i], previous) {
                    previous = Some(c.time);
                    found.push(i);
                    step = steps.next();
                }
            }
            step.is_none().then_some(found)
        })
    }
}

impl Step {
    /// The lines of a matched message that show this step: its start line,
    /// and the header it looks for.
    pub fn evidence(&self, msg: &SipMessage) -> Vec<String> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
        let mut lines = vec![text(msg.start_line())];
        if let Some(want) = &self.header {
            lines.extend(
                msg.headers()
                    .filter(|h| h.full_name().eq_ignore_ascii_case(want.as_bytes()))
                    .map(|h| format!("{}: {}", text(h.raw_name), text(h.value))),
            );
        }
        lines
    }

    fn matches(&self, c: &Captured, uri: Option<&[u8]>, up: usize, previous: Option<f64>) -> bool {
        let m = &c.msg;
        let method = cseq(m).map(|(_, method)| method).unwrap_or_default();
        let kind = match (&self.request, &self.method) {
            (Some(r), _) => m.is_request() && method.eq_ignore_ascii_case(r.as_bytes()),
            (None, Some(want)) => {
                !m.is_request()
                    && method.eq_ignore_ascii_case(want.as_bytes())
                    && m.status()
                        .is_some_and(|s| self.status.is_empty() || self.status.contains(&s))
            }
            (None, None) => false,
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_ascii_lowercase();
        let header = self.header.as_ref().is_none_or(|h| {
            m.headers().any(|x| {
                x.full_name().eq_ignore_ascii_case(h.as_bytes())
                    && self
                        .contains
                        .as_ref()
                        .is_none_or(|want| text(x.value).contains(&want.to_ascii_lowercase()))
            })
        });
        let uri_text = uri.map(text).unwrap_or_default();
        let has = self
            .request_uri_has
            .as_ref()
            .is_none_or(|h| uri_text.contains(&h.to_ascii_lowercase()));
        let lacks = self
            .request_uri_lacks
            .as_ref()
            .is_none_or(|h| uri.is_some() && !uri_text.contains(&h.to_ascii_lowercase()));
        let calls = self.calls_up_at_least.is_none_or(|n| up >= n);
        let later = match (self.seconds_after_previous, previous) {
            (Some(wait), Some(p)) => c.time - p >= wait,
            _ => true,
        };
        kind && header && has && lacks && calls && later
    }
}
