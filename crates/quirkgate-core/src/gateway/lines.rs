//! Lines: accounts at providers that the gateway registers (RFC 3261
//! §10.2) with digest authentication, refreshes before they expire, retries
//! with back-off when they fail, and unregisters on shutdown. Each line's
//! state and the provider's last word are kept for the admin API.

use foldhash::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::routing::{Callee, Destination, ProviderLeg};
use super::{Gateway, GwTimer};
use crate::auth::{authorization, Algorithm};
use crate::dialplan::Transition;
use crate::msg::build::MessageWriter;
use crate::msg::{HeaderName, SipMessage};
use crate::quirks::register_call_id::Attempt;
use crate::quirks::Quirks;
use crate::time::Time;
use crate::transport::{Flow, Transport};
use crate::txn::TxId;

/// A line as configured, its registrar already resolved by the shell.
#[derive(Debug, Clone)]
pub struct LineConfig {
    pub name: String,
    pub transport: Transport,
    pub registrar: std::net::SocketAddr,
    /// Further targets DNS gave (RFC 3263), tried in turn when the
    /// registrar times out or answers 503.
    pub fallbacks: Vec<(Transport, std::net::SocketAddr)>,
    /// The registrar's domain as written: the Request-URI and AOR host.
    pub domain: String,
    pub username: String,
    pub password: String,
    /// The number (DID) the provider delivers to this line.
    pub number: Option<String>,
    /// The last transition of the called number before a call leaves on
    /// this line ("refine called number").
    pub refine: Option<Transition>,
    pub quirks: Arc<Quirks>,
}

/// The identity we present at a provider, and how we prove it.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    Idle,
    Registering,
    Registered,
    Failed,
}

impl LineState {
    pub fn as_str(self) -> &'static str {
        match self {
            LineState::Idle => "idle",
            LineState::Registering => "registering",
            LineState::Registered => "registered",
            LineState::Failed => "failed",
        }
    }
}

/// What the admin API shows of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineStatus {
    pub name: String,
    pub state: LineState,
    pub last_status: Option<u16>,
    pub last_reason: Option<String>,
    /// The provider's own explanation: `P-Registrar-Error` or `Warning`.
    pub registrar_error: Option<String>,
}

/// A refresh is never later than this before the registration expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(10);

pub(super) struct Line {
    config: LineConfig,
    flow: Flow,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    /// The last REGISTER failed: the next one is a retry.
    retrying: bool,
    /// The REGISTER being challenged already carried our credentials: a
    /// new challenge that is not `stale` means they were refused.
    answered: bool,
    failures: u32,
    /// A 403 stops retrying until the configuration changes.
    forbidden: bool,
    /// Which of the registrar's targets is in use (0 is the first).
    target: usize,
    /// Targets tried since the last success, to know when all failed.
    targets_tried: usize,
    unregistering: bool,
    status: LineStatus,
}

impl Line {
    fn contact_user(&self) -> &str {
        self.config
            .quirks
            .contact_user
            .as_deref()
            .unwrap_or(&self.config.username)
    }
}

#[derive(Default)]
pub(super) struct Lines {
    lines: Vec<Line>,
    pending: HashMap<TxId, usize>,
    /// Bumped whenever a line's status may have changed, so the shell
    /// copies the statuses only then.
    generation: u64,
}

impl Lines {
    pub fn statuses(&self) -> Vec<LineStatus> {
        self.lines.iter().map(|l| l.status.clone()).collect()
    }
}

impl Gateway {
    pub(super) fn add_lines(&mut self, configs: Vec<LineConfig>) {
        for config in configs {
            let Some(flow) = self.flow_to(config.transport, config.registrar) else {
                tracing::warn!(line = %config.name, "no listener for the line's transport: not registering");
                continue;
            };
            self.lines.lines.push(Line {
                call_id: self.ids.call_id(),
                from_tag: self.ids.tag(),
                cseq: 0,
                expires: config.quirks.registration.expires,
                retrying: false,
                answered: false,
                failures: 0,
                forbidden: false,
                target: 0,
                targets_tried: 0,
                unregistering: false,
                status: LineStatus {
                    name: config.name.clone(),
                    state: LineState::Idle,
                    last_status: None,
                    last_reason: None,
                    registrar_error: None,
                },
                flow,
                config,
            });
        }
    }

