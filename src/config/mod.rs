//! The TOML configuration. Every table refuses unknown keys, and every error
//! names the file, the line, the column and the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

pub mod profiles;
pub mod quirks;

use quirks::QuirkSettings;

/// The configuration `quirkgate run` uses without `--config`.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sip: SipSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
    #[serde(default)]
    pub storage: StorageSection,
    #[serde(default, rename = "line")]
    pub lines: Vec<Line>,
    #[serde(default, rename = "trunk")]
    pub trunks: Vec<Trunk>,
    #[serde(default, rename = "group")]
    pub groups: Vec<Group>,
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub blacklist: Vec<BlacklistRule>,
    #[serde(default)]
    pub calls: CallsSection,
    /// Where relative profile paths are found: the configuration's folder.
    #[serde(skip)]
    #[schemars(skip)]
    pub base_dir: PathBuf,
    /// Every line's and trunk's quirks, resolved when the file is read.
    #[serde(skip)]
    #[schemars(skip)]
    quirks: PeerQuirks,
}

/// Quirks by (`line` or `trunk`, name).
type PeerQuirks =
    std::collections::HashMap<(&'static str, String), Arc<quirkgate_core::quirks::Quirks>>;

/// Limits on calls that need no quirk.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallsSection {
    /// Calls in progress at once, at most; more are refused with 503.
    pub max_calls: Option<usize>,
    /// Seconds before an unanswered call is cancelled (the caller hears 480).
    pub no_answer_timeout: Option<u64>,
}

/// An IP peer without registration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: String,
    /// `sip:host[:port][;transport=tcp]`, or `host[:port]`.
    #[schemars(with = "String")]
    pub address: Registrar,
    /// Digest credentials, for a trunk that challenges our INVITEs.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Calls from this trunk may leave by other lines and trunks as the
    /// dial plan routes them (a PBX or SBC trusted by its address); without
    /// it they reach only the office's phones.
    #[serde(default)]
    pub transit: bool,
    pub refine: Option<Transition>,
    /// A quirk profile: a built-in name or a path to a `.toml` file.
    pub profile: Option<String>,
    /// Quirk settings over the profile's.
    pub quirks: Option<QuirkSettings>,
}

/// Lines or trunks used round-robin by a `group:NAME` route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub lines: Vec<String>,
}

/// A dial plan entry: the longest matching prefix of the called number
/// picks the target.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Digits the called number starts with; `""` matches every number.
    pub prefix: String,
    /// `user:NUMBER`, `line:NAME`, `trunk:NAME` or `group:NAME`.
    pub to: String,
    pub transition: Option<Transition>,
    /// Analyse the number again after the transition.
    #[serde(default)]
    pub reanalyse: bool,
}

/// A change of the called number: `{ kind = "delete", at = 0, len = 1 }`,
/// `{ kind = "replace", at = 0, len = 1, with = "0086" }`,
/// `{ kind = "insert", at = 0, with = "0" }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub kind: TransitionKind,
    #[serde(default)]
    pub at: usize,
    #[serde(default)]
    pub len: usize,
    #[serde(default)]
    pub with: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransitionKind {
    Delete,
    Replace,
    Insert,
}

impl Transition {
    pub fn to_core(&self) -> quirkgate_core::dialplan::Transition {
        use quirkgate_core::dialplan::Transition as T;
        match self.kind {
            TransitionKind::Delete => T::Delete {
                at: self.at,
                len: self.len,
            },
            TransitionKind::Replace => T::Replace {
                at: self.at,
                len: self.len,
                with: self.with.clone(),
            },
            TransitionKind::Insert => T::Insert {
                at: self.at,
                with: self.with.clone(),
            },
        }
    }
}

/// Refuses a share of the calls from `caller` to `called`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlacklistRule {
    /// A caller prefix, `*`, or `anonymous`.
    pub caller: String,
    /// A called prefix, or `*`.
    #[serde(default = "any")]
    pub called: String,
    /// Percentage of matching calls refused.
    #[serde(default = "all")]
    pub rate: u8,
    /// The status refused calls get.
    #[serde(default = "rejected")]
    pub status: u16,
}

fn any() -> String {
    "*".into()
}

fn all() -> u8 {
    100
}

