//! `quirkgate replay`: a capture's messages grouped into registrations and
//! dialogs, drawn as ladders (terminal, HTML, JSON), and re-run through the
//! gateway's core under a quirk profile (`rerun`).
//!
//! Grouping streams: a group is handed out once it has ended (its final
//! response, or its BYE answered) and stayed quiet for retransmissions, so a
//! large capture needs memory only for the dialogs in progress at once.

pub mod command;
pub mod html;
pub mod ladder;
pub mod rerun;

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use quirkgate_core::msg::SipMessage;
use serde::Serialize;

use crate::capture::Message;

/// How long a finished group waits for retransmissions and late ACKs
/// (64·T1, as a transaction does) before it is handed out.
const SETTLE_NS: u64 = 32_000_000_000;
/// A group that never finishes (a lost BYE) is handed out after this long
/// without a message.
const ABANDON_NS: u64 = 3_600_000_000_000;

/// What a group of messages with one Call-ID is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Registration,
    Call,
    /// Out-of-dialog OPTIONS, MESSAGE, SUBSCRIBE, a lone response...
    Other,
}

/// The messages of one Call-ID, in capture order.
#[derive(Debug, Clone)]
pub struct Group {
    pub call_id: String,
    pub kind: Kind,
    /// Request method that opened the group (or of a lone response).
    pub method: String,
    pub messages: Vec<Message>,
    /// Dialogs seen (distinct To tags answering the first request): more
    /// than one when a request forked.
    pub dialogs: usize,
    /// A 2xx answered the INVITE: a later failure is a re-INVITE's.
    answered: bool,
    ended: bool,
    last_ns: u64,
}

impl Group {
    /// Hosts in the order they first appear: the ladder's columns.
    pub fn hosts(&self) -> Vec<SocketAddr> {
        let mut hosts = Vec::new();
        for m in &self.messages {
            for h in [m.src, m.dst] {
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
        }
        hosts
    }

    pub fn duration_ns(&self) -> u64 {
        match (self.messages.first(), self.messages.last()) {
            (Some(a), Some(b)) => b.time_ns.saturating_sub(a.time_ns),
            _ => 0,
        }
    }
}

/// Seconds from `t0` to `t`; negative when a capture's clock went back
/// (merged interfaces, a reassembled message stamped by its last segment).
pub fn seconds_since(t: u64, t0: u64) -> f64 {
    (i128::from(t) - i128::from(t0)) as f64 / 1e9
}

/// Text from a capture made safe for a terminal: control characters (an
/// escape sequence in a header) become `?`.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// How one message is shown on an arrow of a group opened by `opener`: a
/// response names its method only when that is not the opener's.
pub fn label(msg: &SipMessage, opener: &str) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match msg.status() {
        None => text(msg.method().map(|m| m.as_bytes()).unwrap_or(b"?")),
        Some(status) => {
            let reason = text(msg.reason().unwrap_or_default());
            let method = cseq_method(msg);
            if method == opener || method.is_empty() {
                format!("{status} {reason}")
            } else {
                format!("{status} {reason} ({method})")
            }
        }
    }
}

/// A request's method, or the method a response answers.
pub fn method_of(msg: &SipMessage) -> String {
    match msg.method() {
        Some(m) => String::from_utf8_lossy(m.as_bytes()).into_owned(),
        None => cseq_method(msg),
    }
}

pub fn cseq_method(msg: &SipMessage) -> String {
    msg.cseq()
        .and_then(Result::ok)
        .map(|c| String::from_utf8_lossy(c.method).into_owned())
        .unwrap_or_default()
}

/// Whether an arrow deserves the reader's eye: an error response that is
/// not a routine challenge or the answer to a CANCEL.
pub fn is_failure(msg: &SipMessage) -> bool {
    msg.status()
        .is_some_and(|s| s >= 400 && !matches!(s, 401 | 407 | 487))
}

/// Which groups to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub call_id: Option<String>,
    /// An address, or an IP (any port).
    pub host: Option<String>,
    /// Groups with a request of this method.
    pub method: Option<String>,
}

impl Filter {
    pub fn admits(&self, group: &Group) -> bool {
        let call_id = self.call_id.as_ref().is_none_or(|c| *c == group.call_id);
        let host = self.host.as_ref().is_none_or(|h| {
            group
                .hosts()
                .iter()
                .any(|a| a.to_string() == *h || a.ip().to_string() == h.trim_matches(['[', ']']))
        });
        let method = self.method.as_ref().is_none_or(|want| {
            group.messages.iter().any(|m| {
                m.msg
                    .method()
                    .is_some_and(|x| x.as_bytes().eq_ignore_ascii_case(want.as_bytes()))
            })
        });
        call_id && host && method
    }
}

