//! SIP over UDP or TCP for the load generator: messages in, with the peer
//! to answer; messages out to a peer. TCP streams are framed by
//! Content-Length like the gateway's own.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use quirkgate_core::msg::{frame_stream, Framed, DEFAULT_MAX_MESSAGE_SIZE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Who sent a message, so the answer goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Udp(SocketAddr),
    Tcp(u64),
}

pub struct Net {
    udp: Option<UdpSocket>,
    /// One receive buffer for the socket's life.
    buf: Vec<u8>,
    incoming: mpsc::Receiver<(Peer, Bytes)>,
    /// Held so that `incoming` stays open while no connection reads.
    _sender: mpsc::Sender<(Peer, Bytes)>,
    writers: HashMap<u64, OwnedWriteHalf>,
    accepted: mpsc::Receiver<(u64, OwnedWriteHalf)>,
    pub local: SocketAddr,
    pub transport: Transport,
}

impl Net {
    /// Listens on `bind` (UAS), accepting TCP connections as they come.
    pub async fn listen(transport: Transport, bind: SocketAddr) -> std::io::Result<Net> {
        let (sender, incoming) = mpsc::channel(4096);
        let (accept_tx, accepted) = mpsc::channel(64);
        let (udp, local) = match transport {
            Transport::Udp => {
                // Big kernel buffers, as the gateway has, so that a burst
                // is not lost here and blamed on the system under test.
                let socket = quirkgate::shell::bind_udp(bind, 4 << 20)
                    .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
                let local = socket.local_addr()?;
                (Some(socket), local)
            }
            Transport::Tcp => {
                let listener = TcpListener::bind(bind).await?;
                let local = listener.local_addr()?;
                let to_net = sender.clone();
                tokio::spawn(async move {
                    let mut next = 0;
                    while let Ok((stream, _)) = listener.accept().await {
                        next += 1;
                        let _ = stream.set_nodelay(true);
                        let (read, write) = stream.into_split();
                        if accept_tx.send((next, write)).await.is_err() {
                            break;
                        }
                        tokio::spawn(read_frames(read, next, to_net.clone()));
                    }
                });
                (None, local)
            }
        };
        Ok(Net::new(transport, local, udp, sender, incoming, accepted))
    }

    fn new(
        transport: Transport,
        local: SocketAddr,
        udp: Option<UdpSocket>,
        sender: mpsc::Sender<(Peer, Bytes)>,
        incoming: mpsc::Receiver<(Peer, Bytes)>,
        accepted: mpsc::Receiver<(u64, OwnedWriteHalf)>,
    ) -> Net {
        Net {
            udp,
            buf: vec![0; 65_536],
            incoming,
            _sender: sender,
            writers: HashMap::new(),
            accepted,
            local,
            transport,
        }
    }

    /// Connects to `target` (UAC): UDP from `bind`, or one TCP connection.
    pub async fn connect(
        transport: Transport,
        bind: SocketAddr,
        target: SocketAddr,
    ) -> std::io::Result<(Net, Peer)> {
        match transport {
            Transport::Udp => {
                let net = Net::listen(transport, bind).await?;
                Ok((net, Peer::Udp(target)))
            }
            Transport::Tcp => {
                let (sender, incoming) = mpsc::channel(4096);
                let (_, accepted) = mpsc::channel(1);
                let stream = TcpStream::connect(target).await?;
                stream.set_nodelay(true)?;
                let local = stream.local_addr()?;
                let (read, write) = stream.into_split();
                tokio::spawn(read_frames(read, 0, sender.clone()));
                let mut net = Net::new(transport, local, None, sender, incoming, accepted);
                net.writers.insert(0, write);
                Ok((net, Peer::Tcp(0)))
            }
        }
    }

    /// The next message, or `None` when nothing came before `deadline`.
    pub async fn recv(&mut self, deadline: tokio::time::Instant) -> Option<(Peer, Bytes)> {
        loop {
            tokio::select! {
                r = async {
                    match &self.udp {
                        Some(s) => s.recv_from(&mut self.buf).await.ok(),
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some((n, from)) = r {
                        return Some((Peer::Udp(from), Bytes::copy_from_slice(&self.buf[..n])));
                    }
                }
                Some(m) = self.incoming.recv() => return Some(m),
                Some((id, writer)) = self.accepted.recv() => {
                    self.writers.insert(id, writer);
                }
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    pub async fn send(&mut self, to: Peer, data: &[u8]) {
        match to {
            Peer::Udp(addr) => {
                if let Some(s) = &self.udp {
                    let _ = s.send_to(data, addr).await;
                }
            }
            Peer::Tcp(id) => {
                // A connection accepted a moment ago may not be known yet.
                while !self.writers.contains_key(&id) {
                    match self.accepted.recv().await {
                        Some((i, w)) => {
                            self.writers.insert(i, w);
                        }
                        None => return,
                    }
                }
                if let Some(w) = self.writers.get_mut(&id) {
                    if w.write_all(data).await.is_err() {
                        self.writers.remove(&id);
                    }
                }
            }
        }
    }
}

async fn read_frames(
    mut read: tokio::net::tcp::OwnedReadHalf,
    id: u64,
    out: mpsc::Sender<(Peer, Bytes)>,
) {
    let mut buf = BytesMut::with_capacity(65_536);
    loop {
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            match frame_stream(&buf, DEFAULT_MAX_MESSAGE_SIZE) {
                Ok(Framed::Message { skip, len }) => {
                    let _ = buf.split_to(skip);
                    let msg = buf.split_to(len).freeze();
                    if out.send((Peer::Tcp(id), msg)).await.is_err() {
                        return;
                    }
                }
                Ok(Framed::Incomplete { skip }) => {
                    let _ = buf.split_to(skip);
                    break;
                }
                Err(_) => return,
            }
        }
    }
}