    /// Registers every line and starts the peers' pings (called once the
    /// shell is up).
    pub fn start(&mut self, now: Time) {
        for i in 0..self.lines.lines.len() {
            self.send_register(now, i, None, Attempt::Plain);
        }
        self.start_pings(now);
    }

    /// Unregisters every registered line (RFC 3261 §10.2.2).
    pub fn shutdown(&mut self, now: Time) {
        for i in 0..self.lines.lines.len() {
            let line = &mut self.lines.lines[i];
            if line.status.state == LineState::Registered {
                line.unregistering = true;
                self.timers.cancel(GwTimer::Line(i));
                self.send_register(now, i, None, Attempt::Plain);
            }
        }
    }

    pub fn lines(&self) -> Vec<LineStatus> {
        self.lines.statuses()
    }

    /// Changes whenever [`Gateway::lines`] may return something new.
    pub fn lines_generation(&self) -> u64 {
        self.lines.generation
    }

    /// Where a call to `number` over line `i` goes, and as whom.
    pub(super) fn line_destination(&self, i: usize, number: &str) -> Option<Destination> {
        let line = self.lines.lines.get(i)?;
        let c = &line.config;
        let number = match &c.refine {
            Some(t) => t.apply(number),
            None => number.to_string(),
        };
        Some(Destination {
            flow: line.flow,
            alternates: Vec::new(),
            callee: Callee::Provider(ProviderLeg {
                quirks: c.quirks.clone(),
                account: Some(Account {
                    username: c.username.clone(),
                    password: c.password.clone(),
                }),
                domain: c.domain.clone(),
                number,
            }),
        })
    }

    pub(super) fn line_index(&self, name: &str) -> Option<usize> {
        self.lines.lines.iter().position(|l| l.config.name == name)
    }

    pub(super) fn line_config(&self, i: usize) -> Option<&LineConfig> {
        self.lines.lines.get(i).map(|l| &l.config)
    }

    pub(super) fn line_quirks(&self, i: usize) -> Option<&Arc<Quirks>> {
        self.line_config(i).map(|c| &c.quirks)
    }

    pub(super) fn line_flow_and_domain(&self, i: usize) -> Option<(Flow, String)> {
        let line = self.lines.lines.get(i)?;
        Some((line.flow, line.config.domain.clone()))
    }

    /// The line whose provider sent a request from `source`.
    pub(super) fn line_from(&self, source: std::net::SocketAddr) -> Option<usize> {
        self.lines
            .lines
            .iter()
            .position(|l| l.flow.remote == source)
    }

    /// Whether an unregistration is still waiting for its answer.
    pub fn unregistering(&self) -> bool {
        self.lines
            .lines
            .iter()
            .any(|l| l.unregistering && l.status.state == LineState::Registered)
    }

