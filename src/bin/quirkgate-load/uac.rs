//! The calling side: calls started at a fixed rate, each INVITE → 200 →
//! ACK → hold → BYE → 200, with RFC 3261 retransmissions over UDP
//! (timers A/B for the INVITE, E/F for the BYE).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use quirkgate_core::msg::build::MessageWriter;
use quirkgate_core::msg::{HeaderName, SipMessage};
use tokio::time::Instant;

use crate::net::{Net, Transport};
use crate::UacArgs;

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Inviting,
    /// Answered and ACKed; the BYE leaves at the hold timer.
    Holding,
    Byeing,
    Done,
}

struct Call {
    phase: Phase,
    started: Instant,
    /// The request being retransmitted and when it is given up.
    pending: Option<Bytes>,
    interval: Duration,
    give_up: Instant,
    /// Bumped whenever the call's timer is re-armed, so old heap entries
    /// are ignored.
    generation: u32,
    to_tag: Option<Vec<u8>>,
    /// The answer's Contact and the route set (Record-Route reversed).
    target: Vec<u8>,
    routes: Vec<Vec<u8>>,
    ack: Option<Bytes>,
    got_provisional: bool,
}

#[derive(Default)]
struct Stats {
    started: u64,
    ok: u64,
    failed: u64,
    /// Failures by final status (or 408 for a timeout).
    failures: std::collections::BTreeMap<u16, u64>,
    retransmissions: u64,
    to_100: Vec<u32>,
    to_200: Vec<u32>,
}

