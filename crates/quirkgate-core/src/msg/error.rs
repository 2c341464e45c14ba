use std::borrow::Cow;
use std::fmt;

/// Where in a message a problem was found, so that an error names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The whole message (framing, size, missing header section end).
    Message,
    StartLine,
    /// A header, by the name as the sender wrote it.
    Header(String),
    Body,
}

/// Why a message was refused. The text is meant for a reason phrase or a log
/// line, so it never contains CR or LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub location: Location,
    pub reason: Cow<'static, str>,
}

impl ParseError {
    pub fn new(location: Location, reason: impl Into<Cow<'static, str>>) -> Self {
        ParseError {
            location,
            reason: reason.into(),
        }
    }

    pub fn message(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Location::Message, reason)
    }

    pub fn start_line(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Location::StartLine, reason)
    }

    pub fn header(name: &[u8], reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            Location::Header(String::from_utf8_lossy(name).into_owned()),
            reason,
        )
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Message => write!(f, "{}", self.reason),
            Location::StartLine => write!(f, "start line: {}", self.reason),
            Location::Header(name) => write!(f, "{name}: {}", self.reason),
            Location::Body => write!(f, "body: {}", self.reason),
        }
    }
}

impl std::error::Error for ParseError {}

/// Shows untrusted bytes in an error text: printable ASCII as is, the rest
/// escaped, and long values cut, so a hostile value cannot flood a log.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let mut out: String = bytes
        .iter()
        .take(MAX)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > MAX {
        out.push_str("...");
    }
    out
}
