//! The tokio shell: sockets, timers and storage around the sans-IO
//! gateway. One task owns the gateway and is the only one to touch it;
//! socket tasks hand it what they receive and it tells them what to send.

mod admin;
mod tcp;
mod udp;

pub use udp::bind as bind_udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use quirkgate_core::auth::Algorithm;
use quirkgate_core::gateway::{
    Event, Gateway, GatewayConfig, LineConfig, LocalUser, NatMode, TrunkConfig,
};
use quirkgate_core::time::Time;
use quirkgate_core::transport::{ConnId, Flow, Transport};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::config::{Config, DigestAlgorithm, Listen, NatSetting, Registrar, TransportKind};
use crate::dns::DnsResolver;
use crate::store::Store;
use quirkgate_trace::PcapWriter;

/// What `run` bound, for the start-up banner and for tests that bind port 0.
pub struct Bound {
    pub sip: Vec<Listen>,
    pub admin: SocketAddr,
}

/// What socket tasks tell the gateway task.
pub(crate) enum Input {
    Message {
        flow: Flow,
        data: Bytes,
    },
    Connected {
        conn: ConnId,
        remote: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
    Closed {
        conn: ConnId,
    },
}

/// Messages queued per TCP connection before new ones are dropped: a peer
/// that stops reading must not make the gateway buffer without bound.
const CONNECTION_QUEUE: usize = 256;

/// Inputs handled in one turn of the gateway loop before timers and
/// events are looked at again.
const INPUT_BATCH: usize = 64;

/// Binds every listener, then serves until Ctrl-C or SIGTERM; with
/// `trace`, every message sent and received is also written there (pcap).
pub async fn run(
    config: Config,
    trace: Option<&std::path::Path>,
    on_bound: impl FnOnce(&Bound),
) -> anyhow::Result<()> {
    let trace = match trace {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create the trace file {}", path.display()))?;
            Some(PcapWriter::new(std::io::BufWriter::new(file))?)
        }
        None => None,
    };
    let (inputs, mut rx) = mpsc::channel::<Input>(8192);
    let mut bound = Vec::new();
    let mut udp_sockets: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let connections = tcp::Connections::new(inputs.clone(), config.sip.max_message_size);
    for listen in &config.sip.listen {
        match listen.transport {
            TransportKind::Udp => {
                let socket = udp::bind(listen.addr, config.sip.udp_buffer)
                    .with_context(|| format!("cannot bind SIP listener {listen}"))?;
                let socket = Arc::new(socket);
                let addr = socket.local_addr()?;
                bound.push(Listen {
                    transport: TransportKind::Udp,
                    addr,
                });
                udp_sockets.insert(addr, socket.clone());
                tasks.spawn(udp::receive(socket, inputs.clone()));
            }
            TransportKind::Tcp => {
                let listener = TcpListener::bind(listen.addr)
                    .await
                    .with_context(|| format!("cannot bind SIP listener {listen}"))?;
                let addr = listener.local_addr()?;
                bound.push(Listen {
                    transport: TransportKind::Tcp,
                    addr,
                });
                tasks.spawn(connections.clone().accept(listener));
            }
        }
    }
    let admin = TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("cannot bind the admin listener {}", config.admin.listen))?;
    let bound = Bound {
        sip: bound,
        admin: admin.local_addr()?,
    };
    let mut store = Store::open(&config.storage.database)?;
    let resolver = DnsResolver::system().context("cannot read the system's DNS configuration")?;
    let lines = resolve_lines(&resolver, &config).await;
    let trunks = resolve_trunks(&resolver, &config).await;
    let mut gateway = Gateway::new(gateway_config(&config, &bound, lines, trunks), seed()?);
    let (status_tx, status_rx) = watch::channel(admin::Status::default());
    tasks.spawn(admin::serve(admin, status_rx));
    let clock = Clock(Instant::now());
    for (number, record) in store.load()? {
        gateway.restore_binding(clock.now(), &number, record);
    }
    gateway.start(clock.now());
    let mut published = gateway.lines_generation();
    status_tx.send_modify(|s| s.lines = gateway.lines());
    on_bound(&bound);

    let mut router = Router {
        udp: udp_sockets,
        writers: HashMap::new(),
        by_remote: HashMap::new(),
        connections,
        trace,
    };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // After a shutdown signal, lines get this long to unregister.
    let mut leaving: Option<Instant> = None;
    loop {
        // First, so that what `start` queued leaves at once rather than
        // with the first timer.
        settle(&mut gateway, &mut router, &mut store);
        // What the admin API shows, refreshed whenever a line changed.
        if gateway.lines_generation() != published {
            published = gateway.lines_generation();
            let lines = gateway.lines();
            status_tx.send_modify(|s| s.lines = lines);
        }
        let deadline = gateway.poll_timeout().map(|t| clock.instant(t));
        let deadline = match leaving {
            Some(limit) => Some(deadline.map_or(limit, |d| d.min(limit))),
            None => deadline,
        };
        tokio::select! {
            _ = &mut shutdown, if leaving.is_none() => {
                info!("shutting down: unregistering lines");
                gateway.shutdown(clock.now());
                leaving = Some(Instant::now() + Duration::from_secs(2));
            }
            Some(result) = tasks.join_next() => {
                result.context("a listener task failed")??;
            }
            _ = sleep_until(deadline) => gateway.handle_timeout(clock.now()),
            Some(input) = rx.recv() => {
                router.input(&mut gateway, clock.now(), input);
                // Under load more inputs are already waiting: take them
                // now rather than each with a turn of the loop (a timer
                // re-armed and a select polled), sending as we go.
                for _ in 0..INPUT_BATCH {
                    let Ok(input) = rx.try_recv() else { break };
                    settle(&mut gateway, &mut router, &mut store);
                    router.input(&mut gateway, clock.now(), input);
                }
            }
        }
        if let Some(limit) = leaving {
            if !gateway.unregistering() || Instant::now() >= limit {
                return Ok(());
            }
        }
    }
}

