//! The transaction layer of RFC 3261 §17, with the INVITE "Accepted" state
//! of RFC 6026. Sans-IO: messages and the current time go in; messages to
//! send, timers and events for the transaction user come out.
//!
//! Timers are named as in the RFC (A to K, plus L and M) and live in one
//! [`TimerTable`]; retransmissions happen only over UDP.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use foldhash::HashMap;

use crate::msg::build::{response, MessageWriter};
use crate::msg::{HeaderName, Method, SipMessage};
use crate::time::Time;
use crate::timer::TimerTable;
use crate::transport::{Flow, Transmit};

/// RTT estimate (RFC 3261 §17.1.1.1).
pub const T1: Duration = Duration::from_millis(500);
/// Maximum retransmission interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// Maximum time a message stays in the network.
pub const T4: Duration = Duration::from_secs(5);

fn t1x64() -> Duration {
    T1 * 64
}

/// Names one transaction, client or server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Timer {
    /// INVITE request retransmit.
    A,
    /// INVITE transaction timeout.
    B,
    /// Wait for response retransmits (INVITE client, Completed).
    D,
    /// Non-INVITE request retransmit.
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// INVITE final response retransmit.
    G,
    /// Wait for ACK.
    H,
    /// Wait for ACK retransmits (Confirmed).
    I,
    /// Wait for request retransmits (non-INVITE server, Completed).
    J,
    /// Wait for response retransmits (non-INVITE client, Completed).
    K,
    /// RFC 6026: INVITE server Accepted, absorbs request retransmits.
    L,
    /// RFC 6026: INVITE client Accepted, passes on 2xx retransmits.
    M,
}

/// What the transaction user must act on.
#[derive(Debug, Clone)]
pub enum TxEvent {
    /// A new request (retransmissions are absorbed). Answer with
    /// [`TransactionLayer::respond`], except for ACK which has no transaction.
    Request {
        tx: TxId,
        msg: SipMessage,
        flow: Flow,
    },
    /// An ACK for a 2xx, which belongs to the dialog, not to a transaction.
    Ack { msg: SipMessage, flow: Flow },
    /// A CANCEL matched a pending INVITE. The TU answers the CANCEL on
    /// `cancel_tx` (200, with the To tag its 487 will carry, RFC 3261 §9.2)
    /// and ends the INVITE.
    Cancelled {
        invite: TxId,
        cancel_tx: TxId,
        cancel: SipMessage,
    },
    /// A response to one of our requests.
    Response { tx: TxId, msg: SipMessage },
    /// A 2xx to an INVITE whose client transaction is gone: a late fork or a
    /// retransmission the dialog must ACK (and maybe BYE).
    Stray2xx { msg: SipMessage, flow: Flow },
    /// No final response in time (Timer B or F): the TU acts as on a 408.
    Timeout { tx: TxId },
    /// An INVITE server transaction got no ACK for its error response.
    NoAck { tx: TxId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Trying,
    Proceeding,
    Accepted,
    Completed,
    Confirmed,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    branch: Bytes,
    method: Bytes,
}

/// RFC 3261 §17.2.3: branch, sent-by and method (ACK matching the INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: Bytes,
    /// Lowercase `host[:port]`.
    sent_by: Bytes,
    method: Method,
}

#[derive(Debug)]
struct Transaction {
    invite: bool,
    state: State,
    flow: Flow,
    /// Client: the request to retransmit. Server: the last response sent.
    retransmit: Option<Bytes>,
    /// Client INVITE: the ACK sent for a non-2xx, resent on retransmits.
    ack: Option<Bytes>,
    interval: Duration,
    client_key: Option<ClientKey>,
    server_key: Option<ServerKey>,
    /// Server: registered for the merged-request check.
    merge_key: Option<MergeKey>,
}

/// RFC 3261 §8.2.2.2: a request without To tag whose From tag, Call-ID and
/// CSeq match a pending one but which arrived by another path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MergeKey {
    from_tag: Bytes,
    call_id: Bytes,
    cseq: Bytes,
}

