//! Quirk settings as written: a profile's `[quirks]` table, or a line's
//! or trunk's inline `[line.quirks]`. Every key is optional; a layer sets
//! what it names and inherits the rest (defaults, then the profile chain
//! from its base, then the inline table).

use std::time::Duration;

use quirkgate_core::quirks as core;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declares the settings once: the struct, its overlay, and its defaults.
macro_rules! quirk_settings {
    ($( $(#[$meta:meta])* $field:ident : $ty:ty = $default:expr ),* $(,)?) => {
        /// Quirk settings of one layer; `None` inherits.
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct QuirkSettings {
            $(
                $(#[$meta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl QuirkSettings {
            /// Every setting at its default (plain RFC 3261).
            pub fn defaults() -> QuirkSettings {
                QuirkSettings { $( $field: Some($default), )* }
            }

            /// `layer`'s settings over these.
            pub fn overlay(&mut self, layer: &QuirkSettings) {
                $(
                    if layer.$field.is_some() {
                        self.$field = layer.$field.clone();
                    }
                )*
            }
        }
    };
}

quirk_settings! {
    /// `stable`, `per-request` or `after-failure`.
    register_call_id: RegisterCallId = RegisterCallId::Stable,
    /// `supported`, `disabled`, `supported-not-announced` or `required`.
    #[serde(rename = "100rel")]
    rel100: Rel100 = Rel100::Supported,
    /// URI parameters appended to the Request-URI of calls, e.g. `["user=phone"]`.
    request_uri_params: Vec<String> = Vec::new(),
    to_params: Vec<String> = Vec::new(),
    from_params: Vec<String> = Vec::new(),
    /// `sip` or `tel`.
    uri_scheme: UriScheme = UriScheme::Sip,
    max_calls_in: Cap = Cap::Unlimited,
    max_calls_out: Cap = Cap::Unlimited,
    max_calls: Cap = Cap::Unlimited,
    /// Seconds; `"default"` keeps the gateway's `calls.no_answer_timeout`.
    no_answer_timeout: Seconds = Seconds::Default,
    /// The Contact user in REGISTER and calls; `""` keeps the account
    /// (lines) or the number (trunks).
    contact_user: String = String::new(),
    /// `"default"`, `"caller"`, `"account"`, or a fixed user.
    from_user: String = "default".into(),
    /// `""` keeps the peer's domain.
    from_domain: String = String::new(),
    /// `"off"`, `"caller"`, or a fixed `sip:`/`tel:` URI.
    pai: String = "off".into(),
    /// `unchanged`, `+e164`, `e164` or `national`.
    number_format: NumberFormat = NumberFormat::Unchanged,
    /// The country code `number_format` uses (digits, no `+`).
    country_code: String = String::new(),
    /// `off`, `accept` or `require`.
    session_timer: TimerMode = TimerMode::Off,
    session_expires: u32 = 1800,
    min_se: u32 = 90,
    /// `uac` (the gateway) or `uas` (the provider).
    session_refresher: Refresher = Refresher::Uac,
    /// `update` or `invite`.
    session_refresh_method: RefreshMethod = RefreshMethod::Update,
    /// Header names never sent to the peer.
    strip_headers: Vec<String> = Vec::new(),
    /// `"Name: value"` headers added to every request to the peer.
    add_headers: Vec<String> = Vec::new(),
    /// OPTIONS pings; `{ interval = 0 }` turns them off.
    options_ping: Ping = Ping::off(),
    /// The registration interval asked for, in seconds.
    register_expires: u32 = 3600,
    /// Seconds before the first retry of a failed registration; doubles
    /// up to `register_retry_max`.
    register_retry: u64 = 30,
    register_retry_max: u64 = 600,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RegisterCallId {
    Stable,
    PerRequest,
    AfterFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Rel100 {
    Supported,
    Disabled,
    SupportedNotAnnounced,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UriScheme {
    Sip,
    Tel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum NumberFormat {
    #[serde(rename = "unchanged")]
    Unchanged,
    #[serde(rename = "+e164")]
    PlusE164,
    #[serde(rename = "e164")]
    E164,
    #[serde(rename = "national")]
    National,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimerMode {
    Off,
    Accept,
    Require,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Refresher {
    Uac,
    Uas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefreshMethod {
    Update,
    Invite,
}

/// A call cap: a number (`0` closes the direction) or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Cap {
    Limit(u32),
    #[serde(with = "unlimited")]
    #[schemars(with = "String")]
    Unlimited,
}

/// Seconds, or `"default"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Seconds {
    Limit(u64),
    #[serde(with = "default_word")]
    #[schemars(with = "String")]
    Default,
}

/// A unit variant written as one fixed word.
macro_rules! word {
    ($module:ident, $word:literal) => {
        mod $module {
            pub fn serialize<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($word)
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                if text == $word {
                    Ok(())
                } else {
                    Err(serde::de::Error::custom(concat!(
                        "expected a number or \"",
                        $word,
                        "\""
                    )))
                }
            }
        }
    };
}
word!(unlimited, "unlimited");
word!(default_word, "default");

/// OPTIONS pings that tell whether a peer is up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    /// Seconds between pings; 0 sends none.
    #[serde(default = "default_ping_interval")]
    pub interval: u64,
    /// Unanswered pings in a row before the peer is down.
    #[serde(default = "default_ping_misses")]
    pub misses: u32,
    /// Statuses that count as up; by default every final response but
    /// 408, 480 and 5xx.
    #[serde(default)]
    pub up: Vec<u16>,
}

fn default_ping_interval() -> u64 {
    30
}

fn default_ping_misses() -> u32 {
    3
}

impl Ping {
    fn off() -> Ping {
        Ping {
            interval: 0,
            misses: default_ping_misses(),
            up: Vec::new(),
        }
    }
}

/// A resolved setting that cannot work, with the key it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> SettingError {
    SettingError {
        key,
        message: message.into(),
    }
}

/// A URI parameter: `name` or `name=value`, token characters only.
fn check_params(key: &'static str, params: &[String]) -> Result<(), SettingError> {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()+%[]:/&$".contains(&b))
    };
    for p in params {
        let (name, value) = p.split_once('=').unwrap_or((p, "x"));
        if !token(name) || !token(value) {
            return Err(bad(
                key,
                format!("'{p}' is not a URI parameter (name or name=value, no ';' or spaces)"),
            ));
        }
    }
    Ok(())
}

fn header_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// What SIP headers we own and compose ourselves: a quirk may not strip or
/// add them, or the message would break.
const OWNED: [&str; 10] = [
    "via",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "max-forwards",
    "content-length",
    "content-type",
    "route",
];

impl QuirkSettings {
    /// The core's quirks, from settings that have every key (defaults
    /// overlaid); an impossible combination names its key.
    pub fn resolve(&self) -> Result<core::Quirks, SettingError> {
        let all = |key: &'static str| bad(key, "missing after the defaults (a bug)");
        macro_rules! get {
            ($field:ident, $key:literal) => {
                self.$field.clone().ok_or_else(|| all($key))?
            };
        }
        let request_uri_params = get!(request_uri_params, "request_uri_params");
        check_params("request_uri_params", &request_uri_params)?;
        let to_params = get!(to_params, "to_params");
        check_params("to_params", &to_params)?;
        let from_params = get!(from_params, "from_params");
        check_params("from_params", &from_params)?;
        let country_code = get!(country_code, "country_code");
        let plausible = country_code.len() <= 3 && country_code.bytes().all(|b| b.is_ascii_digit());
        if !plausible {
            return Err(bad(
                "country_code",
                format!("'{country_code}' is not a country code (1 to 3 digits, no '+')"),
            ));
        }
        let number_format = match get!(number_format, "number_format") {
            NumberFormat::Unchanged => core::NumberFormat::Unchanged,
            other if country_code.is_empty() => {
                return Err(bad(
                    "number_format",
                    format!("{other:?} needs country_code"),
                ));
            }
            NumberFormat::PlusE164 => core::NumberFormat::PlusE164 { country_code },
            NumberFormat::E164 => core::NumberFormat::E164 { country_code },
            NumberFormat::National => core::NumberFormat::National { country_code },
        };
        let user = |key: &'static str, s: String| -> Result<Option<String>, SettingError> {
            let ok = s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()+&=$,;?/%".contains(&b));
            if !ok {
                return Err(bad(key, format!("'{s}' is not a URI user part")));
            }
            Ok((!s.is_empty()).then_some(s))
        };
        let from_user = match get!(from_user, "from_user").as_str() {
            "default" => core::FromUser::Default,
            "caller" => core::FromUser::Caller,
            "account" => core::FromUser::Account,
            fixed => match user("from_user", fixed.to_string())? {
                Some(u) => core::FromUser::Fixed(u),
                None => return Err(bad("from_user", "empty; use \"default\"")),
            },
        };
        let pai = match get!(pai, "pai").as_str() {
            "off" => core::Pai::Off,
            "caller" => core::Pai::Caller,
            uri if (uri.starts_with("sip:")
                || uri.starts_with("tel:")
                || uri.starts_with("sips:"))
                && !uri.contains(['<', '>', ' ', '\r', '\n']) =>
            {
                core::Pai::Fixed(uri.to_string())
            }
            other => {
                return Err(bad(
                    "pai",
                    format!("'{other}' is neither off, caller nor a sip:/tel: URI"),
                ));
            }
        };
        let from_domain = get!(from_domain, "from_domain");
        if from_domain.contains(['<', '>', ' ', ';', '@', '\r', '\n']) {
            return Err(bad("from_domain", format!("'{from_domain}' is not a host")));
        }
        let strip = get!(strip_headers, "strip_headers");
        let add_lines = get!(add_headers, "add_headers");
        let mut add = Vec::new();
        for line in &add_lines {
            let parsed = line
                .split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .filter(|(n, v)| header_token(n) && !v.contains(['\r', '\n']));
            match parsed {
                Some((n, _)) if OWNED.contains(&n.to_ascii_lowercase().as_str()) => {
                    return Err(bad(
                        "add_headers",
                        format!("'{n}' is composed by the gateway itself"),
                    ));
                }
                Some(pair) => add.push(pair),
                None => return Err(bad("add_headers", format!("'{line}' is not 'Name: value'"))),
            }
        }
        if let Some(owned) = strip
            .iter()
            .find(|n| OWNED.contains(&n.to_ascii_lowercase().as_str()))
        {
            return Err(bad(
                "strip_headers",
                format!("'{owned}' is composed by the gateway itself"),
            ));
        }
        if let Some(odd) = strip.iter().find(|n| !header_token(n)) {
            return Err(bad(
                "strip_headers",
                format!("'{odd}' is not a header name"),
            ));
        }
        let session_expires = get!(session_expires, "session_expires");
        let min_se = get!(min_se, "min_se");
        if min_se < 90 {
            return Err(bad("min_se", "RFC 4028 allows no Min-SE below 90 seconds"));
        }
        if session_expires < min_se {
            return Err(bad(
                "session_expires",
                format!("{session_expires} is below min_se ({min_se})"),
            ));
        }
        let cap = |c: Cap| match c {
            Cap::Limit(n) => Some(n),
            Cap::Unlimited => None,
        };
        let ping = get!(options_ping, "options_ping");
        let retry = get!(register_retry, "register_retry");
        let retry_max = get!(register_retry_max, "register_retry_max");
        if retry == 0 || retry_max < retry {
            return Err(bad(
                "register_retry",
                "must be at least 1 and at most register_retry_max",
            ));
        }
        let register_expires = get!(register_expires, "register_expires");
        if register_expires == 0 {
            return Err(bad("register_expires", "0 would unregister at once"));
        }
        Ok(core::Quirks {
            register_call_id: match get!(register_call_id, "register_call_id") {
                RegisterCallId::Stable => core::RegisterCallId::Stable,
                RegisterCallId::PerRequest => core::RegisterCallId::PerRequest,
                RegisterCallId::AfterFailure => core::RegisterCallId::AfterFailure,
            },
            rel100: match get!(rel100, "100rel") {
                Rel100::Supported => core::Rel100::Supported,
                Rel100::Disabled => core::Rel100::Disabled,
                Rel100::SupportedNotAnnounced => core::Rel100::SupportedNotAnnounced,
                Rel100::Required => core::Rel100::Required,
            },
            request_uri_params,
            to_params,
            from_params,
            tel_uri: get!(uri_scheme, "uri_scheme") == UriScheme::Tel,
            caps: core::CallCaps {
                incoming: cap(get!(max_calls_in, "max_calls_in")),
                outgoing: cap(get!(max_calls_out, "max_calls_out")),
                total: cap(get!(max_calls, "max_calls")),
            },
            no_answer_timeout: match get!(no_answer_timeout, "no_answer_timeout") {
                Seconds::Limit(s) => Some(Duration::from_secs(s.max(1))),
                Seconds::Default => None,
            },
            contact_user: user("contact_user", get!(contact_user, "contact_user"))?,
            from_user,
            from_domain: (!from_domain.is_empty()).then_some(from_domain),
            pai,
            number_format,
            session_timer: core::SessionTimer {
                mode: match get!(session_timer, "session_timer") {
                    TimerMode::Off => core::TimerMode::Off,
                    TimerMode::Accept => core::TimerMode::Accept,
                    TimerMode::Require => core::TimerMode::Require,
                },
                expires: session_expires,
                min_se,
                refresher: match get!(session_refresher, "session_refresher") {
                    Refresher::Uac => core::Refresher::Uac,
                    Refresher::Uas => core::Refresher::Uas,
                },
                method: match get!(session_refresh_method, "session_refresh_method") {
                    RefreshMethod::Update => core::RefreshMethod::Update,
                    RefreshMethod::Invite => core::RefreshMethod::Invite,
                },
            },
            headers: core::HeaderEdits { strip, add },
            registration: core::Registration {
                expires: register_expires,
                retry: Duration::from_secs(retry),
                retry_max: Duration::from_secs(retry_max),
            },
            options_ping: (ping.interval > 0).then(|| core::PingConfig {
                interval: Duration::from_secs(ping.interval),
                misses: ping.misses.max(1),
                up_statuses: ping.up.clone(),
            }),
        })
    }

    /// The keys this layer sets, as written in TOML.
    pub fn keys(&self) -> Vec<String> {
        match toml::Table::try_from(self) {
            Ok(table) => table.keys().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Every key a layer may set.
    pub fn all_keys() -> Vec<String> {
        QuirkSettings::defaults().keys()
    }
}
