//! Typed, lazily parsed views of the headers a B2BUA owns. Each view borrows
//! from the message; nothing is parsed until asked for.

use std::borrow::Cow;

use super::error::show;
use super::name::HeaderName;
use super::syntax::{is_lws, is_token, is_token_char, parse_decimal, split_list, trim_lws, Cursor};
use super::uri::{parse_hostport, Uri};
use super::{ParseError, SipMessage};

/// `;name[=value]` header parameters, validated, kept raw for iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a [u8],
}

impl<'a> Params<'a> {
    /// Lexes parameters from the cursor up to the end of the element.
    fn lex(c: &mut Cursor<'a>) -> Result<Params<'a>, String> {
        let start_rest = c.rest();
        let mut consumed = 0;
        loop {
            let mut probe = c.clone();
            probe.skip_lws();
            if probe.at_end() {
                break;
            }
            if !probe.eat(b';') {
                return Err(format!("unexpected '{}'", show(probe.rest())));
            }
            let name = probe.token();
            if name.is_empty() {
                // One trailing ';' is a common slip of real stacks and says
                // nothing ambiguous; ';;' (RFC 4475 `badinv01`) is refused.
                probe.skip_lws();
                if probe.at_end()
                    && !start_rest[..start_rest.len() - probe.rest().len()].ends_with(b";;")
                {
                    *c = probe;
                    break;
                }
                return Err("empty parameter (stray ';')".into());
            }
            if probe.eat(b'=') {
                probe.skip_lws();
                param_value(&mut probe)?;
            }
            consumed = start_rest.len() - probe.rest().len();
            *c = probe;
        }
        Ok(Params {
            raw: &start_rest[..consumed],
        })
    }

    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> {
        let mut c = Cursor::new(self.raw);
        std::iter::from_fn(move || {
            if !c.eat(b';') {
                return None;
            }
            let name = c.token();
            let value = if c.eat(b'=') {
                c.skip_lws();
                param_value(&mut c).ok()
            } else {
                None
            };
            Some((name, value))
        })
    }

    /// The value of a parameter (`Some(b"")` for a flag), quotes removed.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.map_or(&b""[..], strip_quotes))
    }
}

/// A generic-param value: a quoted string, or a run of any other
/// non-separator bytes. Real stacks put `[v6]`, `:`, `^` and even nothing
/// there (Pingtel's `tag=`), so this is deliberately lenient; the few
/// parameters that must not be empty (Via `branch`) are checked by name.
fn param_value<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], String> {
    if c.peek() == Some(b'"') {
        return c.quoted_string().map_err(str::to_string);
    }
    Ok(c.take_while(|b| !is_lws(b) && !matches!(b, b';' | b',' | b'"' | b'<' | b'>')))
}

/// Removes the surrounding quotes of a quoted string (escapes stay).
pub fn strip_quotes(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}

/// Removes quotes and resolves backslash escapes of a quoted string.
pub fn unquote(v: &[u8]) -> Cow<'_, [u8]> {
    let inner = strip_quotes(v);
    if !inner.contains(&b'\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&b) = it.next() {
        out.push(if b == b'\\' {
            *it.next().unwrap_or(&b)
        } else {
            b
        });
    }
    Cow::Owned(out)
}