    fn send_register(
        &mut self,
        now: Time,
        i: usize,
        authorization: Option<(HeaderName, String)>,
        attempt: Attempt,
    ) {
        self.lines.generation += 1;
        let Some(line) = self.lines.lines.get_mut(i) else {
            return;
        };
        if line.cseq > 0 && line.config.quirks.register_call_id.fresh(attempt) {
            line.call_id = self.ids.call_id();
            line.from_tag = self.ids.tag();
            line.cseq = 0;
        }
        line.retrying = false;
        line.cseq += 1;
        let c = &line.config;
        let aor = format!("<sip:{}@{}>", c.username, c.domain);
        let uri = format!("sip:{}", c.domain);
        let transport = match c.transport {
            Transport::Udp => String::new(),
            t => format!(";transport={t}"),
        };
        let mut w = MessageWriter::request(b"REGISTER", uri.as_bytes());
        let branch = self.ids.branch();
        w.known(HeaderName::Via, line.flow.via(&branch).as_bytes());
        w.known(HeaderName::MaxForwards, b"70");
        w.known(
            HeaderName::From,
            format!("{aor};tag={}", line.from_tag).as_bytes(),
        );
        w.known(HeaderName::To, aor.as_bytes());
        w.known(HeaderName::CallId, line.call_id.as_bytes());
        w.known(
            HeaderName::CSeq,
            format!("{} REGISTER", line.cseq).as_bytes(),
        );
        w.known(
            HeaderName::Contact,
            format!(
                "<sip:{}@{}{transport}>",
                line.contact_user(),
                line.flow.local
            )
            .as_bytes(),
        );
        let expires = if line.unregistering { 0 } else { line.expires };
        w.known(HeaderName::Expires, expires.to_string().as_bytes());
        if let Some((name, value)) = &authorization {
            w.known(*name, value.as_bytes());
        }
        w.header(
            b"User-Agent",
            concat!("quirkgate/", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
        c.quirks.headers.add_to(&mut w);
        let Ok(request) = SipMessage::parse_datagram(w.finish(b"")) else {
            return;
        };
        if line.status.state != LineState::Registered {
            line.status.state = LineState::Registering;
        }
        let flow = line.flow;
        let tx = self.txn.send_request(now, request, flow);
        self.lines.pending.insert(tx, i);
    }

    /// Handles a response to a line's REGISTER; false if it was not one.
    pub(super) fn on_line_response(&mut self, now: Time, tx: TxId, msg: &SipMessage) -> bool {
        let Some(&i) = self.lines.pending.get(&tx) else {
            return false;
        };
        let status = msg.status().unwrap_or(500);
        if status < 200 {
            return true;
        }
        self.lines.pending.remove(&tx);
        self.lines.generation += 1;
        let Some(line) = self.lines.lines.get_mut(i) else {
            return true;
        };
        let _span = tracing::info_span!("line", name = %line.config.name).entered();
        line.status.last_status = Some(status);
        line.status.last_reason =
            Some(String::from_utf8_lossy(msg.reason().unwrap_or_default()).into_owned());
        line.status.registrar_error = msg
            .other_header("P-Registrar-Error")
            .or_else(|| msg.other_header("Warning"))
            .map(|v| String::from_utf8_lossy(v).into_owned());
        match status {
            200..=299 => {
                if line.unregistering {
                    line.status.state = LineState::Idle;
                    return true;
                }
                let granted = granted_expiry(msg, line).unwrap_or(line.expires);
                line.status.state = LineState::Registered;
                line.failures = 0;
                line.targets_tried = 0;
                line.answered = false;
                let granted = Duration::from_secs(u64::from(granted));
                let refresh = (granted / 2)
                    .min(granted.saturating_sub(REFRESH_MARGIN))
                    .max(Duration::from_secs(1));
                tracing::info!(expires = granted.as_secs(), "line registered");
                self.timers.set(GwTimer::Line(i), now + refresh);
            }
            401 | 407 => self.answer_challenge(now, i, msg),
            423 => {
                // Interval too brief: ask again with what the registrar wants.
                let min = msg
                    .other_header("Min-Expires")
                    .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok());
                match min {
                    Some(min) if min > line.expires => {
                        line.expires = min;
                        self.send_register(now, i, None, Attempt::AfterFailure);
                    }
                    _ => self.line_failed(now, i),
                }
            }
            503 => {
                if !self.next_target(now, i) {
                    self.line_failed(now, i);
                }
            }
            403 => {
                line.forbidden = true;
                line.status.state = LineState::Failed;
                tracing::warn!(
                    "line forbidden (403): not retrying until the configuration changes"
                );
            }
            _ => self.line_failed(now, i),
        }
        true
    }

    fn answer_challenge(&mut self, now: Time, i: usize, msg: &SipMessage) {
        let cnonce = self.ids.tag();
        let line = &mut self.lines.lines[i];
        let account = Account {
            username: line.config.username.clone(),
            password: line.config.password.clone(),
        };
        let uri = format!("sip:{}", line.config.domain);
        match credentials_for(
            msg,
            b"REGISTER",
            uri.as_bytes(),
            &account,
            &cnonce,
            line.answered,
        ) {
            Some(credentials) => {
                line.answered = true;
                self.send_register(now, i, Some(credentials), Attempt::ChallengeAnswer);
            }
            None => {
                tracing::warn!(
                    "registrar refused the credentials, or sent no challenge we can answer"
                );
                self.line_failed(now, i);
            }
        }
    }

    /// A failed attempt: retry later, backing off, never giving up silently.
    fn line_failed(&mut self, now: Time, i: usize) {
        self.lines.generation += 1;
        let Some(line) = self.lines.lines.get_mut(i) else {
            return;
        };
        line.status.state = LineState::Failed;
        line.answered = false;
        line.retrying = true;
        if line.unregistering {
            return;
        }
        let wait = line.config.quirks.registration.retry_after(line.failures);
        line.failures += 1;
        tracing::warn!(retry_in = wait.as_secs(), status = ?line.status.last_status, "line registration failed");
        self.timers.set(GwTimer::Line(i), now + wait);
    }

    pub(super) fn on_line_timeout(&mut self, now: Time, tx: TxId) -> bool {
        let Some(i) = self.lines.pending.remove(&tx) else {
            return false;
        };
        self.lines.generation += 1;
        if let Some(line) = self.lines.lines.get_mut(i) {
            line.status.last_status = Some(408);
            line.status.last_reason = Some("Request Timeout (no answer from the registrar)".into());
            line.status.registrar_error = None;
        }
        if !self.next_target(now, i) {
            self.line_failed(now, i);
        }
        true
    }

    /// Moves line `i` to the registrar's next DNS target and registers
    /// there at once; false when every target was tried (then back off).
    fn next_target(&mut self, now: Time, i: usize) -> bool {
        let Some(line) = self.lines.lines.get_mut(i) else {
            return false;
        };
        let count = 1 + line.config.fallbacks.len();
        line.targets_tried += 1;
        if line.targets_tried >= count {
            line.targets_tried = 0;
            return false;
        }
        line.target = (line.target + 1) % count;
        let (transport, remote) = match line.target {
            0 => (line.config.transport, line.config.registrar),
            k => line.config.fallbacks[k - 1],
        };
        let Some(flow) = self.flow_to(transport, remote) else {
            return false;
        };
        let Some(line) = self.lines.lines.get_mut(i) else {
            return false;
        };
        line.flow = flow;
        tracing::info!(line = %line.config.name, %remote, "trying the registrar's next target");
        self.send_register(now, i, None, Attempt::AfterFailure);
        true
    }

    /// The refresh or retry timer of line `i`.
    pub(super) fn on_line_timer(&mut self, now: Time, i: usize) {
        let Some(line) = self.lines.lines.get(i).filter(|l| !l.forbidden) else {
            return;
        };
        let attempt = if line.retrying {
            Attempt::AfterFailure
        } else {
            Attempt::Plain
        };
        self.send_register(now, i, None, attempt);
    }
}

/// The expiry the registrar granted our Contact: its `expires` parameter,
/// else the Expires header (RFC 3261 §10.2.4).
fn granted_expiry(msg: &SipMessage, line: &Line) -> Option<u32> {
    let ours = format!("sip:{}@{}", line.contact_user(), line.flow.local);
    let from_contact = msg
        .contacts()
        .filter_map(Result::ok)
        .find(|c| c.uri.starts_with(ours.as_bytes()))
        .and_then(|c| c.params.get("expires").map(Bytes::copy_from_slice))
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok());
    from_contact.or_else(|| msg.expires().and_then(Result::ok))
}

