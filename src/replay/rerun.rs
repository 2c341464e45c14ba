//! `replay --profile`: the capture's conversation with one provider re-run
//! through quirkgate's sans-IO core under a quirk profile.
//!
//! The gateway takes the place of the capture's local side (the phone, PBX
//! or old gateway that talked to the provider). A stand-in phone places the
//! calls the local side placed, at the capture's times, and hangs up or
//! cancels when it did; the core registers on its own when the local side
//! registered. The provider's side comes from the capture: each request the
//! core sends is matched to the local side's request of the same method and
//! order (within its call) and answered with what the provider answered
//! then. With a provider model (a catalogue entry's stubborn behaviour as
//! rules) the model answers instead where a rule applies, and where the
//! capture only shows a refusal the model's provider behaves as RFC 3261
//! asks, so the run shows whether the profile gets the flow through.
//!
//! Each message the gateway sends the provider is compared with its
//! counterpart in the capture, and every changed line is put down to the
//! profile key that changes it: the run is repeated with each of the
//! profile's keys alone, and a key owns the lines it changes on its own.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quirkgate_core::dialplan::{DialPlan, Route, Target};
use quirkgate_core::gateway::{
    Gateway, GatewayConfig, LineConfig, LocalUser, NatMode, TrunkConfig,
};
use quirkgate_core::msg::build::{response, MessageWriter};
use quirkgate_core::msg::uri::Uri;
use quirkgate_core::msg::{HeaderName, SipMessage};
use quirkgate_core::quirks::Quirks;
use quirkgate_core::time::Time;
use quirkgate_core::transport::{Flow, Transport};
use serde::Serialize;

use super::method_of;
use crate::capture::{self, Message};
use crate::catalogue::{Rule, Seen};
use crate::config::profiles;
use crate::config::quirks::QuirkSettings;

/// The office phone the stand-in plays, on a documentation address
/// (RFC 5737): nothing is sent anywhere, the core is sans-IO.
const PHONE: &str = "198.51.100.1:5060";
const PROVIDER_NAME: &str = "provider";
/// The password the core answers challenges with: the capture's is unknown,
/// and the provider's answers come from the capture or the model anyway.
const PASSWORD: &str = "replay";
/// How long after the capture's last message the run goes on, for
/// retransmissions and timers (64·T1).
const SETTLE: Duration = Duration::from_secs(32);
/// A provider answering from a model does so this fast.
const MODEL_DELAY_NS: u64 = 1_000_000;

/// What to re-run and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// A profile name or path.
    pub profile: String,
    /// The provider; by default the destination of the first request.
    pub provider: Option<SocketAddr>,
    /// Model rules, with the catalogue entry each came from.
    pub model: Vec<(String, Rule)>,
    /// Where relative profile paths are found.
    pub base: std::path::PathBuf,
}

/// The gateway's legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    Phone,
    Provider,
}

/// A line the gateway sends differently from the capture's counterpart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `+` sent now, `-` sent in the capture.
    pub sign: char,
    pub line: String,
    /// The profile keys that make the change, or `gateway` when quirkgate
    /// writes this line differently from the captured sender whatever the
    /// profile.
    pub cause: Vec<String>,
}

/// One message of the re-run.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub time_ns: u64,
    pub leg: Leg,
    /// Sent by the gateway (else received by it).
    pub sent: bool,
    #[serde(serialize_with = "as_text")]
    pub msg: SipMessage,
    /// Where an answer came from, or which capture message a request stands
    /// for.
    pub note: String,
    pub changes: Vec<Change>,
}

fn as_text<S: serde::Serializer>(msg: &SipMessage, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(&msg.to_bytes()))
}

/// The whole re-run.
#[derive(Debug, Clone, Serialize)]
pub struct Rerun {
    pub profile: String,
    pub provider: SocketAddr,
    /// The capture's side the gateway stands in for.
    pub local: SocketAddr,
    pub phone: SocketAddr,
    pub model: Vec<String>,
    pub steps: Vec<Step>,
    /// How registrations and calls ended.
    pub outcome: Vec<String>,
}

/// Re-runs `messages` under `options`.
pub fn rerun(messages: &[Message], options: &Options) -> Result<Rerun, String> {
    let resolved = profiles::resolve(Some(&options.profile), None, &options.base)?;
    let quirks = resolved
        .settings
        .resolve()
        .map_err(|e| format!("profile {}: {}: {}", options.profile, e.key, e.message))?;
    let plan = Plan::new(messages, options.provider)?;
    let mut run = Sim::new(&plan, Arc::new(quirks), &options.model).run();
    // Attribution: the same run on the defaults, and on each key alone.
    let baseline = Sim::new(&plan, Arc::new(defaults()), &options.model).run();
    let table = toml::Table::try_from(&resolved.settings).unwrap_or_default();
    let mut solos = Vec::new();
    let set: Vec<&String> = table
        .keys()
        .filter(|k| resolved.origins.get(*k).is_some_and(|o| o != "default"))
        .collect();
    for key in &set {
        if let Some((name, quirks)) = alone(key, &set, &table) {
            solos.push((
                name,
                Sim::new(&plan, Arc::new(quirks), &options.model).run(),
            ));
        }
    }
    attribute(&mut run, &baseline, &solos, &plan);
    Ok(Rerun {
        profile: options.profile.clone(),
        provider: plan.provider,
        local: plan.local,
        phone: phone(),
        model: {
            let mut names: Vec<String> = options.model.iter().map(|(n, _)| n.clone()).collect();
            names.dedup();
            names
        },
        outcome: run.outcome(),
        steps: run.steps,
    })
}

/// The defaults with `key` of the profile, and the profile's keys it cannot
/// work without (which its error names, e.g. `country_code`), named
/// together.
fn alone(key: &str, set: &[&String], table: &toml::Table) -> Option<(String, Quirks)> {
    let mut keys = vec![key.to_string()];
    loop {
        let mut one = toml::Table::new();
        for k in &keys {
            one.insert(k.clone(), table.get(k)?.clone());
        }
        let layer = toml::Value::Table(one).try_into::<QuirkSettings>().ok()?;
        let mut settings = QuirkSettings::defaults();
        settings.overlay(&layer);
        match settings.resolve() {
            Ok(q) => return Some((keys.join(" + "), q)),
            Err(e) => {
                let needed = set
                    .iter()
                    .find(|k| !keys.contains(k) && e.message.contains(k.as_str()))?;
                keys.push(needed.to_string());
            }
        }
    }
}

