//! The B2BUA: every call is a caller leg (we are its UAS) and one or more
//! callee legs (we are their UAC, one per forked target). Each leg is its
//! own dialog; what crosses from one to the other is relayed on purpose:
//! status codes, bodies, and the headers nobody owns.

use foldhash::HashMap;
use std::time::Duration;

use bytes::Bytes;

use super::dialog::Leg;
use super::lines::credentials_for;
use super::peers::PeerRef;
use super::routing::{Callee, Destination, ProviderLeg};
use super::{contact_uri, Gateway, GwTimer};
use crate::ids::IdGenerator;
use crate::msg::build::{response, MessageWriter};
use crate::msg::uri::{parse_hostport, Uri};
use crate::msg::{Header, HeaderName, Method, SipMessage};
use crate::quirks::session_timer::Negotiated;
use crate::quirks::{Direction, OutgoingCall, RefreshMethod};
use crate::time::Time;
use crate::transport::{Flow, Transport};
use crate::txn::{TransactionLayer, TxId, T1, T2};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct CallKey(u64);

/// Which leg of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Callee(usize),
}

/// Why we started a client transaction.
#[derive(Debug, Clone)]
enum Purpose {
    /// The initial INVITE of a callee leg.
    Invite(usize),
    /// A request relayed from the other leg; its response goes back on
    /// `server`, built from `request`.
    Relay {
        server: TxId,
        request: Box<SipMessage>,
    },
    /// Our own BYE or PRACK: nothing waits for the answer.
    Own,
    /// Our session refresh on the provider leg (RFC 4028).
    Refresh,
}

#[derive(Debug)]
struct Fork {
    leg: Leg,
    invite: TxId,
    invite_seq: u32,
    /// The INVITE as sent, to resend it with credentials or a longer
    /// session interval; dropped once answered, as nothing resends it then.
    request: Option<SipMessage>,
    /// The line or trunk this leg goes to, with its quirks.
    provider: Option<ProviderLeg>,
    /// The INVITE already carried our credentials: a new challenge that is
    /// not `stale` is a refusal.
    answered: bool,
    /// Where to try this destination next if it times out or answers 503
    /// (the further DNS targets of a trunk).
    alternates: Vec<Flow>,
    /// A final response arrived (or the INVITE timed out).
    done: bool,
    /// CANCEL this fork as soon as it is cancellable (§9.1).
    cancel_wanted: bool,
}

#[derive(Debug)]
struct Call {
    /// The line or trunk the call crosses, and which way.
    provider: Option<(PeerRef, Direction)>,
    /// The transit trunk the call came in on (counted as in there).
    transit: Option<PeerRef>,
    caller_number: String,
    caller_display: Option<String>,
    a: Leg,
    a_invite: SipMessage,
    a_tx: TxId,
    forks: Vec<Fork>,
    winner: Option<usize>,
    cancelled: bool,
    /// Final failures of forks, for choosing what the caller hears.
    failures: Vec<SipMessage>,
    redirects: u8,
    /// Whether the caller offered 100rel: then reliable provisionals are
    /// relayed reliably and its PRACKs relayed to the callee (RFC 3262).
    a_100rel: bool,
    /// The RSeq of our next reliable provisional to the caller.
    next_rseq: u32,
    /// The one reliable provisional awaiting the caller's PRACK (RFC 3262
    /// §3 allows only one at a time).
    reliable: Option<Reliable>,
    /// Our 2xx to the caller, retransmitted until the ACK.
    a_2xx: Option<Resend>,
    /// A late offer's winner awaits its ACK (with the caller's answer) at
    /// this INVITE CSeq.
    late_ack: Option<u32>,
    /// Our 2xx to a re-INVITE, resent until its ACK.
    re_2xx: Option<Resend>,
    /// The session timer of the provider leg, once answered.
    session: Option<Negotiated>,
    /// The last SDP offer relayed toward the provider after the first
    /// INVITE's, repeated by a re-INVITE refresh.
    provider_sdp: Option<Bytes>,
}

impl Call {
    /// The caller is a provider (a line or trunk), not an office phone.
    fn is_from_provider(&self) -> bool {
        matches!(self.provider, Some((_, Direction::In))) || self.transit.is_some()
    }
}

/// A response we resend until it is acknowledged: from T1, doubling up to
/// `cap`, for 64*T1 at most (a 2xx until its ACK, RFC 3261 §13.3.1.4; a
/// reliable provisional until its PRACK, RFC 3262 §3).
#[derive(Debug)]
struct Resend {
    flow: Flow,
    data: Bytes,
    since: Time,
    interval: Duration,
}

impl Resend {
    fn new(flow: Flow, data: Bytes, now: Time) -> Self {
        Resend {
            flow,
            data,
            since: now,
            interval: T1,
        }
    }

    /// When to resend next, or `None` once 64*T1 have passed. The last
    /// wake-up is at 64*T1 exactly, to give up on time.
    fn next(&mut self, now: Time, cap: Duration) -> Option<Time> {
        let give_up = self.since + T1 * 64;
        if now >= give_up {
            return None;
        }
        self.interval = (self.interval * 2).min(cap);
        Some((now + self.interval).min(give_up))
    }
}

/// A reliable provisional relayed to the caller.
#[derive(Debug)]
struct Reliable {
    rseq: u32,
    resend: Resend,
    /// What the callee's PRACK must say: its fork, RSeq and INVITE CSeq.
    fork: usize,
    callee_rack: String,
}

#[derive(Default)]
pub(super) struct Calls {
    next: u64,
    /// Boxed: a `Call` is large, and a table of them inline would be
    /// mostly empty slots of that size (memory per held call).
    calls: HashMap<CallKey, Box<Call>>,
    /// (Call-ID, our tag) of every leg.
    dialogs: HashMap<(Bytes, String), (CallKey, Side)>,
    clients: HashMap<TxId, (CallKey, Purpose)>,
    invites: HashMap<TxId, CallKey>,
}