/// `[display-name] <uri> ;params` or `uri ;params` (From, To, Contact,
/// Route, Record-Route, P-Asserted-Identity, Refer-To).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    pub display_name: Option<&'a [u8]>,
    pub uri: &'a [u8],
    /// Whether the URI was enclosed in `<>`; a rewritten header keeps the form.
    pub bracketed: bool,
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses the structure; the URI itself is checked by
    /// [`NameAddr::parse_checked`], which validation runs once per received
    /// message, so the views read afterwards do not check it again.
    pub fn parse(s: &'a [u8]) -> Result<NameAddr<'a>, String> {
        let s = trim_lws(s);
        let mut c = Cursor::new(s);
        let display_name;
        if c.peek() == Some(b'"') {
            display_name = Some(
                c.quoted_string()
                    .map_err(|e| format!("display name: {e}"))?,
            );
            c.skip_lws();
            if c.peek() != Some(b'<') {
                return Err("quoted display name not followed by '<'".into());
            }
        } else if let Some(lt) = memchr::memchr(b'<', s) {
            // RFC 4475 `lwsdisp`: tokens may touch the '<'.
            let name = trim_lws(&s[..lt]);
            if !name
                .split(|&b| is_lws(b))
                .all(|w| w.is_empty() || is_token(w))
            {
                return Err(format!(
                    "display name '{}' must be quoted (it holds non-token characters)",
                    show(name)
                ));
            }
            display_name = (!name.is_empty()).then_some(name);
            c = Cursor::new(&s[lt..]);
        } else {
            // addr-spec: the URI ends at the first ';', which starts the
            // header parameters (RFC 4475 `cparam01`).
            let end = memchr::memchr(b';', s).unwrap_or(s.len());
            let uri = trim_lws(&s[..end]);
            if uri.contains(&b'?') || uri.contains(&b',') {
                return Err(format!(
                    "URI '{}' contains '?' or ',' and must be enclosed in <>",
                    show(uri)
                ));
            }
            let mut c = Cursor::new(&s[end..]);
            let params = Params::lex(&mut c)?;
            return Ok(NameAddr {
                display_name: None,
                uri,
                bracketed: false,
                params,
            });
        }
        // At '<'.
        let rest = &c.rest()[1..];
        let gt = memchr::memchr(b'>', rest).ok_or("'<' without '>'")?;
        let uri = &rest[..gt];
        if uri.first().is_some_and(|&b| is_lws(b)) || uri.last().is_some_and(|&b| is_lws(b)) {
            return Err(format!("whitespace inside <{}>", show(uri)));
        }
        let mut c = Cursor::new(&rest[gt + 1..]);
        let params = Params::lex(&mut c)?;
        Ok(NameAddr {
            display_name,
            uri,
            bracketed: true,
            params,
        })
    }

    /// Parses and checks the URI too.
    pub fn parse_checked(s: &'a [u8]) -> Result<NameAddr<'a>, String> {
        let na = NameAddr::parse(s)?;
        Uri::parse(na.uri)?;
        Ok(na)
    }

    pub fn tag(&self) -> Option<&'a [u8]> {
        self.params.get("tag")
    }

    pub fn parsed_uri(&self) -> Uri<'a> {
        // Checked when the message was validated.
        Uri::parse(self.uri).unwrap_or(Uri::Other {
            scheme: b"",
            rest: self.uri,
        })
    }
}

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    pub protocol: &'a [u8],
    pub version: &'a [u8],
    pub transport: &'a [u8],
    pub host: &'a [u8],
    pub port: Option<u16>,
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    pub fn parse(s: &'a [u8]) -> Result<Via<'a>, String> {
        let mut c = Cursor::new(s);
        let protocol = c.token();
        if !c.eat(b'/') {
            return Err("expected 'SIP/2.0/<transport>'".into());
        }
        let version = c.token();
        if !c.eat(b'/') {
            return Err("expected 'SIP/2.0/<transport>'".into());
        }
        let transport = c.token();
        if protocol.is_empty() || version.is_empty() || transport.is_empty() {
            return Err("incomplete sent-protocol".into());
        }
        c.skip_lws();
        let sent_by_start = c.rest();
        let host_len = if c.peek() == Some(b'[') {
            memchr::memchr(b']', sent_by_start).ok_or("IPv6 reference without ']'")? + 1
        } else {
            sent_by_start
                .iter()
                .position(|&b| is_lws(b) || b == b';' || b == b':')
                .unwrap_or(sent_by_start.len())
        };
        let mut hc = Cursor::new(&sent_by_start[host_len..]);
        let sent_by_len = if hc.eat(b':') {
            hc.skip_lws();
            let port = hc.take_while(|b| b.is_ascii_digit());
            if port.is_empty() {
                return Err("port is missing after ':'".into());
            }
            sent_by_start.len() - hc.rest().len()
        } else {
            host_len
        };
        // `host : port` may hold LWS around the colon; only then is a
        // copy without it needed.
        let sent_by = &sent_by_start[..sent_by_len];
        let port = if sent_by.iter().any(|&b| is_lws(b)) {
            let joined: Vec<u8> = sent_by.iter().copied().filter(|&b| !is_lws(b)).collect();
            parse_hostport(&joined).map(|(_, port)| port)
        } else {
            parse_hostport(sent_by).map(|(_, port)| port)
        }
        .map_err(|e| format!("sent-by: {e}"))?;
        let host = &sent_by_start[..host_len];
        if host.is_empty() {
            return Err("sent-by host is missing".into());
        }
        let mut c = Cursor::new(&sent_by_start[sent_by_len..]);
        let params = Params::lex(&mut c)?;
        if params.get("branch") == Some(b"") {
            return Err("empty branch parameter".into());
        }
        Ok(Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        })
    }

    pub fn branch(&self) -> Option<&'a [u8]> {
        self.params.get("branch")
    }

    pub fn received(&self) -> Option<&'a [u8]> {
        self.params.get("received")
    }

    /// `Some(None)` for a bare `;rport` (RFC 3581 request to fill it in).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| parse_decimal(v, 65535).ok().map(|p| p as u16))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: &'a [u8],
}

