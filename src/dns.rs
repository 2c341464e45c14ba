//! Locating a SIP peer by DNS (RFC 3263): NAPTR, then SRV, then A/AAAA,
//! with the steps kept so `quirkgate dns` can show the whole chain. The
//! lookups go through [`Resolve`], so tests use a static zone.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use quirkgate_core::transport::Transport;

/// Where a peer was said to be: a host, and the port and transport if the
/// configuration named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTarget {
    pub host: String,
    pub port: Option<u16>,
    pub transport: Option<Transport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub service: String,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The three kinds of lookup RFC 3263 needs. Failures and empty answers
/// are the same to the procedure: an empty list.
pub trait Resolve {
    fn naptr(&self, name: &str) -> impl Future<Output = Vec<Naptr>> + Send;
    fn srv(&self, name: &str) -> impl Future<Output = Vec<Srv>> + Send;
    fn ips(&self, host: &str) -> impl Future<Output = Vec<IpAddr>> + Send;
}

/// The outcome: targets in the order to try them, and how they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    pub targets: Vec<(Transport, SocketAddr)>,
    pub steps: Vec<String>,
}

fn srv_name(transport: Transport, host: &str) -> String {
    match transport {
        Transport::Udp => format!("_sip._udp.{host}"),
        Transport::Tcp => format!("_sip._tcp.{host}"),
        Transport::Tls => format!("_sips._tcp.{host}"),
    }
}

fn default_port(transport: Transport) -> u16 {
    if transport == Transport::Tls {
        5061
    } else {
        5060
    }
}

/// The transports this gateway speaks, in RFC 3263 NAPTR service terms.
fn naptr_transport(service: &str) -> Option<Transport> {
    match service.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(Transport::Udp),
        "SIP+D2T" => Some(Transport::Tcp),
        _ => None,
    }
}