impl Calls {
    /// The leg opposite `side`, once the call has one.
    fn peer_leg(&mut self, key: CallKey, side: Side) -> Option<&mut Leg> {
        let call = self.calls.get_mut(&key)?;
        match side {
            Side::Caller => {
                let w = call.winner?;
                Some(&mut call.forks[w].leg)
            }
            Side::Callee(i) if call.winner == Some(i) => Some(&mut call.a),
            Side::Callee(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    fn index(&mut self, key: CallKey, side: Side, leg: &Leg) {
        self.dialogs
            .insert((leg.call_id.clone(), leg.local_tag.clone()), (key, side));
    }

    fn remove(&mut self, key: CallKey) -> Option<Box<Call>> {
        let call = self.calls.remove(&key)?;
        // By the keys it was indexed under: a scan of every call's entries
        // would cost each hang-up the number of calls held.
        for leg in std::iter::once(&call.a).chain(call.forks.iter().map(|f| &f.leg)) {
            self.dialogs
                .remove(&(leg.call_id.clone(), leg.local_tag.clone()));
        }
        self.invites.remove(&call.a_tx);
        Some(call)
    }
}

/// Redirects followed per call before the caller gets the 3xx failure.
const MAX_REDIRECTS: u8 = 5;

/// Headers relayed between legs besides the ones nobody owns.
const RELAYED: [HeaderName; 5] = [
    HeaderName::Allow,
    HeaderName::Supported,
    HeaderName::ContentType,
    HeaderName::Subject,
    HeaderName::Privacy,
];

/// Headers that would let an outside caller make an office phone answer by
/// itself (and listen in): never relayed from a provider.
const AUTO_ANSWER: [&str; 3] = ["Alert-Info", "Answer-Mode", "Priv-Answer-Mode"];

/// Headers that assert an identity: a provider trusts them from us, so
/// they never cross a leg between the office and a provider.
const IDENTITY: [&str; 3] = ["P-Preferred-Identity", "Remote-Party-ID", "Diversion"];

/// Copies the headers that cross legs unchanged: unknown ones byte for
/// byte, and the few owned ones a peer needs to see.
fn copy_passthrough(src: &SipMessage, w: &mut MessageWriter) {
    copy_passthrough_except(src, w, |_| false);
}

fn copy_passthrough_except(
    src: &SipMessage,
    w: &mut MessageWriter,
    deny: impl Fn(&Header) -> bool,
) {
    for h in src.headers() {
        if (h.name == HeaderName::Other || RELAYED.contains(&h.name)) && !deny(&h) {
            w.header(h.raw_name, h.value);
        }
    }
}

/// Whether a header's name is one of `names` (unknown headers by the name
/// as written; known ones in any form, compact included).
fn named(h: &Header, names: &[&str]) -> bool {
    let name = h.full_name();
    names
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// Sends a request inside a leg's dialog as a client transaction.
fn send_on(
    txn: &mut TransactionLayer,
    ids: &mut IdGenerator,
    now: Time,
    leg: &mut Leg,
    method: &str,
    add: impl FnOnce(&mut MessageWriter),
    body: &[u8],
) -> Option<TxId> {
    let (mut w, _) = leg.request(ids, method, None);
    add(&mut w);
    let request = SipMessage::parse_datagram(w.finish(body)).ok()?;
    Some(txn.send_request(now, request, leg.flow))
}

/// The caller's copy of a callee's response: the callee's status, reason,
/// body and unowned headers, with our tag (and Contact, when it answers).
fn to_caller(call: &Call, resp: &SipMessage, add: impl FnOnce(&mut MessageWriter)) -> Bytes {
    let status = resp.status().unwrap_or(500);
    let reason = String::from_utf8_lossy(resp.reason().unwrap_or_default()).into_owned();
    let mut w = response(&call.a_invite, status, &reason, Some(&call.a.local_tag));
    if status < 300 {
        w.known(HeaderName::Contact, &call.a.contact_header());
    }
    add(&mut w);
    copy_passthrough(resp, &mut w);
    w.finish(resp.body())
}

fn to_tag(msg: &SipMessage) -> Option<Bytes> {
    msg.to_header()?.ok()?.tag().map(Bytes::copy_from_slice)
}

/// The extensions our INVITE offers a provider: 100rel and session timers
/// as its quirks say (RFC 3262, RFC 4028).
fn offer_extensions(quirks: &crate::quirks::Quirks, w: &mut MessageWriter) {
    let rel100 = quirks.rel100;
    let timer = &quirks.session_timer;
    let supported: Vec<&str> = [rel100.in_supported().then_some("100rel"), timer.supported()]
        .into_iter()
        .flatten()
        .collect();
    let required: Vec<&str> = [rel100.in_require().then_some("100rel"), timer.required()]
        .into_iter()
        .flatten()
        .collect();
    if !supported.is_empty() {
        w.known(HeaderName::Supported, supported.join(", ").as_bytes());
    }
    if !required.is_empty() {
        w.known(HeaderName::Require, required.join(", ").as_bytes());
    }
    if let Some((session_expires, min_se)) = timer.invite_headers(timer.expires) {
        w.known(HeaderName::SessionExpires, session_expires.as_bytes());
        w.known(HeaderName::MinSe, min_se.as_bytes());
    }
}

/// RFC 3261 §16.7 step 6, simplified: a 6xx ends the search; otherwise the
/// lowest class wins, and our own timeout (408) is the last resort.
fn best_failure(failures: &[SipMessage]) -> Option<&SipMessage> {
    let rank = |m: &SipMessage| {
        let s = m.status().unwrap_or(500);
        match s {
            600..=699 => 0,
            408 => 1000,
            _ => u32::from(s),
        }
    };
    failures.iter().min_by_key(|m| rank(m))
}

impl Gateway {
    fn new_call_key(&mut self) -> CallKey {
        self.calls.next += 1;
        CallKey(self.calls.next)
    }

    pub(super) fn on_invite(&mut self, now: Time, tx: TxId, msg: SipMessage, flow: Flow) {
        if self
            .config
            .max_calls
            .is_some_and(|max| self.calls.len() >= max)
        {
            tracing::warn!(
                calls = self.calls.len(),
                "refusing a call: the gateway's call limit is reached"
            );
            return self.reply(
                now,
                tx,
                &msg,
                503,
                "Service Unavailable: call limit reached",
                |w| {
                    w.header(b"Retry-After", b"5");
                },
            );
        }
        let plan = match self.plan_call(now, &msg, flow) {
            Ok(plan) => plan,
            Err(why) => return self.refuse_call(now, tx, &msg, why),
        };
        let callee = plan.callee_number.clone();
        let local_tag = self.ids.tag();
        // A provider calling in sees our Contact as its quirks want it.
        let provider_quirks = plan
            .provider
            .and_then(|(p, _)| self.peer_quirks(p))
            .cloned();
        let contact_user = match (&plan.provider, &provider_quirks) {
            (Some((_, Direction::In)), Some(q)) => q.contact_user.as_deref().unwrap_or(&callee),
            _ => &callee,
        };
        let a_contact = Bytes::from(contact_uri(contact_user, flow.local, flow.transport));
        let Some(a) = Leg::from_invite(&msg, flow, local_tag, a_contact) else {
            return self.reply(
                now,
                tx,
                &msg,
                400,
                "Bad Request: INVITE without Contact",
                |_| {},
            );
        };
        let a_100rel = msg.has_option_tag(HeaderName::Supported, "100rel")
            || msg.has_option_tag(HeaderName::Require, "100rel");
        let key = self.new_call_key();
        let _span = tracing::info_span!("call", id = key.0).entered();
        tracing::info!(caller = %plan.caller_number, %callee, targets = plan.destinations.len(), "call");
        self.calls.index(key, Side::Caller, &a);
        self.calls.invites.insert(tx, key);
        if let Some((peer, direction)) = plan.provider {
            self.count_call(peer, direction, true);
        }
        if let Some(source) = plan.transit {
            self.count_call(source, Direction::In, true);
        }
        self.calls.calls.insert(
            key,
            Box::new(Call {
                provider: plan.provider,
                transit: plan.transit,
                caller_number: plan.caller_number,
                caller_display: plan.caller_display,
                a,
                a_invite: msg,
                a_tx: tx,
                forks: Vec::new(),
                winner: None,
                cancelled: false,
                failures: Vec::new(),
                redirects: 0,
                a_100rel,
                next_rseq: 1,
                reliable: None,
                a_2xx: None,
                late_ack: None,
                re_2xx: None,
                session: None,
                provider_sdp: None,
            }),
        );
        for destination in plan.destinations {
            self.start_fork(now, key, destination);
        }
        let peer_timeout = match plan.provider {
            Some((_, Direction::Out)) => provider_quirks.and_then(|q| q.no_answer_timeout),
            _ => None,
        };
        if let Some(wait) = peer_timeout.or(self.config.no_answer_timeout) {
            self.timers.set(GwTimer::NoAnswer(key), now + wait);
        }
    }

    /// Nobody answered in time: cancel every fork, the caller hears 480.
    pub(super) fn on_no_answer(&mut self, now: Time, key: CallKey) {
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        if call.winner.is_some() || call.cancelled {
            return;
        }
        let _span = tracing::info_span!("call", id = key.0).entered();
        tracing::info!("no answer in time: cancelling");
        self.abandon(now, key, 480, "Temporarily Unavailable: No Answer");
    }

    /// Gives up on an unanswered call: the caller hears `status`, every
    /// fork is cancelled, and no reliable provisional is resent.
    fn abandon(&mut self, now: Time, key: CallKey, status: u16, reason: &str) {
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        call.cancelled = true;
        call.reliable = None;
        self.timers.cancel(GwTimer::Retransmit1xx(key));
        let answer = response(&call.a_invite, status, reason, Some(&call.a.local_tag)).finish(b"");
        let (a_tx, forks) = (call.a_tx, call.forks.len());
        self.txn.respond(now, a_tx, answer);
        for i in 0..forks {
            self.cancel_fork(now, key, i);
        }
    }

    /// Where a local user's phones are: its registrations, or the fixed
    /// contact of an IP-authorised device. Without multi-device only the
    /// newest registration rings.
    pub(super) fn targets_of(&self, now: Time, user: &super::LocalUser) -> Vec<(Bytes, Flow)> {
        let mut bindings: Vec<(Bytes, Flow)> = self
            .registrar
            .lookup(now, &user.number)
            .into_iter()
            .map(|b| (b.contact, b.flow))
            .collect();
        if !user.multi_device && bindings.len() > 1 {
            bindings.drain(..bindings.len() - 1);
        }
        if bindings.is_empty() {
            if let Some(contact) = &user.contact {
                if let Some(flow) = self.flow_to_uri(contact.as_bytes()) {
                    bindings.push((Bytes::from(contact.clone()), flow));
                }
            }
        }
        bindings
    }

    /// A flow to a URI whose host is an IP address (the fixed contact of an
    /// IP-authorised device), over the URI's transport and our listener.
    pub(super) fn flow_to_uri(&self, uri: &[u8]) -> Option<Flow> {
        let Ok(Uri::Sip(u)) = Uri::parse(uri) else {
            return None;
        };
        let transport = match Uri::Sip(u.clone()).param("transport") {
            Some(t) => Transport::from_via_token(t)?,
            None if u.secure => Transport::Tls,
            None => Transport::Udp,
        };
        let (host, _) = parse_hostport(u.host).ok()?;
        let host = std::str::from_utf8(host).ok()?;
        let ip: std::net::IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let default_port = if transport == Transport::Tls {
            5061
        } else {
            5060
        };
        self.flow_to(
            transport,
            std::net::SocketAddr::new(ip, u.port.unwrap_or(default_port)),
        )
    }

    fn start_fork(&mut self, now: Time, key: CallKey, destination: Destination) {
        let Some(call) = self.calls.calls.get(&key) else {
            return;
        };
        let flow = destination.flow;
        let (leg, mut w, seq) = match &destination.callee {
            Callee::Provider(p) => {
                let a = p.quirks.address(&OutgoingCall {
                    number: &p.number,
                    caller: &call.caller_number,
                    caller_display: call.caller_display.as_deref(),
                    account: p.account.as_ref().map(|a| a.username.as_str()),
                    domain: &p.domain,
                });
                let contact = Bytes::from(contact_uri(&a.contact_user, flow.local, flow.transport));
                let target = Bytes::from(a.request_uri);
                let mut leg = Leg::outgoing(&mut self.ids, &a.from, &a.to, target, flow, contact);
                let (mut w, seq) = leg.request(&mut self.ids, "INVITE", None);
                offer_extensions(&p.quirks, &mut w);
                if let Some(pai) = &a.pai {
                    w.known(HeaderName::PAssertedIdentity, pai.as_bytes());
                }
                p.quirks.headers.add_to(&mut w);
                (leg, w, seq)
            }
            Callee::Phone { target, number } => {
                // Towards our own phones: the caller's number at our address.
                let ip = flow.local.ip();
                let host = if ip.is_ipv6() {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                let display = call
                    .caller_display
                    .as_deref()
                    .map(|d| format!("{d} "))
                    .unwrap_or_default();
                let from = format!("{display}<sip:{}@{host}>", call.caller_number);
                let to = format!("<sip:{number}@{host}>");
                let contact =
                    Bytes::from(contact_uri(&call.caller_number, flow.local, flow.transport));
                let mut leg =
                    Leg::outgoing(&mut self.ids, &from, &to, target.clone(), flow, contact);
                let (w, seq) = leg.request(&mut self.ids, "INVITE", None);
                (leg, w, seq)
            }
        };
        // Across the trust boundary, no auto-answer in and no identity
        // claims either way; a provider gets our own Supported, and none
        // of the headers its quirks strip.
        let provider = match destination.callee {
            Callee::Provider(p) => Some(p),
            Callee::Phone { .. } => None,
        };
        let from_provider = call.is_from_provider();
        copy_passthrough_except(&call.a_invite, &mut w, |h| {
            (from_provider && named(h, &AUTO_ANSWER))
                || ((from_provider || provider.is_some()) && named(h, &IDENTITY))
                || provider.as_ref().is_some_and(|p| {
                    h.name == HeaderName::Supported || p.quirks.headers.strips(h.full_name())
                })
        });
        let Ok(invite) = SipMessage::parse_datagram(w.finish(call.a_invite.body())) else {
            return;
        };
        let tx = self.txn.send_request(now, invite.clone(), flow);
        let index = call.forks.len();
        self.calls.index(key, Side::Callee(index), &leg);
        self.calls.clients.insert(tx, (key, Purpose::Invite(index)));
        if let Some(call) = self.calls.calls.get_mut(&key) {
            // Forks are few and a `Fork` large: no spare slots.
            call.forks.reserve_exact(1);
            call.forks.push(Fork {
                leg,
                invite: tx,
                invite_seq: seq,
                request: Some(invite),
                alternates: destination.alternates,
                provider,
                answered: false,
                done: false,
                cancel_wanted: false,
            });
        }
    }

    /// Sends fork `i`'s INVITE again, edited (credentials, a longer session
    /// interval): same dialog, next CSeq, new branch.
    fn resend_invite(
        &mut self,
        now: Time,
        key: CallKey,
        i: usize,
        edit: impl FnOnce(&mut SipMessage),
    ) {
        let Some(fork) = self
            .calls
            .calls
            .get_mut(&key)
            .and_then(|c| c.forks.get_mut(i))
        else {
            return;
        };
        fork.leg.local_cseq += 1;
        let seq = fork.leg.local_cseq;
        let Some(mut invite) = fork.request.clone() else {
            return;
        };
        invite.set_header(HeaderName::Via, fork.leg.via(&self.ids.branch()).as_bytes());
        invite.set_header(HeaderName::CSeq, format!("{seq} INVITE").as_bytes());
        edit(&mut invite);
        let tx = self.txn.send_request(now, invite.clone(), fork.leg.flow);
        fork.request = Some(invite);
        fork.invite = tx;
        fork.invite_seq = seq;
        self.calls.clients.insert(tx, (key, Purpose::Invite(i)));
    }

    /// Answers a provider's 401/407 to our INVITE with the line's
    /// credentials (RFC 3261 §22.2). False when there is nothing to answer
    /// with, or the same challenge came back (the credentials were refused).
    fn retry_with_credentials(
        &mut self,
        now: Time,
        key: CallKey,
        i: usize,
        msg: &SipMessage,
    ) -> bool {
        let cnonce = self.ids.tag();
        let Some(fork) = self
            .calls
            .calls
            .get_mut(&key)
            .and_then(|c| c.forks.get_mut(i))
        else {
            return false;
        };
        let Some(account) = fork.provider.as_ref().and_then(|p| p.account.as_ref()) else {
            return false;
        };
        let Some(uri) = fork.request.as_ref().and_then(|r| r.request_uri()) else {
            return false;
        };
        let uri = uri.to_vec();
        let Some((header, value)) =
            credentials_for(msg, b"INVITE", &uri, account, &cnonce, fork.answered)
        else {
            return false;
        };
        fork.answered = true;
        fork.leg.credentials = Some((header, value.clone()));
        self.resend_invite(now, key, i, |invite| {
            invite.remove_headers(header);
            invite.push_header(header.as_str().as_bytes(), value.as_bytes());
        });
        true
    }

    /// A provider's 422 (RFC 4028 §7.4): ask again with the interval its
    /// Min-SE names, once.
    fn retry_with_min_se(&mut self, now: Time, key: CallKey, i: usize, msg: &SipMessage) -> bool {
        let min_se = msg.min_se().and_then(Result::ok).map(|m| m.seconds);
        let Some(fork) = self.calls.calls.get(&key).and_then(|c| c.forks.get(i)) else {
            return false;
        };
        let asked = fork
            .request
            .as_ref()
            .and_then(|r| r.session_expires())
            .and_then(Result::ok)
            .map(|s| s.seconds);
        let timer = match &fork.provider {
            Some(p) => p.quirks.session_timer,
            None => return false,
        };
        let interval = match (min_se.and_then(|m| timer.after_422(m)), asked) {
            (Some(m), Some(asked)) if m > asked => m,
            _ => return false,
        };
        let Some((session_expires, min_se)) = timer.invite_headers(interval) else {
            return false;
        };
        self.resend_invite(now, key, i, |invite| {
            invite.set_header(HeaderName::SessionExpires, session_expires.as_bytes());
            invite.set_header(HeaderName::MinSe, min_se.as_bytes());
        });
        true
    }

    // ---- responses on callee legs --------------------------------------

    pub(super) fn on_response(&mut self, now: Time, tx: TxId, msg: SipMessage) {
        let Some((key, purpose)) = self.calls.clients.get(&tx).cloned() else {
            return;
        };
        let _span = tracing::info_span!("call", id = key.0, leg = "callee").entered();
        let status = msg.status().unwrap_or(500);
        // An INVITE's 2xx keeps coming during the transaction's Accepted
        // state (retransmissions, downstream forks): each must be ACKed, so
        // its entry stays until the call ends.
        let invite_2xx = matches!(purpose, Purpose::Invite(_)) && (200..300).contains(&status);
        if status >= 200 && !invite_2xx {
            self.calls.clients.remove(&tx);
        }
        match purpose {
            Purpose::Invite(i) => self.on_fork_response(now, key, i, msg),
            Purpose::Relay { server, request } => {
                self.relay_response(now, server, &request, &msg, key)
            }
            Purpose::Refresh => self.on_refresh_response(now, key, &msg),
            Purpose::Own => {}
        }
    }

    fn on_fork_response(&mut self, now: Time, key: CallKey, i: usize, msg: SipMessage) {
        let status = msg.status().unwrap_or(500);
        match status {
            // Even a 100 makes the INVITE cancellable (§9.1).
            100 => self.cancel_if_wanted(now, key, i),
            101..=199 => self.on_fork_provisional(now, key, i, msg),
            200..=299 => self.on_fork_2xx(now, key, i, msg),
            300..=399 => self.on_fork_redirect(now, key, i, msg),
            401 | 407 if self.retry_with_credentials(now, key, i, &msg) => {}
            422 if self.retry_with_min_se(now, key, i, &msg) => {}
            _ => self.on_fork_failure(now, key, i, Some(msg)),
        }
    }

    fn on_fork_provisional(&mut self, now: Time, key: CallKey, i: usize, msg: SipMessage) {
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let Some(fork) = call.forks.get_mut(i) else {
            return;
        };
        fork.leg.learn_from_response(&msg);
        if fork.cancel_wanted {
            let invite = fork.invite;
            self.txn.cancel(now, invite);
            return;
        }
        // A provider whose 100rel is disabled gets no PRACK: its
        // "reliable" provisional is taken as an ordinary one.
        let pracks = fork
            .provider
            .as_ref()
            .is_none_or(|p| p.quirks.rel100.pracks());
        let reliable = pracks && msg.has_option_tag(HeaderName::Require, "100rel");
        let rack = match (msg.rseq(), msg.cseq()) {
            (Some(Ok(rseq)), Some(Ok(cseq))) if reliable => {
                Some(format!("{rseq} {} INVITE", cseq.seq))
            }
            _ => None,
        };
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let relay = call.winner.is_none() && !call.cancelled;
        let end_to_end = relay && call.a_100rel && rack.is_some() && call.reliable.is_none();
        if let (Some(rack), false) = (&rack, end_to_end) {
            // The caller cannot take it reliably (or it already has one
            // pending): acknowledge it here, on this leg (RFC 3262).
            let leg = &mut call.forks[i].leg;
            let add = |w: &mut MessageWriter| {
                w.known(HeaderName::RAck, rack.as_bytes());
            };
            if let Some(tx) = send_on(&mut self.txn, &mut self.ids, now, leg, "PRACK", add, b"") {
                self.calls.clients.insert(tx, (key, Purpose::Own));
            }
        }
        if !relay {
            return;
        }
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let rseq = call.next_rseq.to_string();
        let provisional = to_caller(call, &msg, |w| {
            if end_to_end {
                w.known(HeaderName::Require, b"100rel");
                w.known(HeaderName::RSeq, rseq.as_bytes());
            }
        });
        if let (true, Some(callee_rack)) = (end_to_end, rack) {
            call.reliable = Some(Reliable {
                rseq: call.next_rseq,
                resend: Resend::new(call.a.flow, provisional.clone(), now),
                fork: i,
                callee_rack,
            });
            call.next_rseq += 1;
            if !call.a.flow.transport.is_reliable() {
                self.timers.set(GwTimer::Retransmit1xx(key), now + T1);
            }
        }
        let a_tx = call.a_tx;
        self.txn.respond(now, a_tx, provisional);
    }

    /// Retransmits the reliable provisional until the caller PRACKs it
    /// (RFC 3262 §3), rejecting the call with a 5xx after 64*T1.
    pub(super) fn retransmit_1xx(&mut self, now: Time, key: CallKey) {
        let Some(pending) = self
            .calls
            .calls
            .get_mut(&key)
            .and_then(|c| c.reliable.as_mut())
        else {
            return;
        };
        // RFC 3262 §3 doubles the interval without a cap.
        match pending.resend.next(now, Duration::MAX) {
            None => self.abandon(now, key, 504, "No PRACK Received"),
            Some(next) => {
                let (flow, data) = (pending.resend.flow, pending.resend.data.clone());

                self.resend(flow, data, GwTimer::Retransmit1xx(key), next);
            }
        }
    }

    /// The caller's PRACK: it acknowledges our reliable provisional, and is
    /// relayed to the callee as the PRACK of its own.
    fn on_caller_prack(&mut self, now: Time, key: CallKey, server: TxId, msg: SipMessage) {
        let rseq = msg.rack().and_then(Result::ok).map(|r| r.rseq);
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let matches = call.reliable.as_ref().is_some_and(|r| Some(r.rseq) == rseq);
        if !matches {
            return self.reply(
                now,
                server,
                &msg,
                481,
                "Call/Transaction Does Not Exist",
                |_| {},
            );
        }
        let Some(pending) = call.reliable.take() else {
            return;
        };
        self.timers.cancel(GwTimer::Retransmit1xx(key));
        let Some(fork) = call.forks.get_mut(pending.fork) else {
            return;
        };
        let add = |w: &mut MessageWriter| {
            w.known(HeaderName::RAck, pending.callee_rack.as_bytes());
            copy_passthrough(&msg, w);
        };
        let sent = send_on(
            &mut self.txn,
            &mut self.ids,
            now,
            &mut fork.leg,
            "PRACK",
            add,
            msg.body(),
        );
        if let Some(tx) = sent {
            self.calls.clients.insert(
                tx,
                (
                    key,
                    Purpose::Relay {
                        server,
                        request: Box::new(msg),
                    },
                ),
            );
        }
    }

    fn on_fork_2xx(&mut self, now: Time, key: CallKey, i: usize, msg: SipMessage) {
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let Some(fork) = call.forks.get_mut(i) else {
            return;
        };
        fork.done = true;
        fork.request = None;
        let seq = fork.invite_seq;
        let tag = to_tag(&msg);
        let first = call.winner.is_none() && !call.cancelled;
        let retransmission = call.winner == Some(i) && fork.leg.remote_tag == tag;
        if first {
            fork.leg.learn_from_response(&msg);
            call.winner = Some(i);
        }
        let mut leg = fork.leg.clone();
        if !first && !retransmission {
            // Another fork answered too, or the caller gave up: accept that
            // dialog only to end it (§13.2.2.4).
            leg.learn_from_response(&msg);
        }
        // Late offer: the INVITE had no SDP, so this 2xx carries the offer
        // and the caller's ACK the answer, which the callee's ACK must
        // carry. The winner is ACKed when the caller ACKs.
        let late_offer = call.a_invite.body().is_empty();
        if late_offer && (first || retransmission) {
            call.late_ack = Some(seq);
        } else {
            // Every 2xx is ACKed, a retransmitted one again (our ACK was lost).
            self.send_ack(&mut leg, seq, None);
        }
        if !first {
            if !retransmission {
                self.send_bye(now, key, &mut leg);
            }
            // A call that never got an answer of its own ends once every
            // fork is over (the caller cancelled, or nobody answered).
            let over = self
                .calls
                .calls
                .get(&key)
                .is_some_and(|c| c.winner.is_none() && c.forks.iter().all(|f| f.done));
            if over {
                self.end_call(key);
            }
            return;
        }
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let ok = to_caller(call, &msg, |_| {});
        call.a_2xx = Some(Resend::new(call.a.flow, ok.clone(), now));
        call.session = call.forks[i]
            .provider
            .as_ref()
            .and_then(|p| p.quirks.session_timer.negotiate(&msg));
        let session = call.session;
        let a_tx = call.a_tx;
        let reliable = call.a.flow.transport.is_reliable();
        let others: Vec<usize> = (0..call.forks.len()).filter(|&j| j != i).collect();
        call.reliable = None;
        if let Some(session) = session {
            self.arm_session_timer(now, key, session);
        }
        self.timers.cancel(GwTimer::Retransmit1xx(key));
        tracing::info!(call = key.0, "answered");
        self.txn.respond(now, a_tx, ok);
        if !reliable {
            self.timers.set(GwTimer::Retransmit2xx(key), now + T1);
        }
        for j in others {
            self.cancel_fork(now, key, j);
        }
    }

    fn on_fork_redirect(&mut self, now: Time, key: CallKey, i: usize, msg: SipMessage) {
        let target = msg
            .contacts()
            .next()
            .and_then(Result::ok)
            .map(|c| Bytes::copy_from_slice(c.uri));
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let follow = target
            .filter(|_| call.redirects < MAX_REDIRECTS && !call.cancelled && call.winner.is_none());
        let Some(target) = follow else {
            return self.on_fork_failure(now, key, i, Some(msg));
        };
        // Only a redirect to one of our own users is followed: a callee must
        // not be able to send the call to any address it names (around the
        // dial plan, the blacklist and the trust placed in trunks).
        let next: Vec<(Bytes, Flow)> = super::uri_number(&target)
            .and_then(|n| self.user(&n).cloned())
            .map(|u| self.targets_of(now, &u))
            .unwrap_or_default();
        if next.is_empty() {
            return self.on_fork_failure(now, key, i, Some(msg));
        }
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        call.redirects += 1;
        if let Some(f) = call.forks.get_mut(i) {
            f.done = true;
        }
        let forwarded = super::uri_number(&target).unwrap_or_default();
        let mut w = response(
            &call.a_invite,
            181,
            "Call Is Being Forwarded",
            Some(&call.a.local_tag),
        );
        w.known(HeaderName::Contact, &call.a.contact_header());
        w.known(
            HeaderName::CallInfo,
            format!(
                "purpose=forwarding, username=\"{forwarded}\", contact=\"{}\"",
                String::from_utf8_lossy(&target)
            )
            .as_bytes(),
        );
        let a_tx = call.a_tx;
        self.txn.respond(now, a_tx, w.finish(b""));
        for (target, flow) in next {
            let number = super::uri_number(&target).unwrap_or_default();
            self.start_fork(
                now,
                key,
                Destination {
                    flow,
                    callee: Callee::Phone { target, number },
                    alternates: Vec::new(),
                },
            );
        }
    }

    /// A fork ended without answering (`None`: it timed out).
    fn on_fork_failure(&mut self, now: Time, key: CallKey, i: usize, msg: Option<SipMessage>) {
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        // A peer that timed out or is overloaded: its next DNS target may
        // take the call (RFC 3263 §4.3).
        let retryable = msg.as_ref().is_none_or(|m| m.status() == Some(503));
        if retryable && !call.cancelled && call.winner.is_none() {
            if let Some(fork) = call.forks.get_mut(i) {
                if let (false, Some(provider)) = (fork.alternates.is_empty(), &fork.provider) {
                    fork.done = true;
                    let flow = fork.alternates.remove(0);
                    let destination = Destination {
                        flow,
                        callee: Callee::Provider(provider.clone()),
                        alternates: std::mem::take(&mut fork.alternates),
                    };
                    tracing::info!(peer = %flow.remote, "trying the peer's next target");
                    return self.start_fork(now, key, destination);
                }
            }
        }
        if let Some(f) = call.forks.get_mut(i) {
            f.done = true;
        }
        if let Some(m) = msg {
            call.failures.push(m);
        }
        if call.forks.iter().any(|f| !f.done) || call.winner.is_some() {
            return;
        }
        // Every fork failed: the caller hears the best failure, unless it
        // already cancelled (and heard 487).
        if !call.cancelled {
            let a_tx = call.a_tx;
            let tag = call.a.local_tag.clone();
            let answer = match best_failure(&call.failures) {
                Some(f) => to_caller(call, f, |_| {}),
                None => response(&call.a_invite, 408, "Request Timeout", Some(&tag)).finish(b""),
            };
            self.txn.respond(now, a_tx, answer);
        }
        tracing::info!(call = key.0, "call failed");
        self.end_call(key);
    }

    pub(super) fn on_client_timeout(&mut self, now: Time, tx: TxId) {
        let Some((key, purpose)) = self.calls.clients.remove(&tx) else {
            return;
        };
        match purpose {
            Purpose::Invite(i) => self.on_fork_failure(now, key, i, None),
            Purpose::Relay { server, request } => {
                let answer = response(&request, 408, "Request Timeout", None).finish(b"");
                self.txn.respond(now, server, answer);
            }
            // A refresh without an answer: the session is gone (§10).
            Purpose::Refresh => self.hang_up(now, key, None),
            Purpose::Own => {}
        }
    }

    fn cancel_if_wanted(&mut self, now: Time, key: CallKey, i: usize) {
        let wanted = self
            .calls
            .calls
            .get(&key)
            .and_then(|c| c.forks.get(i))
            .filter(|f| f.cancel_wanted && !f.done);
        if let Some(invite) = wanted.map(|f| f.invite) {
            self.txn.cancel(now, invite);
        }
    }

    fn cancel_fork(&mut self, now: Time, key: CallKey, i: usize) {
        let Some(fork) = self
            .calls
            .calls
            .get_mut(&key)
            .and_then(|c| c.forks.get_mut(i))
        else {
            return;
        };
        if fork.done {
            return;
        }
        let invite = fork.invite;
        if self.txn.cancel(now, invite).is_none() {
            // Not cancellable before a provisional (§9.1): do it then.
            fork.cancel_wanted = true;
        }
    }

    /// ACKs a 2xx; `body` carries the caller's SDP answer to a late offer.
    fn send_ack(&mut self, leg: &mut Leg, invite_seq: u32, body: Option<&SipMessage>) {
        let (mut w, _) = leg.request(&mut self.ids, "ACK", Some(invite_seq));
        if let Some((name, value)) = &leg.credentials {
            w.known(*name, value.as_bytes());
        }
        let bytes = match body {
            Some(ack) => {
                if let Some(ct) = ack.header(HeaderName::ContentType) {
                    w.known(HeaderName::ContentType, ct);
                }
                w.finish(ack.body())
            }
            None => w.finish(b""),
        };
        self.txn.send_stateless(leg.flow, bytes);
    }

    fn send_bye(&mut self, now: Time, key: CallKey, leg: &mut Leg) {
        if let Some(tx) = send_on(&mut self.txn, &mut self.ids, now, leg, "BYE", |_| {}, b"") {
            self.calls.clients.insert(tx, (key, Purpose::Own));
        }
    }

    // ---- the caller's side ---------------------------------------------

    /// The caller's CANCEL: 200 with the tag the 487 will carry (§9.2),
    /// then give up on the call.
    pub(super) fn on_cancelled(
        &mut self,
        now: Time,
        invite: TxId,
        cancel_tx: TxId,
        cancel: &SipMessage,
    ) {
        let key = self.calls.invites.get(&invite).copied();
        let tag = match key.and_then(|k| self.calls.calls.get(&k)) {
            Some(call) => call.a.local_tag.clone(),
            None => crate::stateless::stateless_tag(cancel),
        };
        self.txn.respond(
            now,
            cancel_tx,
            response(cancel, 200, "OK", Some(&tag)).finish(b""),
        );
        let Some(key) = key else {
            return;
        };
        let _span = tracing::info_span!("call", id = key.0, leg = "caller").entered();
        tracing::info!("cancelled by the caller");
        self.abandon(now, key, 487, "Request Terminated");
    }

    pub(super) fn on_ack(&mut self, _now: Time, msg: SipMessage, _flow: Flow) {
        let (Some(call_id), Some(tag)) = (msg.call_id(), to_tag(&msg)) else {
            return;
        };
        let key = (
            Bytes::copy_from_slice(call_id),
            String::from_utf8_lossy(&tag).into_owned(),
        );
        if let Some(&(call, _)) = self.calls.dialogs.get(&key) {
            if let Some(c) = self.calls.calls.get_mut(&call) {
                c.re_2xx = None;
            }
            self.timers.cancel(GwTimer::RetransmitRe2xx(call));
        }
        if let Some(&(call, Side::Caller)) = self.calls.dialogs.get(&key) {
            let mut late = None;
            if let Some(c) = self.calls.calls.get_mut(&call) {
                c.a_2xx = None;
                // Confirmed: from here the INVITE only answers for its
                // dialog identifiers and its offer (a re-INVITE refresh).
                c.a_invite = c.a_invite.compact(|name| {
                    matches!(
                        name,
                        HeaderName::Via
                            | HeaderName::From
                            | HeaderName::To
                            | HeaderName::CallId
                            | HeaderName::CSeq
                            | HeaderName::RecordRoute
                            | HeaderName::ContentType
                            | HeaderName::ContentLength
                    )
                });
                if let (Some(seq), Some(w)) = (c.late_ack.take(), c.winner) {
                    late = Some((c.forks[w].leg.clone(), seq));
                }
            }
            self.timers.cancel(GwTimer::Retransmit2xx(call));
            // The callee of a late offer gets the caller's answer now.
            if let Some((mut leg, seq)) = late {
                self.send_ack(&mut leg, seq, Some(&msg));
            }
        }
    }

    /// A 2xx for an INVITE whose transaction is gone: ACK it, and end the
    /// dialog unless it is the one the call already uses.
    pub(super) fn on_stray_2xx(&mut self, now: Time, msg: SipMessage, _flow: Flow) {
        let (Some(call_id), Some(Ok(from))) = (msg.call_id(), msg.from_header()) else {
            return;
        };
        let Some(tag) = from.tag() else {
            return;
        };
        let key = (
            Bytes::copy_from_slice(call_id),
            String::from_utf8_lossy(tag).into_owned(),
        );
        let Some(&(call_key, Side::Callee(i))) = self.calls.dialogs.get(&key) else {
            return;
        };
        self.on_fork_2xx(now, call_key, i, msg);
    }

    /// Sends one retransmission and arms the next.
    fn resend(&mut self, flow: Flow, data: Bytes, timer: GwTimer, next: Time) {
        self.txn.send_stateless(flow, data);
        self.timers.set(timer, next);
    }

    /// Resends our 2xx to a re-INVITE until its ACK, for 64*T1 at most.
    pub(super) fn retransmit_re_2xx(&mut self, now: Time, key: CallKey) {
        self.resend_2xx(now, key, |c| &mut c.re_2xx, GwTimer::RetransmitRe2xx(key));
    }

    /// Resends our 2xx to the caller until its ACK; without one after
    /// 64*T1 the caller is gone and the call ends (§13.3.1.4).
    pub(super) fn retransmit_2xx(&mut self, now: Time, key: CallKey) {
        if self.resend_2xx(now, key, |c| &mut c.a_2xx, GwTimer::Retransmit2xx(key)) {
            tracing::info!(call = key.0, "no ACK for the 2xx, ending the call");
            self.hang_up(now, key, None);
        }
    }

    /// Resends the 2xx held in `slot` and re-arms `timer`; true when its
    /// 64*T1 are over without an ACK (the slot is emptied then).
    fn resend_2xx(
        &mut self,
        now: Time,
        key: CallKey,
        slot: fn(&mut Call) -> &mut Option<Resend>,
        timer: GwTimer,
    ) -> bool {
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return false;
        };
        let Some(resend) = slot(call).as_mut() else {
            return false;
        };
        match resend.next(now, T2) {
            None => {
                *slot(call) = None;
                true
            }
            Some(next) => {
                let (flow, data) = (resend.flow, resend.data.clone());
                self.resend(flow, data, timer, next);
                false
            }
        }
    }

    // ---- requests inside a dialog ----------------------------------------

    pub(super) fn on_in_dialog(&mut self, now: Time, tx: TxId, msg: SipMessage, _flow: Flow) {
        let method = msg.method().cloned().unwrap_or(Method::Options);
        let found = (|| {
            let call_id = Bytes::copy_from_slice(msg.call_id()?);
            let tag = String::from_utf8_lossy(&to_tag(&msg)?).into_owned();
            self.calls.dialogs.get(&(call_id, tag)).copied()
        })();
        let Some((key, side)) = found else {
            return self.reply(
                now,
                tx,
                &msg,
                481,
                "Call/Transaction Does Not Exist",
                |_| {},
            );
        };
        let _span = tracing::info_span!("call", id = key.0, leg = ?side).entered();
        let keepalive = matches!(
            method,
            Method::Update | Method::Info | Method::Message | Method::Options
        ) && msg.body().is_empty();
        match method {
            Method::Bye => {
                self.reply(now, tx, &msg, 200, "OK", |_| {});
                let winner = self.calls.calls.get(&key).and_then(|c| c.winner);
                match (side, winner) {
                    // A fork that lost (a crossing late answer) ends alone.
                    (Side::Callee(j), w) if w != Some(j) => {
                        if let Some(f) = self
                            .calls
                            .calls
                            .get_mut(&key)
                            .and_then(|c| c.forks.get_mut(j))
                        {
                            f.done = true;
                        }
                    }
                    // The caller gave up before an answer: as a CANCEL.
                    (Side::Caller, None) => self.abandon(now, key, 487, "Request Terminated"),
                    _ => self.hang_up(now, key, Some(side)),
                }
            }
            Method::Prack if side == Side::Caller => self.on_caller_prack(now, key, tx, msg),
            // We PRACK the callee ourselves and never send it provisionals.
            Method::Prack => self.reply(
                now,
                tx,
                &msg,
                481,
                "Call/Transaction Does Not Exist",
                |_| {},
            ),
            // Session keep-alive: the dialog exists, so it is alive.
            _ if keepalive => self.reply(now, tx, &msg, 200, "OK", |_| {}),
            _ => self.relay_request(now, key, side, tx, msg),
        }
    }

    fn relay_request(
        &mut self,
        now: Time,
        key: CallKey,
        side: Side,
        server: TxId,
        msg: SipMessage,
    ) {
        if matches!(msg.method(), Some(Method::Invite | Method::Update)) {
            if let Some(call) = self.calls.calls.get_mut(&key) {
                match side {
                    Side::Caller => call.a.learn_target(&msg),
                    Side::Callee(i) => {
                        if let Some(f) = call.forks.get_mut(i) {
                            f.leg.learn_target(&msg);
                        }
                    }
                }
            }
        }
        let is_refresh = matches!(msg.method(), Some(Method::Invite | Method::Update));
        match side {
            Side::Callee(_) if is_refresh => self.session_refreshed(now, key),
            Side::Caller if is_refresh && !msg.body().is_empty() => {
                if let Some(call) = self.calls.calls.get_mut(&key) {
                    call.provider_sdp = Some(Bytes::copy_from_slice(msg.body()));
                }
            }
            _ => {}
        }
        let method =
            String::from_utf8_lossy(msg.method().map(Method::as_bytes).unwrap_or_default())
                .into_owned();
        // Toward a provider, the headers its quirks strip stay behind and
        // the ones they add are added.
        let edits = match side {
            Side::Caller => self
                .calls
                .calls
                .get(&key)
                .and_then(|c| c.forks.get(c.winner?)?.provider.as_ref())
                .map(|p| p.quirks.clone()),
            Side::Callee(_) => None,
        };
        let sent = self.calls.peer_leg(key, side).map(|leg| {
            let add = |w: &mut MessageWriter| match &edits {
                Some(q) => {
                    copy_passthrough_except(&msg, w, |h| q.headers.strips(h.full_name()));
                    q.headers.add_to(w);
                }
                None => copy_passthrough(&msg, w),
            };
            send_on(
                &mut self.txn,
                &mut self.ids,
                now,
                leg,
                &method,
                add,
                msg.body(),
            )
        });
        let Some(sent) = sent else {
            return self.reply(
                now,
                server,
                &msg,
                481,
                "Call/Transaction Does Not Exist",
                |_| {},
            );
        };
        let Some(tx) = sent else {
            return;
        };
        self.calls.clients.insert(
            tx,
            (
                key,
                Purpose::Relay {
                    server,
                    request: Box::new(msg),
                },
            ),
        );
    }

    fn relay_response(
        &mut self,
        now: Time,
        server: TxId,
        request: &SipMessage,
        resp: &SipMessage,
        key: CallKey,
    ) {
        let status = resp.status().unwrap_or(500);
        if status == 100 {
            return;
        }
        let reason = String::from_utf8_lossy(resp.reason().unwrap_or_default()).into_owned();
        let mut w = response(request, status, &reason, None);
        let is_invite = request.method() == Some(&Method::Invite);
        if (200..300).contains(&status)
            && matches!(request.method(), Some(Method::Invite | Method::Update))
        {
            // Our Contact on the leg the request came from.
            let side = self.side_of(key, request);
            let contact = side.and_then(|s| self.leg(key, s)).map(Leg::contact_header);
            if let Some(c) = contact {
                w.known(HeaderName::Contact, &c);
            }
        }
        copy_passthrough(resp, &mut w);
        let answer = w.finish(resp.body());
        self.txn.respond(now, server, answer.clone());
        if is_invite && (200..300).contains(&status) {
            // Our 2xx to a re-INVITE is ours to retransmit until its ACK,
            // as for the first INVITE (§13.3.1.4).
            if let (Some(side), Some(call)) =
                (self.side_of(key, request), self.calls.calls.get_mut(&key))
            {
                let flow = match side {
                    Side::Caller => call.a.flow,
                    Side::Callee(i) => call.forks[i].leg.flow,
                };
                if !flow.transport.is_reliable() {
                    call.re_2xx = Some(Resend::new(flow, answer, now));
                    self.timers.set(GwTimer::RetransmitRe2xx(key), now + T1);
                }
            }
            // ACK the re-INVITE on the leg that answered it.
            let side = self.side_of(key, request).map(|s| match s {
                Side::Caller => self
                    .calls
                    .calls
                    .get(&key)
                    .and_then(|c| c.winner)
                    .map(Side::Callee),
                Side::Callee(_) => Some(Side::Caller),
            });
            if let Some(Some(answered)) = side {
                let seq = resp.cseq().and_then(Result::ok).map(|c| c.seq);
                let mut leg = self.leg(key, answered).cloned();
                if let (Some(leg), Some(seq)) = (leg.as_mut(), seq) {
                    leg.learn_target(resp);
                    self.send_ack(leg, seq, None);
                }
            }
        }
    }

    fn side_of(&self, key: CallKey, request: &SipMessage) -> Option<Side> {
        let call_id = Bytes::copy_from_slice(request.call_id()?);
        let tag = String::from_utf8_lossy(&to_tag(request)?).into_owned();
        let &(k, side) = self.calls.dialogs.get(&(call_id, tag))?;
        (k == key).then_some(side)
    }

    fn leg(&self, key: CallKey, side: Side) -> Option<&Leg> {
        let call = self.calls.calls.get(&key)?;
        match side {
            Side::Caller => Some(&call.a),
            Side::Callee(i) => call.forks.get(i).map(|f| &f.leg),
        }
    }

    /// Ends an established call: BYE to every leg but the one that hung up.
    fn hang_up(&mut self, now: Time, key: CallKey, from: Option<Side>) {
        let Some(call) = self.calls.calls.get(&key) else {
            return;
        };
        let mut legs = Vec::new();
        if from != Some(Side::Caller) {
            legs.push(call.a.clone());
        }
        if let Some(w) = call.winner {
            if from != Some(Side::Callee(w)) {
                legs.push(call.forks[w].leg.clone());
            }
        }
        tracing::info!(call = key.0, "hung up");
        for mut leg in legs {
            self.send_bye(now, key, &mut leg);
        }
        self.end_call(key);
    }

    fn end_call(&mut self, key: CallKey) {
        if let Some(call) = self.calls.calls.get(&key) {
            let (provider, transit) = (call.provider, call.transit);
            if let Some((peer, direction)) = provider {
                self.count_call(peer, direction, false);
            }
            if let Some(source) = transit {
                self.count_call(source, Direction::In, false);
            }
        }
        self.timers.cancel(GwTimer::SessionRefresh(key));
        self.timers.cancel(GwTimer::SessionExpiry(key));
        self.calls.clients.retain(|_, (k, _)| *k != key);
        self.timers.cancel(GwTimer::RetransmitRe2xx(key));
        self.timers.cancel(GwTimer::NoAnswer(key));
        self.timers.cancel(GwTimer::Retransmit2xx(key));
        self.timers.cancel(GwTimer::Retransmit1xx(key));
        self.calls.remove(key);
    }

    // ---- session timers of the provider leg (RFC 4028) ----------------

    fn arm_session_timer(&mut self, now: Time, key: CallKey, session: Negotiated) {
        if session.we_refresh {
            self.timers
                .set(GwTimer::SessionRefresh(key), now + session.refresh_in());
        } else {
            self.timers
                .set(GwTimer::SessionExpiry(key), now + session.expiry_in());
        }
    }

    /// The provider refreshed the session (a re-INVITE or UPDATE of its own).
    fn session_refreshed(&mut self, now: Time, key: CallKey) {
        let watched = self
            .calls
            .calls
            .get(&key)
            .and_then(|c| c.session)
            .filter(|s| !s.we_refresh);
        if let Some(session) = watched {
            self.arm_session_timer(now, key, session);
        }
    }

    /// Our turn to refresh: an UPDATE without a body, or a re-INVITE
    /// repeating the session's last offer, as the provider's quirks say.
    pub(super) fn refresh_session(&mut self, now: Time, key: CallKey) {
        let Some(call) = self.calls.calls.get_mut(&key) else {
            return;
        };
        let (Some(w), Some(session)) = (call.winner, call.session) else {
            return;
        };
        // Copied only here, at a refresh, not for every call.
        let offer = call
            .provider_sdp
            .clone()
            .unwrap_or_else(|| Bytes::copy_from_slice(call.a_invite.body()));
        let Some(fork) = call.forks.get_mut(w) else {
            return;
        };
        let Some(provider) = &fork.provider else {
            return;
        };
        let timer = provider.quirks.session_timer;
        let (method, body) = match timer.method {
            RefreshMethod::Invite if !offer.is_empty() => ("INVITE", offer),
            _ => ("UPDATE", Bytes::new()),
        };
        let interval = session.interval.as_secs();
        let add = |w: &mut MessageWriter| {
            w.known(HeaderName::Supported, b"timer");
            w.known(
                HeaderName::SessionExpires,
                format!("{interval};refresher=uac").as_bytes(),
            );
            if !body.is_empty() {
                w.known(HeaderName::ContentType, b"application/sdp");
            }
        };
        tracing::debug!(call = key.0, %method, "refreshing the session");
        let sent = send_on(
            &mut self.txn,
            &mut self.ids,
            now,
            &mut fork.leg,
            method,
            add,
            &body,
        );
        if let Some(tx) = sent {
            self.calls.clients.insert(tx, (key, Purpose::Refresh));
        }
    }

    fn on_refresh_response(&mut self, now: Time, key: CallKey, msg: &SipMessage) {
        let status = msg.status().unwrap_or(500);
        let Some(call) = self.calls.calls.get(&key) else {
            return;
        };
        match status {
            100..=199 => {}
            200..=299 => {
                let Some(fork) = call.winner.and_then(|w| call.forks.get(w)) else {
                    return;
                };
                let mut leg = fork.leg.clone();
                let renegotiated = fork
                    .provider
                    .as_ref()
                    .and_then(|p| p.quirks.session_timer.negotiate(msg));
                let session = renegotiated.or(call.session);
                let cseq = msg.cseq().and_then(Result::ok);
                if let Some(c) = cseq.filter(|c| c.method == b"INVITE") {
                    let seq = c.seq;
                    self.send_ack(&mut leg, seq, None);
                }
                if let Some(call) = self.calls.calls.get_mut(&key) {
                    call.session = session;
                }
                if let Some(session) = session {
                    self.arm_session_timer(now, key, session);
                }
            }
            // The provider no longer knows the session (§10).
            408 | 481 => {
                tracing::info!(
                    call = key.0,
                    status,
                    "session refresh refused: ending the call"
                );
                self.hang_up(now, key, None);
            }
            _ => {
                tracing::warn!(
                    call = key.0,
                    status,
                    "session refresh failed; a provider that refuses UPDATE may take session_refresh_method = \"invite\""
                );
                if let Some(session) = call.session {
                    self.arm_session_timer(now, key, session);
                }
            }
        }
    }

    /// The provider let the session expire without refreshing it: the
    /// call is dead on its side, so end it on both (§10).
    pub(super) fn on_session_expired(&mut self, now: Time, key: CallKey) {
        tracing::info!(
            call = key.0,
            "session expired without a refresh: ending the call"
        );
        self.hang_up(now, key, None);
    }
}
