use bytes::BytesMut;
use quirkgate_core::msg::is_keepalive;
use quirkgate_core::stateless::answer_datagram;
use tokio::net::UdpSocket;
use tracing::{debug, warn};

/// Largest UDP datagram: anything larger was truncated by the kernel.
const MAX_DATAGRAM: usize = 65_535;

pub async fn serve(socket: UdpSocket) -> anyhow::Result<()> {
    let local = socket.local_addr()?;
    let mut buf = BytesMut::with_capacity(MAX_DATAGRAM);
    loop {
        buf.clear();
        buf.reserve(MAX_DATAGRAM);
        let (len, peer) = match socket.recv_buf_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP port-unreachable from an earlier send surfaces here on
                // some systems; it concerns that peer, not the listener.
                debug!(%local, error = %e, "udp receive error");
                continue;
            }
        };
        let datagram = buf.split_to(len).freeze();
        if is_keepalive(&datagram) {
            continue;
        }
        debug!(transport = "udp", %peer, %local, bytes = len, "in\n{}", String::from_utf8_lossy(&datagram));
        let Some(response) = answer_datagram(datagram, peer) else {
            continue;
        };
        debug!(transport = "udp", %local, %peer, bytes = response.len(), "out\n{}", String::from_utf8_lossy(&response));
        if let Err(e) = socket.send_to(&response, peer).await {
            warn!(%peer, error = %e, "udp send failed");
        }
    }
}
