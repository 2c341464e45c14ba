//! Registrations on disk, so phones stay reachable across a restart.
//! The core reports every change; the shell writes it here and feeds the
//! live rows back at start.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use quirkgate_core::gateway::BindingRecord;
use quirkgate_core::transport::{Flow, Transport};
use rusqlite::{params, Connection};

pub struct Store {
    db: Connection,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}

impl Store {
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        let db = Connection::open(path)
            .with_context(|| format!("cannot open the registration database {}", path.display()))?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS binding (
                number TEXT NOT NULL,
                contact TEXT NOT NULL,
                transport TEXT NOT NULL,
                local TEXT NOT NULL,
                remote TEXT NOT NULL,
                expires_unix INTEGER NOT NULL,
                call_id TEXT NOT NULL,
                cseq INTEGER NOT NULL
            );",
        )?;
        Ok(Store { db })
    }

    /// The bindings that have not expired, with their remaining lifetime.
    pub fn load(&self) -> anyhow::Result<Vec<(String, BindingRecord)>> {
        let now = unix_now();
        let mut stmt = self.db.prepare(
            "SELECT number, contact, transport, local, remote, expires_unix, call_id, cseq
             FROM binding WHERE expires_unix > ?1",
        )?;
        let rows = stmt.query_map(params![now as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, u32>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (number, contact, transport, local, remote, expires, call_id, cseq) = row?;
            let transport = match transport.as_str() {
                "tcp" => Transport::Tcp,
                "tls" => Transport::Tls,
                _ => Transport::Udp,
            };
            let (Ok(local), Ok(remote)) =
                (local.parse::<SocketAddr>(), remote.parse::<SocketAddr>())
            else {
                continue;
            };
            out.push((
                number,
                BindingRecord {
                    contact,
                    flow: Flow {
                        transport,
                        local,
                        remote,
                        conn: None,
                    },
                    expires_in: Duration::from_secs((expires as u64).saturating_sub(now)),
                    call_id,
                    cseq,
                },
            ));
        }
        Ok(out)
    }

    /// Replaces the stored bindings of `number`.
    pub fn save(&mut self, number: &str, bindings: &[BindingRecord]) -> anyhow::Result<()> {
        let now = unix_now();
        let tx = self.db.transaction()?;
        tx.execute("DELETE FROM binding WHERE number = ?1", params![number])?;
        for b in bindings {
            tx.execute(
                "INSERT INTO binding VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    number,
                    b.contact,
                    transport_name(b.flow.transport),
                    b.flow.local.to_string(),
                    b.flow.remote.to_string(),
                    (now + b.expires_in.as_secs()) as i64,
                    b.call_id,
                    b.cseq
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_survive_a_reopen() {
        let path = std::env::temp_dir().join(format!("quirkgate-store-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let record = BindingRecord {
            contact: "sip:100@192.0.2.10:5062".into(),
            flow: Flow {
                transport: Transport::Tcp,
                local: "127.0.0.1:5060".parse().unwrap(),
                remote: "192.0.2.10:40000".parse().unwrap(),
                conn: None,
            },
            expires_in: Duration::from_secs(600),
            call_id: "abc".into(),
            cseq: 7,
        };
        Store::open(&path)
            .unwrap()
            .save("100", std::slice::from_ref(&record))
            .unwrap();
        let loaded = Store::open(&path).unwrap().load().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].0, "100");
        assert_eq!(loaded[0].1.contact, record.contact);
        assert_eq!(loaded[0].1.flow, record.flow);
        assert!(loaded[0].1.expires_in <= Duration::from_secs(600));
        assert!(loaded[0].1.expires_in >= Duration::from_secs(598));
        let mut store = Store::open(&path).unwrap();
        store.save("100", &[]).unwrap();
        assert!(
            store.load().unwrap().is_empty(),
            "an unregister is stored too"
        );
        let _ = std::fs::remove_file(&path);
    }
}
