//! Trunks (IP peers without registration) and the health of every peer:
//! OPTIONS pings to lines and trunks, a peer counted down after a number of
//! unanswered pings and skipped by routing until it answers again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::lines::{Account, LineState};
use super::routing::Destination;
use super::{Gateway, GwTimer};
use crate::dialplan::Transition;
use crate::msg::build::MessageWriter;
use crate::msg::{HeaderName, SipMessage};
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
    pub refine: Option<Transition>,
    pub ping: Option<PingConfig>,
}

/// OPTIONS pings of a peer.
#[derive(Debug, Clone)]
pub struct PingConfig {
    pub interval: Duration,
    /// Unanswered pings in a row before the peer counts as down.
    pub misses: u32,
    /// Statuses that count as alive; empty means every final response but
    /// 408, 480 and 5xx.
    pub up_statuses: Vec<u16>,
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
    line_pings: HashMap<usize, PingConfig>,
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

    pub(super) fn set_line_pings(&mut self, pings: HashMap<usize, PingConfig>) {
        self.peers.line_pings = pings;
    }

    /// Arms the first ping of every peer that has pings configured.
    pub(super) fn start_pings(&mut self, now: Time) {
        let trunks = (0..self.peers.trunks.len())
            .filter(|&i| self.peers.trunks[i].config.ping.is_some())
            .map(PeerRef::Trunk);
        let lines: Vec<PeerRef> = self
            .peers
            .line_pings
            .keys()
            .map(|&i| PeerRef::Line(i))
            .collect();
        for peer in trunks.collect::<Vec<_>>().into_iter().chain(lines) {
            self.timers.set(GwTimer::Ping(peer), now);
        }
    }

    fn ping_config(&self, peer: PeerRef) -> Option<&PingConfig> {
        match peer {
            PeerRef::Trunk(i) => self.peers.trunks.get(i)?.config.ping.as_ref(),
            PeerRef::Line(i) => self.peers.line_pings.get(&i),
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
        let alive = if config.up_statuses.is_empty() {
            !matches!(status, 408 | 480 | 500..=599)
        } else {
            config.up_statuses.contains(&status)
        };
        if !alive {
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

    /// Whether routing may use a peer now.
    pub(super) fn peer_usable(&self, peer: PeerRef) -> bool {
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

    pub(super) fn trunk_index(&self, name: &str) -> Option<usize> {
        self.peers.trunks.iter().position(|t| t.config.name == name)
    }

    /// Where a call to `number` over trunk `i` goes, as whom, and where
    /// to try next.
    pub(super) fn trunk_destination(&self, i: usize, number: &str) -> Option<Destination> {
        let t = self.peers.trunks.get(i)?;
        let number = match &t.config.refine {
            Some(r) => r.apply(number),
            None => number.to_string(),
        };
        let account = t
            .config
            .credentials
            .as_ref()
            .map(|(username, password)| Account {
                username: username.clone(),
                domain: t.config.domain.clone(),
                password: password.clone(),
            });
        let alternates = t
            .config
            .fallbacks
            .iter()
            .filter_map(|&(transport, remote)| self.flow_to(transport, remote))
            .collect();
        let domain = t.config.domain.clone();
        Some(Destination {
            target: Bytes::from(format!("sip:{number}@{domain}")),
            flow: t.flow,
            account,
            domain: Some(domain),
            number,
            alternates,
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