impl<'a> CSeq<'a> {
    pub fn parse(s: &'a [u8]) -> Result<CSeq<'a>, String> {
        let mut c = Cursor::new(s);
        c.skip_lws();
        let num = c.take_while(|b| b.is_ascii_digit());
        let seq = parse_decimal(num, u64::from(u32::MAX))
            .map_err(|e| format!("sequence {}", e.describe(u64::from(u32::MAX))))?
            as u32;
        let method = c.token();
        c.skip_lws();
        if method.is_empty() || !c.at_end() {
            return Err("expected '<number> <method>'".into());
        }
        Ok(CSeq { seq, method })
    }
}

/// A digest (or other scheme) challenge or credentials:
/// `scheme name=value, name="value", ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthField<'a> {
    pub scheme: &'a [u8],
    /// Values still quoted when they were; use [`AuthField::param`].
    pub params: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> AuthField<'a> {
    /// Parses one header value, which may hold several challenges
    /// (`Digest realm=..., Digest realm=...`).
    pub fn parse_all(s: &'a [u8]) -> Result<Vec<AuthField<'a>>, String> {
        let mut fields: Vec<AuthField<'a>> = Vec::new();
        let mut c = Cursor::new(s);
        loop {
            c.skip_lws();
            if c.at_end() {
                break;
            }
            let word = c.token();
            if word.is_empty() {
                return Err(format!("unexpected '{}'", show(c.rest())));
            }
            let mut probe = c.clone();
            if probe.eat(b'=') {
                let field = fields.last_mut().ok_or("parameter before the scheme")?;
                probe.skip_lws();
                let value = auth_value(&mut probe)?;
                field.params.push((word, value));
                c = probe;
            } else {
                let mut field = AuthField {
                    scheme: word,
                    params: Vec::new(),
                };
                // Schemes like Basic carry one token68 blob, not parameters.
                let mut blob = c.clone();
                blob.skip_lws();
                let token68 = blob.take_while(|b| is_token_char(b) || b == b'/' || b == b'=');
                let mut after = blob.clone();
                let ends_element = after.eat(b',') || {
                    after.skip_lws();
                    after.at_end()
                };
                let inner_equals = token68
                    .iter()
                    .rposition(|&b| b != b'=')
                    .is_some_and(|last| token68[..last].contains(&b'='));
                if !token68.is_empty() && ends_element && !inner_equals {
                    field.params.push((b"", token68));
                    c = blob;
                    c.eat(b',');
                }
                fields.push(field);
                continue;
            }
            if !c.eat(b',') {
                c.skip_lws();
                if !c.at_end() {
                    return Err(format!("expected ',' before '{}'", show(c.rest())));
                }
            }
        }
        if fields.is_empty() {
            return Err("empty value".into());
        }
        Ok(fields)
    }

    pub fn param(&self, name: &str) -> Option<Cow<'a, [u8]>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| unquote(v))
    }
}

