use std::sync::Arc;

use bytes::Bytes;
use quirkgate_core::transport::{Flow, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::debug;

use super::Input;

/// Largest UDP datagram: anything larger was truncated by the kernel.
const MAX_DATAGRAM: usize = 65_535;

pub async fn receive(socket: Arc<UdpSocket>, inputs: mpsc::Sender<Input>) -> anyhow::Result<()> {
    let local = socket.local_addr()?;
    // One receive buffer for the socket's life; each datagram is copied out
    // at its own size. Splitting it off instead would pin a 64 KiB buffer
    // per message for as long as a call keeps the message (its INVITE),
    // and allocate a new one for every datagram.
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, remote) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP port-unreachable from an earlier send surfaces here on
                // some systems; it concerns that peer, not the listener.
                debug!(%local, error = %e, "udp receive error");
                continue;
            }
        };
        let flow = Flow {
            transport: Transport::Udp,
            local,
            remote,
            conn: None,
        };
        let data = Bytes::copy_from_slice(&buf[..len]);
        if inputs.send(Input::Message { flow, data }).await.is_err() {
            return Ok(());
        }
    }
}