#[derive(Default)]
pub struct TransactionLayer {
    next_id: u64,
    /// Boxed: a table of transactions inline would be mostly empty slots
    /// of a large struct.
    txs: HashMap<TxId, Box<Transaction>>,
    clients: HashMap<ClientKey, TxId>,
    servers: HashMap<ServerKey, TxId>,
    merges: HashMap<MergeKey, TxId>,
    timers: TimerTable<(TxId, Timer)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

impl TransactionLayer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next_deadline()
    }

    /// Number of live transactions (for tests and the admin API).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    fn send(&mut self, flow: Flow, data: Bytes) {
        self.transmits.push_back(Transmit { flow, data });
    }

    /// Sends bytes outside any transaction (a 2xx ACK, a stateless answer).
    pub fn send_stateless(&mut self, flow: Flow, data: Bytes) {
        self.send(flow, data);
    }

    fn new_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    // ---- incoming ------------------------------------------------------

    /// Handles a parsed, validated message received on `flow`.
    pub fn receive(&mut self, now: Time, msg: SipMessage, flow: Flow) {
        if msg.is_request() {
            self.receive_request(now, msg, flow);
        } else {
            self.receive_response(now, msg, flow);
        }
    }

    fn server_key(msg: &SipMessage, method: Method) -> Option<ServerKey> {
        let via = msg.top_via()?.ok()?;
        let branch = via.branch().unwrap_or_default();
        let mut sent_by = Vec::with_capacity(via.host.len() + 6);
        sent_by.extend(via.host.iter().map(u8::to_ascii_lowercase));
        if let Some(port) = via.port {
            // Writing to a Vec cannot fail.
            let _ = write!(sent_by, ":{port}");
        }
        // RFC 2543 peers send no magic cookie: key on what identifies the
        // request instead (RFC 3261 §17.2.3, simplified).
        let branch = if branch.starts_with(b"z9hG4bK") && branch.len() > 7 {
            Bytes::copy_from_slice(branch)
        } else {
            let mut legacy = b"2543:".to_vec();
            legacy.extend_from_slice(msg.call_id().unwrap_or_default());
            legacy.push(b'|');
            legacy.extend_from_slice(
                msg.header(HeaderName::CSeq)
                    .unwrap_or_default()
                    .split(|b| b.is_ascii_whitespace())
                    .next()
                    .unwrap_or_default(),
            );
            legacy.push(b'|');
            legacy.extend_from_slice(
                msg.from_header()
                    .and_then(Result::ok)
                    .and_then(|f| f.tag())
                    .unwrap_or_default(),
            );
            legacy.push(b'|');
            legacy.extend_from_slice(branch);
            Bytes::from(legacy)
        };
        Some(ServerKey {
            branch,
            sent_by: Bytes::from(sent_by),
            method,
        })
    }

    fn receive_request(&mut self, now: Time, msg: SipMessage, flow: Flow) {
        let method = msg.method().cloned().unwrap_or(Method::Options);
        let key_method = if method == Method::Ack {
            Method::Invite
        } else {
            method.clone()
        };
        let Some(key) = Self::server_key(&msg, key_method) else {
            return;
        };

        if let Some(&id) = self.servers.get(&key) {
            self.request_on_existing(now, id, &method, msg, flow);
            return;
        }
        if method == Method::Ack {
            // No INVITE transaction: the ACK of a 2xx, for the dialog.
            self.events.push_back(TxEvent::Ack { msg, flow });
            return;
        }

        let merge_key = self.merge_key(&msg);
        if let Some(mk) = &merge_key {
            if self.merges.contains_key(mk) {
                let tag = crate::stateless::stateless_tag(&msg);
                let reply = response(&msg, 482, "Loop Detected", Some(&tag)).finish(b"");
                self.send(flow, reply);
                return;
            }
        }

        if method == Method::Cancel {
            self.receive_cancel(now, key, msg, flow);
            return;
        }

        let invite = method == Method::Invite;
        let id = self.new_server_tx(key, flow, invite, merge_key);
        if invite {
            // Stop the caller's INVITE retransmissions at once.
            let trying = response(&msg, 100, "Trying", None).finish(b"");
            self.respond(now, id, trying);
        }
        self.events
            .push_back(TxEvent::Request { tx: id, msg, flow });
    }

    fn new_server_tx(
        &mut self,
        key: ServerKey,
        flow: Flow,
        invite: bool,
        merge_key: Option<MergeKey>,
    ) -> TxId {
        let id = self.new_id();
        if let Some(mk) = &merge_key {
            self.merges.insert(mk.clone(), id);
        }
        self.servers.insert(key.clone(), id);
        self.txs.insert(
            id,
            Box::new(Transaction {
                invite,
                state: if invite {
                    State::Proceeding
                } else {
                    State::Trying
                },
                flow,
                retransmit: None,
                ack: None,
                interval: T1,
                client_key: None,
                server_key: Some(key),
                merge_key,
            }),
        );
        id
    }

    fn merge_key(&self, msg: &SipMessage) -> Option<MergeKey> {
        let to_has_tag = msg.to_header()?.ok()?.tag().is_some();
        if to_has_tag {
            return None;
        }
        Some(MergeKey {
            from_tag: Bytes::copy_from_slice(msg.from_header()?.ok()?.tag()?),
            call_id: Bytes::copy_from_slice(msg.call_id()?),
            cseq: Bytes::copy_from_slice(msg.header(HeaderName::CSeq)?),
        })
    }

    fn request_on_existing(
        &mut self,
        now: Time,
        id: TxId,
        method: &Method,
        msg: SipMessage,
        flow: Flow,
    ) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        if *method == Method::Ack {
            if tx.invite && tx.state == State::Completed {
                tx.state = State::Confirmed;
                self.timers.cancel((id, Timer::G));
                self.timers.cancel((id, Timer::H));
                let wait = if tx.flow.transport.is_reliable() {
                    Duration::ZERO
                } else {
                    T4
                };
                self.timers.set((id, Timer::I), now + wait);
            } else if tx.state == State::Accepted {
                // RFC 6026 §7.1: the 2xx ACK goes to the TU.
                self.events.push_back(TxEvent::Ack { msg, flow });
            }
            return;
        }
        // A retransmitted request: repeat the last response, if any.
        if let Some(last) = tx.retransmit.clone() {
            if tx.state != State::Confirmed {
                let flow = tx.flow;
                self.send(flow, last);
            }
        }
    }

    fn receive_cancel(&mut self, now: Time, key: ServerKey, cancel: SipMessage, flow: Flow) {
        let invite_key = ServerKey {
            method: Method::Invite,
            ..key.clone()
        };
        let invite = self.servers.get(&invite_key).copied();
        // The CANCEL is its own non-INVITE transaction (RFC 3261 §9.2).
        let id = self.new_server_tx(key, flow, false, None);
        match invite {
            // RFC 3261 §9.2: a CANCEL that finds its INVITE gets 200 even if
            // the INVITE was already answered; it only has an effect while
            // the INVITE is pending (the CANCEL/200 race).
            Some(invite)
                if self
                    .txs
                    .get(&invite)
                    .is_some_and(|t| t.state == State::Proceeding) =>
            {
                self.events.push_back(TxEvent::Cancelled {
                    invite,
                    cancel_tx: id,
                    cancel,
                });
            }
            Some(invite) => {
                let to_tag = self.to_tag_of(invite);
                let ok = response(&cancel, 200, "OK", to_tag.as_deref()).finish(b"");
                self.respond(now, id, ok);
            }
            None => {
                let tag = crate::stateless::stateless_tag(&cancel);
                let nope = response(&cancel, 481, "Call/Transaction Does Not Exist", Some(&tag))
                    .finish(b"");
                self.respond(now, id, nope);
            }
        }
    }

    /// The To tag the INVITE transaction used in its provisional responses,
    /// so the 200 to a CANCEL carries the same one.
    fn to_tag_of(&self, id: TxId) -> Option<String> {
        let last = self.txs.get(&id)?.retransmit.as_ref()?;
        let msg = SipMessage::parse_datagram(last.clone()).ok()?;
        let to = msg.to_header()?.ok()?;
        to.tag().map(|t| String::from_utf8_lossy(t).into_owned())
    }

    fn receive_response(&mut self, now: Time, msg: SipMessage, flow: Flow) {
        let key = (|| {
            let via = msg.top_via()?.ok()?;
            let cseq = msg.cseq()?.ok()?;
            Some(ClientKey {
                branch: Bytes::copy_from_slice(via.branch()?),
                method: Bytes::copy_from_slice(cseq.method),
            })
        })();
        let Some(status) = msg.status() else {
            return;
        };
        let id = key.and_then(|k| self.clients.get(&k).copied());
        let Some(id) = id else {
            let is_invite_2xx = (200..300).contains(&status)
                && msg
                    .cseq()
                    .and_then(Result::ok)
                    .is_some_and(|c| c.method == b"INVITE");
            if is_invite_2xx {
                self.events.push_back(TxEvent::Stray2xx { msg, flow });
            }
            return;
        };
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        let reliable = tx.flow.transport.is_reliable();
        match (tx.invite, tx.state, status) {
            // Provisional responses.
            (_, State::Calling | State::Trying | State::Proceeding, 100..=199) => {
                tx.state = State::Proceeding;
                if tx.invite {
                    // Timer B only guards the Calling state: a phone may
                    // ring for as long as it likes (§17.1.1.2).
                    self.timers.cancel((id, Timer::A));
                    self.timers.cancel((id, Timer::B));
                } else if !reliable {
                    // Non-INVITE keeps retransmitting, at T2 (§17.1.2.2).
                    tx.interval = T2;
                }
                self.events.push_back(TxEvent::Response { tx: id, msg });
            }
            // INVITE 2xx: Accepted (RFC 6026), every 2xx goes to the TU.
            (true, State::Calling | State::Proceeding, 200..=299) => {
                tx.state = State::Accepted;
                // Nothing resends or cancels the INVITE from here on; a
                // held call should not keep its bytes for Timer M.
                tx.retransmit = None;
                self.timers.cancel((id, Timer::A));
                self.timers.cancel((id, Timer::B));
                self.timers.set((id, Timer::M), now + t1x64());
                self.events.push_back(TxEvent::Response { tx: id, msg });
            }
            (true, State::Accepted, 200..=299) => {
                self.events.push_back(TxEvent::Response { tx: id, msg });
            }
            // INVITE failure: ACK it here (§17.1.1.3).
            (true, State::Calling | State::Proceeding, 300..=699) => {
                tx.state = State::Completed;
                self.timers.cancel((id, Timer::A));
                self.timers.cancel((id, Timer::B));
                let wait = if reliable {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32)
                };
                self.timers.set((id, Timer::D), now + wait);
                let ack = tx
                    .retransmit
                    .as_ref()
                    .and_then(|req| ack_for_failure(req, &msg));
                tx.ack = ack.clone();
                let flow = tx.flow;
                if let Some(ack) = ack {
                    self.send(flow, ack);
                }
                self.events.push_back(TxEvent::Response { tx: id, msg });
            }
            (true, State::Completed, 300..=699) => {
                if let Some(ack) = tx.ack.clone() {
                    let flow = tx.flow;
                    self.send(flow, ack);
                }
            }
            // Non-INVITE final response.
            (false, State::Trying | State::Proceeding, 200..=699) => {
                tx.state = State::Completed;
                self.timers.cancel((id, Timer::E));
                self.timers.cancel((id, Timer::F));
                let wait = if reliable { Duration::ZERO } else { T4 };
                self.timers.set((id, Timer::K), now + wait);
                self.events.push_back(TxEvent::Response { tx: id, msg });
            }
            // Retransmissions of what we already passed on.
            _ => {}
        }
    }

    // ---- outgoing ------------------------------------------------------

    /// Starts a client transaction for `request` (whose top Via carries a
    /// fresh branch) and sends it on `flow`.
    pub fn send_request(&mut self, now: Time, request: SipMessage, flow: Flow) -> TxId {
        let id = self.new_id();
        let invite = request.method() == Some(&Method::Invite);
        let key = ClientKey {
            branch: request
                .top_via()
                .and_then(Result::ok)
                .and_then(|v| v.branch())
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
            method: Bytes::copy_from_slice(
                request.method().map(Method::as_bytes).unwrap_or_default(),
            ),
        };
        let data = request.to_bytes();
        self.clients.insert(key.clone(), id);
        let reliable = flow.transport.is_reliable();
        self.txs.insert(
            id,
            Box::new(Transaction {
                invite,
                state: if invite {
                    State::Calling
                } else {
                    State::Trying
                },
                flow,
                retransmit: Some(data.clone()),
                ack: None,
                interval: T1,
                client_key: Some(key),
                server_key: None,
                merge_key: None,
            }),
        );
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !reliable {
            self.timers.set((id, retransmit), now + T1);
        }
        self.timers.set((id, timeout), now + t1x64());
        self.send(flow, data);
        id
    }

    /// Sends a response on a server transaction.
    pub fn respond(&mut self, now: Time, id: TxId, data: Bytes) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        // Only a transaction still waiting may answer; a second final
        // response (a race between two parts of the TU) is dropped.
        if !matches!(tx.state, State::Proceeding | State::Trying) {
            return;
        }
        let status = status_of(&data);
        let reliable = tx.flow.transport.is_reliable();
        let flow = tx.flow;
        tx.retransmit = Some(data.clone());
        match (tx.invite, status) {
            (_, 100..=199) => {
                if !tx.invite {
                    tx.state = State::Proceeding;
                }
            }
            (true, 200..=299) => {
                // The 2xx is retransmitted by the dialog (§13.3.1.4); the
                // transaction only absorbs INVITE retransmits (RFC 6026).
                tx.state = State::Accepted;
                tx.retransmit = None;
                self.timers.set((id, Timer::L), now + t1x64());
            }
            (true, _) => {
                tx.state = State::Completed;
                if !reliable {
                    self.timers.set((id, Timer::G), now + T1);
                }
                self.timers.set((id, Timer::H), now + t1x64());
            }
            (false, _) => {
                tx.state = State::Completed;
                let wait = if reliable { Duration::ZERO } else { t1x64() };
                self.timers.set((id, Timer::J), now + wait);
            }
        }
        self.send(flow, data);
    }

    /// Sends a CANCEL for a client INVITE transaction (RFC 3261 §9.1). Only
    /// possible once a provisional response arrived; before that `None`, and
    /// the caller retries when the INVITE reaches Proceeding.
    pub fn cancel(&mut self, now: Time, invite: TxId) -> Option<TxId> {
        let tx = self.txs.get(&invite)?;
        if !tx.invite || tx.state != State::Proceeding {
            return None;
        }
        let flow = tx.flow;
        let req = SipMessage::parse_datagram(tx.retransmit.clone()?).ok()?;
        let mut w = MessageWriter::request(b"CANCEL", req.request_uri()?);
        w.known(HeaderName::Via, top_via(&req)?);
        w.known(HeaderName::MaxForwards, b"70");
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            w.known(name, req.header(name)?);
        }
        let seq = req.cseq()?.ok()?.seq;
        w.known(HeaderName::CSeq, format!("{seq} CANCEL").as_bytes());
        for route in req.header_values(HeaderName::Route) {
            w.known(HeaderName::Route, route);
        }
        let cancel = SipMessage::parse_datagram(w.finish(b"")).ok()?;
        // RFC 3261 §9.1: a callee that never answers the cancelled INVITE
        // must not keep it alive; give it 64*T1, as Timer B would.
        self.timers.set((invite, Timer::B), now + t1x64());
        Some(self.send_request(now, cancel, flow))
    }

    // ---- timers --------------------------------------------------------

    pub fn handle_timeout(&mut self, now: Time) {
        while let Some((id, timer)) = self.timers.pop_due(now) {
            self.fire(now, id, timer);
        }
    }

    fn fire(&mut self, now: Time, id: TxId, timer: Timer) {
        let Some(tx) = self.txs.get_mut(&id) else {
            return;
        };
        match timer {
            Timer::A | Timer::E => {
                let cap = if timer == Timer::A { Duration::MAX } else { T2 };
                tx.interval = (tx.interval * 2).min(cap);
                let next = now + tx.interval;
                if let Some(req) = tx.retransmit.clone() {
                    let flow = tx.flow;
                    self.send(flow, req);
                }
                self.timers.set((id, timer), next);
            }
            Timer::G => {
                tx.interval = (tx.interval * 2).min(T2);
                let next = now + tx.interval;
                if let Some(resp) = tx.retransmit.clone() {
                    let flow = tx.flow;
                    self.send(flow, resp);
                }
                self.timers.set((id, Timer::G), next);
            }
            Timer::B | Timer::F => {
                self.events.push_back(TxEvent::Timeout { tx: id });
                self.remove(id);
            }
            Timer::H => {
                self.events.push_back(TxEvent::NoAck { tx: id });
                self.remove(id);
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::L | Timer::M => self.remove(id),
        }
    }

    fn remove(&mut self, id: TxId) {
        let Some(tx) = self.txs.remove(&id) else {
            return;
        };
        for timer in [
            Timer::A,
            Timer::B,
            Timer::D,
            Timer::E,
            Timer::F,
            Timer::G,
            Timer::H,
            Timer::I,
            Timer::J,
            Timer::K,
            Timer::L,
            Timer::M,
        ] {
            self.timers.cancel((id, timer));
        }
        if let Some(k) = tx.client_key {
            self.clients.remove(&k);
        }
        if let Some(k) = tx.server_key {
            self.servers.remove(&k);
        }
        if let Some(k) = tx.merge_key {
            self.merges.remove(&k);
        }
    }
}