fn defaults() -> Quirks {
    QuirkSettings::defaults()
        .resolve()
        .unwrap_or_else(|_| Quirks::default())
}

fn phone() -> SocketAddr {
    PHONE.parse().expect("a literal address")
}

/// A request of the local side and the provider's answers to it.
#[derive(Debug, Clone, Default)]
struct Transaction {
    /// Index into `Plan::messages`.
    request: usize,
    responses: Vec<usize>,
}

/// Identifies a request by its call (the captured Call-ID of a call the
/// local side placed; `None` outside calls), method and order.
type Counterpart = (Option<String>, String, usize);

/// The capture read for a re-run.
struct Plan {
    provider: SocketAddr,
    local: SocketAddr,
    /// The messages between the local side and the provider.
    messages: Vec<Message>,
    transactions: HashMap<Counterpart, Transaction>,
    /// Captured Call-IDs of the calls the local side placed, in order.
    calls: Vec<String>,
    /// The line the core registers, when the local side registered.
    registration: Option<(String, String)>,
    /// The domain of the first INVITE's Request-URI.
    domain: String,
    /// The local side's user: the stand-in phone's number.
    caller: String,
    /// The first SDP the provider sent, for answers a model makes up.
    provider_sdp: Option<Bytes>,
    first_ns: u64,
    last_ns: u64,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn branch(msg: &SipMessage) -> String {
    msg.top_via()
        .and_then(Result::ok)
        .and_then(|v| v.branch().map(text))
        .unwrap_or_default()
}

fn call_id(msg: &SipMessage) -> String {
    text(msg.call_id().unwrap_or_default())
}

fn has_to_tag(msg: &SipMessage) -> bool {
    msg.to_header()
        .and_then(Result::ok)
        .is_some_and(|t| t.tag().is_some())
}

/// A URI's host (with its port, as written) and user.
fn uri_host_user(uri: &[u8]) -> (String, String) {
    match Uri::parse(uri) {
        Ok(Uri::Sip(sip)) => (
            match sip.port {
                Some(port) => format!("{}:{port}", text(sip.host)),
                None => text(sip.host),
            },
            sip.user.map(text).unwrap_or_default(),
        ),
        Ok(Uri::Tel(tel)) => (String::new(), text(tel.number)),
        _ => (String::new(), String::new()),
    }
}

impl Plan {
    fn new(all: &[Message], provider: Option<SocketAddr>) -> Result<Plan, String> {
        let provider = provider
            .or_else(|| all.iter().find(|m| m.msg.is_request()).map(|m| m.dst))
            .ok_or("the capture holds no request to tell the provider by")?;
        let local = all
            .iter()
            .find(|m| m.msg.is_request() && m.dst == provider)
            .map(|m| m.src)
            .ok_or_else(|| format!("nothing in the capture sends a request to {provider}"))?;
        let messages: Vec<Message> = all
            .iter()
            .filter(|m| (m.src, m.dst) == (local, provider) || (m.src, m.dst) == (provider, local))
            .cloned()
            .collect();
        let mut plan = Plan {
            provider,
            local,
            transactions: HashMap::new(),
            calls: Vec::new(),
            registration: None,
            domain: provider.ip().to_string(),
            caller: String::new(),
            provider_sdp: None,
            first_ns: messages.first().map_or(0, |m| m.time_ns),
            last_ns: messages.last().map_or(0, |m| m.time_ns),
            messages: Vec::new(),
        };
        let mut by_branch: HashMap<(String, String), Counterpart> = HashMap::new();
        let mut ordinals: HashMap<(Option<String>, String), usize> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            let method = method_of(&m.msg);
            let id = call_id(&m.msg);
            if m.src == local && m.msg.is_request() {
                if method == "INVITE" && !has_to_tag(&m.msg) && !plan.calls.contains(&id) {
                    if plan.calls.is_empty() {
                        plan.domain = uri_host_user(m.msg.request_uri().unwrap_or_default()).0;
                        if let Some(from) = m.msg.from_header().and_then(Result::ok) {
                            plan.caller = uri_host_user(from.uri).1;
                        }
                    }
                    plan.calls.push(id.clone());
                }
                if method == "REGISTER" && plan.registration.is_none() {
                    let (domain, _) = uri_host_user(m.msg.request_uri().unwrap_or_default());
                    let user = m
                        .msg
                        .to_header()
                        .and_then(Result::ok)
                        .map(|t| uri_host_user(t.uri).1)
                        .unwrap_or_default();
                    plan.registration = Some((user, domain));
                }
                if method == "ACK" {
                    continue;
                }
                let key = (branch(&m.msg), method.clone());
                if by_branch.contains_key(&key) {
                    continue; // a retransmission
                }
                let call = plan.calls.contains(&id).then(|| id.clone());
                let n = ordinals.entry((call.clone(), method.clone())).or_default();
                *n += 1;
                let counterpart = (call, method, *n);
                by_branch.insert(key, counterpart.clone());
                plan.transactions.insert(
                    counterpart,
                    Transaction {
                        request: i,
                        responses: Vec::new(),
                    },
                );
            } else if m.src == provider && !m.msg.is_request() {
                if plan.provider_sdp.is_none() && !m.msg.body().is_empty() && method == "INVITE" {
                    plan.provider_sdp = Some(Bytes::copy_from_slice(m.msg.body()));
                }
                if let Some(c) = by_branch.get(&(branch(&m.msg), method)) {
                    if let Some(t) = plan.transactions.get_mut(c) {
                        // The same response again is a retransmission.
                        let bytes = m.msg.to_bytes();
                        if !t
                            .responses
                            .iter()
                            .any(|&r| messages[r].msg.to_bytes() == bytes)
                        {
                            t.responses.push(i);
                        }
                    }
                }
            }
        }
        plan.messages = messages;
        if plan.caller.is_empty() {
            plan.caller = match &plan.registration {
                Some((user, _)) if !user.is_empty() => user.clone(),
                _ => "phone".into(),
            };
        }
        if plan.domain.is_empty() {
            plan.domain = provider.ip().to_string();
        }
        Ok(plan)
    }
}