fn auth_value<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], String> {
    if c.peek() == Some(b'"') {
        return c.quoted_string().map_err(str::to_string);
    }
    let v = c.take_while(|b| !is_lws(b) && b != b',');
    if v.is_empty() {
        return Err("parameter value is missing after '='".into());
    }
    Ok(v)
}

/// `RAck: rseq cseq method` (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck<'a> {
    pub rseq: u32,
    pub cseq: u32,
    pub method: &'a [u8],
}

/// `Session-Expires` / `Min-SE`: delta-seconds with parameters (RFC 4028).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval<'a> {
    pub seconds: u32,
    pub params: Params<'a>,
}

impl<'a> Interval<'a> {
    fn parse(s: &'a [u8]) -> Result<Interval<'a>, String> {
        let mut c = Cursor::new(s);
        c.skip_lws();
        let num = c.take_while(|b| b.is_ascii_digit());
        let seconds = parse_decimal(num, u64::from(u32::MAX))
            .map_err(|e| e.describe(u64::from(u32::MAX)))? as u32;
        let params = Params::lex(&mut c)?;
        Ok(Interval { seconds, params })
    }

    /// `uac` or `uas` (Session-Expires only).
    pub fn refresher(&self) -> Option<&'a [u8]> {
        self.params.get("refresher")
    }
}

/// `Call-Info: <uri> ;purpose=...` (RFC 3261 §20.9), also carrying the
/// forwarding information of a `181`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo<'a> {
    pub uri: &'a [u8],
    pub params: Params<'a>,
}

impl<'a> CallInfo<'a> {
    fn parse(s: &'a [u8]) -> Result<CallInfo<'a>, String> {
        let mut c = Cursor::new(s);
        if !c.eat(b'<') {
            return Err("expected '<uri>'".into());
        }
        let rest = c.rest();
        let gt = memchr::memchr(b'>', rest).ok_or("'<' without '>'")?;
        let mut c = Cursor::new(&rest[gt + 1..]);
        let params = Params::lex(&mut c)?;
        Ok(CallInfo {
            uri: &rest[..gt],
            params,
        })
    }
}

fn header_error(name: HeaderName, reason: impl Into<Cow<'static, str>>) -> ParseError {
    ParseError::header(name.as_str().as_bytes(), reason)
}

/// Parses a single-valued header, naming it in the error.
fn single<'a, T>(
    msg: &'a SipMessage,
    name: HeaderName,
    parse: impl FnOnce(&'a [u8]) -> Result<T, String>,
) -> Option<Result<T, ParseError>> {
    msg.header(name)
        .map(|v| parse(v).map_err(|e| header_error(name, e)))
}

/// Parses every comma-separated element of every line of a list header.
fn list<'a, T: 'a>(
    msg: &'a SipMessage,
    name: HeaderName,
    parse: impl Fn(&'a [u8]) -> Result<T, String> + 'a,
) -> impl Iterator<Item = Result<T, ParseError>> + 'a {
    msg.header_values(name)
        .flat_map(split_list)
        .map(move |v| parse(v).map_err(|e| header_error(name, e)))
}

fn number(s: &[u8], max: u64) -> Result<u64, String> {
    parse_decimal(trim_lws(s), max).map_err(|e| e.describe(max))
}

fn token_list(s: &[u8]) -> Result<&[u8], String> {
    if is_token(s) {
        Ok(s)
    } else {
        Err(format!("'{}' is not a token", show(s)))
    }
}

/// The typed views. A missing header is `None`; a malformed one is an error
/// naming the header.
impl SipMessage {
    pub fn call_id(&self) -> Option<&[u8]> {
        self.header(HeaderName::CallId)
    }

    pub fn cseq(&self) -> Option<Result<CSeq<'_>, ParseError>> {
        single(self, HeaderName::CSeq, CSeq::parse)
    }

