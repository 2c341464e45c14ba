//! Each quirk proven against a real stubborn provider: Kamailio configured
//! by `tests/kamailio/stubborn.cfg` to misbehave as a real provider did.
//! Every proof runs the gateway twice, without the quirk (the provider's
//! failure shows) and with it (the call or registration succeeds), and
//! snapshots what the provider saw in both runs. With
//! `QUIRKGATE_RECORD_CAPTURES=1` both runs are also written to
//! `captures/NAME-without.pcap` and `captures/NAME-with.pcap`.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{config_with_users, http_get, Gateway, Kamailio, TempDir};
use quirkgate_core::msg::{HeaderName, SipMessage};

const PASSWORD: &str = "line-secret";

/// How the gateway reaches the stubborn provider.
#[derive(Clone, Copy)]
enum Peer {
    /// A line registering as 1001.
    Line,
    /// A trunk all calls go to.
    Trunk,
}

/// One run: the provider with its defines, the gateway with `quirks`
/// (inline TOML for the peer; empty for the run without).
struct Run {
    kamailio: Kamailio,
    gateway: Gateway,
    _dir: TempDir,
}

fn start(defines: &[&str], peer: Peer, quirks: &str) -> Run {
    let kamailio = Kamailio::start_with("stubborn.cfg", defines, &[("__PASSWORD__", PASSWORD)]);
    let dir = TempDir::new("quirk");
    let port = kamailio.port;
    let peer_config = match peer {
        Peer::Line => format!(
            "[[line]]\nname = \"provider\"\nregistrar = \"sip:127.0.0.1:{port}\"\nusername = \"1001\"\npassword = \"{PASSWORD}\"\n\
             [line.quirks]\n{quirks}\n[[route]]\nprefix = \"\"\nto = \"line:provider\"\n"
        ),
        Peer::Trunk => format!(
            "[[trunk]]\nname = \"provider\"\naddress = \"sip:127.0.0.1:{port}\"\n\
             [trunk.quirks]\n{quirks}\n[[route]]\nprefix = \"\"\nto = \"trunk:provider\"\n"
        ),
    };
    let office = format!("[[user]]\nnumber = \"100\"\nallow_ips = [\"127.0.0.1\"]\n{peer_config}");
    let gateway = Gateway::start(dir.path(), Some(&config_with_users(dir.path(), &office)));
    Run {
        kamailio,
        gateway,
        _dir: dir,
    }
}

impl Run {
    fn provider(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.kamailio.port))
    }

    /// The line's state once it is `want` (or after `within`).
    fn line_state(&self, want: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let lines: serde_json::Value =
                serde_json::from_str(&http_get(self.gateway.admin, "/api/lines")).unwrap();
            let line = lines[0].clone();
            if line["state"] == want || Instant::now() > deadline {
                return line;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The SIP between the gateway and the provider, in order, without
    /// retransmissions, redacted for a snapshot.
    fn provider_leg(&self, phone: Option<SocketAddr>) -> String {
        let messages = read_trace(&self.gateway.trace);
        let provider = self.provider();
        let gateway = self.gateway.udp.unwrap();
        let mut redactor = Redactor::new(&[
            (gateway.port(), "gateway"),
            (provider.port(), "provider"),
            (phone.map_or(0, |p| p.port()), "phone"),
        ]);
        let mut seen = std::collections::HashSet::new();
        let mut out = String::new();
        for (src, dst, data) in messages {
            let arrow = if dst == provider {
                "gateway → provider"
            } else if src == provider {
                "provider → gateway"
            } else {
                continue;
            };
            if !seen.insert(data.clone()) {
                continue;
            }
            let Ok(msg) = SipMessage::parse_datagram(Bytes::from(data)) else {
                continue;
            };
            out.push_str(&format!("{arrow}\n{}\n", redactor.summary(&msg)));
        }
        out
    }

    /// Keeps the run's provider leg as a capture when asked to: what the
    /// provider saw and did, as a support engineer would capture it at the
    /// office's edge.
    fn record(&self, name: &str) {
        if std::env::var_os("QUIRKGATE_RECORD_CAPTURES").is_none() {
            return;
        }
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures")
            .join(format!("{name}.pcap"));
        let provider = self.provider();
        let file = std::fs::File::create(target).unwrap();
        let mut out = quirkgate_trace::PcapWriter::new(std::io::BufWriter::new(file)).unwrap();
        let trace = std::fs::File::open(&self.gateway.trace).unwrap();
        for p in quirkgate_trace::TraceReader::new(std::io::BufReader::new(trace))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|p| p.src == provider || p.dst == provider)
        {
            out.udp(p.time_ns / 1000, p.src, p.dst, &p.data).unwrap();
        }
    }
}

