//! Who is calling and where the call goes: a local phone (digest or a
//! trusted address) or a provider line (by its source address); then the
//! dial plan, the blacklist, and the destinations the call forks to.

use std::sync::Arc;

use bytes::Bytes;

use super::lines::Account;
use super::peers::PeerRef;
use super::{uri_number, Gateway};
use crate::dialplan::{Decision, Target};
use crate::msg::{HeaderName, SipMessage};
use crate::quirks::{Direction, Quirks};
use crate::time::Time;
use crate::transport::Flow;
use crate::txn::TxId;

/// One leg to try: the flow to send on, and who answers there.
#[derive(Debug, Clone)]
pub(super) struct Destination {
    pub flow: Flow,
    pub callee: Callee,
    /// Further flows to the same peer (its other DNS targets).
    pub alternates: Vec<Flow>,
}

#[derive(Debug, Clone)]
pub(super) enum Callee {
    /// An office phone at `target` (its Contact).
    Phone {
        target: Bytes,
        number: String,
    },
    Provider(ProviderLeg),
}

/// A call leaving through a line or trunk.
#[derive(Debug, Clone)]
pub(super) struct ProviderLeg {
    pub quirks: Arc<Quirks>,
    /// The account we present (a line's), whose credentials answer the
    /// peer's challenges; a trunk may have credentials too.
    pub account: Option<Account>,
    /// The peer's domain: the host of our Request-URI and To.
    pub domain: String,
    /// The called number after the dial plan and the peer's refinement.
    pub number: String,
}

impl Callee {
    pub fn number(&self) -> &str {
        match self {
            Callee::Phone { number, .. } => number,
            Callee::Provider(p) => &p.number,
        }
    }
}

/// A call that may proceed.
pub(super) struct CallPlan {
    /// The line or trunk the call crosses, and which way.
    pub provider: Option<(PeerRef, Direction)>,
    /// A transit trunk the call came in on, to a line or trunk.
    pub transit: Option<PeerRef>,
    pub caller_number: String,
    pub caller_display: Option<String>,
    pub callee_number: String,
    pub destinations: Vec<Destination>,
}

/// Why an INVITE does not become a call, as the response to send.
pub(super) enum NoCall {
    Answer(u16, &'static str),
    /// Send a 407 challenge (stale or not).
    Challenge(bool),
    /// A cap is reached: 503 with Retry-After.
    Busy(&'static str),
}

/// A caller that hides its identity (RFC 3323 `Privacy: id`, or an
/// `anonymous` From) is anonymous to the blacklist.
fn anonymous(msg: &SipMessage) -> bool {
    let privacy_id = msg.header_values(HeaderName::Privacy).any(|v| {
        v.split(|&b| b == b';')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"id"))
    });
    let from = msg.from_header().and_then(Result::ok);
    let anonymous_from = from.is_some_and(|f| {
        let uri = f.uri.to_ascii_lowercase();
        uri.windows(9).any(|w| w == b"anonymous") || uri_number(f.uri).is_none()
    });
    privacy_id || anonymous_from
}