/// Something the run does at a time.
#[derive(Debug, Clone)]
enum Action {
    /// The stand-in phone places call `n` (the capture's n-th call).
    Dial(usize),
    /// The stand-in phone gives up on call `n`: CANCEL, or BYE if answered.
    HangUp(usize),
    /// A message from the provider reaches the gateway.
    FromProvider(Bytes, String),
    /// A request the provider sent in the capture (index into the plan),
    /// addressed to the gateway's dialog when it is sent.
    ProviderRequest(usize),
    /// A message from the phone reaches the gateway.
    FromPhone(Bytes),
}

/// The stand-in phone's side of one call.
#[derive(Debug, Clone, Default)]
struct PhoneCall {
    number: String,
    sdp: Bytes,
    /// The captured INVITE's headers that the phone, not the gateway, wrote
    /// (vendor headers, User-Agent...): the gateway passes them on.
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The gateway's tag, once it answered.
    to_tag: Option<String>,
    answered: bool,
    ended: bool,
    final_status: Option<(u16, String)>,
}

/// The core's provider leg of one call.
#[derive(Debug, Clone, Default)]
struct CoreCall {
    /// The core's INVITE, to address the provider's requests and answers.
    invite: Option<SipMessage>,
    /// The provider's tag in the answers it gets.
    provider_tag: Option<String>,
    /// Answers to the INVITE that the provider sent only after a CANCEL.
    after_cancel: Vec<(u64, Bytes, String)>,
    cancelled: bool,
    /// The INVITE has its final answer: a CANCEL gets no 487.
    final_sent: bool,
    /// A model rule ended the call: the INVITE's answer becomes this.
    doomed: Option<(u16, String, String)>,
}

struct Sim<'a> {
    plan: &'a Plan,
    model: &'a [(String, Rule)],
    gw: Gateway,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    actions: Vec<Action>,
    steps: Vec<Step>,
    /// Which capture request each step that the gateway sent the provider
    /// stands for.
    counterparts: Vec<Option<Counterpart>>,
    phone_calls: Vec<PhoneCall>,
    /// Core Call-ID → the capture's call index.
    core_calls: HashMap<String, usize>,
    legs: HashMap<usize, CoreCall>,
    /// The call being dialled: the next new INVITE to the provider is its.
    dialling: Option<usize>,
    /// Core branches already answered: retransmissions get nothing new.
    answered: HashSet<String>,
    ordinals: HashMap<(Option<String>, String), usize>,
    /// Call-IDs of the requests the provider saw, per method (the model's
    /// `call_id_reused`).
    seen_ids: HashSet<(String, String)>,
    /// Last REGISTER answer, for the outcome.
    registered: Option<(u16, String)>,
}