pub async fn run(args: UacArgs) -> std::io::Result<ExitCode> {
    if args.rate.is_nan() || args.rate <= 0.0 {
        return Err(std::io::Error::other("--rate must be above 0"));
    }
    let (mut net, peer) = Net::connect(args.transport, args.bind, args.target).await?;
    let mut uac = Uac {
        local: net.local,
        transport: args.transport,
        target: args.target,
        number: args.number.clone(),
        // Call-IDs differ between runs so a SUT's leftovers never match.
        run: std::process::id(),
        calls: Vec::with_capacity(args.calls as usize),
        timers: BinaryHeap::new(),
        stats: Stats::default(),
    };
    let begin = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / args.rate);
    let show = args.progress || std::io::stderr().is_terminal();
    let mut next_progress = begin + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        // Start every call whose time has come.
        while (uac.calls.len() as u64) < args.calls && begin + gap * uac.calls.len() as u32 <= now {
            let invite = uac.start(now);
            net.send(peer, &invite).await;
        }
        // Timers: retransmissions, give-ups, BYEs after the hold.
        while let Some(Reverse((when, n, generation))) = uac.timers.peek().copied() {
            if when > now {
                break;
            }
            uac.timers.pop();
            if let Some(out) = uac.on_timer(now, n, generation) {
                net.send(peer, &out).await;
            }
        }
        if show && now >= next_progress {
            next_progress += Duration::from_secs(1);
            eprint!(
                "\r{:>6.1}s  started {}  ok {}  failed {}  active {}  retransmissions {}   ",
                (now - begin).as_secs_f64(),
                uac.stats.started,
                uac.stats.ok,
                uac.stats.failed,
                uac.stats.started - uac.stats.ok - uac.stats.failed,
                uac.stats.retransmissions
            );
        }
        let all_started = uac.calls.len() as u64 >= args.calls;
        if all_started && uac.stats.ok + uac.stats.failed >= args.calls {
            break;
        }
        let mut wake = uac
            .timers
            .peek()
            .map_or(now + Duration::from_secs(1), |Reverse((t, _, _))| *t);
        if !all_started {
            wake = wake.min(begin + gap * uac.calls.len() as u32);
        }
        if show {
            wake = wake.min(next_progress);
        }
        if let Some((_, data)) = net.recv(wake).await {
            let now = Instant::now();
            for out in uac.on_message(now, &data, args.hold) {
                net.send(peer, &out).await;
            }
        }
    }
    if show {
        eprintln!();
    }
    let elapsed = (Instant::now() - begin).as_secs_f64();
    uac.stats.report(&args, elapsed);
    Ok(if uac.stats.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct Uac {
    local: SocketAddr,
    transport: Transport,
    target: SocketAddr,
    number: String,
    run: u32,
    calls: Vec<Call>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    stats: Stats,
}

impl Uac {
    fn arm(&mut self, n: usize, at: Instant) {
        let call = &mut self.calls[n];
        call.generation += 1;
        self.timers.push(Reverse((at, n, call.generation)));
    }

    fn contact(&self) -> String {
        match self.transport {
            Transport::Udp => format!("<sip:load@{}>", self.local),
            Transport::Tcp => format!("<sip:load@{};transport=tcp>", self.local),
        }
    }

    fn request(
        &self,
        n: usize,
        method: &str,
        uri: &[u8],
        cseq: u32,
        branch: &str,
    ) -> MessageWriter {
        let mut w = MessageWriter::request(method.as_bytes(), uri);
        w.known(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch=z9hG4bK{}.{n}.{branch};rport",
                self.transport.via(),
                self.local,
                self.run
            )
            .as_bytes(),
        );
        w.known(HeaderName::MaxForwards, b"70");
        w.known(
            HeaderName::From,
            format!("<sip:load@{}>;tag=l{n}", self.local).as_bytes(),
        );
        let to = format!("<sip:{}@{}>", self.number, self.target);
        let to = match &self.calls[n].to_tag {
            Some(tag) if method != "INVITE" || branch != "i" => {
                format!("{to};tag={}", String::from_utf8_lossy(tag))
            }
            _ => to,
        };
        w.known(HeaderName::To, to.as_bytes());
        w.known(
            HeaderName::CallId,
            format!("{n}.{}@load", self.run).as_bytes(),
        );
        w.known(HeaderName::CSeq, format!("{cseq} {method}").as_bytes());
        for route in &self.calls[n].routes {
            w.known(HeaderName::Route, route);
        }
        w
    }

    fn start(&mut self, now: Instant) -> Bytes {
        let n = self.calls.len();
        self.calls.push(Call {
            phase: Phase::Inviting,
            started: now,
            pending: None,
            interval: T1,
            give_up: now + T1 * 64,
            generation: 0,
            to_tag: None,
            target: Vec::new(),
            routes: Vec::new(),
            ack: None,
            got_provisional: false,
        });
        self.stats.started += 1;
        let uri = format!("sip:{}@{}", self.number, self.target);
        let mut w = self.request(n, "INVITE", uri.as_bytes(), 1, "i");
        w.known(HeaderName::Contact, self.contact().as_bytes());
        w.known(HeaderName::ContentType, b"application/sdp");
        let sdp = format!(
            "v=0\r\no=load {n} 1 IN IP4 {0}\r\ns=-\r\nc=IN IP4 {0}\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            self.local.ip()
        );
        let invite = w.finish(sdp.as_bytes());
        self.calls[n].pending = Some(invite.clone());
        let first = match self.transport {
            // A reliable transport does not retransmit: only timer B.
            Transport::Tcp => now + T1 * 64,
            Transport::Udp => now + T1,
        };
        self.arm(n, first);
        invite
    }

    fn fail(&mut self, n: usize, status: u16) {
        let call = &mut self.calls[n];
        if call.phase == Phase::Done {
            return;
        }
        call.phase = Phase::Done;
        call.pending = None;
        self.stats.failed += 1;
        *self.stats.failures.entry(status).or_default() += 1;
    }

    fn on_timer(&mut self, now: Instant, n: usize, generation: u32) -> Option<Bytes> {
        let call = &mut self.calls[n];
        if call.generation != generation {
            return None;
        }
        match call.phase {
            Phase::Done => None,
            Phase::Holding => Some(self.send_bye(now, n)),
            Phase::Inviting | Phase::Byeing => {
                if now >= call.give_up {
                    self.fail(n, 408);
                    return None;
                }
                // After a provisional the INVITE is no longer resent.
                if call.phase == Phase::Inviting && call.got_provisional {
                    let give_up = call.give_up;
                    self.arm(n, give_up);
                    return None;
                }
                let cap = if call.phase == Phase::Byeing {
                    T2
                } else {
                    Duration::MAX
                };
                call.interval = (call.interval * 2).min(cap);
                let next = (now + call.interval).min(call.give_up);
                let out = call.pending.clone();
                self.arm(n, next);
                self.stats.retransmissions += 1;
                out
            }
        }
    }

    fn send_bye(&mut self, now: Instant, n: usize) -> Bytes {
        let uri = self.calls[n].target.clone();
        let bye = self.request(n, "BYE", &uri, 2, "b").finish(b"");
        let call = &mut self.calls[n];
        call.phase = Phase::Byeing;
        call.pending = Some(bye.clone());
        call.interval = T1;
        call.give_up = now + T1 * 64;
        let first = match self.transport {
            Transport::Tcp => now + T1 * 64,
            Transport::Udp => now + T1,
        };
        self.arm(n, first);
        bye
    }

    /// A response: what to send for it.
    fn on_message(&mut self, now: Instant, data: &Bytes, hold: Duration) -> Vec<Bytes> {
        let Ok(msg) = SipMessage::parse_datagram(data.clone()) else {
            return Vec::new();
        };
        let Some(status) = msg.status() else {
            return Vec::new(); // the UAC answers no requests
        };
        let Some(n) = msg
            .call_id()
            .and_then(|c| c.split(|&b| b == b'.').next())
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
            .filter(|n| *n < self.calls.len())
        else {
            return Vec::new();
        };
        let Some(Ok(cseq)) = msg.cseq() else {
            return Vec::new();
        };
        let elapsed = |started: Instant| (now - started).as_micros().min(u32::MAX as u128) as u32;
        let call = &mut self.calls[n];
        match (cseq.method, call.phase) {
            (b"INVITE", Phase::Inviting) if status < 200 => {
                if !call.got_provisional {
                    call.got_provisional = true;
                    if status == 100 {
                        self.stats.to_100.push(elapsed(call.started));
                    }
                }
                Vec::new()
            }
            (b"INVITE", Phase::Inviting) if status < 300 => {
                self.stats.to_200.push(elapsed(call.started));
                call.to_tag = msg
                    .to_header()
                    .and_then(Result::ok)
                    .and_then(|t| t.tag().map(<[u8]>::to_vec));
                call.target = msg.contacts().next().and_then(Result::ok).map_or_else(
                    || format!("sip:{}", self.target).into_bytes(),
                    |c| c.uri.to_vec(),
                );
                let mut routes: Vec<Vec<u8>> = msg
                    .record_routes()
                    .filter_map(Result::ok)
                    .map(|r| format!("<{}>", String::from_utf8_lossy(r.uri)).into_bytes())
                    .collect();
                routes.reverse();
                call.routes = routes;
                call.phase = Phase::Holding;
                call.pending = None;
                let uri = call.target.clone();
                let ack = self.request(n, "ACK", &uri, 1, "a").finish(b"");
                self.calls[n].ack = Some(ack.clone());
                self.arm(n, now + hold);
                vec![ack]
            }
            (b"INVITE", Phase::Inviting) => {
                // A failure: ACK it on the INVITE's branch (§17.1.1.3).
                call.to_tag = msg
                    .to_header()
                    .and_then(Result::ok)
                    .and_then(|t| t.tag().map(<[u8]>::to_vec));
                let uri = format!("sip:{}@{}", self.number, self.target);
                let ack = self.request(n, "ACK", uri.as_bytes(), 1, "i").finish(b"");
                self.fail(n, status);
                vec![ack]
            }
            // The 200 again: our ACK was lost.
            (b"INVITE", Phase::Holding | Phase::Byeing | Phase::Done)
                if (200..300).contains(&status) =>
            {
                call.ack.clone().into_iter().collect()
            }
            (b"BYE", Phase::Byeing) if status >= 300 => {
                self.fail(n, status);
                Vec::new()
            }
            (b"BYE", Phase::Byeing) if status >= 200 => {
                call.phase = Phase::Done;
                call.pending = None;
                self.stats.ok += 1;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

impl Stats {
    fn report(&mut self, args: &UacArgs, elapsed: f64) {
        self.to_100.sort_unstable();
        self.to_200.sort_unstable();
        let ms = |v: &[u32], p: f64| -> Option<f64> {
            if v.is_empty() {
                return None;
            }
            let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
            Some(f64::from(v[i]) / 1000.0)
        };
        let show = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
        if args.json {
            let failures: serde_json::Map<String, serde_json::Value> = self
                .failures
                .iter()
                .map(|(s, n)| (s.to_string(), (*n).into()))
                .collect();
            let json = serde_json::json!({
                "calls": self.started,
                "ok": self.ok,
                "failed": self.failed,
                "failures": failures,
                "retransmissions": self.retransmissions,
                "seconds": elapsed,
                "rate": args.rate,
                "invite_100_ms": {"p50": ms(&self.to_100, 0.5), "p99": ms(&self.to_100, 0.99)},
                "invite_200_ms": {"p50": ms(&self.to_200, 0.5), "p99": ms(&self.to_200, 0.99)},
            });
            println!("{json}");
            return;
        }
        println!(
            "calls {}  ok {}  failed {}  retransmissions {}  in {elapsed:.1} s",
            self.started, self.ok, self.failed, self.retransmissions
        );
        if !self.failures.is_empty() {
            let failures: Vec<String> = self
                .failures
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            println!("failures by status: {}", failures.join(", "));
        }
        println!(
            "INVITE→100 ms: p50 {}  p99 {}",
            show(ms(&self.to_100, 0.5)),
            show(ms(&self.to_100, 0.99))
        );
        println!(
            "INVITE→200 ms: p50 {}  p99 {}",
            show(ms(&self.to_200, 0.5)),
            show(ms(&self.to_200, 0.99))
        );
    }
}