fn read_trace(path: &Path) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let file = std::fs::File::open(path).unwrap();
    quirkgate_trace::TraceReader::new(std::io::BufReader::new(file))
        .unwrap()
        .filter_map(Result::ok)
        .map(|p| (p.src, p.dst, p.data.to_vec()))
        .collect()
}

/// Replaces what differs between runs (ports, Call-IDs, tags, branches,
/// nonces, digests, versions) with stable names, numbered in order of
/// appearance, and keeps the headers a quirk is about.
struct Redactor {
    ports: Vec<(String, String)>,
    names: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
}

/// The headers a snapshot shows: the ones quirks and their symptoms touch.
const SHOWN: [&str; 19] = [
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Expires",
    "Supported",
    "Require",
    "RSeq",
    "RAck",
    "Session-Expires",
    "Min-SE",
    "P-Asserted-Identity",
    "P-Registrar-Error",
    "Retry-After",
    "Authorization",
    "WWW-Authenticate",
    "X-Account-Token",
    "X-Office-Extension",
];

impl Redactor {
    fn new(ports: &[(u16, &str)]) -> Redactor {
        Redactor {
            ports: ports
                .iter()
                .filter(|(p, _)| *p != 0)
                .map(|(p, n)| (format!(":{p}"), format!(":[{n}]")))
                .collect(),
            names: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    fn name(&mut self, kind: &'static str, value: &str) -> String {
        if let Some(n) = self.names.get(value) {
            return n.clone();
        }
        let count = self.counts.entry(kind).or_default();
        *count += 1;
        let n = format!("[{kind}-{count}]");
        self.names.insert(value.to_string(), n.clone());
        n
    }

    fn redact(&mut self, text: &str) -> String {
        if text.starts_with("quirkgate/") || text.starts_with("kamailio") {
            return "[version]".into();
        }
        let mut text = text.to_string();
        for (from, to) in &self.ports {
            text = text.replace(from.as_str(), to);
        }
        // name=value tokens that differ per run.
        for (param, kind) in [
            ("tag=", "tag"),
            ("branch=", "branch"),
            ("nonce=\"", "nonce"),
            ("response=\"", "response"),
            ("cnonce=\"", "cnonce"),
            ("opaque=\"", "opaque"),
            ("expires=", "expires"),
        ] {
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(i) = rest.find(param) {
                let start = i + param.len();
                out.push_str(&rest[..start]);
                let end = rest[start..]
                    .find([';', ',', '"', '>', ' ', '\r', '\n'])
                    .map_or(rest.len(), |e| start + e);
                let value = &rest[start..end];
                // Contact expiries count down while a test runs.
                if kind == "expires" {
                    out.push_str("[n]");
                } else {
                    out.push_str(&self.name(kind, value));
                }
                rest = &rest[end..];
            }
            out.push_str(rest);
            text = out;
        }
        text
    }

    /// The start line and the shown headers, redacted.
    fn summary(&mut self, msg: &SipMessage) -> String {
        let mut out = format!(
            "  {}\n",
            self.redact(String::from_utf8_lossy(msg.start_line()).trim_end())
        );
        for h in msg.headers() {
            let name = match h.name {
                HeaderName::Other => String::from_utf8_lossy(h.raw_name).into_owned(),
                known => known.as_str().to_string(),
            };
            if !SHOWN.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
                continue;
            }
            let value = String::from_utf8_lossy(h.value).into_owned();
            let value = match name.as_str() {
                "Call-ID" => self.name("call-id", &value),
                _ => self.redact(&value),
            };
            out.push_str(&format!("  {name}: {value}\n"));
        }
        out
    }
}

// ---- a phone placing calls ------------------------------------------------

/// A phone of the office (user 100, trusted by address) speaking SIP over
/// its own UDP socket: enough to place a call and watch what it hears.
struct TestPhone {
    socket: UdpSocket,
    gateway: SocketAddr,
    calls: u32,
}

/// What the caller heard on one call.
#[derive(Debug, Default)]
struct Heard {
    statuses: Vec<u16>,
    last: Option<SipMessage>,
}

impl Heard {
    fn final_status(&self) -> Option<u16> {
        self.statuses.iter().copied().find(|&s| s >= 200)
    }
}

impl TestPhone {
    fn new(gateway: SocketAddr) -> TestPhone {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        TestPhone {
            socket,
            gateway,
            calls: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Sends an INVITE for `number`; returns its Call-ID.
    fn invite(&mut self, number: &str) -> String {
        self.calls += 1;
        let n = self.calls;
        let me = self.addr();
        let call_id = format!("call{n}-{}@phone", me.port());
        let sdp = "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
        let invite = format!(
            "INVITE sip:{number}@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKphone{n};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:100@127.0.0.1>;tag=phone{n}\r\nTo: <sip:{number}@{gw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:100@{me}>\r\nSupported: replaces\r\nX-Office-Extension: 100\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            gw = self.gateway,
            len = sdp.len()
        );
        self.socket
            .send_to(invite.as_bytes(), self.gateway)
            .unwrap();
        call_id
    }

    /// Collects responses for the calls in `heard` until each has a final
    /// one or `within` passes; ACKs final responses as a UA must.
    fn listen(&mut self, heard: &mut HashMap<String, Heard>, within: Duration) {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline && heard.values().any(|h| h.final_status().is_none()) {
            let Ok((len, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(msg) = SipMessage::parse_datagram(Bytes::copy_from_slice(&buf[..len])) else {
                continue;
            };
            let call_id = String::from_utf8_lossy(msg.call_id().unwrap_or_default()).into_owned();
            if msg.is_request() {
                // A BYE from the gateway: the call ended on its side.
                self.answer(&msg);
                continue;
            }
            let Some(h) = heard.get_mut(&call_id) else {
                continue;
            };
            let status = msg.status().unwrap_or(0);
            let first_final = status >= 200 && h.final_status().is_none();
            h.statuses.push(status);
            if status >= 200 {
                self.ack(&msg);
            }
            if first_final || status < 200 {
                h.last = Some(msg);
            }
        }
    }

    fn ack(&self, resp: &SipMessage) {
        let to = header_text(resp, HeaderName::To);
        // A 2xx's ACK is its own transaction to the Contact; a failure's
        // reuses the INVITE's branch (RFC 3261 §17.1.1.3).
        let (uri, branch) = if resp.status().is_some_and(|s| s < 300) {
            (
                contact_of(resp),
                format!("z9hG4bKack{}", header_text(resp, HeaderName::CallId)),
            )
        } else {
            (uri_of(&to), branch_of(resp))
        };
        self.send_request("ACK", &uri, &branch, resp, &to, 1);
    }

    /// Ends an answered call with a BYE.
    fn bye(&self, ok: &SipMessage) {
        let branch = format!("z9hG4bKbye{}", header_text(ok, HeaderName::CallId));
        let to = header_text(ok, HeaderName::To);
        self.send_request("BYE", &contact_of(ok), &branch, ok, &to, 2);
    }

    /// Gives up on a ringing call: the CANCEL matches the INVITE (its
    /// branch, its To without the tag).
    fn cancel(&self, provisional: &SipMessage) {
        let to = header_text(provisional, HeaderName::To);
        let to = to.split(";tag=").next().unwrap_or_default().to_string();
        self.send_request(
            "CANCEL",
            &uri_of(&to),
            &branch_of(provisional),
            provisional,
            &to,
            1,
        );
    }

    /// Sends a request of the call `msg` belongs to, without a body.
    fn send_request(
        &self,
        method: &str,
        uri: &str,
        branch: &str,
        msg: &SipMessage,
        to: &str,
        cseq: u32,
    ) {
        let request = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            me = self.addr(),
            from = header_text(msg, HeaderName::From),
            call_id = header_text(msg, HeaderName::CallId),
        );
        self.socket
            .send_to(request.as_bytes(), self.gateway)
            .unwrap();
    }

    /// Answers a request from the gateway (a BYE) with 200.
    fn answer(&self, req: &SipMessage) {
        if req.method().is_some_and(|m| m.as_bytes() == b"ACK") {
            return;
        }
        let ok = quirkgate_core::msg::build::response(req, 200, "OK", Some("phone")).finish(b"");
        self.socket.send_to(&ok, self.gateway).unwrap();
    }

    /// Places one call and waits for its final answer; an answered call is
    /// hung up at once.
    fn call(&mut self, number: &str, within: Duration) -> Heard {
        let call_id = self.invite(number);
        let mut heard = HashMap::from([(call_id.clone(), Heard::default())]);
        self.listen(&mut heard, within);
        let h = heard.remove(&call_id).unwrap();
        if let (Some(200..=299), Some(ok)) = (h.final_status(), &h.last) {
            self.bye(ok);
            std::thread::sleep(Duration::from_millis(300));
        }
        h
    }
}

fn header_text(msg: &SipMessage, name: HeaderName) -> String {
    String::from_utf8_lossy(msg.header(name).unwrap_or_default()).into_owned()
}

fn contact_of(msg: &SipMessage) -> String {
    msg.contacts()
        .next()
        .and_then(Result::ok)
        .map(|c| String::from_utf8_lossy(c.uri).into_owned())
        .unwrap_or_default()
}

fn branch_of(msg: &SipMessage) -> String {
    msg.top_via()
        .and_then(Result::ok)
        .and_then(|v| v.branch().map(|b| String::from_utf8_lossy(b).into_owned()))
        .unwrap_or_default()
}

/// The URI inside a `<...>` name-addr.
fn uri_of(name_addr: &str) -> String {
    name_addr
        .split(['<', '>'])
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// A call through the provider: the run's outcome as the caller heard it,
/// and the provider leg.
fn call_once(run: &Run, number: &str, within: Duration) -> (Heard, String) {
    let mut phone = TestPhone::new(run.gateway.udp.unwrap());
    let heard = phone.call(number, within);
    if heard.final_status().is_none() {
        if let Some(ringing) = &heard.last {
            phone.cancel(ringing);
        }
    }
    // What the provider answers after the caller's final response (a 487
    // to our CANCEL, a 200 to our BYE) belongs to the run too.
    std::thread::sleep(Duration::from_millis(300));
    (heard, run.provider_leg(Some(phone.addr())))
}

fn snapshot(name: &str, without: &str, with: &str) {
    insta::assert_snapshot!(
        name,
        format!("# without the quirk\n{without}\n# with the quirk\n{with}")
    );
}

// ---- the proofs -------------------------------------------------------------

const NUMBER: &str = "02155501234";

/// A call proof: the failure `without` shows, then success with `quirks`.
fn prove_call(name: &str, defines: &[&str], quirks: &str, without_status: u16) {
    let run = start(defines, Peer::Trunk, "");
    let (heard, without) = call_once(&run, NUMBER, Duration::from_secs(5));
    assert_eq!(
        heard.final_status(),
        Some(without_status),
        "without the quirk: {:?}\n{without}\n{}",
        heard.statuses,
        run.kamailio.log()
    );
    run.record(&format!("{name}-without"));
    drop(run);

    let run = start(defines, Peer::Trunk, quirks);
    let (heard, with) = call_once(&run, NUMBER, Duration::from_secs(5));
    assert_eq!(
        heard.final_status(),
        Some(200),
        "with the quirk: {:?}\n{with}\n{}\n{}",
        heard.statuses,
        run.kamailio.log(),
        run.gateway.log_text()
    );
    run.record(&format!("{name}-with"));
    snapshot(name, &without, &with);
}

#[test]
fn no_prack_for_a_provider_that_refuses_its_own_100rel() {
    prove_call(
        "prack-405",
        &["RELIABLE_183_NO_PRACK"],
        "\"100rel\" = \"disabled\"",
        500,
    );
}

#[test]
fn user_phone_for_a_network_that_demands_it() {
    prove_call(
        "user-phone-required",
        &["DEMAND_USER_PHONE"],
        "request_uri_params = [\"user=phone\"]",
        404,
    );
}

#[test]
fn tel_uris_for_a_gateway_that_takes_no_sip_uri() {
    prove_call(
        "tel-uri-only",
        &["TEL_ONLY"],
        "uri_scheme = \"tel\"\nnumber_format = \"+e164\"\ncountry_code = \"86\"",
        416,
    );
}

#[test]
fn e164_numbers_for_a_network_that_routes_only_global_numbers() {
    prove_call(
        "number-format-e164",
        &["REQUIRE_E164"],
        "number_format = \"+e164\"\ncountry_code = \"86\"",
        484,
    );
}

#[test]
fn from_domain_for_a_trunk_that_checks_its_tenant_domain() {
    prove_call(
        "from-domain",
        &["REQUIRE_FROM_DOMAIN \"pbx.office.example\""],
        "from_domain = \"pbx.office.example\"",
        403,
    );
}

#[test]
fn from_user_for_a_trunk_that_wants_its_pilot_number() {
    prove_call(
        "from-user",
        &["REQUIRE_FROM_USER \"0215550100\""],
        "from_user = \"0215550100\"",
        403,
    );
}

#[test]
fn pai_for_a_trunk_that_wants_the_asserted_caller() {
    prove_call("pai", &["REQUIRE_PAI"], "pai = \"caller\"", 403);
}

#[test]
fn session_timers_for_a_provider_that_requires_them() {
    prove_call(
        "session-timer-421",
        &["REQUIRE_SESSION_TIMER"],
        "session_timer = \"require\"",
        421,
    );
}

#[test]
fn header_edits_for_a_provider_with_header_rules() {
    prove_call(
        "header-edits",
        &[
            "REQUIRE_HEADER_TOKEN \"tok42\"",
            "REJECT_HEADER \"X-Office-Extension\"",
        ],
        "strip_headers = [\"X-Office-Extension\"]\nadd_headers = [\"X-Account-Token: tok42\"]",
        403,
    );
}

#[test]
fn no_answer_timeout_cancels_a_provider_that_rings_for_ever() {
    let run = start(&["NEVER_ANSWER"], Peer::Trunk, "");
    let (heard, without) = call_once(&run, NUMBER, Duration::from_secs(3));
    assert_eq!(
        heard.final_status(),
        None,
        "rings for ever: {:?}",
        heard.statuses
    );
    assert!(heard.statuses.contains(&180), "{:?}", heard.statuses);
    run.record("never-answers-without");
    drop(run);

    let run = start(&["NEVER_ANSWER"], Peer::Trunk, "no_answer_timeout = 1");
    let (heard, with) = call_once(&run, NUMBER, Duration::from_secs(4));
    assert_eq!(
        heard.final_status(),
        Some(480),
        "{:?}\n{with}",
        heard.statuses
    );
    assert!(
        with.contains("  CANCEL "),
        "the provider got a CANCEL:\n{with}"
    );
    assert!(with.contains("SIP/2.0 487 "), "{with}");
    run.record("never-answers-with");
    snapshot("never-answers", &without, &with);
}

#[test]
fn call_caps_keep_a_burst_within_the_trunk_channels() {
    const BURST: usize = 4;
    let burst = |run: &Run| -> (Vec<u16>, String, usize) {
        let mut phone = TestPhone::new(run.gateway.udp.unwrap());
        let mut heard = HashMap::new();
        for _ in 0..BURST {
            heard.insert(phone.invite(NUMBER), Heard::default());
            // Spaced a little, so that the order is the same in every run.
            std::thread::sleep(Duration::from_millis(150));
        }
        phone.listen(&mut heard, Duration::from_secs(5));
        let mut ids: Vec<&String> = heard.keys().collect();
        ids.sort();
        let statuses: Vec<u16> = ids
            .iter()
            .filter_map(|id| heard[*id].final_status())
            .collect();
        // Hang up the answered calls only once every answer is in: the
        // calls overlap.
        for id in &ids {
            if let (Some(200), Some(ok)) = (heard[*id].final_status(), &heard[*id].last) {
                phone.bye(ok);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let leg = run.provider_leg(Some(phone.addr()));
        let invites = leg.matches("  INVITE ").count();
        (statuses, leg, invites)
    };

    let run = start(&["MAX_ACTIVE 2"], Peer::Trunk, "");
    let (statuses, without, invites) = burst(&run);
    assert_eq!(statuses, [200, 200, 503, 503], "{without}");
    assert_eq!(invites, BURST, "the provider saw every call");
    run.record("channel-limit-without");
    drop(run);

    let run = start(&["MAX_ACTIVE 2"], Peer::Trunk, "max_calls_out = 2");
    let (statuses, with, invites) = burst(&run);
    assert_eq!(statuses, [200, 200, 503, 503], "{with}");
    assert_eq!(
        invites, 2,
        "the provider never sees more than the cap:\n{with}"
    );
    assert!(
        !with.contains("503"),
        "the provider refused nothing:\n{with}"
    );
    assert!(
        run.kamailio.log().contains("STUBBORN max_active=2")
            && !run.kamailio.log().contains("max_active=3"),
        "{}",
        run.kamailio.log()
    );
    run.record("channel-limit-with");
    snapshot("channel-limit", &without, &with);
}

/// A registration proof: the line fails without the quirk, registers with it.
fn prove_register(name: &str, defines: &[&str], quirks: &str, failure: u16, patience: Duration) {
    let run = start(defines, Peer::Line, "");
    let line = run.line_state("registered", patience);
    assert_ne!(line["state"], "registered", "without the quirk: {line}");
    assert_eq!(line["last_status"], failure, "{line}");
    let without = run.provider_leg(None);
    run.record(&format!("{name}-without"));
    drop(run);

    let run = start(defines, Peer::Line, quirks);
    let line = run.line_state("registered", patience);
    assert_eq!(
        line["state"],
        "registered",
        "with the quirk: {line}\n{}",
        run.kamailio.log()
    );
    let with = run.provider_leg(None);
    run.record(&format!("{name}-with"));
    snapshot(name, &without, &with);
}

#[test]
fn a_fresh_call_id_per_register_for_a_registrar_that_refuses_the_next_cseq() {
    prove_register(
        "register-call-id",
        &["REJECT_REUSED_CALLID"],
        "register_call_id = \"per-request\"",
        400,
        Duration::from_secs(3),
    );
}

#[test]
fn the_contact_user_a_registrar_insists_on() {
    prove_register(
        "contact-user",
        &["REQUIRE_CONTACT_USER \"pilot\""],
        "contact_user = \"pilot\"",
        403,
        Duration::from_secs(3),
    );
}

#[test]
fn a_quick_retry_for_a_registrar_that_fails_at_first() {
    prove_register(
        "register-retry",
        &["FAIL_FIRST_REGISTERS 1"],
        "register_retry = 1",
        503,
        Duration::from_secs(4),
    );
}