impl<'a> Sim<'a> {
    fn new(plan: &'a Plan, quirks: Arc<Quirks>, model: &'a [(String, Rule)]) -> Sim<'a> {
        let target = if plan.registration.is_some() {
            Target::Line(PROVIDER_NAME.into())
        } else {
            Target::Trunk(PROVIDER_NAME.into())
        };
        let mut config = GatewayConfig {
            listeners: vec![(Transport::Udp, plan.local)],
            users: vec![LocalUser {
                number: plan.caller.clone(),
                password: None,
                allow_ips: vec![phone().ip()],
                contact: Some(format!("sip:{}@{PHONE}", plan.caller)),
                multi_device: false,
                nat: NatMode::Never,
            }],
            dialplan: DialPlan::new(
                vec![Route {
                    prefix: String::new(),
                    target,
                    transition: None,
                    reanalyse: false,
                }],
                vec![],
            ),
            ..GatewayConfig::default()
        };
        match &plan.registration {
            Some((user, domain)) => config.lines.push(LineConfig {
                name: PROVIDER_NAME.into(),
                transport: Transport::Udp,
                registrar: plan.provider,
                fallbacks: vec![],
                domain: if domain.is_empty() {
                    plan.domain.clone()
                } else {
                    domain.clone()
                },
                username: user.clone(),
                password: PASSWORD.into(),
                number: Some(user.clone()),
                refine: None,
                quirks,
            }),
            None => config.trunks.push(TrunkConfig {
                transit: false,
                name: PROVIDER_NAME.into(),
                transport: Transport::Udp,
                address: plan.provider,
                fallbacks: vec![],
                domain: plan.domain.clone(),
                credentials: Some((plan.caller.clone(), PASSWORD.into())),
                match_port: true,
                refine: None,
                quirks,
            }),
        }
        let mut sim = Sim {
            plan,
            model,
            gw: Gateway::new(config, [7; 32]),
            now: plan.first_ns,
            seq: 0,
            queue: BinaryHeap::new(),
            actions: Vec::new(),
            steps: Vec::new(),
            counterparts: Vec::new(),
            phone_calls: Vec::new(),
            core_calls: HashMap::new(),
            legs: HashMap::new(),
            dialling: None,
            answered: HashSet::new(),
            ordinals: HashMap::new(),
            seen_ids: HashSet::new(),
            registered: None,
        };
        sim.schedule_capture();
        sim
    }

    fn at(&mut self, time: u64, action: Action) {
        self.actions.push(action);
        self.seq += 1;
        self.queue
            .push(Reverse((time, self.seq, self.actions.len() - 1)));
    }

    /// What the local side and the provider did on their own initiative.
    fn schedule_capture(&mut self) {
        let plan = self.plan;
        let mut hung_up = HashSet::new();
        for (i, m) in plan.messages.iter().enumerate() {
            let id = call_id(&m.msg);
            let Some(call) = plan.calls.iter().position(|c| *c == id) else {
                // Outside the local side's calls only the provider's probes
                // are fed; calls it placed are drawn, not re-run.
                let probe = m.msg.method().is_some_and(|x| x.as_bytes() == b"OPTIONS");
                if m.src == plan.provider && probe {
                    self.at(
                        m.time_ns,
                        Action::FromProvider(m.msg.to_bytes(), format!("capture #{}", m.number)),
                    );
                }
                continue;
            };
            let method = method_of(&m.msg);
            if m.src == plan.local && m.msg.is_request() {
                match method.as_str() {
                    "INVITE" if !has_to_tag(&m.msg) && self.phone_calls.len() == call => {
                        let (_, number) = uri_host_user(m.msg.request_uri().unwrap_or_default());
                        self.phone_calls.push(PhoneCall {
                            number,
                            sdp: Bytes::copy_from_slice(m.msg.body()),
                            headers: phone_headers(&m.msg),
                            ..PhoneCall::default()
                        });
                        self.at(m.time_ns, Action::Dial(call));
                    }
                    "CANCEL" | "BYE" if hung_up.insert(call) => {
                        self.at(m.time_ns, Action::HangUp(call));
                    }
                    _ => {}
                }
            } else if m.src == plan.provider && m.msg.is_request() {
                self.at(m.time_ns, Action::ProviderRequest(i));
            }
        }
    }

    fn run(mut self) -> Outcome {
        let start = self.now();
        self.gw.start(start);
        self.drain();
        let horizon = self.plan.last_ns.saturating_add(SETTLE.as_nanos() as u64);
        loop {
            let action = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let timer = self
                .gw
                .poll_timeout()
                .map(|t| t.as_micros().saturating_mul(1000));
            let next = match (action, timer) {
                (Some(a), Some(t)) => a.min(t),
                (a, t) => match a.or(t) {
                    Some(x) => x,
                    None => break,
                },
            };
            if next > horizon && action.is_none_or(|a| a > horizon) {
                break;
            }
            self.now = self.now.max(next);
            if action == Some(next) {
                let Some(Reverse((_, _, index))) = self.queue.pop() else {
                    break;
                };
                let act = self.actions[index].clone();
                self.act(act);
            } else {
                let now = self.now();
                self.gw.handle_timeout(now);
            }
            self.drain();
            self.dialling = None;
        }
        Outcome {
            steps: self.steps,
            counterparts: self.counterparts,
            phone_calls: self.phone_calls,
            registered: self.registered,
            has_line: self.plan.registration.is_some(),
        }
    }

    fn now(&self) -> Time {
        Time::from_micros(self.now / 1000)
    }

    fn feed(&mut self, leg: Leg, data: Bytes, note: String) {
        let remote = match leg {
            Leg::Phone => phone(),
            Leg::Provider => self.plan.provider,
        };
        if let Ok(msg) = SipMessage::parse_datagram(data.clone()) {
            if leg == Leg::Provider && msg.status().is_some() && method_of(&msg) == "REGISTER" {
                let status = msg.status().unwrap_or(0);
                if status >= 200 && !matches!(status, 401 | 407) {
                    self.registered = Some((status, text(msg.reason().unwrap_or_default())));
                }
            }
            self.record(leg, false, msg, note, None);
        }
        let flow = Flow {
            transport: Transport::Udp,
            local: self.plan.local,
            remote,
            conn: None,
        };
        let now = self.now();
        self.gw.handle_message(now, flow, data);
    }

    fn record(
        &mut self,
        leg: Leg,
        sent: bool,
        msg: SipMessage,
        note: String,
        counterpart: Option<Counterpart>,
    ) {
        self.steps.push(Step {
            time_ns: self.now,
            leg,
            sent,
            msg,
            note,
            changes: Vec::new(),
        });
        self.counterparts.push(counterpart);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Dial(n) => {
                self.dialling = Some(n);
                let bytes = self.phone_invite(n);
                self.feed(Leg::Phone, bytes, format!("the capture's call {}", n + 1));
            }
            Action::HangUp(n) => {
                let call = &self.phone_calls[n];
                if call.ended || call.final_status.as_ref().is_some_and(|(s, _)| *s >= 300) {
                    return;
                }
                let bytes = if call.answered {
                    self.phone_calls[n].ended = true;
                    self.phone_request(n, "BYE", 2, "-bye")
                } else {
                    self.phone_request(n, "CANCEL", 1, "")
                };
                self.feed(
                    Leg::Phone,
                    bytes,
                    "the capture's local side hangs up".into(),
                );
            }
            Action::FromProvider(bytes, note) => {
                let (bytes, note) = self.unless_doomed(bytes, note);
                self.feed(Leg::Provider, bytes, note);
            }
            Action::FromPhone(bytes) => self.feed(Leg::Phone, bytes, String::new()),
            Action::ProviderRequest(i) => {
                let m = &self.plan.messages[i];
                let id = call_id(&m.msg);
                let Some(n) = self.plan.calls.iter().position(|c| *c == id) else {
                    return;
                };
                let note = format!("capture #{}", m.number);
                let Some(bytes) = self.address_to_core(n, &m.msg) else {
                    return; // the call never reached the provider in this run
                };
                self.feed(Leg::Provider, bytes, note);
            }
        }
    }

    /// The provider's 2xx to an INVITE, or the failure a model rule turned
    /// it into.
    fn unless_doomed(&self, bytes: Bytes, note: String) -> (Bytes, String) {
        let Ok(msg) = SipMessage::parse_datagram(bytes.clone()) else {
            return (bytes, note);
        };
        let doom = self
            .core_calls
            .get(&call_id(&msg))
            .and_then(|n| self.legs.get(n))
            .and_then(|leg| {
                Some((
                    leg.invite.as_ref()?,
                    leg.doomed.as_ref()?,
                    leg.provider_tag.as_deref(),
                ))
            });
        match (msg.status(), doom) {
            (Some(200..=299), Some((invite, (status, reason, entry), tag)))
                if method_of(&msg) == "INVITE" =>
            {
                (
                    response(invite, *status, reason, Some(tag.unwrap_or("provider"))).finish(b""),
                    format!("model {entry}"),
                )
            }
            _ => (bytes, note),
        }
    }

    /// A request the provider sent in a call of the capture, moved into the
    /// gateway's dialog of the same call.
    fn address_to_core(&self, n: usize, captured: &SipMessage) -> Option<Bytes> {
        let leg = self.legs.get(&n)?;
        let invite = leg.invite.as_ref()?;
        let tag = leg.provider_tag.clone()?;
        let ours = invite.header(HeaderName::From)?;
        let target = invite.contacts().next().and_then(Result::ok).map_or_else(
            || invite.request_uri().unwrap_or_default().to_vec(),
            |c| c.uri.to_vec(),
        );
        let theirs = invite.header(HeaderName::To)?;
        let method = captured.method()?.as_bytes().to_vec();
        let mut w = MessageWriter::request(&method, &target);
        for via in captured.header_values(HeaderName::Via) {
            w.known(HeaderName::Via, via);
        }
        w.known(
            HeaderName::From,
            &quirkgate_core::msg::build::with_tag(theirs, tag.as_bytes()),
        );
        w.known(HeaderName::To, ours);
        w.known(HeaderName::CallId, invite.call_id()?);
        w.known(HeaderName::CSeq, captured.header(HeaderName::CSeq)?);
        w.known(HeaderName::MaxForwards, b"70");
        copy_other_headers(&mut w, captured);
        Some(w.finish(captured.body()))
    }

    fn phone_invite(&self, n: usize) -> Bytes {
        let call = &self.phone_calls[n];
        let mut w = self.phone_writer(n, "INVITE", 1, "");
        w.known(
            HeaderName::Contact,
            format!("<sip:{}@{PHONE}>", self.plan.caller).as_bytes(),
        );
        for (name, value) in &call.headers {
            w.header(name, value);
        }
        if !call.sdp.is_empty() {
            w.known(HeaderName::ContentType, b"application/sdp");
        }
        w.finish(&call.sdp)
    }

    /// CANCEL or a non-2xx ACK (`branch` empty: the INVITE's branch), a
    /// 2xx ACK or BYE of the phone's call.
    fn phone_request(&self, n: usize, method: &str, cseq: u32, branch: &str) -> Bytes {
        self.phone_writer(n, method, cseq, branch).finish(b"")
    }

    /// A request of the phone's call `n`, up to its Max-Forwards.
    fn phone_writer(&self, n: usize, method: &str, cseq: u32, branch: &str) -> MessageWriter {
        let call = &self.phone_calls[n];
        let gw = self.plan.local;
        let uri = format!("sip:{}@{gw}", call.number);
        let mut w = MessageWriter::request(method.as_bytes(), uri.as_bytes());
        w.known(
            HeaderName::Via,
            format!("SIP/2.0/UDP {PHONE};branch=z9hG4bK-phone-{n}{branch}").as_bytes(),
        );
        w.known(
            HeaderName::From,
            format!("<sip:{}@{PHONE}>;tag=phone-{n}", self.plan.caller).as_bytes(),
        );
        let to = match (&call.to_tag, method) {
            (Some(tag), "ACK" | "BYE") => format!("<sip:{}@{gw}>;tag={tag}", call.number),
            _ => format!("<sip:{}@{gw}>", call.number),
        };
        w.known(HeaderName::To, to.as_bytes());
        w.known(HeaderName::CallId, format!("phone-call-{n}").as_bytes());
        w.known(HeaderName::CSeq, format!("{cseq} {method}").as_bytes());
        w.known(HeaderName::MaxForwards, b"70");
        w
    }

    /// Everything the core sent: recorded, and answered by the phone or the
    /// provider.
    fn drain(&mut self) {
        while let Some(t) = self.gw.poll_transmit() {
            let Ok(msg) = SipMessage::parse_datagram(t.data.clone()) else {
                continue;
            };
            if t.flow.remote == phone() {
                self.record(Leg::Phone, true, msg.clone(), String::new(), None);
                self.phone_receives(&msg);
            } else if t.flow.remote == self.plan.provider {
                self.provider_receives(msg);
            } else {
                let note = format!("to {}, outside this run", t.flow.remote);
                self.record(Leg::Provider, true, msg, note, None);
            }
        }
    }

    fn phone_receives(&mut self, msg: &SipMessage) {
        let id = call_id(msg);
        let Some(n) = id
            .strip_prefix("phone-call-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        if msg.is_request() {
            if msg.method().is_some_and(|m| m.as_bytes() != b"ACK") {
                let ok = response(msg, 200, "OK", None).finish(b"");
                if msg.method().is_some_and(|m| m.as_bytes() == b"BYE") {
                    self.phone_calls[n].ended = true;
                }
                let now = self.now;
                self.at(now, Action::FromPhone(ok));
            }
            return;
        }
        if method_of(msg) != "INVITE" {
            return;
        }
        let status = msg.status().unwrap_or(0);
        if let Some(tag) = msg
            .to_header()
            .and_then(Result::ok)
            .and_then(|t| t.tag().map(text))
        {
            self.phone_calls[n].to_tag = Some(tag);
        }
        if status < 200 {
            return;
        }
        let first = self.phone_calls[n].final_status.is_none();
        self.phone_calls[n].final_status = Some((status, text(msg.reason().unwrap_or_default())));
        self.phone_calls[n].answered |= status < 300;
        if first || status < 300 {
            let branch = if status < 300 { "-ack" } else { "" };
            let ack = self.phone_request(n, "ACK", 1, branch);
            let now = self.now;
            self.at(now, Action::FromPhone(ack));
        }
    }

    fn provider_receives(&mut self, msg: SipMessage) {
        let method = method_of(&msg);
        let id = call_id(&msg);
        if !msg.is_request() || method == "ACK" {
            self.record(Leg::Provider, true, msg, String::new(), None);
            return;
        }
        let b = branch(&msg);
        if !self.answered.insert(format!("{b} {method}")) {
            self.record(Leg::Provider, true, msg, "sent again".into(), None);
            return;
        }
        if method == "INVITE" && !has_to_tag(&msg) && !self.core_calls.contains_key(&id) {
            if let Some(n) = self.dialling {
                self.core_calls.insert(id.clone(), n);
                self.legs.insert(
                    n,
                    CoreCall {
                        invite: Some(msg.clone()),
                        ..CoreCall::default()
                    },
                );
            }
        }
        let call_index = self.core_calls.get(&id).copied();
        let call = call_index.map(|n| self.plan.calls[n].clone());
        let n = self
            .ordinals
            .entry((call.clone(), method.clone()))
            .or_default();
        *n += 1;
        let key = (call, method.clone(), *n);
        let transaction = self.plan.transactions.get(&key).cloned();
        let note = transaction.as_ref().map_or_else(
            || "no counterpart in the capture".to_string(),
            |t| format!("capture #{}", self.plan.messages[t.request].number),
        );
        let seen = Seen {
            call_id_reused: !self.seen_ids.insert((method.clone(), id.clone())),
            calls_up: self
                .phone_calls
                .iter()
                .filter(|c| c.answered && !c.ended)
                .count(),
        };
        self.record(
            Leg::Provider,
            true,
            msg.clone(),
            note,
            transaction.as_ref().map(|_| key),
        );
        let answers = self.answers(&msg, transaction.as_ref(), seen);
        if let (Some(n), Some((entry, rule))) = (call_index, self.rule_for(&msg, seen)) {
            if let Some(fail) = &rule.invite_fails_with {
                let doom = (fail.status, fail.reason.clone(), entry.clone());
                self.legs.entry(n).or_default().doomed = Some(doom);
            }
        }
        let request_ns = transaction
            .as_ref()
            .map(|t| self.plan.messages[t.request].time_ns);
        let cancel_ns = call_index.and_then(|n| self.captured_cancel_ns(n));
        for (delay, bytes, note) in answers {
            let answer = SipMessage::parse_datagram(bytes.clone()).ok();
            let status = answer.as_ref().and_then(SipMessage::status);
            if let Some(n) = call_index {
                if let Some(tag) = answer.as_ref().and_then(|m| {
                    m.to_header()
                        .and_then(Result::ok)
                        .and_then(|t| t.tag().map(text))
                }) {
                    if method == "INVITE" {
                        self.legs
                            .entry(n)
                            .or_default()
                            .provider_tag
                            .get_or_insert(tag);
                    }
                }
                // An answer the provider gave only after the CANCEL waits
                // for the gateway's CANCEL.
                let after_cancel = method == "INVITE"
                    && status.is_some_and(|s| s >= 300)
                    && match (request_ns, cancel_ns) {
                        (Some(r), Some(c)) => r.saturating_add(delay) >= c,
                        _ => status == Some(487),
                    };
                if after_cancel {
                    let leg = self.legs.entry(n).or_default();
                    if !leg.cancelled {
                        leg.after_cancel.push((delay, bytes, note));
                        continue;
                    }
                }
            }
            if let (Some(n), Some(200..), "INVITE") = (call_index, status, method.as_str()) {
                self.legs.entry(n).or_default().final_sent = true;
            }
            let now = self.now;
            self.at(now.saturating_add(delay), Action::FromProvider(bytes, note));
        }
        if method == "CANCEL" {
            if let Some(n) = call_index {
                let leg = self.legs.entry(n).or_default();
                leg.cancelled = true;
                let held = std::mem::take(&mut leg.after_cancel);
                let invite = leg.invite.clone().filter(|_| !leg.final_sent);
                let now = self.now;
                if held.is_empty() {
                    if let Some(invite) = invite {
                        let tag = self.legs.get(&n).and_then(|l| l.provider_tag.clone());
                        let bytes = response(
                            &invite,
                            487,
                            "Request Terminated",
                            Some(tag.as_deref().unwrap_or("provider")),
                        )
                        .finish(b"");
                        self.at(
                            now.saturating_add(MODEL_DELAY_NS),
                            Action::FromProvider(bytes, "as RFC 3261 asks".into()),
                        );
                    }
                }
                for (_, bytes, note) in held {
                    self.at(
                        now.saturating_add(MODEL_DELAY_NS),
                        Action::FromProvider(bytes, note),
                    );
                }
            }
        }
    }

    /// When the local side cancelled call `n` in the capture.
    fn captured_cancel_ns(&self, n: usize) -> Option<u64> {
        let id = &self.plan.calls[n];
        self.plan
            .messages
            .iter()
            .find(|m| {
                m.src == self.plan.local
                    && call_id(&m.msg) == *id
                    && m.msg.method().is_some_and(|x| x.as_bytes() == b"CANCEL")
            })
            .map(|m| m.time_ns)
    }

    fn rule_for(&self, request: &SipMessage, seen: Seen) -> Option<&'a (String, Rule)> {
        self.model.iter().find(|(_, r)| r.applies(request, seen))
    }

    /// The provider's answers to a request of the core: (delay, bytes, note).
    fn answers(
        &self,
        request: &SipMessage,
        captured: Option<&Transaction>,
        seen: Seen,
    ) -> Vec<(u64, Bytes, String)> {
        if let Some((entry, rule)) = self.rule_for(request, seen) {
            let mut w = response(request, rule.status, &rule.reason, Some("provider"));
            for line in &rule.headers {
                if let Some((name, value)) = line.split_once(':') {
                    w.header(name.trim().as_bytes(), value.trim().as_bytes());
                }
            }
            let note = format!("model {entry}");
            if rule.status < 200 {
                w.known(
                    HeaderName::Contact,
                    format!("<sip:{PROVIDER_NAME}@{}>", self.plan.provider).as_bytes(),
                );
            }
            let mut out = Vec::new();
            if request.method().is_some_and(|m| m.as_bytes() == b"INVITE") && rule.status >= 200 {
                out.push((
                    MODEL_DELAY_NS,
                    response(request, 100, "Trying", None).finish(b""),
                    note.clone(),
                ));
            }
            out.push((MODEL_DELAY_NS, w.finish(b""), note));
            return out;
        }
        let mut out: Vec<(u64, Bytes, String)> = Vec::new();
        let mut has_final = false;
        if let Some(t) = captured {
            let request_ns = self.plan.messages[t.request].time_ns;
            for &r in &t.responses {
                let m = &self.plan.messages[r];
                let status = m.msg.status().unwrap_or(0);
                if !self.model.is_empty() && status >= 300 && !matches!(status, 401 | 407 | 487) {
                    continue; // a refusal the model's provider would not give
                }
                has_final |= status >= 200;
                let delay = m.time_ns.saturating_sub(request_ns);
                out.push((
                    delay,
                    readdress(&m.msg, request),
                    format!("capture #{}", m.number),
                ));
            }
        }
        if !self.model.is_empty() && !has_final {
            out.extend(
                self.compliant(
                    request,
                    out.last()
                        .map_or(MODEL_DELAY_NS, |a| a.0.saturating_add(MODEL_DELAY_NS)),
                ),
            );
        }
        out
    }

    /// What a provider that follows RFC 3261 answers, where the capture
    /// shows none or only a refusal.
    fn compliant(&self, request: &SipMessage, delay: u64) -> Vec<(u64, Bytes, String)> {
        let note = "as RFC 3261 asks".to_string();
        let method = method_of(request);
        let mut w = response(request, 200, "OK", Some("provider"));
        let body = match method.as_str() {
            "INVITE" => {
                w.known(
                    HeaderName::Contact,
                    format!("<sip:{PROVIDER_NAME}@{}>", self.plan.provider).as_bytes(),
                );
                let sdp = self.plan.provider_sdp.clone().unwrap_or_else(|| {
                    Bytes::from(format!(
                        "v=0\r\no=provider 1 1 IN IP4 {0}\r\ns=-\r\nc=IN IP4 {0}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n",
                        self.plan.provider.ip()
                    ))
                });
                w.known(HeaderName::ContentType, b"application/sdp");
                sdp
            }
            "REGISTER" => {
                let expires = request.expires().and_then(Result::ok).unwrap_or(3600);
                for contact in request.header_values(HeaderName::Contact) {
                    let value = text(contact);
                    let value = if value.contains("expires=") {
                        value
                    } else {
                        format!("{value};expires={expires}")
                    };
                    w.known(HeaderName::Contact, value.as_bytes());
                }
                Bytes::new()
            }
            _ => Bytes::new(),
        };
        vec![(delay, w.finish(&body), note)]
    }
}