impl Gateway {
    pub(super) fn plan_call(
        &mut self,
        now: Time,
        msg: &SipMessage,
        flow: Flow,
    ) -> Result<CallPlan, NoCall> {
        let from = msg.header(HeaderName::From).unwrap_or_default();
        let (caller_display, from_number) = super::dialog::display_and_user(from);
        let dialled = msg
            .request_uri()
            .and_then(uri_number)
            .ok_or(NoCall::Answer(404, "Not Found"))?;

        // A provider calling in on one of our lines or trunks: trusted by
        // its address, and it may only reach the office's own phones.
        let from_line = self.line_from(flow.remote);
        let peer = from_line
            .map(PeerRef::Line)
            .or_else(|| self.trunk_from(flow.remote).map(PeerRef::Trunk));
        if let Some(peer) = peer {
            let line = from_line.and_then(|i| self.line_config(i));
            let called = match line {
                Some(line) if dialled == line.username => line.number.clone().unwrap_or(dialled),
                _ => dialled,
            };
            if let Some(status) = self
                .dialplan
                .blocked(from_number.as_deref().filter(|_| !anonymous(msg)), &called)
            {
                return Err(NoCall::Answer(status, "Call Rejected"));
            }
            if let PeerRef::Trunk(i) = peer {
                if self.trunk_is_transit(i) && self.user(&called).is_none() {
                    return self.transit(now, peer, &called, from_number, caller_display);
                }
            }
            let user = match self.user(&called) {
                Some(u) => u.clone(),
                None => match self
                    .dialplan
                    .route(&called)
                    .into_iter()
                    .next()
                    .map(|d| d.target)
                {
                    Some(Target::User(n)) => self
                        .user(&n)
                        .cloned()
                        .ok_or(NoCall::Answer(404, "Not Found"))?,
                    _ => return Err(NoCall::Answer(404, "Not Found")),
                },
            };
            // Only a call that could proceed counts against the cap.
            let mut plan = self.to_local_user(
                now,
                &user,
                from_number.unwrap_or_else(|| "anonymous".into()),
                caller_display,
            )?;
            if !self.peer_admits(peer, Direction::In) {
                return Err(NoCall::Busy(
                    "Service Unavailable: call limit of the peer reached",
                ));
            }
            plan.provider = Some((peer, Direction::In));
            return Ok(plan);
        }

        // A local phone: a trusted address, or digest credentials (§22.3).
        let caller = match self.ip_user(flow.remote.ip()) {
            Some(u) => u.number.clone(),
            None => match self.digest_user(now, msg, HeaderName::ProxyAuthorization) {
                Ok(Some(user)) => user,
                Ok(None) => return Err(NoCall::Challenge(false)),
                Err(stale) => return Err(NoCall::Challenge(stale)),
            },
        };
        if let Some(status) = self
            .dialplan
            .blocked((!anonymous(msg)).then_some(caller.as_str()), &dialled)
        {
            return Err(NoCall::Answer(status, "Call Rejected"));
        }
        self.route_dialled(now, &dialled, caller, caller_display)
    }

    /// A call from a transit trunk (a PBX or SBC trusted by address),
    /// routed by the dial plan like an office phone's; it counts as in on
    /// its trunk and out on the line or trunk it leaves by.
    fn transit(
        &mut self,
        now: Time,
        source: PeerRef,
        called: &str,
        caller: Option<String>,
        caller_display: Option<String>,
    ) -> Result<CallPlan, NoCall> {
        if !self.peer_admits(source, Direction::In) {
            return Err(NoCall::Busy(
                "Service Unavailable: call limit of the peer reached",
            ));
        }
        let caller = caller.unwrap_or_else(|| "anonymous".into());
        let mut plan = self.route_dialled(now, called, caller, caller_display)?;
        plan.transit = plan.provider.is_some().then_some(source);
        Ok(plan)
    }

    /// Where the dial plan sends `dialled`: an office phone, or a line or
    /// trunk (round-robin among routes sharing a prefix).
    fn route_dialled(
        &mut self,
        now: Time,
        dialled: &str,
        caller: String,
        caller_display: Option<String>,
    ) -> Result<CallPlan, NoCall> {
        if let Some(user) = self.user(dialled).cloned() {
            return self.to_local_user(now, &user, caller, caller_display);
        }
        let decisions = self.dialplan.route(dialled);
        let decision = match decisions.len() {
            0 => return Err(NoCall::Answer(404, "Not Found")),
            1 => decisions
                .into_iter()
                .next()
                .ok_or(NoCall::Answer(404, "Not Found"))?,
            // Several routes for one prefix: use them round-robin.
            _ => self
                .next_decision(decisions)
                .ok_or(NoCall::Answer(503, "Service Unavailable"))?,
        };
        let peer = match decision.target {
            Target::User(n) => {
                let user = self
                    .user(&n)
                    .cloned()
                    .ok_or(NoCall::Answer(404, "Not Found"))?;
                return self.to_local_user(now, &user, caller, caller_display);
            }
            Target::Line(name) => self.line_index(&name).map(PeerRef::Line),
            Target::Trunk(name) => self.trunk_index(&name).map(PeerRef::Trunk),
            Target::Group(name) => self.next_in_group(&name),
        };
        let peer = peer
            .filter(|&p| self.peer_up(p))
            .ok_or(NoCall::Answer(503, "Service Unavailable"))?;
        if !self.peer_admits(peer, Direction::Out) {
            return Err(NoCall::Busy(
                "Service Unavailable: call limit of the peer reached",
            ));
        }
        let destination = self
            .peer_destination(peer, &decision.number)
            .ok_or(NoCall::Answer(503, "Service Unavailable"))?;
        Ok(CallPlan {
            provider: Some((peer, Direction::Out)),
            transit: None,
            caller_number: caller,
            caller_display,
            callee_number: destination.callee.number().to_string(),
            destinations: vec![destination],
        })
    }

