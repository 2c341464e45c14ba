//! The answering side: 180 and 200 (with SDP) to each INVITE, the 200
//! retransmitted until its ACK (RFC 3261 §13.3.1.4), 200 to BYE and to
//! anything else.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use quirkgate_core::msg::build::response;
use quirkgate_core::msg::{HeaderName, SipMessage};
use tokio::time::Instant;

use crate::net::{Net, Peer};
use crate::UasArgs;

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// An answered INVITE waiting for its ACK.
struct Unacked {
    peer: Peer,
    ok: Bytes,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

pub async fn run(args: UasArgs) -> std::io::Result<ExitCode> {
    let mut net = Net::listen(args.transport, args.bind).await?;
    println!(
        "quirkgate-load uas listening on {} ({:?})",
        net.local, args.transport
    );
    // Each answered INVITE until its ACK: a retransmitted INVITE gets the
    // 200 again.
    let mut unacked: HashMap<Bytes, Unacked> = HashMap::new();
    let mut counts = [0u64; 4]; // INVITE, ACK, BYE, other
    let mut tag = 0u64;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let next = unacked
            .values()
            .map(|u| u.next)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let received = tokio::select! {
            r = net.recv(next) => r,
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        };
        let now = Instant::now();
        let Some((peer, data)) = received else {
            // Retransmit the 200s whose timer is due; give up after 64·T1.
            let mut due = Vec::new();
            unacked.retain(|_, u| {
                if u.give_up <= now {
                    return false;
                }
                if u.next <= now {
                    due.push((u.peer, u.ok.clone()));
                    u.interval = (u.interval * 2).min(T2);
                    u.next = now + u.interval;
                }
                true
            });
            for (peer, ok) in due {
                net.send(peer, &ok).await;
            }
            continue;
        };
        let Ok(msg) = SipMessage::parse_datagram(data) else {
            continue;
        };
        let Some(method) = msg.method().map(|m| m.as_bytes().to_vec()) else {
            continue; // a response: the UAS sends no requests
        };
        let call_id = Bytes::copy_from_slice(msg.call_id().unwrap_or_default());
        match method.as_slice() {
            b"INVITE" => {
                counts[0] += 1;
                if let Some(u) = unacked.get(&call_id) {
                    let ok = u.ok.clone();
                    net.send(peer, &ok).await;
                    continue;
                }
                tag += 1;
                let to_tag = format!("uas{tag}");
                let ringing = answer(&msg, 180, "Ringing", &to_tag, &net, b"");
                net.send(peer, &ringing).await;
                let sdp = format!(
                    "v=0\r\no=uas {tag} 1 IN IP4 {0}\r\ns=-\r\nc=IN IP4 {0}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
                    net.local.ip()
                );
                let ok = answer(&msg, 200, "OK", &to_tag, &net, sdp.as_bytes());
                net.send(peer, &ok).await;
                unacked.insert(
                    call_id,
                    Unacked {
                        peer,
                        ok,
                        next: now + T1,
                        interval: T1,
                        give_up: now + T1 * 64,
                    },
                );
            }
            b"ACK" => {
                counts[1] += 1;
                unacked.remove(&call_id);
            }
            other => {
                counts[if other == b"BYE" { 2 } else { 3 }] += 1;
                let ok = response(&msg, 200, "OK", None).finish(b"");
                net.send(peer, &ok).await;
            }
        }
    }
    println!(
        "quirkgate-load uas: {} INVITE, {} ACK, {} BYE, {} other",
        counts[0], counts[1], counts[2], counts[3]
    );
    Ok(ExitCode::SUCCESS)
}

/// A response to an INVITE, with the Record-Route it carried (the dialog's
/// route set) and our Contact.
fn answer(
    invite: &SipMessage,
    status: u16,
    reason: &str,
    tag: &str,
    net: &Net,
    sdp: &[u8],
) -> Bytes {
    let mut w = response(invite, status, reason, Some(tag));
    for rr in invite.header_values(HeaderName::RecordRoute) {
        w.known(HeaderName::RecordRoute, rr);
    }
    w.known(HeaderName::Contact, contact(net).as_bytes());
    if !sdp.is_empty() {
        w.known(HeaderName::ContentType, b"application/sdp");
    }
    w.finish(sdp)
}

fn contact(net: &Net) -> String {
    match net.transport {
        crate::net::Transport::Udp => format!("<sip:uas@{}>", net.local),
        crate::net::Transport::Tcp => format!("<sip:uas@{};transport=tcp>", net.local),
    }
}