/// The headers of a captured INVITE that a phone would have written and a
/// gateway passes on: not the dialog's, routing, extensions or identity,
/// which the gateway writes itself on its provider leg.
fn phone_headers(invite: &SipMessage) -> Vec<(Vec<u8>, Vec<u8>)> {
    const GATEWAY_OWNED: [&str; 20] = [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
        "Supported",
        "Require",
        "Session-Expires",
        "Min-SE",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Authorization",
        "Proxy-Authorization",
        "Allow",
        "Route",
        "Record-Route",
    ];
    invite
        .headers()
        .filter(|h| {
            let name = h.full_name();
            !GATEWAY_OWNED
                .iter()
                .any(|g| g.as_bytes().eq_ignore_ascii_case(name))
        })
        .map(|h| (h.raw_name.to_vec(), h.value.to_vec()))
        .collect()
}

/// Copies a message's headers other than those a response or request
/// writer sets itself.
fn copy_other_headers(w: &mut MessageWriter, from: &SipMessage) {
    for h in from.headers() {
        if matches!(
            h.name,
            HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::ContentLength
                | HeaderName::MaxForwards
        ) {
            continue;
        }
        w.header(h.raw_name, h.value);
    }
}

/// A captured response, addressed to the core's request: its Via, From,
/// To, Call-ID and CSeq, with the provider's To tag; the rest as captured.
fn readdress(captured: &SipMessage, request: &SipMessage) -> Bytes {
    let tag = captured
        .to_header()
        .and_then(Result::ok)
        .and_then(|t| t.tag().map(text));
    let reason = text(captured.reason().unwrap_or_default());
    let mut w = response(
        request,
        captured.status().unwrap_or(500),
        &reason,
        tag.as_deref(),
    );
    copy_other_headers(&mut w, captured);
    w.finish(captured.body())
}