/// Gathers messages into groups and hands each out once it is over.
#[derive(Default)]
pub struct Grouper {
    open: HashMap<Bytes, Group>,
    /// Capture time of the last sweep for finished groups.
    swept_ns: u64,
}

impl Grouper {
    /// Adds a message; returns the groups that are over by its time.
    pub fn push(&mut self, m: Message) -> Vec<Group> {
        let now = m.time_ns;
        let call_id = Bytes::copy_from_slice(m.msg.call_id().unwrap_or_default());
        let group = self.open.entry(call_id.clone()).or_insert_with(|| {
            let method = method_of(&m.msg);
            Group {
                call_id: String::from_utf8_lossy(&call_id).into_owned(),
                kind: match method.as_str() {
                    "REGISTER" => Kind::Registration,
                    "INVITE" => Kind::Call,
                    _ => Kind::Other,
                },
                method,
                messages: Vec::new(),
                dialogs: 0,
                answered: false,
                ended: false,
                last_ns: now,
            }
        });
        let status = m.msg.status();
        let method = cseq_method(&m.msg);
        if let (Some(s), true) = (status, method == group.method) {
            if (101..300).contains(&s) {
                let tag = m
                    .msg
                    .to_header()
                    .and_then(Result::ok)
                    .and_then(|t| t.tag().map(<[u8]>::to_vec));
                let first_of_tag = tag.is_some_and(|tag| {
                    !group.messages.iter().any(|x| {
                        x.msg.status().is_some_and(|s| (101..300).contains(&s))
                            && x.msg.to_header().and_then(Result::ok).and_then(|t| t.tag())
                                == Some(tag.as_slice())
                    })
                });
                group.dialogs += usize::from(first_of_tag);
            }
        }
        let challenge = matches!(status, Some(401 | 407));
        group.answered |= status.is_some_and(|s| (200..300).contains(&s)) && method == "INVITE";
        group.ended = match (status, group.kind) {
            // A call is over when its BYE is answered, or when its INVITE
            // failed before any answer (not a challenge, not a failed
            // re-INVITE).
            (Some(s), Kind::Call) if s >= 200 && method == "BYE" => true,
            (Some(s), Kind::Call) if s >= 300 && method == "INVITE" && !challenge => {
                !group.answered || group.ended
            }
            (Some(s), Kind::Other | Kind::Registration) if s >= 200 && !challenge => true,
            // A new request (but the ACK that closes a failure) reopens it.
            (None, _) if method != "ACK" => false,
            _ => group.ended,
        };
        group.last_ns = now;
        group.messages.push(m);
        // A clock that went back sweeps at once rather than never.
        if now >= self.swept_ns && now - self.swept_ns < 1_000_000_000 {
            return Vec::new();
        }
        self.swept_ns = now;
        let over: Vec<Bytes> = self
            .open
            .iter()
            .filter(|(_, g)| {
                let quiet = now.saturating_sub(g.last_ns);
                quiet >= ABANDON_NS || (g.ended && quiet >= SETTLE_NS)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Group> = over.iter().filter_map(|k| self.open.remove(k)).collect();
        out.sort_by_key(|g| g.messages[0].number);
        out
    }

    /// Every group still open, oldest first.
    pub fn finish(self) -> Vec<Group> {
        let mut out: Vec<Group> = self.open.into_values().collect();
        out.sort_by_key(|g| g.messages[0].number);
        out
    }
}

/// A group for tools: its messages in full, with where and when.
pub fn json(group: &Group) -> serde_json::Value {
    let hosts: Vec<String> = group.hosts().iter().map(ToString::to_string).collect();
    let messages: Vec<serde_json::Value> = group
        .messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "number": m.number,
                "packet": m.packet,
                "time": m.time_ns as f64 / 1e9,
                "transport": format!("{:?}", m.transport).to_lowercase(),
                "src": m.src.to_string(),
                "dst": m.dst.to_string(),
                "label": label(&m.msg, &group.method),
                "failure": is_failure(&m.msg),
                "after_gap": m.after_gap,
                "text": String::from_utf8_lossy(&m.msg.to_bytes()),
            })
        })
        .collect();
    serde_json::json!({
        "kind": group.kind,
        "method": group.method,
        "call_id": group.call_id,
        "dialogs": group.dialogs,
        "hosts": hosts,
        "messages": messages,
    })
}
