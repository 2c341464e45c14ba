//! The gateway as one sans-IO state machine: the transaction layer, the
//! registrar for local phones and the B2BUA, behind the `handle_*` /
//! `poll_*` interface the shell drives.

mod calls;
mod dialog;
mod lines;
mod peers;
mod registrar;
mod routing;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;

use crate::auth::{Algorithm, DigestServer, Verdict};
use crate::dialplan::DialPlan;
use crate::ids::IdGenerator;
use crate::msg::build::{response, MessageWriter};
use crate::msg::uri::{unescape, Uri};
use crate::msg::{is_keepalive, validate, HeaderName, Method, SipMessage};
use crate::stateless::{refuse, refuse_malformed, stamp_received};
use crate::time::Time;
use crate::timer::TimerTable;
use crate::transport::{ConnId, Flow, Transmit, Transport};
use crate::txn::{TransactionLayer, TxEvent, TxId};

pub use crate::quirks::PingConfig;
pub use lines::{LineConfig, LineState, LineStatus};
pub use peers::TrunkConfig;
pub use registrar::BindingRecord;

/// The methods the gateway handles; OPTIONS advertises them.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, MESSAGE";
/// The extensions the gateway supports on its local legs.
pub const SUPPORTED: &str = "100rel";

/// A phone of the office, as configured.
#[derive(Debug, Clone)]
pub struct LocalUser {
    pub number: String,
    pub password: Option<String>,
    /// Sources trusted as this user without REGISTER or digest.
    pub allow_ips: Vec<IpAddr>,
    /// Where to reach an IP-authorised device that does not register.
    pub contact: Option<String>,
    /// Whether several devices may register at once and all ring.
    pub multi_device: bool,
    /// How to reach the phone's registrations through NAT.
    pub nat: NatMode,
}

/// How calls reach a registered phone (see `registrar::reach`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatMode {
    /// Through the REGISTER's source when the Contact is a private address
    /// that is not the source itself; otherwise the Contact.
    #[default]
    Auto,
    /// Always through the REGISTER's source.
    Force,
    /// Always to the Contact.
    Never,
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub realm: String,
    /// Digest algorithms offered to local phones, most preferred first.
    pub digest_algorithms: Vec<Algorithm>,
    pub users: Vec<LocalUser>,
    pub nonce_lifetime: Duration,
    /// Registration intervals: below `min_expires` is refused with 423,
    /// above `max_expires` is shortened, none asked means `default_expires`.
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// Our listening address per transport, for requests we originate.
    pub listeners: Vec<(Transport, SocketAddr)>,
    /// Accounts at providers to register.
    pub lines: Vec<LineConfig>,
    /// IP peers without registration.
    pub trunks: Vec<TrunkConfig>,
    /// Calls in progress at once, at most; more get 503.
    pub max_calls: Option<usize>,
    /// An unanswered call is cancelled after this long; the caller hears 480.
    pub no_answer_timeout: Option<Duration>,
    /// Line groups, used round-robin by `group:` routes.
    pub groups: HashMap<String, Vec<String>>,
    pub dialplan: DialPlan,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            realm: "quirkgate".into(),
            digest_algorithms: DigestServer::DEFAULT_ALGORITHMS.to_vec(),
            users: Vec::new(),
            nonce_lifetime: Duration::from_secs(300),
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
            listeners: Vec::new(),
            lines: Vec::new(),
            trunks: Vec::new(),
            max_calls: None,
            no_answer_timeout: None,
            groups: HashMap::new(),
            dialplan: DialPlan::default(),
        }
    }
}

/// What happened that the shell must act on beyond sending bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A user's registrations changed: the shell persists them.
    Bindings {
        number: String,
        bindings: Vec<BindingRecord>,
    },
}

/// Timers of the gateway itself (the transaction layer has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum GwTimer {
    /// Retransmit our 2xx to the caller until it ACKs (RFC 3261 §13.3.1.4).
    Retransmit2xx(calls::CallKey),
    /// Retransmit a reliable provisional until the caller PRACKs it.
    Retransmit1xx(calls::CallKey),
    /// Retransmit our 2xx to a re-INVITE until its ACK.
    RetransmitRe2xx(calls::CallKey),
    /// Refresh or retry the registration of a line.
    Line(usize),
    /// Ping a peer with OPTIONS.
    Ping(peers::PeerRef),
    /// Give up on a call nobody answers.
    NoAnswer(calls::CallKey),
    /// Refresh the session on the provider leg (RFC 4028).
    SessionRefresh(calls::CallKey),
    /// The provider should have refreshed the session by now.
    SessionExpiry(calls::CallKey),
}