/// A finished run, before attribution.
struct Outcome {
    steps: Vec<Step>,
    counterparts: Vec<Option<Counterpart>>,
    phone_calls: Vec<PhoneCall>,
    registered: Option<(u16, String)>,
    has_line: bool,
}

impl Outcome {
    fn outcome(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.has_line {
            out.push(match &self.registered {
                Some((s, r)) if *s < 300 => format!("registration: {s} {r} (registered)"),
                Some((s, r)) => format!("registration: {s} {r} (not registered)"),
                None => "registration: no final answer".into(),
            });
        }
        for (i, c) in self.phone_calls.iter().enumerate() {
            let how = match &c.final_status {
                Some((s, r)) if *s < 300 => format!("{s} {r} (answered)"),
                Some((s, r)) => format!("{s} {r} (not answered)"),
                None => "no final answer".into(),
            };
            out.push(format!("call {} to {}: {how}", i + 1, c.number));
        }
        out
    }

    /// The Call-IDs of what the gateway sent the provider, numbered.
    fn sent_ids(&self) -> Vec<String> {
        call_ids(
            self.steps
                .iter()
                .filter(|s| s.sent && s.leg == Leg::Provider)
                .map(|s| &s.msg),
        )
    }

    /// The masked lines of the message the gateway sent for `key`.
    fn lines_for(&self, key: &Counterpart, ids: &[String]) -> Option<Vec<String>> {
        let i = self
            .counterparts
            .iter()
            .position(|c| c.as_ref() == Some(key))?;
        Some(masked_lines(&self.steps[i].msg, ids))
    }
}

