//! Who is calling and where the call goes: a local phone (digest or a
//! trusted address) or a provider line (by its source address); then the
//! dial plan, the blacklist, and the destinations the call forks to.

use bytes::Bytes;

use super::lines::Account;
use super::{uri_number, Gateway};
use crate::dialplan::Target;
use crate::msg::{HeaderName, SipMessage};
use crate::time::Time;
use crate::transport::Flow;
use crate::txn::TxId;

/// One leg to try: its Request-URI, the flow to send on, and the account
/// we present there (a provider line), if any.
#[derive(Debug, Clone)]
pub(super) struct Destination {
    pub target: Bytes,
    pub flow: Flow,
    pub account: Option<Account>,
    /// The called number as this destination must see it.
    pub number: String,
}

/// A call that may proceed.
pub(super) struct CallPlan {
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

        // A provider calling in on one of our lines: trusted by its address,
        // and it may only reach the office's own phones.
        if let Some(line) = self.line_from(flow.remote).cloned() {
            let called = match &line.number {
                Some(did) if dialled == line.username => did.clone(),
                _ => dialled,
            };
            if let Some(status) = self
                .dialplan
                .blocked(from_number.as_deref().filter(|_| !anonymous(msg)), &called)
            {
                return Err(NoCall::Answer(status, "Call Rejected"));
            }
            let user = match self.user(&called) {
                Some(u) => u.clone(),
                None => match self.dialplan.route(&called).map(|d| d.target) {
                    Some(Target::User(n)) => self
                        .user(&n)
                        .cloned()
                        .ok_or(NoCall::Answer(404, "Not Found"))?,
                    _ => return Err(NoCall::Answer(404, "Not Found")),
                },
            };
            return self.to_local_user(
                now,
                &user,
                from_number.unwrap_or_else(|| "anonymous".into()),
                caller_display,
            );
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
        if let Some(user) = self.user(&dialled).cloned() {
            return self.to_local_user(now, &user, caller, caller_display);
        }
        let decision = self
            .dialplan
            .route(&dialled)
            .ok_or(NoCall::Answer(404, "Not Found"))?;
        let line = match decision.target {
            Target::User(n) => {
                let user = self
                    .user(&n)
                    .cloned()
                    .ok_or(NoCall::Answer(404, "Not Found"))?;
                return self.to_local_user(now, &user, caller, caller_display);
            }
            Target::Line(name) => name,
            Target::Group(name) => self
                .next_in_group(&name)
                .ok_or(NoCall::Answer(503, "Service Unavailable"))?,
            Target::Trunk(_) => {
                return Err(NoCall::Answer(
                    503,
                    "Service Unavailable: trunks are not supported yet",
                ))
            }
        };
        let (number, flow, account) = self
            .line_destination(&line, &decision.number)
            .ok_or(NoCall::Answer(503, "Service Unavailable"))?;
        let target = Bytes::from(format!("sip:{number}@{}", account.domain));
        Ok(CallPlan {
            caller_number: caller,
            caller_display,
            callee_number: number.clone(),
            destinations: vec![Destination {
                target,
                flow,
                account: Some(account),
                number,
            }],
        })
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
                target,
                flow,
                account: None,
                number: user.number.clone(),
            })
            .collect();
        if destinations.is_empty() {
            return Err(NoCall::Answer(480, "Temporarily Unavailable"));
        }
        Ok(CallPlan {
            caller_number,
            caller_display,
            callee_number: user.number.clone(),
            destinations,
        })
    }

    /// The next line of a group, round-robin.
    fn next_in_group(&mut self, group: &str) -> Option<String> {
        let members = self.config.groups.get(group)?;
        if members.is_empty() {
            return None;
        }
        let turn = self.group_turns.entry(group.to_string()).or_insert(0);
        let line = members[*turn % members.len()].clone();
        *turn += 1;
        Some(line)
    }

    pub(super) fn refuse_call(&mut self, now: Time, tx: TxId, msg: &SipMessage, why: NoCall) {
        match why {
            NoCall::Answer(status, reason) => self.reply(now, tx, msg, status, reason, |_| {}),
            NoCall::Challenge(stale) => self.challenge(now, tx, msg, true, stale),
        }
    }
}
