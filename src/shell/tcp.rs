//! SIP over TCP: accepted and outgoing connections, framed by
//! Content-Length, each with a bounded send queue.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use quirkgate_core::msg::{frame_stream, Framed};
use quirkgate_core::transport::{ConnId, Flow, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{Input, CONNECTION_QUEUE};

#[derive(Clone)]
pub struct Connections {
    inputs: mpsc::Sender<Input>,
    next: Arc<AtomicU64>,
    max_message_size: usize,
}

impl Connections {
    pub fn new(inputs: mpsc::Sender<Input>, max_message_size: usize) -> Self {
        Connections {
            inputs,
            next: Arc::new(AtomicU64::new(1)),
            max_message_size,
        }
    }

    pub async fn accept(self, listener: TcpListener) -> anyhow::Result<()> {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => self.start(stream, None),
                // Out of file descriptors and the like: keep the listener.
                Err(e) => warn!(error = %e, "tcp accept failed"),
            }
        }
    }

    /// Opens a connection to `remote` and sends `first` on it.
    pub fn connect(&self, remote: SocketAddr, first: Bytes) {
        let this = self.clone();
        tokio::spawn(async move {
            match TcpStream::connect(remote).await {
                Ok(stream) => this.start(stream, Some(first)),
                Err(e) => info!(peer = %remote, error = %e, "tcp connect failed"),
            }
        });
    }

    fn start(&self, stream: TcpStream, first: Option<Bytes>) {
        let (Ok(local), Ok(remote)) = (stream.local_addr(), stream.peer_addr()) else {
            return;
        };
        let conn = ConnId(self.next.fetch_add(1, Ordering::Relaxed));
        let (writer, mut queue) = mpsc::channel::<Bytes>(CONNECTION_QUEUE);
        let inputs = self.inputs.clone();
        let max = self.max_message_size;
        tokio::spawn(async move {
            if inputs
                .send(Input::Connected {
                    conn,
                    remote,
                    writer,
                })
                .await
                .is_err()
            {
                return;
            }
            let (mut read, mut write) = stream.into_split();
            let writing = tokio::spawn(async move {
                if let Some(first) = first {
                    write.write_all(&first).await?;
                }
                while let Some(data) = queue.recv().await {
                    write.write_all(&data).await?;
                }
                Ok::<_, std::io::Error>(())
            });
            let flow = Flow {
                transport: Transport::Tcp,
                local,
                remote,
                conn: Some(conn),
            };
            if let Err(e) = read_messages(&mut read, flow, max, &inputs).await {
                debug!(peer = %remote, error = %e, "tcp connection ended");
            }
            writing.abort();
            let _ = inputs.send(Input::Closed { conn }).await;
        });
    }
}

async fn read_messages(
    read: &mut tokio::net::tcp::OwnedReadHalf,
    flow: Flow,
    max: usize,
    inputs: &mpsc::Sender<Input>,
) -> anyhow::Result<()> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if read.read_buf(&mut buf).await? == 0 {
            if !buf.iter().all(|&b| b == b'\r' || b == b'\n') {
                info!(peer = %flow.remote, bytes = buf.len(), "tcp connection closed inside a message");
            }
            return Ok(());
        }
        loop {
            match frame_stream(&buf, max) {
                Ok(Framed::Message { skip, len }) => {
                    let _ = buf.split_to(skip);
                    let data = buf.split_to(len).freeze();
                    inputs.send(Input::Message { flow, data }).await?;
                }
                Ok(Framed::Incomplete { skip }) => {
                    let _ = buf.split_to(skip);
                    break;
                }
                Err(error) => {
                    // The stream cannot be resynchronised: let the gateway
                    // answer what it can read of it, then close.
                    info!(peer = %flow.remote, %error, "closing tcp connection: bad framing");
                    let data = buf.split().freeze();
                    inputs.send(Input::Message { flow, data }).await?;
                    return Ok(());
                }
            }
        }
    }
}
