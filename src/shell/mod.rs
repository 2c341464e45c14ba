//! The tokio shell: sockets and the admin HTTP server around the sans-IO
//! core. Nothing here decides what SIP to send; it only moves bytes.

mod admin;
mod tcp;
mod udp;

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::{TcpListener, UdpSocket};
use tracing::info;

use crate::config::{Config, Listen, TransportKind};

/// What `run` bound, for the start-up banner and for tests that bind port 0.
pub struct Bound {
    pub sip: Vec<Listen>,
    pub admin: SocketAddr,
}

/// Binds every listener, then serves until Ctrl-C or SIGTERM.
pub async fn run(config: Config, on_bound: impl FnOnce(&Bound)) -> anyhow::Result<()> {
    let mut bound = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for listen in &config.sip.listen {
        match listen.transport {
            TransportKind::Udp => {
                let socket = UdpSocket::bind(listen.addr)
                    .await
                    .with_context(|| format!("cannot bind SIP listener {listen}"))?;
                bound.push(Listen {
                    transport: TransportKind::Udp,
                    addr: socket.local_addr()?,
                });
                tasks.spawn(udp::serve(socket));
            }
            TransportKind::Tcp => {
                let listener = TcpListener::bind(listen.addr)
                    .await
                    .with_context(|| format!("cannot bind SIP listener {listen}"))?;
                bound.push(Listen {
                    transport: TransportKind::Tcp,
                    addr: listener.local_addr()?,
                });
                tasks.spawn(tcp::serve(listener, config.sip.max_message_size));
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
    tasks.spawn(admin::serve(admin));
    on_bound(&bound);

    tokio::select! {
        _ = shutdown_signal() => info!("shutting down"),
        Some(result) = tasks.join_next() => {
            result.context("a listener task failed")??;
        }
    }
    Ok(())
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
