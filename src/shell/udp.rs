use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use quirkgate_core::transport::{Flow, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info};

use super::Input;

/// Largest UDP datagram: anything larger was truncated by the kernel.
const MAX_DATAGRAM: usize = 65_535;

/// A UDP socket with kernel buffers of `buffer` bytes, or as near as the
/// kernel allows: the default (about 200 KiB) holds a few milliseconds of
/// a busy trunk, and a burst beyond it is lost until a retransmission.
pub fn bind(addr: SocketAddr, buffer: usize) -> anyhow::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_recv_buffer_size(buffer)?;
    socket.set_send_buffer_size(buffer)?;
    // Linux reports twice what it grants (the bookkeeping overhead).
    let granted = socket.recv_buffer_size()? / 2;
    if granted < buffer {
        info!(%addr, asked = buffer, granted, "UDP receive buffer capped by net.core.rmem_max");
    }
    socket.bind(&addr.into())?;
    Ok(UdpSocket::from_std(socket.into())?)
}

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