pub struct Gateway {
    config: GatewayConfig,
    ids: IdGenerator,
    txn: TransactionLayer,
    auth: DigestServer,
    registrar: registrar::Registrar,
    calls: calls::Calls,
    lines: lines::Lines,
    peers: peers::Peers,
    /// The dial plan, with its blacklist counters.
    dialplan: DialPlan,
    /// The next member of each line group.
    group_turns: HashMap<String, usize>,
    timers: TimerTable<GwTimer>,
    events: VecDeque<Event>,
}

impl Gateway {
    /// `seed` must be secret and random in production (the shell reads it
    /// from the OS); tests and replays fix it to reproduce every id.
    pub fn new(config: GatewayConfig, seed: [u8; 32]) -> Self {
        let lines = config.lines.clone();
        let mut gateway = Gateway {
            auth: DigestServer::new(
                config.realm.clone(),
                &config.digest_algorithms,
                config.nonce_lifetime,
            ),
            ids: IdGenerator::new(seed),
            txn: TransactionLayer::new(),
            registrar: registrar::Registrar::default(),
            calls: calls::Calls::default(),
            lines: lines::Lines::default(),
            peers: peers::Peers::default(),
            dialplan: config.dialplan.clone(),
            group_turns: HashMap::new(),
            timers: TimerTable::default(),
            events: VecDeque::new(),
            config,
        };
        gateway.add_lines(lines);
        let trunks = gateway.config.trunks.clone();
        gateway.add_trunks(trunks);
        gateway
    }

    // ---- the sans-IO interface ----------------------------------------