/// RFC 3263 §4: an IP address is used as it is; a port skips NAPTR and
/// SRV; a transport skips NAPTR; otherwise NAPTR, then SRV per transport,
/// then A/AAAA on the default port.
pub async fn locate<R: Resolve>(resolver: &R, peer: &PeerTarget) -> Resolution {
    let mut res = Resolution::default();
    let host = peer.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        let transport = peer.transport.unwrap_or(Transport::Udp);
        let port = peer.port.unwrap_or(default_port(transport));
        res.steps.push(format!(
            "{host} is an address: {transport} {}",
            SocketAddr::new(ip, port)
        ));
        res.targets.push((transport, SocketAddr::new(ip, port)));
        return res;
    }
    if let Some(port) = peer.port {
        let transport = peer.transport.unwrap_or(Transport::Udp);
        add_addresses(resolver, &mut res, host, port, transport).await;
        return res;
    }
    let srv_queries: Vec<(Transport, String)> = match peer.transport {
        Some(t) => vec![(t, srv_name(t, host))],
        None => {
            let mut naptrs = resolver.naptr(host).await;
            naptrs.sort_by_key(|n| (n.order, n.preference));
            res.steps.push(format!(
                "NAPTR {host}: {}",
                if naptrs.is_empty() {
                    "none".into()
                } else {
                    naptrs
                        .iter()
                        .map(|n| {
                            format!(
                                "{} {} \"{}\" \"{}\" {}",
                                n.order, n.preference, n.flags, n.service, n.replacement
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
            let usable: Vec<(Transport, String)> = naptrs
                .iter()
                .filter(|n| n.flags.eq_ignore_ascii_case("s"))
                .filter_map(|n| {
                    naptr_transport(&n.service)
                        .map(|t| (t, n.replacement.trim_end_matches('.').to_string()))
                })
                .collect();
            if usable.is_empty() {
                [Transport::Udp, Transport::Tcp]
                    .iter()
                    .map(|&t| (t, srv_name(t, host)))
                    .collect()
            } else {
                usable
            }
        }
    };
    for (transport, name) in srv_queries {
        let mut srvs = resolver.srv(&name).await;
        // Lowest priority first; within one, the heavier first (RFC 2782
        // picks by weighted chance; a fixed order keeps replays exact).
        srvs.sort_by_key(|s| (s.priority, std::cmp::Reverse(s.weight)));
        res.steps.push(format!(
            "SRV {name}: {}",
            if srvs.is_empty() {
                "none".into()
            } else {
                srvs.iter()
                    .map(|s| format!("{} {} {} {}", s.priority, s.weight, s.port, s.target))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        for srv in srvs {
            add_addresses(
                resolver,
                &mut res,
                srv.target.trim_end_matches('.'),
                srv.port,
                transport,
            )
            .await;
        }
    }
    if res.targets.is_empty() {
        let transport = peer.transport.unwrap_or(Transport::Udp);
        add_addresses(resolver, &mut res, host, default_port(transport), transport).await;
    }
    res
}

async fn add_addresses<R: Resolve>(
    resolver: &R,
    res: &mut Resolution,
    host: &str,
    port: u16,
    transport: Transport,
) {
    let ips = resolver.ips(host).await;
    res.steps.push(format!(
        "A/AAAA {host}: {}",
        if ips.is_empty() {
            "none".into()
        } else {
            ips.iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    for ip in ips {
        let target = (transport, SocketAddr::new(ip, port));
        if !res.targets.contains(&target) {
            res.targets.push(target);
        }
    }
}

/// The real resolver: the system's configuration, or one server.
pub struct DnsResolver(hickory_resolver::TokioResolver);

impl DnsResolver {
    pub fn system() -> anyhow::Result<DnsResolver> {
        Ok(DnsResolver(
            hickory_resolver::TokioResolver::builder_tokio()?.build(),
        ))
    }

    /// Asks only `server` (support engineers compare their ISP's answers
    /// with a public resolver's).
    pub fn with_server(server: SocketAddr) -> DnsResolver {
        use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
        let group = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
        let config = ResolverConfig::from_parts(None, vec![], group);
        let provider = hickory_resolver::name_server::TokioConnectionProvider::default();
        DnsResolver(hickory_resolver::Resolver::builder_with_config(config, provider).build())
    }
}

impl Resolve for DnsResolver {
    async fn naptr(&self, name: &str) -> Vec<Naptr> {
        use hickory_resolver::proto::rr::{RData, RecordType};
        let Ok(lookup) = self.0.lookup(name, RecordType::NAPTR).await else {
            return Vec::new();
        };
        lookup
            .iter()
            .filter_map(|r| match r {
                RData::NAPTR(n) => Some(Naptr {
                    order: n.order(),
                    preference: n.preference(),
                    flags: String::from_utf8_lossy(n.flags()).into_owned(),
                    service: String::from_utf8_lossy(n.services()).into_owned(),
                    replacement: n.replacement().to_string(),
                }),
                _ => None,
            })
            .collect()
    }

    async fn srv(&self, name: &str) -> Vec<Srv> {
        let Ok(lookup) = self.0.srv_lookup(name).await else {
            return Vec::new();
        };
        lookup
            .iter()
            .map(|s| Srv {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_string(),
            })
            .collect()
    }

    async fn ips(&self, host: &str) -> Vec<IpAddr> {
        self.0
            .lookup_ip(host)
            .await
            .map(|l| l.iter().collect())
            .unwrap_or_default()
    }
}

/// A static zone: the fake resolver of tests.
#[derive(Debug, Clone, Default)]
pub struct StaticZone {
    pub naptr: HashMap<String, Vec<Naptr>>,
    pub srv: HashMap<String, Vec<Srv>>,
    pub ips: HashMap<String, Vec<IpAddr>>,
}

impl Resolve for StaticZone {
    async fn naptr(&self, name: &str) -> Vec<Naptr> {
        self.naptr.get(name).cloned().unwrap_or_default()
    }

    async fn srv(&self, name: &str) -> Vec<Srv> {
        self.srv.get(name).cloned().unwrap_or_default()
    }

    async fn ips(&self, host: &str) -> Vec<IpAddr> {
        self.ips.get(host).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> StaticZone {
        let mut z = StaticZone::default();
        z.naptr.insert(
            "acme.example".into(),
            vec![
                Naptr {
                    order: 20,
                    preference: 10,
                    flags: "s".into(),
                    service: "SIP+D2U".into(),
                    replacement: "_sip._udp.acme.example.".into(),
                },
                Naptr {
                    order: 10,
                    preference: 10,
                    flags: "s".into(),
                    service: "SIP+D2T".into(),
                    replacement: "_sip._tcp.acme.example.".into(),
                },
                Naptr {
                    order: 5,
                    preference: 10,
                    flags: "s".into(),
                    service: "SIPS+D2T".into(),
                    replacement: "_sips._tcp.acme.example.".into(),
                },
            ],
        );
        z.srv.insert(
            "_sip._tcp.acme.example".into(),
            vec![
                Srv {
                    priority: 20,
                    weight: 0,
                    port: 5080,
                    target: "backup.acme.example.".into(),
                },
                Srv {
                    priority: 10,
                    weight: 5,
                    port: 5070,
                    target: "sip1.acme.example.".into(),
                },
            ],
        );
        z.srv.insert(
            "_sip._udp.acme.example".into(),
            vec![Srv {
                priority: 10,
                weight: 0,
                port: 5060,
                target: "sip1.acme.example.".into(),
            }],
        );
        z.ips.insert(
            "sip1.acme.example".into(),
            vec!["192.0.2.1".parse().unwrap()],
        );
        z.ips.insert(
            "backup.acme.example".into(),
            vec!["192.0.2.2".parse().unwrap()],
        );
        z.ips
            .insert("plain.example".into(), vec!["192.0.2.9".parse().unwrap()]);
        z
    }

    fn peer(host: &str, port: Option<u16>, transport: Option<Transport>) -> PeerTarget {
        PeerTarget {
            host: host.into(),
            port,
            transport,
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn naptr_then_srv_in_order_then_failover_targets() {
        let r = run(locate(&zone(), &peer("acme.example", None, None)));
        let addrs: Vec<String> = r.targets.iter().map(|(t, a)| format!("{t} {a}")).collect();
        // TLS (SIPS+D2T) is skipped; TCP's order 10 beats UDP's 20; within
        // TCP priority 10 before 20.
        assert_eq!(
            addrs,
            [
                "tcp 192.0.2.1:5070",
                "tcp 192.0.2.2:5080",
                "udp 192.0.2.1:5060"
            ]
        );
        assert!(
            r.steps[0].starts_with("NAPTR acme.example: 5 10 \"s\" \"SIPS+D2T\""),
            "{:?}",
            r.steps
        );
    }

    #[test]
    fn explicit_transport_skips_naptr_and_port_skips_srv() {
        let r = run(locate(
            &zone(),
            &peer("acme.example", None, Some(Transport::Udp)),
        ));
        assert_eq!(
            r.targets,
            [(Transport::Udp, "192.0.2.1:5060".parse().unwrap())]
        );
        assert!(!r.steps.iter().any(|s| s.starts_with("NAPTR")));
        let r = run(locate(&zone(), &peer("plain.example", Some(5099), None)));
        assert_eq!(
            r.targets,
            [(Transport::Udp, "192.0.2.9:5099".parse().unwrap())]
        );
        assert_eq!(r.steps.len(), 1, "only A/AAAA: {:?}", r.steps);
    }

    #[test]
    fn no_records_fall_back_to_a_on_5060_and_addresses_skip_dns() {
        let r = run(locate(&zone(), &peer("plain.example", None, None)));
        assert_eq!(
            r.targets,
            [(Transport::Udp, "192.0.2.9:5060".parse().unwrap())]
        );
        let r = run(locate(
            &StaticZone::default(),
            &peer("[2001:db8::1]", None, Some(Transport::Tcp)),
        ));
        assert_eq!(
            r.targets,
            [(Transport::Tcp, "[2001:db8::1]:5060".parse().unwrap())]
        );
        let r = run(locate(
            &StaticZone::default(),
            &peer("nowhere.example", None, None),
        ));
        assert!(r.targets.is_empty());
    }
}