/// Stores what the gateway reports, then sends what it queued: a
/// registration is on disk before the 200 that confirms it leaves.
fn settle(gateway: &mut Gateway, router: &mut Router, store: &mut Store) {
    while let Some(event) = gateway.poll_event() {
        match event {
            Event::Bindings { number, bindings } => {
                if let Err(e) = store.save(&number, &bindings) {
                    warn!(%number, error = %e, "cannot store the registration");
                }
            }
        }
    }
    while let Some(out) = gateway.poll_transmit() {
        router.send(out);
    }
}

/// Maps the core's microsecond clock to tokio instants.
struct Clock(Instant);

impl Clock {
    fn now(&self) -> Time {
        Time::from_micros(self.0.elapsed().as_micros() as u64)
    }

    fn instant(&self, t: Time) -> Instant {
        self.0 + Duration::from_micros(t.as_micros())
    }
}

/// Where the gateway's bytes go: UDP sockets by local address, TCP
/// connections by id or by peer, or a new connection.
struct Router {
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    writers: HashMap<ConnId, mpsc::Sender<Bytes>>,
    by_remote: HashMap<SocketAddr, ConnId>,
    connections: tcp::Connections,
    trace: Option<PcapWriter<std::io::BufWriter<std::fs::File>>>,
}

impl Router {
    fn input(&mut self, gateway: &mut Gateway, now: Time, input: Input) {
        match input {
            Input::Message { flow, data } => {
                debug!(transport = %flow.transport, peer = %flow.remote, local = %flow.local, bytes = data.len(), "in\n{}", String::from_utf8_lossy(&data));
                self.record(flow.transport, flow.remote, flow.local, &data);
                gateway.handle_message(now, flow, data);
            }
            Input::Connected {
                conn,
                remote,
                writer,
            } => {
                self.writers.insert(conn, writer);
                self.by_remote.insert(remote, conn);
            }
            Input::Closed { conn } => {
                self.writers.remove(&conn);
                self.by_remote.retain(|_, c| *c != conn);
                gateway.connection_closed(conn);
            }
        }
    }

    /// Writes one message to the trace file, if there is one.
    fn record(&mut self, transport: Transport, src: SocketAddr, dst: SocketAddr, data: &[u8]) {
        let Some(trace) = self.trace.as_mut() else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let written = match transport {
            Transport::Udp => trace.udp(now, src, dst, data),
            _ => trace.tcp(now, src, dst, data),
        };
        if let Err(e) = written {
            warn!(error = %e, "cannot write the trace: tracing stopped");
            self.trace = None;
        }
    }

    fn send(&mut self, out: quirkgate_core::transport::Transmit) {
        debug!(transport = %out.flow.transport, local = %out.flow.local, peer = %out.flow.remote, bytes = out.data.len(), "out\n{}", String::from_utf8_lossy(&out.data));
        self.record(
            out.flow.transport,
            out.flow.local,
            out.flow.remote,
            &out.data,
        );
        match out.flow.transport {
            Transport::Udp => match self.udp.get(&out.flow.local) {
                // A full socket buffer drops the datagram: UDP is lossy
                // and the transaction layer retransmits.
                Some(socket) => {
                    if let Err(e) = socket.try_send_to(&out.data, out.flow.remote) {
                        warn!(peer = %out.flow.remote, error = %e, "udp send failed");
                    }
                }
                None => warn!(local = %out.flow.local, "no UDP socket for this address"),
            },
            Transport::Tcp => {
                let conn = out
                    .flow
                    .conn
                    .filter(|c| self.writers.contains_key(c))
                    .or_else(|| self.by_remote.get(&out.flow.remote).copied());
                match conn.and_then(|c| self.writers.get(&c)) {
                    Some(writer) => {
                        if writer.try_send(out.data).is_err() {
                            warn!(peer = %out.flow.remote, "tcp connection backlogged: message dropped");
                        }
                    }
                    None => self.connections.connect(out.flow.remote, out.data),
                }
            }
            Transport::Tls => {
                warn!(peer = %out.flow.remote, "TLS is not supported yet: message dropped")
            }
        }
    }
}

