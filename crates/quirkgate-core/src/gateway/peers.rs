//! Trunks (IP peers without registration) and the health of every peer:
//! OPTIONS pings to lines and trunks, a peer counted down after a number of
//! unanswered pings and skipped by routing until it answers again.

use foldhash::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::lines::{Account, LineState};
use super::routing::{Callee, Destination, ProviderLeg};
use super::{Gateway, GwTimer};
use crate::dialplan::Transition;
use crate::msg::build::MessageWriter;
use crate::msg::{HeaderName, SipMessage};
use crate::quirks::{ActiveCalls, Direction, PingConfig, Quirks};
use crate::time::Time;
use crate::transport::{Flow, Transport};
use crate::txn::TxId;

/// A trunk as configured, its address resolved by the shell.
#[derive(Debug, Clone)]
pub struct TrunkConfig {
    pub name: String,
    pub transport: Transport,
    pub address: SocketAddr,
    /// Further targets DNS gave (RFC 3263), tried in turn when a call
    /// times out or gets 503.
    pub fallbacks: Vec<(Transport, SocketAddr)>,
    /// The host of our requests' Request-URI and To.
    pub domain: String,
    /// Digest credentials for a trunk that challenges our INVITEs.
    pub credentials: Option<(String, String)>,
    /// Recognise calls in by source address and port (the configuration
    /// named a port), not by IP alone.
    pub match_port: bool,
    /// Calls from this trunk may leave by other lines and trunks, as the
    /// dial plan routes them; otherwise they reach only office phones.
    pub transit: bool,
    pub refine: Option<Transition>,
    pub quirks: Arc<Quirks>,
}

/// A line or a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum PeerRef {
    Line(usize),
    Trunk(usize),
}

#[derive(Debug, Default)]
struct Health {
    down: bool,
    misses: u32,
    pending: Option<TxId>,
}

struct Trunk {
    config: TrunkConfig,
    flow: Flow,
}

#[derive(Default)]
pub(super) struct Peers {
    trunks: Vec<Trunk>,
    health: HashMap<PeerRef, Health>,
    pings: HashMap<TxId, PeerRef>,
    /// The calls each peer carries now, for its caps.
    active: HashMap<PeerRef, ActiveCalls>,
}

impl Gateway {
    pub(super) fn add_trunks(&mut self, configs: Vec<TrunkConfig>) {
        for config in configs {
            let Some(flow) = self.flow_to(config.transport, config.address) else {
                tracing::warn!(trunk = %config.name, "no listener for the trunk's transport: trunk unused");
                continue;
            };
            self.peers.trunks.push(Trunk { config, flow });
        }
    }

    /// Arms the first ping of every peer that has pings configured.
    pub(super) fn start_pings(&mut self, now: Time) {
        let trunks = (0..self.peers.trunks.len()).map(PeerRef::Trunk);
        let lines = (0..self.lines().len()).map(PeerRef::Line);
        let pinged: Vec<PeerRef> = trunks
            .chain(lines)
            .filter(|&p| self.ping_config(p).is_some())
            .collect();
        for peer in pinged {
            self.timers.set(GwTimer::Ping(peer), now);
        }
    }

    /// The quirk profile of a line or trunk.
    pub(super) fn peer_quirks(&self, peer: PeerRef) -> Option<&Arc<Quirks>> {
        match peer {
            PeerRef::Trunk(i) => self.peers.trunks.get(i).map(|t| &t.config.quirks),
            PeerRef::Line(i) => self.line_quirks(i),
        }
    }

    fn ping_config(&self, peer: PeerRef) -> Option<&PingConfig> {
        self.peer_quirks(peer)?.options_ping.as_ref()
    }

    /// Whether the peer's caps admit one more call in `direction`.
    pub(super) fn peer_admits(&self, peer: PeerRef, direction: Direction) -> bool {
        let active = self.peers.active.get(&peer).copied().unwrap_or_default();
        self.peer_quirks(peer)
            .is_none_or(|q| q.caps.admits(active, direction))
    }

    /// A call through `peer` started or ended.
    pub(super) fn count_call(&mut self, peer: PeerRef, direction: Direction, started: bool) {
        let active = self.peers.active.entry(peer).or_default();
        if started {
            active.add(direction);
        } else {
            active.remove(direction);
        }
    }

    fn peer_flow_and_domain(&self, peer: PeerRef) -> Option<(Flow, String)> {
        match peer {
            PeerRef::Trunk(i) => self
                .peers
                .trunks
                .get(i)
                .map(|t| (t.flow, t.config.domain.clone())),
            PeerRef::Line(i) => self.line_flow_and_domain(i),
        }
    }

    fn peer_name(&self, peer: PeerRef) -> String {
        match peer {
            PeerRef::Trunk(i) => self
                .peers
                .trunks
                .get(i)
                .map(|t| t.config.name.clone())
                .unwrap_or_default(),
            PeerRef::Line(i) => self
                .lines()
                .get(i)
                .map(|l| l.name.clone())
                .unwrap_or_default(),
        }
    }

