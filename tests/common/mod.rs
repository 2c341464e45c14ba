//! Helpers shared by the integration tests: a gateway process on OS-chosen
//! ports, temporary directories, and free ports for third-party peers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quirkgate_core::msg::SipMessage;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quirkgate"))
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        use std::hash::{BuildHasher, RandomState};
        let unique = RandomState::new().hash_one(std::time::SystemTime::now());
        let dir = std::env::temp_dir().join(format!(
            "quirkgate-{label}-{}-{unique:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port free for UDP and TCP on 127.0.0.1, and the next one too: some
/// peers (baresip) also open port + 1.
pub fn free_port_pair() -> u16 {
    loop {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        if port == u16::MAX {
            continue;
        }
        let all_free = [port, port + 1]
            .iter()
            .all(|&p| UdpSocket::bind(("127.0.0.1", p)).is_ok() || p == port)
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok();
        if all_free {
            return port;
        }
    }
}

/// A running gateway; killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub admin: SocketAddr,
    /// Where its stderr log goes (`--log debug`: every message in and out).
    pub log: PathBuf,
    /// Every SIP message it sent and received (`run --trace`), as pcap.
    pub trace: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Starts `quirkgate run` with `config` (or the embedded default when
    /// `None`) in `dir`, and waits for the listeners it prints.
    pub fn start(dir: &Path, config: Option<&str>) -> Gateway {
        let log = dir.join("gateway.log");
        let trace = dir.join("gateway.pcap");
        let mut cmd = bin();
        cmd.arg("run")
            .arg("--trace")
            .arg(&trace)
            .current_dir(dir)
            .env("QUIRKGATE_LOG", "debug,axum=info,hyper=info");
        if let Some(text) = config {
            let path = dir.join("gateway.toml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(&path);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut udp, mut tcp, mut admin) = (None, None, None);
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| {
                    panic!(
                        "gateway exited: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                })
                .unwrap();
            let line = line.trim();
            if let Some(a) = line.strip_prefix("sip   udp:") {
                udp = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("sip   tcp:") {
                tcp = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("admin http://") {
                admin = Some(a.trim_end_matches('/').parse().unwrap());
            } else if line.starts_with("registrations stored in") {
                break;
            }
        }
        // Keep draining stdout so the gateway never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Gateway {
            child,
            udp,
            tcp,
            admin: admin.unwrap(),
            log,
            trace,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A gateway configuration on OS-chosen ports with the given users.
pub fn config_with_users(dir: &Path, users: &str) -> String {
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [storage]\ndatabase = \"{}\"\n{users}",
        dir.join("registrations.db").display()
    )
}

/// A Kamailio from Debian, configured by one of `tests/kamailio/*.cfg` with
/// `__PORT__` and the given placeholders filled in; killed when dropped.
pub struct Kamailio {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Kamailio {
    pub fn start(config: &str, replacements: &[(&str, &str)]) -> Kamailio {
        Kamailio::start_with(config, &[], replacements)
    }

    /// Starts with `#!define` lines (`NAME` or `NAME value`) switching on
    /// behaviours of the configuration.
    pub fn start_with(config: &str, defines: &[&str], replacements: &[(&str, &str)]) -> Kamailio {
        let dir = TempDir::new("kamailio");
        let port = free_port_pair();
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/kamailio")
                .join(config),
        )
        .unwrap();
        let defines: String = defines.iter().map(|d| format!("#!define {d}\n")).collect();
        let template = template.replacen("#!KAMAILIO\n", &format!("#!KAMAILIO\n{defines}"), 1);
        let mut text = template.replace("__PORT__", &port.to_string());
        for (from, to) in replacements {
            text = text.replace(from, to);
        }
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg, text).unwrap();
        let log = std::fs::File::create(dir.path().join("kamailio.log")).unwrap();
        // Kamailio forks helper processes: its own process group lets the
        // test stop all of them.
        use std::os::unix::process::CommandExt;
        let child = Command::new("kamailio")
            .process_group(0)
            .arg("-f")
            .arg(&cfg)
            .arg("-E")
            .arg("-Y")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio is installed (scripts/test installs it)");
        let kamailio = Kamailio { child, port, dir };
        kamailio.wait_listening();
        kamailio
    }

    fn wait_listening(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.log().contains("SO_RCVBUF is finally") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("kamailio did not start:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM to the whole group: the main process and its children.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// GETs a path of the admin API and returns the body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// A baresip phone (Debian), logging its SIP (`-s`); killed when dropped.
pub struct Phone {
    dir: TempDir,
    child: Child,
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One SIP message as a phone logged it (`baresip -s`).
pub struct Logged {
    pub sent: bool,
    pub msg: SipMessage,
}

impl Phone {
    /// Starts baresip as `number`, registered at the gateway, quitting after
    /// `seconds` (which hangs up its call and unregisters).
    pub fn start(
        number: &str,
        password: &str,
        gateway_port: u16,
        seconds: u32,
        command: Option<&str>,
    ) -> Phone {
        Phone::start_on("udp", number, password, gateway_port, seconds, command)
    }

    pub fn start_on(
        transport: &str,
        number: &str,
        password: &str,
        gateway_port: u16,
        seconds: u32,
        command: Option<&str>,
    ) -> Phone {
        let dir = TempDir::new(&format!("baresip-{number}"));
        let port = free_port_pair();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("config"),
            format!(
                "sip_listen 127.0.0.1:{port}\nnet_interface 127.0.0.1\n\
                 module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule ausine.so\nmodule aufile.so\n\
                 module_app account.so\nmodule_app menu.so\n\
                 audio_player aufile,{d}/play.wav\naudio_source ausine,440\naudio_alert aufile,{d}/alert.wav\n\
                 ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{number}@127.0.0.1:{gateway_port};transport={transport}>;auth_pass={password};regint=600;answermode=auto\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new("baresip");
        cmd.arg("-f")
            .arg(dir.path())
            .arg("-s")
            .arg("-t")
            .arg(seconds.to_string());
        if let Some(c) = command {
            cmd.arg("-e").arg(c);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("out.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip is installed (scripts/test installs it)");
        Phone { dir, child }
    }

    pub fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log_path()).unwrap_or_default()).into_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("out.log")
    }

    /// The SIP messages in the phone's trace: blocks of `#`, a line
    /// `UDP src -> dst` (or `TCP`), then the message.
    pub fn sip(&self, own: &str) -> Vec<Logged> {
        let raw = std::fs::read(self.log_path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&raw);
        text.split("\x1b[36;1m#\n")
            .skip(1)
            .filter_map(|block| {
                let (head, rest) = block.split_once('\n')?;
                let (src, _) = head.get(4..)?.split_once(" -> ")?;
                let msg = rest.split("\x1b[").next()?;
                let msg = SipMessage::parse_datagram(Bytes::from(msg.to_string())).ok()?;
                Some(Logged {
                    sent: src == own,
                    msg,
                })
            })
            .collect()
    }

    /// Waits until the phone has logged `what`; fails with its whole log.
    pub fn expect(&self, what: &str, seconds: u64) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(seconds) {
            if self.output().contains(what) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the phone never logged {what:?}:\n{}", self.output());
    }

    pub fn own_addr(&self) -> String {
        let config = std::fs::read_to_string(self.dir.path().join("config")).unwrap();
        config
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("sip_listen ")
            .to_string()
    }
}