/// Locates a peer by RFC 3263 DNS; a peer that does not resolve is left
/// out, loudly.
async fn resolve(
    resolver: &DnsResolver,
    kind: &str,
    name: &str,
    target: &Registrar,
) -> Vec<(Transport, SocketAddr)> {
    let found = crate::dns::locate(resolver, &target.peer_target()).await;
    if found.targets.is_empty() {
        error!(%kind, %name, host = %target.host, steps = ?found.steps, "cannot resolve the peer: not used");
    } else {
        info!(%kind, %name, targets = ?found.targets, "resolved");
    }
    found.targets
}

async fn resolve_lines(resolver: &DnsResolver, config: &Config) -> Vec<LineConfig> {
    let mut lines = Vec::new();
    for line in &config.lines {
        let mut targets = resolve(resolver, "line", &line.name, &line.registrar)
            .await
            .into_iter();
        let Some((transport, registrar)) = targets.next() else {
            continue;
        };
        lines.push(LineConfig {
            name: line.name.clone(),
            transport,
            registrar,
            fallbacks: targets.collect(),
            domain: line.registrar.domain(),
            username: line.username.clone(),
            password: line.password.clone(),
            number: line.number.clone(),
            refine: line.refine.as_ref().map(crate::config::Transition::to_core),
            quirks: config.core_quirks("line", &line.name),
        });
    }
    lines
}

async fn resolve_trunks(resolver: &DnsResolver, config: &Config) -> Vec<TrunkConfig> {
    let mut trunks = Vec::new();
    for trunk in &config.trunks {
        let mut targets = resolve(resolver, "trunk", &trunk.name, &trunk.address)
            .await
            .into_iter();
        let Some((transport, address)) = targets.next() else {
            continue;
        };
        trunks.push(TrunkConfig {
            name: trunk.name.clone(),
            transport,
            address,
            fallbacks: targets.collect(),
            domain: trunk.address.domain(),
            credentials: trunk.username.clone().zip(trunk.password.clone()),
            match_port: trunk.address.has_port(),
            transit: trunk.transit,
            refine: trunk
                .refine
                .as_ref()
                .map(crate::config::Transition::to_core),
            quirks: config.core_quirks("trunk", &trunk.name),
        });
    }
    trunks
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

fn gateway_config(
    config: &Config,
    bound: &Bound,
    lines: Vec<LineConfig>,
    trunks: Vec<TrunkConfig>,
) -> GatewayConfig {
    use quirkgate_core::dialplan;
    let routes = config
        .routes
        .iter()
        .filter_map(|r| {
            Some(dialplan::Route {
                prefix: r.prefix.clone(),
                // `check` already refused an unparseable target.
                target: dialplan::Target::parse(&r.to).ok()?,
                transition: r
                    .transition
                    .as_ref()
                    .map(crate::config::Transition::to_core),
                reanalyse: r.reanalyse,
            })
        })
        .collect();
    let blacklist = config
        .blacklist
        .iter()
        .map(|b| dialplan::BlacklistRule {
            caller: b.caller.clone(),
            called: b.called.clone(),
            rate: b.rate,
            status: b.status,
        })
        .collect();
    GatewayConfig {
        lines,
        trunks,
        max_calls: config.calls.max_calls,
        no_answer_timeout: config.calls.no_answer_timeout.map(Duration::from_secs),
        groups: config
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.lines.clone()))
            .collect(),
        dialplan: dialplan::DialPlan::new(routes, blacklist),
        realm: config.sip.realm.clone(),
        digest_algorithms: config
            .sip
            .digest_algorithms
            .iter()
            .map(|a| match a {
                DigestAlgorithm::Md5 => Algorithm::Md5,
                DigestAlgorithm::Sha256 => Algorithm::Sha256,
            })
            .collect(),
        users: config
            .users
            .iter()
            .map(|u| LocalUser {
                number: u.number.clone(),
                password: u.password.clone(),
                allow_ips: u.allow_ips.clone(),
                contact: u.contact.clone(),
                multi_device: u.multi_device,
                nat: match u.nat {
                    NatSetting::Auto => NatMode::Auto,
                    NatSetting::Force => NatMode::Force,
                    NatSetting::Never => NatMode::Never,
                },
            })
            .collect(),
        listeners: bound
            .sip
            .iter()
            .map(|l| {
                let t = match l.transport {
                    TransportKind::Udp => Transport::Udp,
                    TransportKind::Tcp => Transport::Tcp,
                };
                (t, l.addr)
            })
            .collect(),
        ..GatewayConfig::default()
    }
}

/// The secret the gateway's tags, branches and nonces derive from.
fn seed() -> anyhow::Result<[u8; 32]> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("cannot read /dev/urandom for the gateway's secret seed")?;
    Ok(seed)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