fn rejected() -> u16 {
    603
}

/// An account at a provider that the gateway registers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub name: String,
    /// `sip:host[:port][;transport=tcp]`, or `host[:port]`.
    #[schemars(with = "String")]
    pub registrar: Registrar,
    pub username: String,
    pub password: String,
    /// The number (DID) the provider delivers to this line.
    pub number: Option<String>,
    /// The last transition of the called number before a call leaves on
    /// this line ("refine called number").
    pub refine: Option<Transition>,
    /// A quirk profile: a built-in name or a path to a `.toml` file.
    pub profile: Option<String>,
    /// Quirk settings over the profile's.
    pub quirks: Option<QuirkSettings>,
}

/// Where a line registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    pub host: String,
    pub port: u16,
    pub transport: TransportKind,
    /// Whether the port was written; the domain then carries it.
    explicit_port: bool,
    /// Whether a `transport` parameter was written.
    explicit_transport: bool,
}

impl Registrar {
    /// What DNS must look up (RFC 3263): a written port or transport
    /// skips the NAPTR and SRV steps.
    pub fn peer_target(&self) -> crate::dns::PeerTarget {
        use quirkgate_core::transport::Transport;
        crate::dns::PeerTarget {
            host: self.host.clone(),
            port: self.explicit_port.then_some(self.port),
            transport: self.explicit_transport.then_some(match self.transport {
                TransportKind::Udp => Transport::Udp,
                TransportKind::Tcp => Transport::Tcp,
            }),
        }
    }

    /// Whether a port was written.
    pub fn has_port(&self) -> bool {
        self.explicit_port
    }

    /// The domain of the registration (Request-URI and AOR host).
    pub fn domain(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.explicit_port {
            format!("{host}:{}", self.port)
        } else {
            host
        }
    }
}

impl std::str::FromStr for Registrar {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s.strip_prefix("sip:").unwrap_or(s);
        if rest.starts_with("sips:") || s.starts_with("sips:") {
            return Err("TLS (sips:) is not supported yet".into());
        }
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let mut transport = TransportKind::Udp;
        let mut explicit_transport = false;
        for param in params.split(';').filter(|p| !p.is_empty()) {
            explicit_transport = true;
            match param.to_ascii_lowercase().as_str() {
                "transport=udp" => transport = TransportKind::Udp,
                "transport=tcp" => transport = TransportKind::Tcp,
                other => return Err(format!("unsupported registrar parameter '{other}'")),
            }
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("IPv6 address without ']'")?;
            (host.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("'{s}' has no host"));
        }
        let explicit_port = port.is_some();
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("'{p}' is not a port"))?,
            None => 5060,
        };
        Ok(Registrar {
            host,
            port,
            transport,
            explicit_port,
            explicit_transport,
        })
    }
}

impl<'de> Deserialize<'de> for Registrar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// SQLite file holding registrations across restarts.
    #[schemars(with = "String")]
    pub database: PathBuf,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            database: PathBuf::from("quirkgate.db"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    #[schemars(with = "Vec<String>")]
    pub listen: Vec<Listen>,
    /// Largest message accepted on a stream transport, in bytes.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// Kernel buffer asked for each UDP socket, in bytes (SO_RCVBUF and
    /// SO_SNDBUF). A burst beyond the buffer is dropped by the kernel and
    /// costs a retransmission 500 ms later; the kernel caps the size at
    /// `net.core.rmem_max` / `wmem_max`.
    #[serde(default = "default_udp_buffer")]
    pub udp_buffer: usize,
    /// The digest realm local phones authenticate in.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Digest algorithms offered to local phones, most preferred first.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<DigestAlgorithm>,
}

/// `"MD5"` or `"SHA-256"` (RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum DigestAlgorithm {
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "SHA-256")]
    Sha256,
}

fn default_digest_algorithms() -> Vec<DigestAlgorithm> {
    vec![DigestAlgorithm::Md5]
}

fn default_realm() -> String {
    "quirkgate".into()
}

fn default_udp_buffer() -> usize {
    4 << 20
}