/// The credentials answering a 401/407 for `account` (RFC 3261 §22.2),
/// as the header to add and its value. `None` when there is no digest
/// challenge we can answer, or when the challenged request already
/// carried credentials and the nonce is not merely stale: registrars hand
/// out a fresh nonce with every challenge, so a second challenge means the
/// password was refused, and answering again would loop.
pub(super) fn credentials_for(
    msg: &SipMessage,
    method: &[u8],
    uri: &[u8],
    account: &Account,
    cnonce: &str,
    already_answered: bool,
) -> Option<(HeaderName, String)> {
    let (challenge_header, credentials_header) = if msg.status() == Some(407) {
        (
            HeaderName::ProxyAuthenticate,
            HeaderName::ProxyAuthorization,
        )
    } else {
        (HeaderName::WwwAuthenticate, HeaderName::Authorization)
    };
    let challenges: Vec<_> = msg
        .auth_fields(challenge_header)
        .filter_map(Result::ok)
        .collect();
    let challenge = challenges.iter().find(|c| {
        c.scheme.eq_ignore_ascii_case(b"Digest")
            && c.param("algorithm")
                .is_none_or(|a| Algorithm::from_name(&a).is_some())
    })?;
    let stale = challenge
        .param("stale")
        .is_some_and(|s| s.eq_ignore_ascii_case(b"true"));
    if already_answered && !stale {
        return None;
    }
    let value = authorization(
        challenge,
        method,
        uri,
        &account.username,
        &account.password,
        cnonce,
        1,
    )?;
    Some((credentials_header, value))
}
