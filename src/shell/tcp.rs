use std::net::SocketAddr;

use bytes::BytesMut;
use quirkgate_core::msg::{frame_stream, Framed, SipMessage};
use quirkgate_core::stateless::{answer, answer_datagram};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

pub async fn serve(listener: TcpListener, max_message_size: usize) -> anyhow::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: keep the listener.
                warn!(error = %e, "tcp accept failed");
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, max_message_size).await {
                debug!(%peer, error = %e, "tcp connection ended");
            }
        });
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, max: usize) -> anyhow::Result<()> {
    let local = stream.local_addr()?;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            if !buf.iter().all(|&b| b == b'\r' || b == b'\n') {
                info!(%peer, bytes = buf.len(), "tcp connection closed inside a message");
            }
            return Ok(());
        }
        loop {
            let (skip, len) = match frame_stream(&buf, max) {
                Ok(Framed::Message { skip, len }) => (skip, len),
                Ok(Framed::Incomplete { skip }) => {
                    let _ = buf.split_to(skip);
                    break;
                }
                Err(error) => {
                    // The stream cannot be resynchronised: answer if the head
                    // is readable, then close (RFC 3261 §18.3).
                    info!(%peer, %error, "closing tcp connection: bad framing");
                    if let Some(response) = answer_datagram(buf.split().freeze(), peer) {
                        stream.write_all(&response).await?;
                    }
                    return Ok(());
                }
            };
            let _ = buf.split_to(skip);
            let bytes = buf.split_to(len).freeze();
            debug!(transport = "tcp", %peer, %local, bytes = len, "in\n{}", String::from_utf8_lossy(&bytes));
            let response = match SipMessage::parse_framed(bytes.clone()) {
                Ok(msg) => answer(msg, peer),
                Err(_) => answer_datagram(bytes, peer),
            };
            if let Some(response) = response {
                debug!(transport = "tcp", %local, %peer, bytes = response.len(), "out\n{}", String::from_utf8_lossy(&response));
                stream.write_all(&response).await?;
            }
        }
    }
}