    /// A call to `number` over a line or trunk.
    fn peer_destination(&self, peer: PeerRef, number: &str) -> Option<Destination> {
        match peer {
            PeerRef::Line(i) => self.line_destination(i, number),
            PeerRef::Trunk(i) => self.trunk_destination(i, number),
        }
    }

    fn to_local_user(
        &self,
        now: Time,
        user: &super::LocalUser,
        caller_number: String,
        caller_display: Option<String>,
    ) -> Result<CallPlan, NoCall> {
        let destinations: Vec<Destination> = self
            .targets_of(now, user)
            .into_iter()
            .map(|(target, flow)| Destination {
                flow,
                callee: Callee::Phone {
                    target,
                    number: user.number.clone(),
                },
                alternates: Vec::new(),
            })
            .collect();
        if destinations.is_empty() {
            return Err(NoCall::Answer(480, "Temporarily Unavailable"));
        }
        Ok(CallPlan {
            provider: None,
            transit: None,
            caller_number,
            caller_display,
            callee_number: user.number.clone(),
            destinations,
        })
    }

    /// The next of several routes sharing a prefix whose line or trunk is
    /// usable, round-robin.
    fn next_decision(&mut self, decisions: Vec<Decision>) -> Option<Decision> {
        let key = format!("prefix:{}", decisions[0].prefix);
        let start = *self.group_turns.get(&key).unwrap_or(&0);
        let usable = |d: &Decision| match &d.target {
            Target::Line(n) => self
                .line_index(n)
                .is_some_and(|i| self.peer_usable(PeerRef::Line(i))),
            Target::Trunk(n) => self
                .trunk_index(n)
                .is_some_and(|i| self.peer_usable(PeerRef::Trunk(i))),
            _ => true,
        };
        let pick = (0..decisions.len())
            .map(|k| (start + k) % decisions.len())
            .find(|&k| usable(&decisions[k]))?;
        self.group_turns.insert(key, pick + 1);
        decisions.into_iter().nth(pick)
    }

    /// The next usable member of a group, round-robin: a member that is
    /// down (or a line whose registration failed) is skipped.
    fn next_in_group(&mut self, group: &str) -> Option<PeerRef> {
        let members: Vec<PeerRef> = self
            .config
            .groups
            .get(group)?
            .iter()
            .filter_map(|name| {
                self.line_index(name)
                    .map(PeerRef::Line)
                    .or_else(|| self.trunk_index(name).map(PeerRef::Trunk))
            })
            .collect();
        let start = *self.group_turns.get(group).unwrap_or(&0);
        let pick = (0..members.len())
            .map(|k| (start + k) % members.len())
            .find(|&k| self.peer_usable(members[k]))?;
        self.group_turns.insert(group.to_string(), pick + 1);
        Some(members[pick])
    }

    pub(super) fn refuse_call(&mut self, now: Time, tx: TxId, msg: &SipMessage, why: NoCall) {
        match why {
            NoCall::Answer(status, reason) => self.reply(now, tx, msg, status, reason, |_| {}),
            NoCall::Challenge(stale) => self.challenge(now, tx, msg, true, stale),
            NoCall::Busy(reason) => {
                tracing::warn!(%reason, "refusing a call");
                self.reply(now, tx, msg, 503, reason, |w| {
                    w.header(b"Retry-After", b"5");
                })
            }
        }
    }
}
