//! The registrar for local phones (RFC 3261 §10.3): digest-authenticated
//! REGISTER, one or several devices per number, expiry, and the record of
//! where each device was really reached from (for phones behind NAT).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use std::net::{IpAddr, SocketAddr};

use super::{Event, Gateway, NatMode};
use crate::msg::headers::NameAddr;
use crate::msg::uri::Uri;
use crate::msg::{HeaderName, SipMessage};
use crate::time::Time;
use crate::transport::{ConnId, Flow};
use crate::txn::TxId;

/// One registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binding {
    /// The Contact URI the device registered; the Request-URI of calls to it.
    pub contact: Bytes,
    /// Where the REGISTER came from: calls go there, through the NAT hole.
    pub flow: Flow,
    pub expires_at: Time,
    pub call_id: Bytes,
    pub cseq: u32,
}

/// A binding as the shell persists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRecord {
    pub contact: String,
    pub flow: Flow,
    pub expires_in: Duration,
    pub call_id: String,
    pub cseq: u32,
}

#[derive(Debug, Default)]
pub(super) struct Registrar {
    bindings: HashMap<String, Vec<Binding>>,
}

impl Registrar {
    /// The live bindings of `number`, newest last.
    pub fn lookup(&self, now: Time, number: &str) -> Vec<Binding> {
        self.bindings
            .get(number)
            .map(|b| b.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    pub fn forget_connection(&mut self, conn: ConnId) {
        for binding in self.bindings.values_mut().flatten() {
            if binding.flow.conn == Some(conn) {
                binding.flow.conn = None;
            }
        }
    }

    pub fn restore(&mut self, now: Time, number: &str, r: BindingRecord) {
        self.bindings
            .entry(number.to_string())
            .or_default()
            .push(Binding {
                contact: Bytes::from(r.contact),
                flow: r.flow,
                expires_at: now + r.expires_in,
                call_id: Bytes::from(r.call_id),
                cseq: r.cseq,
            });
    }

    fn records(&self, now: Time, number: &str) -> Vec<BindingRecord> {
        self.lookup(now, number)
            .into_iter()
            .map(|b| BindingRecord {
                contact: String::from_utf8_lossy(&b.contact).into_owned(),
                flow: b.flow,
                expires_in: b.expires_at.since(now),
                call_id: String::from_utf8_lossy(&b.call_id).into_owned(),
                cseq: b.cseq,
            })
            .collect()
    }
}

/// Devices one multi-device number may register at once.
const MAX_DEVICES: usize = 10;

/// One change a REGISTER asks for.
struct Update {
    contact: Bytes,
    expires: u32,
}

impl Gateway {
    pub(super) fn on_register(&mut self, now: Time, tx: TxId, msg: SipMessage, flow: Flow) {
        let Some(number) = msg
            .to_header()
            .and_then(Result::ok)
            .and_then(|to| super::uri_number(to.uri))
        else {
            self.reply(
                now,
                tx,
                &msg,
                400,
                "Bad Request: To has no user part",
                |_| {},
            );
            return;
        };
        let Some(user) = self.user(&number).cloned() else {
            self.reply(now, tx, &msg, 404, "Not Found", |_| {});
            return;
        };

        if !user.allow_ips.contains(&flow.remote.ip()) {
            match self.digest_user(now, &msg, HeaderName::Authorization) {
                Ok(Some(name)) if name == number => {}
                Ok(Some(_)) => {
                    // Right password, wrong account: nobody registers for
                    // another user's number.
                    self.reply(now, tx, &msg, 403, "Forbidden", |_| {});
                    return;
                }
                Ok(None) => return self.challenge(now, tx, &msg, false, false),
                Err(stale) => return self.challenge(now, tx, &msg, false, stale),
            }
        }

        let updates = match self.register_updates(&msg) {
            Ok(u) => u,
            Err((status, reason)) => {
                let min = self.config.min_expires.to_string();
                self.reply(now, tx, &msg, status, reason, |w| {
                    if status == 423 {
                        w.header(b"Min-Expires", min.as_bytes());
                    }
                });
                return;
            }
        };
        let call_id = Bytes::copy_from_slice(msg.call_id().unwrap_or_default());
        let cseq = msg.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        let updates = updates.map(|list| {
            list.into_iter()
                .map(|u| {
                    let flow = reach(user.nat, &u.contact, flow);
                    (u, flow)
                })
                .collect()
        });
        let changed = self.apply(now, &number, user.multi_device, updates, call_id, cseq);

        let current = self.registrar.lookup(now, &number);
        self.reply(now, tx, &msg, 200, "OK", |w| {
            for b in &current {
                let mut v = b"<".to_vec();
                v.extend_from_slice(&b.contact);
                v.extend_from_slice(
                    format!(">;expires={}", b.expires_at.since(now).as_secs()).as_bytes(),
                );
                w.known(HeaderName::Contact, &v);
            }
        });
        if changed {
            let bindings = self.registrar.records(now, &number);
            self.events.push_back(Event::Bindings { number, bindings });
        }
    }

    /// Reads what a REGISTER asks: `Ok(vec![])` is a query; `*` removes all.
    fn register_updates(
        &self,
        msg: &SipMessage,
    ) -> Result<Option<Vec<Update>>, (u16, &'static str)> {
        let header_expires = match msg.expires() {
            Some(Ok(e)) => Some(e),
            // RFC 3261 §20.19: a malformed Expires counts as 3600.
            Some(Err(_)) => Some(3600),
            None => None,
        };
        if msg.contact_is_star() {
            if header_expires != Some(0) || msg.contacts().count() > 0 {
                return Err((
                    400,
                    "Bad Request: Contact * needs Expires: 0 and no other Contact",
                ));
            }
            return Ok(None);
        }
        let mut updates = Vec::new();
        for contact in msg.contacts() {
            let contact: NameAddr<'_> =
                contact.map_err(|_| (400, "Bad Request: malformed Contact"))?;
            let asked = contact
                .params
                .get("expires")
                .map(|v| {
                    crate::msg::syntax::parse_decimal(v, u64::from(u32::MAX))
                        .map_or(3600, |n| n as u32)
                })
                .or(header_expires)
                .unwrap_or(self.config.default_expires);
            if asked != 0 && asked < self.config.min_expires {
                return Err((423, "Interval Too Brief"));
            }
            updates.push(Update {
                contact: Bytes::copy_from_slice(contact.uri),
                expires: asked.min(self.config.max_expires),
            });
        }
        Ok(Some(updates))
    }

    /// Applies the updates; returns whether the bindings changed.
    fn apply(
        &mut self,
        now: Time,
        number: &str,
        multi_device: bool,
        updates: Option<Vec<(Update, Flow)>>,
        call_id: Bytes,
        cseq: u32,
    ) -> bool {
        let list = self
            .registrar
            .bindings
            .entry(number.to_string())
            .or_default();
        list.retain(|b| b.expires_at > now);
        let Some(updates) = updates else {
            let had = !list.is_empty();
            list.clear();
            return had;
        };
        let mut changed = false;
        for (u, flow) in updates {
            let existing = list.iter().position(|b| b.contact == u.contact);
            if let Some(i) = existing {
                // RFC 3261 §10.3 step 7: an older request of the same
                // registration must not undo a newer one.
                if list[i].call_id == call_id && list[i].cseq >= cseq {
                    continue;
                }
                list.remove(i);
                changed = true;
            }
            if u.expires == 0 {
                continue;
            }
            if !multi_device {
                // One number, one device: the newest registration wins.
                list.clear();
            } else if list.len() >= MAX_DEVICES {
                // A bounded fan-out: the oldest device makes room.
                list.remove(0);
            }
            list.push(Binding {
                contact: u.contact,
                flow,
                expires_at: now + Duration::from_secs(u64::from(u.expires)),
                call_id: call_id.clone(),
                cseq,
            });
            changed = true;
        }
        changed
    }
}

/// Where calls to a binding go. Behind NAT the Contact is unreachable and
/// the source of the REGISTER is the way in (the pinhole it opened); on a
/// stream, the connection the phone opened is reused. A Contact on the
/// source's own address says which port the device listens on.
fn reach(nat: NatMode, contact: &[u8], source: Flow) -> Flow {
    if source.transport.is_reliable() || nat == NatMode::Force {
        return source;
    }
    let Some(listed) = contact_addr(contact) else {
        // A host name in the Contact: nothing to resolve it with here.
        return source;
    };
    let behind_nat = match nat {
        NatMode::Never => false,
        // A Contact on another address than the REGISTER's source is
        // either behind NAT (unreachable) or a redirect to somewhere else:
        // only the source's own address is trusted in `auto` mode.
        _ => listed.ip() != source.remote.ip(),
    };
    if behind_nat {
        source
    } else {
        Flow {
            remote: listed,
            conn: None,
            ..source
        }
    }
}

fn contact_addr(contact: &[u8]) -> Option<SocketAddr> {
    let Ok(Uri::Sip(u)) = Uri::parse(contact) else {
        return None;
    };
    let host = std::str::from_utf8(u.host).ok()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, u.port.unwrap_or(5060)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    fn source(remote: &str, transport: Transport) -> Flow {
        Flow {
            transport,
            local: "203.0.113.1:5060".parse().unwrap(),
            remote: remote.parse().unwrap(),
            conn: None,
        }
    }

    #[test]
    fn nat_detection_picks_the_way_in() {
        let behind = source("198.51.100.7:41000", Transport::Udp);
        // A private Contact from a public source: through the pinhole.
        assert_eq!(
            reach(NatMode::Auto, b"sip:100@192.168.1.20:5060", behind).remote,
            behind.remote
        );
        // Another address entirely: never followed in auto mode.
        assert_eq!(
            reach(NatMode::Auto, b"sip:100@198.51.100.9:5070", behind).remote,
            behind.remote
        );
        // The source's own address on another port: the Contact.
        let direct = reach(NatMode::Auto, b"sip:100@198.51.100.7:5070", behind);
        assert_eq!(direct.remote, "198.51.100.7:5070".parse().unwrap());
        assert_eq!(
            reach(NatMode::Force, b"sip:100@198.51.100.9:5070", behind).remote,
            behind.remote
        );
        assert_eq!(
            reach(NatMode::Never, b"sip:100@192.168.1.20", behind).remote,
            "192.168.1.20:5060".parse().unwrap()
        );
        // Streams always go back over the phone's connection.
        let tcp = source("198.51.100.7:41000", Transport::Tcp);
        assert_eq!(reach(NatMode::Auto, b"sip:100@198.51.100.9:5070", tcp), tcp);
    }
}
