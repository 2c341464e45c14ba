use std::sync::Arc;

use bytes::BytesMut;
use quirkgate_core::transport::{Flow, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::debug;

use super::Input;

/// Largest UDP datagram: anything larger was truncated by the kernel.
const MAX_DATAGRAM: usize = 65_535;

pub async fn receive(socket: Arc<UdpSocket>, inputs: mpsc::Sender<Input>) -> anyhow::Result<()> {
    let local = socket.local_addr()?;
    let mut buf = BytesMut::with_capacity(MAX_DATAGRAM);
    loop {
        buf.clear();
        buf.reserve(MAX_DATAGRAM);
        let (len, remote) = match socket.recv_buf_from(&mut buf).await {
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
        let data = buf.split_to(len).freeze();
        if inputs.send(Input::Message { flow, data }).await.is_err() {
            return Ok(());
        }
    }
}
