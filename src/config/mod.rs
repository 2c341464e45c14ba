//! The TOML configuration. Every table refuses unknown keys, and every error
//! names the file, the line, the column and the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The configuration `quirkgate run` uses without `--config`.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

#[derive(Debug, Clone, Deserialize)]
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
}

/// An account at a provider that the gateway registers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub name: String,
    /// `sip:host[:port][;transport=tcp]`, or `host[:port]`.
    pub registrar: Registrar,
    pub username: String,
    pub password: String,
    /// The number (DID) the provider delivers to this line.
    pub number: Option<String>,
    /// The registration interval to ask for, in seconds.
    #[serde(default = "default_line_expires")]
    pub expires: u32,
}

fn default_line_expires() -> u32 {
    3600
}

/// Where a line registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    pub host: String,
    pub port: u16,
    pub transport: TransportKind,
    /// Whether the port was written; the domain then carries it.
    explicit_port: bool,
}

impl Registrar {
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
        for param in params.split(';').filter(|p| !p.is_empty()) {
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
        })
    }
}

impl<'de> Deserialize<'de> for Registrar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// SQLite file holding registrations across restarts.
    pub database: PathBuf,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            database: PathBuf::from("quirkgate.db"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    pub listen: Vec<Listen>,
    /// Largest message accepted on a stream transport, in bytes.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// The digest realm local phones authenticate in.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Digest algorithms offered to local phones, most preferred first.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<DigestAlgorithm>,
}

/// `"MD5"` or `"SHA-256"` (RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

fn default_max_message_size() -> usize {
    quirkgate_core::msg::DEFAULT_MAX_MESSAGE_SIZE
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub listen: SocketAddr,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub number: String,
    pub password: Option<String>,
    /// Source addresses trusted without REGISTER or digest.
    #[serde(default)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
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
        let config: Config = toml::from_str(text).map_err(|e| {
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
        config.check(text, file)?;
        Ok(config)
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
        if self.sip.listen.is_empty() {
            return Err(at(
                "listen",
                "sip.listen: at least one listener is needed".into(),
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

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
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
}