    /// The ping timer: count an unanswered ping as a miss, send the next.
    pub(super) fn on_ping_timer(&mut self, now: Time, peer: PeerRef) {
        let Some(config) = self.ping_config(peer).cloned() else {
            return;
        };
        let unanswered = self.peers.health.get(&peer).and_then(|h| h.pending);
        if let Some(tx) = unanswered {
            self.peers.pings.remove(&tx);
            self.ping_missed(peer, config.misses);
        }
        let Some((flow, domain)) = self.peer_flow_and_domain(peer) else {
            return;
        };
        let uri = format!("sip:{domain}");
        let mut w = MessageWriter::request(b"OPTIONS", uri.as_bytes());
        let branch = self.ids.branch();
        w.known(HeaderName::Via, flow.via(&branch).as_bytes());
        w.known(HeaderName::MaxForwards, b"70");
        w.known(
            HeaderName::From,
            format!("<sip:quirkgate@{}>;tag={}", flow.local, self.ids.tag()).as_bytes(),
        );
        w.known(HeaderName::To, format!("<{uri}>").as_bytes());
        w.known(HeaderName::CallId, self.ids.call_id().as_bytes());
        w.known(HeaderName::CSeq, b"1 OPTIONS");
        if let Some(quirks) = self.peer_quirks(peer) {
            quirks.headers.add_to(&mut w);
        }
        if let Ok(ping) = SipMessage::parse_datagram(w.finish(b"")) {
            let tx = self.txn.send_request(now, ping, flow);
            self.peers.pings.insert(tx, peer);
            self.peers.health.entry(peer).or_default().pending = Some(tx);
        }
        self.timers.set(GwTimer::Ping(peer), now + config.interval);
    }

    fn ping_missed(&mut self, peer: PeerRef, limit: u32) {
        let name = self.peer_name(peer);
        let health = self.peers.health.entry(peer).or_default();
        health.pending = None;
        health.misses += 1;
        if health.misses >= limit && !health.down {
            health.down = true;
            tracing::warn!(peer = %name, misses = health.misses, "peer down: skipped by routing until it answers");
        }
    }

    /// A response to a ping; false if the transaction was not a ping.
    pub(super) fn on_ping_response(&mut self, tx: TxId, msg: &SipMessage) -> bool {
        let Some(&peer) = self.peers.pings.get(&tx) else {
            return false;
        };
        let status = msg.status().unwrap_or(500);
        if status < 200 {
            return true;
        }
        self.peers.pings.remove(&tx);
        let Some(config) = self.ping_config(peer).cloned() else {
            return true;
        };
        if !config.alive(status) {
            self.ping_missed(peer, config.misses);
            return true;
        }
        let name = self.peer_name(peer);
        let health = self.peers.health.entry(peer).or_default();
        if health.down {
            tracing::info!(peer = %name, "peer answers again: back in routing");
        }
        *health = Health::default();
        true
    }

    /// A ping that got no answer at all within Timer F.
    pub(super) fn on_ping_timeout(&mut self, tx: TxId) -> bool {
        let Some(peer) = self.peers.pings.remove(&tx) else {
            return false;
        };
        let limit = self.ping_config(peer).map_or(1, |c| c.misses);
        self.ping_missed(peer, limit);
        true
    }

    /// Whether routing may send a call out through a peer now: it is up,
    /// registered (a line), and below its caps.
    pub(super) fn peer_usable(&self, peer: PeerRef) -> bool {
        self.peer_up(peer) && self.peer_admits(peer, Direction::Out)
    }

    /// Whether a peer is up: it answers its pings and, for a line, its
    /// registration has not failed.
    pub(super) fn peer_up(&self, peer: PeerRef) -> bool {
        let healthy = !self.peers.health.get(&peer).is_some_and(|h| h.down);
        let registered = match peer {
            PeerRef::Line(i) => self
                .lines()
                .get(i)
                .is_some_and(|l| l.state != LineState::Failed),
            PeerRef::Trunk(_) => true,
        };
        healthy && registered
    }

    pub(super) fn trunk_is_transit(&self, i: usize) -> bool {
        self.peers.trunks.get(i).is_some_and(|t| t.config.transit)
    }

    pub(super) fn trunk_index(&self, name: &str) -> Option<usize> {
        self.peers.trunks.iter().position(|t| t.config.name == name)
    }

    /// Where a call to `number` over trunk `i` goes, as whom, and where
    /// to try next.
    pub(super) fn trunk_destination(&self, i: usize, number: &str) -> Option<Destination> {
        let t = self.peers.trunks.get(i)?;
        let account = t
            .config
            .credentials
            .as_ref()
            .map(|(username, password)| Account {
                username: username.clone(),
                password: password.clone(),
            });
        let alternates = t
            .config
            .fallbacks
            .iter()
            .filter_map(|&(transport, remote)| self.flow_to(transport, remote))
            .collect();
        let number = match &t.config.refine {
            Some(r) => r.apply(number),
            None => number.to_string(),
        };
        Some(Destination {
            flow: t.flow,
            alternates,
            callee: Callee::Provider(ProviderLeg {
                quirks: t.config.quirks.clone(),
                account,
                domain: t.config.domain.clone(),
                number,
            }),
        })
    }

    /// The trunk a request came from, recognised by its source address:
    /// one of its addresses exactly when a port was configured, its IPs
    /// otherwise.
    pub(super) fn trunk_from(&self, source: SocketAddr) -> Option<usize> {
        self.peers.trunks.iter().position(|t| {
            let mut addresses =
                std::iter::once(t.flow.remote).chain(t.config.fallbacks.iter().map(|&(_, a)| a));
            if t.config.match_port {
                addresses.any(|a| a == source)
            } else {
                addresses.any(|a| a.ip() == source.ip())
            }
        })
    }
}