    pub fn from_header(&self) -> Option<Result<NameAddr<'_>, ParseError>> {
        single(self, HeaderName::From, NameAddr::parse)
    }

    pub fn to_header(&self) -> Option<Result<NameAddr<'_>, ParseError>> {
        single(self, HeaderName::To, NameAddr::parse)
    }

    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> {
        list(self, HeaderName::Via, Via::parse)
    }

    pub fn top_via(&self) -> Option<Result<Via<'_>, ParseError>> {
        self.vias().next()
    }

    /// Contact values; `*` (REGISTER removal of all bindings) is reported by
    /// [`SipMessage::contact_is_star`] and skipped here.
    pub fn contacts(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> {
        list(self, HeaderName::Contact, NameAddr::parse)
            .filter(|r| !matches!(r, Ok(na) if na.uri == b"*"))
    }

    pub fn contact_is_star(&self) -> bool {
        self.header_values(HeaderName::Contact)
            .any(|v| trim_lws(v) == b"*")
    }

    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> {
        list(self, HeaderName::Route, NameAddr::parse)
    }

    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> {
        list(self, HeaderName::RecordRoute, NameAddr::parse)
    }

    pub fn p_asserted_identities(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> {
        list(self, HeaderName::PAssertedIdentity, NameAddr::parse)
    }

    pub fn call_infos(&self) -> impl Iterator<Item = Result<CallInfo<'_>, ParseError>> {
        list(self, HeaderName::CallInfo, CallInfo::parse)
    }

    pub fn max_forwards(&self) -> Option<Result<u8, ParseError>> {
        single(self, HeaderName::MaxForwards, |v| {
            number(v, 255).map(|n| n as u8)
        })
    }

    pub fn content_length(&self) -> Option<Result<u32, ParseError>> {
        single(self, HeaderName::ContentLength, |v| {
            number(v, u64::from(u32::MAX)).map(|n| n as u32)
        })
    }

    /// The media type without parameters, e.g. `application/sdp`.
    pub fn content_type(&self) -> Option<Result<&[u8], ParseError>> {
        single(self, HeaderName::ContentType, |v| {
            let end = memchr::memchr(b';', v).unwrap_or(v.len());
            let media = trim_lws(&v[..end]);
            let mut parts = media.splitn(2, |&b| b == b'/');
            match (parts.next(), parts.next()) {
                (Some(t), Some(s)) if is_token(trim_lws(t)) && is_token(trim_lws(s)) => Ok(media),
                _ => Err(format!("'{}' is not a media type", show(media))),
            }
        })
    }

    pub fn expires(&self) -> Option<Result<u32, ParseError>> {
        single(self, HeaderName::Expires, |v| {
            number(v, u64::from(u32::MAX)).map(|n| n as u32)
        })
    }

    /// Option tags of Require, Proxy-Require, Supported or Unsupported.
    pub fn option_tags(&self, name: HeaderName) -> impl Iterator<Item = Result<&[u8], ParseError>> {
        list(self, name, token_list)
    }

    pub fn has_option_tag(&self, name: HeaderName, tag: &str) -> bool {
        self.option_tags(name)
            .any(|t| t.is_ok_and(|t| t.eq_ignore_ascii_case(tag.as_bytes())))
    }

    pub fn allow(&self) -> impl Iterator<Item = Result<&[u8], ParseError>> {
        list(self, HeaderName::Allow, token_list)
    }

    pub fn rseq(&self) -> Option<Result<u32, ParseError>> {
        // RFC 3262 §7.1: 1 to 2^31 - 1.
        single(self, HeaderName::RSeq, |v| {
            match number(v, (1 << 31) - 1)? {
                0 => Err("must be at least 1".into()),
                n => Ok(n as u32),
            }
        })
    }

    pub fn rack(&self) -> Option<Result<RAck<'_>, ParseError>> {
        single(self, HeaderName::RAck, |v| {
            let mut c = Cursor::new(v);
            c.skip_lws();
            let rseq = c.take_while(|b| b.is_ascii_digit());
            let rseq = parse_decimal(rseq, u64::from(u32::MAX))
                .map_err(|e| format!("response number {}", e.describe(u64::from(u32::MAX))))?;
            let cseq = CSeq::parse(c.rest())?;
            Ok(RAck {
                rseq: rseq as u32,
                cseq: cseq.seq,
                method: cseq.method,
            })
        })
    }

    pub fn session_expires(&self) -> Option<Result<Interval<'_>, ParseError>> {
        single(self, HeaderName::SessionExpires, Interval::parse)
    }

    pub fn min_se(&self) -> Option<Result<Interval<'_>, ParseError>> {
        single(self, HeaderName::MinSe, Interval::parse)
    }

    /// Challenges of WWW-Authenticate or Proxy-Authenticate, credentials of
    /// Authorization or Proxy-Authorization.
    pub fn auth_fields(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<AuthField<'_>, ParseError>> {
        self.header_values(name)
            .flat_map(move |v| match AuthField::parse_all(v) {
                Ok(fields) => fields.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(header_error(name, e))],
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let n =
            NameAddr::parse(br#""J Rosenberg \\\""  <sip:jdrosen@example.com> ; tag = 98asjd8"#)
                .unwrap();
        assert_eq!(n.display_name, Some(&br#""J Rosenberg \\\"""#[..]));
        assert_eq!(
            unquote(n.display_name.unwrap()).as_ref(),
            br#"J Rosenberg \""#
        );
        assert_eq!(n.uri, b"sip:jdrosen@example.com");
        assert_eq!(n.tag(), Some(&b"98asjd8"[..]));

        let n = NameAddr::parse(b"sip:user@example.com;unknownparam").unwrap();
        assert!(!n.bracketed);
        assert_eq!(n.params.get("unknownparam"), Some(&b""[..]));

        let n = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display_name, Some(&b"caller"[..]));
    }

    #[test]
    fn name_addr_rejections() {
        assert!(NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse(b"\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse(b"Bell, Alexander <sip:a.g.bell@example.com>").is_err());
        assert!(NameAddr::parse(b"sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse(b"\"Joe\" <sip:joe@example.org>;;;;").is_err());
    }

    #[test]
    fn via_with_lws_everywhere() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(
            (v.protocol, v.version, v.transport),
            (&b"SIP"[..], &b"2.0"[..], &b"UDP"[..])
        );
        assert_eq!(v.host, b"192.0.2.2");
        assert_eq!(v.branch(), Some(&b"390skdjuw"[..]));

        let v =
            Via::parse(b"SIP/2.0/UDP [2001:db8::9:1]:5070;received=2001:db8::9:255;rport").unwrap();
        assert_eq!(v.host, b"[2001:db8::9:1]");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.received(), Some(&b"2001:db8::9:255"[..]));
        assert_eq!(v.rport(), Some(None));
        assert!(Via::parse(b"SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse(b"SIP/2.0/UDP host;branch=").is_err());
    }

    #[test]
    fn auth_challenges() {
        let f = AuthField::parse_all(
            b"Digest realm=\"garage\",\r\n  nonce=\"MjAw==\", algorithm=MD5, qop=\"auth\"",
        )
        .unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].param("nonce").as_deref(), Some(&b"MjAw=="[..]));
        assert_eq!(f[0].param("ALGORITHM").as_deref(), Some(&b"MD5"[..]));

        let f = AuthField::parse_all(
            b"Digest realm=\"a\", nonce=\"1\", Digest realm=\"b\", nonce=\"2\"",
        )
        .unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].param("realm").as_deref(), Some(&b"b"[..]));

        let f = AuthField::parse_all(b"NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert_eq!(f[0].scheme, b"NoOneKnowsThisScheme");
        let f = AuthField::parse_all(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(
            f[0].params,
            vec![(&b""[..], &b"QWxhZGRpbjpvcGVuIHNlc2FtZQ=="[..])]
        );
    }

    #[test]
    fn cseq_and_intervals() {
        assert_eq!(
            CSeq::parse(b"0009\r\n  INVITE").unwrap(),
            CSeq {
                seq: 9,
                method: b"INVITE"
            }
        );
        assert!(CSeq::parse(b"36893488147419103232 REGISTER")
            .unwrap_err()
            .contains("larger"));
        assert!(CSeq::parse(b"101").is_err());
        let se = Interval::parse(b"1800;refresher=uac").unwrap();
        assert_eq!((se.seconds, se.refresher()), (1800, Some(&b"uac"[..])));
    }
}