    /// One message received: a UDP datagram, or a message the shell framed
    /// from a stream.
    pub fn handle_message(&mut self, now: Time, flow: Flow, data: Bytes) {
        if is_keepalive(&data) {
            return;
        }
        let msg = match SipMessage::parse_datagram(data.clone()) {
            Ok(msg) => msg,
            Err(error) => {
                tracing::info!(peer = %flow.remote, transport = %flow.transport, %error, "refused a malformed message");
                if let Some(answer) = refuse_malformed(data, flow.remote, &error) {
                    self.txn.send_stateless(flow, answer);
                }
                return;
            }
        };
        if let Err(rejection) = validate(&msg) {
            let reason = rejection.error.to_string();
            tracing::info!(peer = %flow.remote, transport = %flow.transport, status = rejection.status, %reason, "refused a request");
            if let Some(answer) = refuse(msg, flow.remote, rejection.status, &reason) {
                self.txn.send_stateless(flow, answer);
            }
            return;
        }
        let msg = if msg.is_request() {
            let mut msg = msg;
            stamp_received(&mut msg, flow.remote);
            msg
        } else {
            msg
        };
        self.txn.receive(now, msg, flow);
        self.drain(now);
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.txn.handle_timeout(now);
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                GwTimer::Retransmit2xx(call) => self.retransmit_2xx(now, call),
                GwTimer::Retransmit1xx(call) => self.retransmit_1xx(now, call),
                GwTimer::RetransmitRe2xx(call) => self.retransmit_re_2xx(now, call),
                GwTimer::Line(i) => self.on_line_timer(now, i),
                GwTimer::Ping(peer) => self.on_ping_timer(now, peer),
                GwTimer::NoAnswer(call) => self.on_no_answer(now, call),
                GwTimer::SessionRefresh(call) => self.refresh_session(now, call),
                GwTimer::SessionExpiry(call) => self.on_session_expired(now, call),
            }
        }
        self.drain(now);
    }

    /// A stream connection closed: bindings learnt over it are reached by a
    /// new connection from now on.
    pub fn connection_closed(&mut self, conn: ConnId) {
        self.registrar.forget_connection(conn);
    }

    /// Restores a persisted registration at start-up.
    pub fn restore_binding(&mut self, now: Time, number: &str, mut record: BindingRecord) {
        // The listener it came in on may have moved since (a new port).
        let listeners = &self.config.listeners;
        let transport = record.flow.transport;
        if !listeners.contains(&(transport, record.flow.local)) {
            match listeners.iter().find(|(t, _)| *t == transport) {
                Some(&(_, local)) => record.flow.local = local,
                None => return,
            }
        }
        self.registrar.restore(now, number, record);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.txn.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        match (self.txn.poll_timeout(), self.timers.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Calls in progress (for the admin API and tests).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    // ---- dispatch -----------------------------------------------------

    fn drain(&mut self, now: Time) {
        while let Some(event) = self.txn.poll_event() {
            match event {
                TxEvent::Request { tx, msg, flow } => self.on_request(now, tx, msg, flow),
                TxEvent::Ack { msg, flow } => self.on_ack(now, msg, flow),
                TxEvent::Cancelled {
                    invite,
                    cancel_tx,
                    cancel,
                } => self.on_cancelled(now, invite, cancel_tx, &cancel),
                TxEvent::Response { tx, msg } => {
                    if !self.on_line_response(now, tx, &msg) && !self.on_ping_response(tx, &msg) {
                        self.on_response(now, tx, msg);
                    }
                }
                TxEvent::Stray2xx { msg, flow } => self.on_stray_2xx(now, msg, flow),
                TxEvent::Timeout { tx } => {
                    if !self.on_line_timeout(now, tx) && !self.on_ping_timeout(tx) {
                        self.on_client_timeout(now, tx);
                    }
                }
                TxEvent::NoAck { .. } => {}
            }
        }
    }

    fn on_request(&mut self, now: Time, tx: TxId, msg: SipMessage, flow: Flow) {
        let method = msg.method().cloned().unwrap_or(Method::Options);
        if let Some(refusal) = self.precheck(&msg) {
            self.reply(now, tx, &msg, refusal.status, refusal.reason, |w| {
                if let Some(tags) = &refusal.unsupported {
                    w.known(HeaderName::Unsupported, tags.as_bytes());
                }
            });
            return;
        }
        let in_dialog = msg
            .to_header()
            .and_then(Result::ok)
            .is_some_and(|t| t.tag().is_some());
        match (method, in_dialog) {
            (Method::Register, _) => self.on_register(now, tx, msg, flow),
            (Method::Options, false) => self.reply(now, tx, &msg, 200, "OK", |w| {
                w.known(HeaderName::Allow, ALLOW.as_bytes());
                w.known(HeaderName::Supported, SUPPORTED.as_bytes());
                w.header(b"Accept", b"application/sdp");
            }),
            (Method::Invite, false) => self.on_invite(now, tx, msg, flow),
            (_, true) => self.on_in_dialog(now, tx, msg, flow),
            (Method::Message, false) => self.reply(now, tx, &msg, 405, "Method Not Allowed", |w| {
                w.known(HeaderName::Allow, ALLOW.as_bytes());
            }),
            (_, false) => self.reply(now, tx, &msg, 501, "Not Implemented", |w| {
                w.known(HeaderName::Allow, ALLOW.as_bytes());
            }),
        }
    }

    /// Checks every request must pass before the TU looks at it: a
    /// Request-URI scheme we can route (416), extensions we support (420),
    /// and the hop limit (483).
    fn precheck(&self, msg: &SipMessage) -> Option<Refusal> {
        let refuse = |status, reason| {
            Some(Refusal {
                status,
                reason,
                unsupported: None,
            })
        };
        let method = msg.method()?;
        let uri = msg.request_uri().and_then(|u| Uri::parse(u).ok())?;
        if matches!(uri, Uri::Other { .. }) {
            return refuse(416, "Unsupported URI Scheme");
        }
        let unsupported: Vec<String> = msg
            .option_tags(HeaderName::Require)
            .filter_map(Result::ok)
            .filter(|t| {
                !SUPPORTED
                    .split(", ")
                    .any(|s| s.as_bytes().eq_ignore_ascii_case(t))
            })
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        if !unsupported.is_empty() && !matches!(method, Method::Ack | Method::Cancel) {
            return Some(Refusal {
                status: 420,
                reason: "Bad Extension",
                unsupported: Some(unsupported.join(", ")),
            });
        }
        // The gateway is the endpoint of OPTIONS and REGISTER (RFC 3261
        // §11) but forwards everything else.
        if matches!(msg.max_forwards(), Some(Ok(0)))
            && !matches!(method, Method::Options | Method::Register)
        {
            return refuse(483, "Too Many Hops");
        }
        None
    }

    /// Answers a server transaction with a response built from `request`.
    fn reply(
        &mut self,
        now: Time,
        tx: TxId,
        request: &SipMessage,
        status: u16,
        reason: &str,
        extra: impl FnOnce(&mut MessageWriter),
    ) {
        let tag = self.ids.tag();
        let mut w = response(request, status, reason, Some(&tag));
        extra(&mut w);
        self.txn.respond(now, tx, w.finish(b""));
    }

    /// A flow to `remote` over `transport`, from our listener for it.
    fn flow_to(&self, transport: Transport, remote: SocketAddr) -> Option<Flow> {
        let &(_, local) = self
            .config
            .listeners
            .iter()
            .find(|(t, _)| *t == transport)?;
        Some(Flow {
            transport,
            local,
            remote,
            conn: None,
        })
    }

    // ---- identities ---------------------------------------------------

    fn user(&self, number: &str) -> Option<&LocalUser> {
        self.config.users.iter().find(|u| u.number == number)
    }

    /// The user a source address is trusted as, if any.
    fn ip_user(&self, ip: IpAddr) -> Option<&LocalUser> {
        self.config.users.iter().find(|u| u.allow_ips.contains(&ip))
    }

    /// Digest check of `header` credentials; `Ok(None)` when absent.
    fn digest_user(
        &mut self,
        now: Time,
        msg: &SipMessage,
        header: HeaderName,
    ) -> Result<Option<String>, bool> {
        let method = msg
            .method()
            .map(|m| m.as_bytes().to_vec())
            .unwrap_or_default();
        let mut stale = false;
        let mut seen = false;
        let creds: Vec<_> = msg.auth_fields(header).filter_map(Result::ok).collect();
        for c in &creds {
            if c.param("realm").as_deref() != Some(self.auth.realm().as_bytes()) {
                continue;
            }
            seen = true;
            let users = &self.config.users;
            let request_uri = msg.request_uri().unwrap_or_default();
            match self
                .auth
                .verify(&self.ids, now, &method, request_uri, c, |u| {
                    users
                        .iter()
                        .find(|x| x.number == u)
                        .and_then(|x| x.password.as_deref())
                }) {
                Verdict::Ok(user) => return Ok(Some(user)),
                Verdict::Stale => stale = true,
                Verdict::Refused(why) => {
                    tracing::info!(reason = %why, "digest credentials refused");
                }
            }
        }
        if seen {
            Err(stale)
        } else {
            Ok(None)
        }
    }

    fn challenge(&mut self, now: Time, tx: TxId, msg: &SipMessage, proxy: bool, stale: bool) {
        let (status, reason, header) = if proxy {
            (
                407,
                "Proxy Authentication Required",
                HeaderName::ProxyAuthenticate,
            )
        } else {
            (401, "Unauthorized", HeaderName::WwwAuthenticate)
        };
        let challenges = self.auth.challenges(&mut self.ids, now, stale);
        self.reply(now, tx, msg, status, reason, |w| {
            for c in &challenges {
                w.known(header, c.as_bytes());
            }
        });
    }
}

/// A refusal decided before the TU looks at a request.
struct Refusal {
    status: u16,
    reason: &'static str,
    /// The option tags we do not support, for a 420.
    unsupported: Option<String>,
}

/// The user part of a SIP or tel URI, unescaped: the number dialled. Only
/// characters a number or user name has are accepted: the result is written
/// into the URIs and headers of other legs, so anything else (spaces, CR/LF,
/// quotes, '@', ';') could inject headers there.
fn uri_number(uri: &[u8]) -> Option<String> {
    let number = raw_uri_number(uri)?;
    let safe =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '*' | '#' | '.' | '_' | '-');
    (!number.is_empty() && number.len() <= 64 && number.chars().all(safe)).then_some(number)
}

fn raw_uri_number(uri: &[u8]) -> Option<String> {
    let number = match Uri::parse(uri).ok()? {
        Uri::Sip(u) => unescape(u.user?),
        Uri::Tel(t) => t
            .number
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'-' | b'.' | b'(' | b')'))
            .collect(),
        Uri::Other { .. } => return None,
    };
    String::from_utf8(number).ok()
}

/// A `sip:` URI for reaching `addr` over `transport`.
fn contact_uri(user: &str, addr: SocketAddr, transport: Transport) -> String {
    let host = match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    match transport {
        Transport::Udp => format!("sip:{user}@{host}"),
        other => format!("sip:{user}@{host};transport={other}"),
    }
}