fn default_max_message_size() -> usize {
    quirkgate_core::msg::DEFAULT_MAX_MESSAGE_SIZE
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    #[schemars(with = "String")]
    pub listen: SocketAddr,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub number: String,
    pub password: Option<String>,
    /// Source addresses trusted without REGISTER or digest.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub allow_ips: Vec<std::net::IpAddr>,
    pub contact: Option<String>,
    #[serde(default)]
    pub multi_device: bool,
    /// How calls reach the phone's registrations: `auto` (through the
    /// REGISTER's source when the Contact is a private address), `force`
    /// (always through the source), `never` (always the Contact).
    #[serde(default)]
    pub nat: NatSetting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NatSetting {
    #[default]
    Auto,
    Force,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Udp,
    Tcp,
}

/// `udp:127.0.0.1:5060` or `tcp:[::1]:5060`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub transport: TransportKind,
    pub addr: SocketAddr,
}

impl std::str::FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (proto, addr) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' should look like 'udp:127.0.0.1:5060'"))?;
        let transport = match proto {
            "udp" => TransportKind::Udp,
            "tcp" => TransportKind::Tcp,
            "tls" => return Err("TLS listeners are not supported yet".into()),
            other => return Err(format!("unknown transport '{other}' (udp or tcp)")),
        };
        let addr = addr
            .parse()
            .map_err(|e| format!("'{addr}' is not an address:port ({e})"))?;
        Ok(Listen { transport, addr })
    }
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.transport {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
        };
        write!(f, "{proto}:{}", self.addr)
    }
}

