//! URIs: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any other
//! absolute URI, kept opaque.

use super::error::show;
use super::syntax::{eq_ignore_case, parse_decimal};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    Sip(SipUri<'a>),
    Tel(TelUri<'a>),
    /// Another scheme (`http:`, `urn:`, `isbn:`...): legal in SIP headers,
    /// answered 416 where the gateway must route on it.
    Other {
        scheme: &'a [u8],
        rest: &'a [u8],
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    pub secure: bool,
    /// Still %-escaped; see [`unescape`].
    pub user: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
    /// A hostname, an IPv4 address, or an IPv6 reference with its brackets.
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// `;name[=value]...` with the leading `;`, possibly empty.
    pub params: &'a [u8],
    /// `?hname=hvalue&...` without the `?`.
    pub headers: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number as written, `+` and visual separators included.
    pub number: &'a [u8],
    pub params: &'a [u8],
}

impl<'a> Uri<'a> {
    pub fn parse(s: &'a [u8]) -> Result<Uri<'a>, String> {
        let colon =
            memchr::memchr(b':', s).ok_or_else(|| format!("'{}' has no scheme", show(s)))?;
        let scheme = &s[..colon];
        if scheme.is_empty()
            || !scheme[0].is_ascii_alphabetic()
            || !scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(format!("'{}' is not a URI scheme", show(scheme)));
        }
        let rest = &s[colon + 1..];
        if rest
            .iter()
            .any(|&b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("whitespace or control character inside the URI".into());
        }
        if eq_ignore_case(scheme, b"sip") || eq_ignore_case(scheme, b"sips") {
            SipUri::parse(eq_ignore_case(scheme, b"sips"), rest).map(Uri::Sip)
        } else if eq_ignore_case(scheme, b"tel") {
            TelUri::parse(rest).map(Uri::Tel)
        } else if rest.is_empty() {
            Err(format!("empty '{}:' URI", show(scheme)))
        } else {
            Ok(Uri::Other { scheme, rest })
        }
    }

    /// A URI parameter value (or `Some(b"")` for a flag parameter).
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        let params = match self {
            Uri::Sip(u) => u.params,
            Uri::Tel(t) => t.params,
            Uri::Other { .. } => return None,
        };
        uri_params(params)
            .find(|(n, _)| eq_ignore_case(n, name.as_bytes()))
            .map(|(_, v)| v.unwrap_or(b""))
    }
}

/// Iterates `;name[=value]` URI parameters.
pub fn uri_params(params: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    params
        .split(|&b| b == b';')
        .filter(|p| !p.is_empty())
        .map(|p| match memchr::memchr(b'=', p) {
            Some(i) => (&p[..i], Some(&p[i + 1..])),
            None => (p, None),
        })
}

impl<'a> SipUri<'a> {
    fn parse(secure: bool, s: &'a [u8]) -> Result<SipUri<'a>, String> {
        // The user part may hold ';', '?', ',' and '/' (RFC 4475 `semiuri`,
        // `intmeth`) but never a raw '@', so the first '@' ends it.
        let (userinfo, hostpart) = match memchr::memchr(b'@', s) {
            Some(i) => (Some(&s[..i]), &s[i + 1..]),
            None => (None, s),
        };
        let (user, password) = match userinfo {
            Some(ui) => {
                if ui.is_empty() {
                    return Err("empty user part before '@'".into());
                }
                check_escapes(ui)?;
                match memchr::memchr(b':', ui) {
                    Some(i) => (Some(&ui[..i]), Some(&ui[i + 1..])),
                    None => (Some(ui), None),
                }
            }
            None => (None, None),
        };

        let (hostport, after) = split_hostport(hostpart)?;
        let (host, port) = parse_hostport(hostport)?;
        let (params, headers) = match memchr::memchr(b'?', after) {
            Some(i) => (&after[..i], Some(&after[i + 1..])),
            None => (after, None),
        };
        if !params.is_empty() && params[0] != b';' {
            return Err(format!("unexpected '{}' after the host", show(params)));
        }
        for (name, _) in uri_params(params) {
            if name.is_empty() {
                return Err("empty URI parameter name".into());
            }
        }
        if params.windows(2).any(|w| w == b";;") {
            return Err("empty URI parameter".into());
        }
        check_escapes(params)?;
        if let Some(h) = headers {
            check_escapes(h)?;
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }
}

/// Splits `host[:port]` from what follows (`;params` or `?headers`).
fn split_hostport(s: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let end = if s.first() == Some(&b'[') {
        let close = memchr::memchr(b']', s).ok_or("IPv6 reference without ']'")?;
        close
            + 1
            + s[close + 1..]
                .iter()
                .position(|&b| b == b';' || b == b'?')
                .unwrap_or(s.len() - close - 1)
    } else {
        s.iter()
            .position(|&b| b == b';' || b == b'?')
            .unwrap_or(s.len())
    };
    Ok((&s[..end], &s[end..]))
}

/// Parses `host[:port]`. Hosts are hostnames, IPv4 addresses, or bracketed
/// IPv6 references; an IPv6 address without brackets (RFC 5118 §4.2) fails
/// because its second ':' makes the port non-numeric.
pub fn parse_hostport(s: &[u8]) -> Result<(&[u8], Option<u16>), String> {
    let (host, port) = if s.first() == Some(&b'[') {
        let close = memchr::memchr(b']', s).ok_or("IPv6 reference without ']'")?;
        let inner = &s[1..close];
        // RFC 5118 §4.10: tolerate the 3-colon form the RFC 3261 ABNF admits,
        // so only the characters are checked here, not RFC 4291 structure.
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            || !inner.contains(&b':')
        {
            return Err(format!("'{}' is not an IPv6 reference", show(&s[..=close])));
        }
        match &s[close + 1..] {
            [] => (&s[..=close], None),
            [b':', port @ ..] => (&s[..=close], Some(port)),
            other => {
                return Err(format!(
                    "unexpected '{}' after the IPv6 reference",
                    show(other)
                ))
            }
        }
    } else {
        match memchr::memchr(b':', s) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    };
    if host.first() != Some(&b'[') {
        check_hostname(host)?;
    }
    let port = port
        .map(|p| {
            parse_decimal(p, 65535)
                .map(|n| n as u16)
                .map_err(|e| format!("port '{}': {}", show(p), e.describe(65535)))
        })
        .transpose()?;
    Ok((host, port))
}

fn check_hostname(host: &[u8]) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty host".into());
    }
    // Hostnames and IPv4 addresses; '_' is accepted because real networks
    // use it in host names even though RFC 1123 does not.
    if host
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        Ok(())
    } else {
        Err(format!("'{}' is not a host name or address", show(host)))
    }
}