fn status_of(data: &[u8]) -> u16 {
    data.get(8..11)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// The first Via value of a message, which may share a line with others.
fn top_via(msg: &SipMessage) -> Option<&[u8]> {
    let line = msg.header(HeaderName::Via)?;
    Some(match crate::msg::syntax::find_unquoted(line, b',') {
        Some(i) => crate::msg::syntax::trim_lws(&line[..i]),
        None => line,
    })
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI,
/// top Via, Call-ID, From, CSeq number and Route of the INVITE, To of the
/// response.
fn ack_for_failure(invite: &Bytes, resp: &SipMessage) -> Option<Bytes> {
    let req = SipMessage::parse_datagram(invite.clone()).ok()?;
    let mut w = MessageWriter::request(b"ACK", req.request_uri()?);
    w.known(HeaderName::Via, top_via(&req)?);
    w.known(HeaderName::MaxForwards, b"70");
    w.known(HeaderName::From, req.header(HeaderName::From)?);
    w.known(HeaderName::To, resp.header(HeaderName::To)?);
    w.known(HeaderName::CallId, req.call_id()?);
    let seq = req.cseq()?.ok()?.seq;
    w.known(HeaderName::CSeq, format!("{seq} ACK").as_bytes());
    for route in req.header_values(HeaderName::Route) {
        w.known(HeaderName::Route, route);
    }
    Some(w.finish(b""))
}

#[cfg(test)]
mod tests;