/// The Call-IDs of one sender's messages in order of first use: how masked
/// lines name them, so two runs with other random ids compare.
fn call_ids<'m>(sent: impl Iterator<Item = &'m SipMessage>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for m in sent {
        let id = call_id(m);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// A message's lines with what differs on every run masked: Call-IDs by
/// their number in `ids`; branches, tags, nonces and digests hidden.
fn masked_lines(msg: &SipMessage, ids: &[String]) -> Vec<String> {
    let mut lines = vec![text(msg.start_line()).trim_end().to_string()];
    for h in msg.headers() {
        let value = text(h.value);
        let value = if h.name == HeaderName::CallId {
            match ids.iter().position(|i| *i == value) {
                Some(n) => format!("<call-id {}>", n + 1),
                None => "<call-id>".into(),
            }
        } else {
            mask_params(&value)
        };
        lines.push(format!("{}: {value}", text(h.raw_name)));
    }
    lines
}

/// Hides the values of parameters that are random on every run.
fn mask_params(value: &str) -> String {
    const RANDOM: [&str; 6] = [
        "branch=",
        "tag=",
        "nonce=",
        "cnonce=",
        "response=",
        "opaque=",
    ];
    let mut out = value.to_string();
    for p in RANDOM {
        let mut from = 0;
        while let Some(at) = out[from..].to_ascii_lowercase().find(p) {
            let start = from + at + p.len();
            // Only a parameter name, not the end of a longer one (cnonce).
            let boundary = from + at == 0 || !out.as_bytes()[from + at - 1].is_ascii_alphanumeric();
            let end = if out[start..].starts_with('"') {
                out[start + 1..]
                    .find('"')
                    .map_or(out.len(), |e| start + e + 2)
            } else {
                out[start..]
                    .find([';', ',', ' ', '>'])
                    .map_or(out.len(), |e| start + e)
            };
            if boundary {
                out.replace_range(start..end, "…");
                from = start + '…'.len_utf8();
            } else {
                from = end;
            }
        }
    }
    out
}

/// Sets each provider-bound request's changes against the capture, with
/// their causes.
fn attribute(run: &mut Outcome, baseline: &Outcome, solos: &[(String, Outcome)], plan: &Plan) {
    let captured_ids = call_ids(
        plan.messages
            .iter()
            .filter(|m| m.src == plan.local)
            .map(|m| &m.msg),
    );
    let run_ids = run.sent_ids();
    let base_ids = baseline.sent_ids();
    let solo_ids: Vec<Vec<String>> = solos.iter().map(|(_, s)| s.sent_ids()).collect();
    for i in 0..run.steps.len() {
        let Some(key) = run.counterparts[i].clone() else {
            continue;
        };
        let Some(t) = plan.transactions.get(&key) else {
            continue;
        };
        let before = masked_lines(&plan.messages[t.request].msg, &captured_ids);
        let now = masked_lines(&run.steps[i].msg, &run_ids);
        let base = baseline.lines_for(&key, &base_ids);
        let mut changes = Vec::new();
        let diff = |a: &[String], b: &[String]| -> Vec<String> {
            a.iter().filter(|l| !b.contains(l)).cloned().collect()
        };
        for (sign, lines, other) in [('-', &before, &now), ('+', &now, &before)] {
            for line in diff(lines, other) {
                let in_base = base.as_ref().is_some_and(|b| b.contains(&line));
                // A key owns a line when, alone, it moves the line relative
                // to the defaults the same way the profile does.
                let mut cause: Vec<String> = solos
                    .iter()
                    .zip(&solo_ids)
                    .filter(|((_, solo), ids)| {
                        solo.lines_for(&key, ids)
                            .is_some_and(|s| s.contains(&line) != in_base)
                    })
                    .map(|((k, _), _)| k.clone())
                    .collect();
                let profile_has = sign == '+';
                if cause.is_empty() {
                    if in_base == profile_has || base.is_none() {
                        cause.push("gateway".into());
                    } else {
                        cause.push("the profile's keys together".into());
                    }
                }
                changes.push(Change { sign, line, cause });
            }
        }
        run.steps[i].changes = changes;
    }
}

/// Reads a capture whole (for diagnose and a re-run): the messages, and
/// the error that ended reading early, if one did.
pub fn read_all(path: &std::path::Path) -> Result<(Vec<Message>, Option<String>), String> {
    let (messages, _) = capture::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut read = Vec::new();
    for m in messages {
        match m {
            Ok(m) => read.push(m),
            Err(e) => return Ok((read, Some(format!("{}: {e}", path.display())))),
        }
    }
    Ok((read, None))
}

/// The re-run as text: one message per line, with its changes.
pub fn render(run: &Rerun) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let model = if run.model.is_empty() {
        "none: the provider answers as in the capture".to_string()
    } else {
        run.model.join(", ")
    };
    let _ = writeln!(out, "re-run under profile {}", run.profile);
    let _ = writeln!(
        out,
        "  provider {}; the gateway stands in for {}; phone {}",
        run.provider, run.local, run.phone
    );
    let _ = writeln!(out, "  provider model: {model}");
    let t0 = run.steps.first().map_or(0, |s| s.time_ns);
    for s in &run.steps {
        let arrow = match (s.leg, s.sent) {
            (Leg::Phone, true) => "gw → phone    ",
            (Leg::Phone, false) => "phone → gw    ",
            (Leg::Provider, true) => "gw → provider ",
            (Leg::Provider, false) => "provider → gw ",
        };
        let first = super::printable(text(s.msg.start_line()).trim_end());
        let mark = if super::is_failure(&s.msg) { '!' } else { ' ' };
        let note = if s.note.is_empty() {
            String::new()
        } else {
            format!("  [{}]", s.note)
        };
        let _ = writeln!(
            out,
            "{mark}{:>9.3}  {arrow} {first}{note}",
            super::seconds_since(s.time_ns, t0)
        );
        for c in &s.changes {
            let _ = writeln!(
                out,
                "{:>27}{} {}   ({})",
                "",
                c.sign,
                super::printable(&c.line),
                c.cause.join(", ")
            );
        }
    }
    let _ = writeln!(out, "outcome:");
    for o in &run.outcome {
        let _ = writeln!(out, "  {o}");
    }
    out
}

/// The re-run's messages as capture messages, to draw its ladder.
pub fn as_messages(run: &Rerun) -> Vec<Message> {
    run.steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (other, gw) = match s.leg {
                Leg::Phone => (run.phone, run.local),
                Leg::Provider => (run.provider, run.local),
            };
            let (src, dst) = if s.sent { (gw, other) } else { (other, gw) };
            Message {
                number: i + 1,
                packet: 0,
                time_ns: s.time_ns,
                transport: capture::Transport::Udp,
                src,
                dst,
                after_gap: false,
                msg: s.msg.clone(),
            }
        })
        .collect()
}