/// Every '%' must start a two-hex-digit escape.
fn check_escapes(s: &[u8]) -> Result<(), String> {
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'%', &s[i..]) {
        let p = i + off;
        match s.get(p + 1..p + 3) {
            Some([a, b]) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => i = p + 3,
            _ => return Err(format!("bad %-escape in '{}'", show(s))),
        }
    }
    Ok(())
}

/// Decodes %HH escapes once (RFC 4475 `esc01`: `%41` stays `A`, not a second
/// round). Invalid escapes are left as they are.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

impl<'a> TelUri<'a> {
    fn parse(s: &'a [u8]) -> Result<TelUri<'a>, String> {
        let end = memchr::memchr(b';', s).unwrap_or(s.len());
        let number = &s[..end];
        let digits = number.strip_prefix(b"+").unwrap_or(number);
        let is_visual = |b: u8| matches!(b, b'-' | b'.' | b'(' | b')');
        let is_local_digit = |b: u8| b.is_ascii_hexdigit() || matches!(b, b'*' | b'#');
        if !digits.iter().any(|&b| is_local_digit(b))
            || !digits.iter().all(|&b| is_local_digit(b) || is_visual(b))
        {
            return Err(format!("'{}' is not a telephone number", show(number)));
        }
        Ok(TelUri {
            number,
            params: &s[end..],
        })
    }

    /// A global number starts with '+' (RFC 3966 §5.1.4); a local one needs
    /// a `phone-context`.
    pub fn is_global(&self) -> bool {
        self.number.starts_with(b"+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s.as_bytes()).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not a sip URI: {other:?}"),
        }
    }

    #[test]
    fn sip_uri_parts() {
        let u = sip("sips:alice:pw@[2001:db8::10]:5070;transport=tcp;lr?subject=x");
        assert!(u.secure);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"pw"[..]));
        assert_eq!(u.host, b"[2001:db8::10]");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params, b";transport=tcp;lr");
        assert_eq!(u.headers, Some(&b"subject=x"[..]));
        let uri = Uri::parse(b"sip:a@b;user=phone").unwrap();
        assert_eq!(uri.param("USER"), Some(&b"phone"[..]));
    }

    #[test]
    fn user_part_may_hold_semicolons() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(unescape(u.user.unwrap()), b"user;par=u@example.net");
        assert_eq!(u.host, b"example.com");
    }

    #[test]
    fn ipv6_without_brackets_is_refused() {
        let err = Uri::parse(b"sip:2001:db8::10").unwrap_err();
        assert!(err.contains("port"), "{err}");
        assert!(Uri::parse(b"sip:[2001:db8:::192.0.2.1]").is_ok());
    }

    #[test]
    fn tel_and_other_schemes() {
        let Uri::Tel(t) = Uri::parse(b"tel:+49-30-1234;phone-context=x").unwrap() else {
            panic!()
        };
        assert!(t.is_global());
        assert_eq!(t.number, b"+49-30-1234");
        assert!(matches!(
            Uri::parse(b"urn:ipaddr:1.2.3.4"),
            Ok(Uri::Other { .. })
        ));
        assert!(Uri::parse(b"tel:abc-xyz").is_err());
        assert!(Uri::parse(b"<sip:a@b>").is_err());
    }

    #[test]
    fn unescape_is_single_pass() {
        assert_eq!(unescape(b"value%2541"), b"value%41");
        assert_eq!(unescape(b"%00x"), b"\0x");
    }
}