/// A configuration error with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn embedded() -> Config {
        Config::parse(EMBEDDED_DEFAULT, Path::new("<embedded default>"))
            .expect("the embedded default configuration is valid")
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((0, 0));
            ConfigError {
                file: file.to_owned(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        config.base_dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        config.check(text, file)?;
        config.quirks = config.resolve_quirks(text, file)?;
        Ok(config)
    }

    /// Every peer's (kind, name, profile, inline settings), lines first.
    fn peers(
        &self,
    ) -> impl Iterator<Item = (&'static str, &str, Option<&str>, Option<&QuirkSettings>)> {
        let lines = self.lines.iter().map(|l| {
            (
                "line",
                l.name.as_str(),
                l.profile.as_deref(),
                l.quirks.as_ref(),
            )
        });
        let trunks = self.trunks.iter().map(|t| {
            (
                "trunk",
                t.name.as_str(),
                t.profile.as_deref(),
                t.quirks.as_ref(),
            )
        });
        lines.chain(trunks)
    }

    /// The effective quirk settings of a line or trunk.
    pub fn peer_quirks(&self, kind: &str, name: &str) -> Result<profiles::Resolved, String> {
        let (_, _, profile, inline) = self
            .peers()
            .find(|(k, n, _, _)| *k == kind && *n == name)
            .ok_or_else(|| format!("no {kind} '{name}'"))?;
        profiles::resolve(profile, inline, &self.base_dir)
    }

    /// The core's quirks of a line or trunk, resolved when the file was
    /// read (a configuration with unresolvable quirks is never loaded).
    pub fn core_quirks(
        &self,
        kind: &'static str,
        name: &str,
    ) -> Arc<quirkgate_core::quirks::Quirks> {
        self.quirks
            .get(&(kind, name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Each peer's quirks, resolved once: its profile exists and every
    /// setting can work, or the error names the line.
    fn resolve_quirks(&self, text: &str, file: &Path) -> Result<PeerQuirks, ConfigError> {
        let mut resolved_quirks = PeerQuirks::new();
        for (kind, name, profile, _) in self.peers() {
            let peer_at = text.find(&format!("\"{name}\"")).unwrap_or(0);
            let after = |needle: &str| {
                text[peer_at..]
                    .find(needle)
                    .map_or(peer_at, |o| peer_at + o)
            };
            let resolved = self.peer_quirks(kind, name).map_err(|message| {
                let offset = profile.map_or(peer_at, |p| after(&format!("\"{p}\"")));
                let (line, column) = line_column(text, offset);
                ConfigError {
                    file: file.to_owned(),
                    line,
                    column,
                    message: format!("{kind}.profile: {message}"),
                }
            })?;
            let quirks = resolved.settings.resolve().map_err(|e| {
                let origin = resolved.origins.get(e.key).cloned().unwrap_or_default();
                let (line, column) = line_column(text, after(&format!("{} ", e.key)));
                ConfigError {
                    file: file.to_owned(),
                    line,
                    column,
                    message: format!(
                        "{kind}.quirks.{}: {} ({kind} '{name}', set by {origin})",
                        e.key, e.message
                    ),
                }
            })?;
            resolved_quirks.insert((kind, name.to_string()), Arc::new(quirks));
        }
        Ok(resolved_quirks)
    }

    /// Rules serde cannot express, reported at the offending key.
    fn check(&self, text: &str, file: &Path) -> Result<(), ConfigError> {
        let at = |needle: &str, message: String| {
            let (line, column) = text
                .find(needle)
                .map_or((0, 0), |offset| line_column(text, offset));
            ConfigError {
                file: file.to_owned(),
                line,
                column,
                message,
            }
        };
        if let Some(l) = self
            .sip
            .listen
            .iter()
            .find(|l| l.addr.ip().is_unspecified())
        {
            return Err(at(
                &l.to_string(),
                format!(
                    "sip.listen: '{l}' is a wildcard; listen on the address peers reach (the gateway writes it into Via and Contact)"
                ),
            ));
        }
        if self.sip.listen.is_empty() {
            return Err(at(
                "listen",
                "sip.listen: at least one listener is needed".into(),
            ));
        }
        let names = |it: &mut dyn Iterator<Item = &str>| -> std::collections::HashSet<String> {
            it.map(str::to_string).collect()
        };
        let lines = names(&mut self.lines.iter().map(|l| l.name.as_str()));
        let trunks = names(&mut self.trunks.iter().map(|t| t.name.as_str()));
        let groups = names(&mut self.groups.iter().map(|g| g.name.as_str()));
        if let Some(t) = self
            .trunks
            .iter()
            .find(|t| t.username.is_some() != t.password.is_some())
        {
            return Err(at(
                &format!("\"{}\"", t.name),
                format!(
                    "trunk.password: trunk '{}' needs both username and password, or neither",
                    t.name
                ),
            ));
        }
        for route in &self.routes {
            use quirkgate_core::dialplan::Target;
            let target = Target::parse(&route.to)
                .map_err(|e| at(&format!("\"{}\"", route.to), format!("route.to: {e}")))?;
            let known = match &target {
                Target::Line(n) => lines.contains(n),
                Target::Trunk(n) => trunks.contains(n),
                Target::Group(n) => groups.contains(n),
                Target::User(_) => true,
            };
            if !known {
                return Err(at(
                    &format!("\"{}\"", route.to),
                    format!(
                        "route.to: '{}' names no such line, trunk or group",
                        route.to
                    ),
                ));
            }
        }
        for group in &self.groups {
            if let Some(missing) = group
                .lines
                .iter()
                .find(|l| !lines.contains(*l) && !trunks.contains(*l))
            {
                return Err(at(
                    &format!("\"{missing}\""),
                    format!("group.lines: no line or trunk named '{missing}'"),
                ));
            }
        }
        if let Some(rule) = self.blacklist.iter().find(|r| r.rate > 100) {
            return Err(at(
                &format!("rate = {}", rule.rate),
                "blacklist.rate: a percentage, 0 to 100".into(),
            ));
        }
        let mut numbers = std::collections::HashSet::new();
        for user in &self.users {
            if !numbers.insert(&user.number) {
                return Err(at(
                    &format!("\"{}\"", user.number),
                    format!("user.number: '{}' is configured twice", user.number),
                ));
            }
            if user.password.is_none() && user.allow_ips.is_empty() {
                return Err(at(
                    &format!("\"{}\"", user.number),
                    format!(
                        "user.password: user '{}' needs a password or allow_ips",
                        user.number
                    ),
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

impl Config {
    /// What each line and trunk will really use, defaults filled in, as
    /// TOML a support engineer can read and paste back.
    pub fn effective(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let transition = |t: &Option<Transition>| match t {
            None => "none".to_string(),
            Some(t) => format!(
                "{{ kind = \"{}\", at = {}, len = {}, with = \"{}\" }}",
                format!("{:?}", t.kind).to_lowercase(),
                t.at,
                t.len,
                t.with
            ),
        };
        let quirks = |kind: &str, name: &str, profile: &Option<String>| {
            let profile = profile
                .as_deref()
                .map_or("none".into(), |p| format!("\"{p}\""));
            let settings = self
                .peer_quirks(kind, name)
                .map_or_else(|e| format!("# {e}\n"), |r| r.describe());
            format!("profile = {profile}\n[{kind}.quirks]\n{settings}")
        };
        let transport = |t: TransportKind| match t {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
        };
        for l in &self.lines {
            let _ = writeln!(out, "[[line]]  # {}", l.name);
            let _ = writeln!(
                out,
                "registrar = \"{}\"  # {} port {}",
                l.registrar.domain(),
                transport(l.registrar.transport),
                l.registrar.port
            );
            let _ = writeln!(out, "username = \"{}\"", l.username);
            let _ = writeln!(
                out,
                "number = {}",
                l.number
                    .as_deref()
                    .map_or("none".into(), |n| format!("\"{n}\""))
            );
            let _ = writeln!(out, "refine = {}", transition(&l.refine));
            let _ = writeln!(out, "{}", quirks("line", &l.name, &l.profile));
        }
        for t in &self.trunks {
            let _ = writeln!(out, "[[trunk]]  # {}", t.name);
            let _ = writeln!(
                out,
                "address = \"{}\"  # {} port {}",
                t.address.domain(),
                transport(t.address.transport),
                t.address.port
            );
            let _ = writeln!(
                out,
                "credentials = {}",
                if t.username.is_some() {
                    "digest"
                } else {
                    "none"
                }
            );
            let _ = writeln!(out, "refine = {}", transition(&t.refine));
            let _ = writeln!(out, "{}", quirks("trunk", &t.name, &t.profile));
        }
        let limits = &self.calls;
        let _ = writeln!(
            out,
            "[calls]\nmax_calls = {}\nno_answer_timeout = {}",
            limits
                .max_calls
                .map_or("unlimited".into(), |m| m.to_string()),
            limits
                .no_answer_timeout
                .map_or("none".into(), |s| s.to_string())
        );
        out
    }
}

/// Every key the configuration accepts, as dotted paths (`sip.listen`,
/// `line.registrar`, `route.transition.kind`), derived from the schema so
/// that documentation can be checked against it.
pub fn schema_keys() -> Vec<String> {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default();
    let mut keys = Vec::new();
    collect_keys(&schema, &schema, "", &mut keys);
    keys.sort();
    keys.dedup();
    keys
}

fn collect_keys(
    root: &serde_json::Value,
    node: &serde_json::Value,
    prefix: &str,
    keys: &mut Vec<String>,
) {
    if let Some(reference) = node.get("$ref").and_then(|r| r.as_str()) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if let Some(def) = root.get("$defs").and_then(|d| d.get(name)) {
            collect_keys(root, def, prefix, keys);
        }
        return;
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        for alt in node
            .get(combinator)
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            collect_keys(root, alt, prefix, keys);
        }
    }
    if let Some(items) = node.get("items") {
        collect_keys(root, items, prefix, keys);
    }
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (name, value) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            keys.push(path.clone());
            collect_keys(root, value, &path, keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::embedded();
        assert_eq!(c.sip.listen.len(), 2);
        assert_eq!(c.users.len(), 2);
        assert_eq!(c.admin.listen.port(), 8080);
    }

    #[test]
    fn misspelt_key_names_line_column_and_key() {
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n\n[[user]]\nnumber = \"100\"\npasword = \"x\"\n";
        let err = Config::parse(text, Path::new("office.toml")).unwrap_err();
        assert_eq!((err.line, err.column), (6, 1));
        assert!(
            err.message.contains("unknown field `pasword`"),
            "{}",
            err.message
        );
        assert!(err.to_string().starts_with("office.toml:6:1: "), "{err}");
    }

    #[test]
    fn bad_listener_is_reported_at_its_value() {
        let text = "[sip]\nlisten = [\"sctp:127.0.0.1:5060\"]\n";
        let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("unknown transport 'sctp'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_route_to_an_unknown_line_is_refused_at_its_line() {
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[[route]]\nprefix = \"0\"\nto = \"line:acme\"\n";
        let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!(err.line, 5);
        assert!(err.message.contains("no such line"), "{}", err.message);
    }

    #[test]
    fn dial_plan_keys() {
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n\
[[line]]\nname = \"acme\"\nregistrar = \"sip:127.0.0.1\"\nusername = \"u\"\npassword = \"p\"\n\
refine = { kind = \"replace\", at = 0, len = 1, with = \"0086\" }\n\
[[group]]\nname = \"out\"\nlines = [\"acme\"]\n\
[[route]]\nprefix = \"9\"\nto = \"group:out\"\ntransition = { kind = \"delete\", at = 0, len = 1 }\n\
[[blacklist]]\ncaller = \"anonymous\"\n";
        let c = Config::parse(text, Path::new("c.toml")).unwrap();
        assert_eq!(
            c.routes[0]
                .transition
                .as_ref()
                .unwrap()
                .to_core()
                .apply("9123"),
            "123"
        );
        assert_eq!(
            c.lines[0].refine.as_ref().unwrap().to_core().apply("0123"),
            "0086123"
        );
        assert_eq!(
            (
                c.blacklist[0].called.as_str(),
                c.blacklist[0].rate,
                c.blacklist[0].status
            ),
            ("*", 100, 603)
        );
    }

    #[test]
    fn effective_settings_fill_in_defaults() {
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[[line]]\nname = \"acme\"\nregistrar = \"sip:sip.acme.example;transport=tcp\"\nusername = \"1001\"\npassword = \"p\"\nprofile = \"no-prack\"\n[line.quirks]\noptions_ping = {}\n";
        let effective = Config::parse(text, Path::new("c.toml"))
            .unwrap()
            .effective();
        assert!(
            effective.contains("registrar = \"sip.acme.example\"  # tcp port 5060"),
            "{effective}"
        );
        assert!(
            effective.contains("register_expires = 3600  # default"),
            "{effective}"
        );
        assert!(
            effective.contains("\"100rel\" = \"disabled\"  # profile no-prack"),
            "{effective}"
        );
        assert!(
            effective.contains("options_ping = { interval = 30, misses = 3, up = [] }  # inline"),
            "{effective}"
        );
        assert!(
            !effective.contains("password"),
            "secrets are not printed: {effective}"
        );
    }

    #[test]
    fn registrar_forms() {
        let r: Registrar = "sip:sip.acme.example".parse().unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.transport),
            ("sip.acme.example", 5060, TransportKind::Udp)
        );
        assert_eq!(r.domain(), "sip.acme.example");
        let r: Registrar = "sip:127.0.0.1:5080;transport=tcp".parse().unwrap();
        assert_eq!((r.port, r.transport), (5080, TransportKind::Tcp));
        assert_eq!(r.domain(), "127.0.0.1:5080");
        let r: Registrar = "[::1]:5070".parse().unwrap();
        assert_eq!(
            (r.host.as_str(), r.domain()),
            ("::1", "[::1]:5070".to_string())
        );
        assert!("sip:host;transport=sctp".parse::<Registrar>().is_err());
    }

    #[test]
    fn user_without_credentials_is_refused() {
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[[user]]\nnumber = \"100\"\n";
        let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!(err.line, 4);
        assert!(err.message.contains("needs a password or allow_ips"));
    }

    #[test]
    fn a_typo_in_an_inline_quirk_is_refused_at_its_line() {
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[[trunk]]\nname = \"pstn\"\naddress = \"127.0.0.1:5070\"\n[trunk.quirks]\nuri_schema = \"tel\"\n";
        let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!((err.line, err.column), (7, 1), "{err}");
        assert!(
            err.message.contains("unknown field `uri_schema`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_unknown_profile_and_an_impossible_setting_are_refused() {
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[[trunk]]\nname = \"pstn\"\naddress = \"127.0.0.1:5070\"\nprofile = \"no-prak\"\n";
        let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
        assert!(
            err.message.contains("no profile 'no-prak'"),
            "{}",
            err.message
        );
        let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[[trunk]]\nname = \"pstn\"\naddress = \"127.0.0.1:5070\"\n[trunk.quirks]\nnumber_format = \"+e164\"\n";
        let err = Config::parse(text, Path::new("c.toml")).unwrap_err();
        assert_eq!(err.line, 7, "{err}");
        assert!(
            err.message.contains("needs country_code"),
            "{}",
            err.message
        );
    }
}
