//! Lexical building blocks of RFC 3261 §25: tokens, LWS, quoted strings and
//! list splitting. Everything works on byte slices borrowed from a message so
//! that typed views never copy.

/// RFC 3261 `token` characters, as a table: the parsers ask this of
/// nearly every byte of every header they read.
const TOKEN_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    table
};

/// RFC 3261 `token` characters.
pub fn is_token_char(b: u8) -> bool {
    TOKEN_CHARS[usize::from(b)]
}

/// Whitespace inside a header value. CR and LF only occur there as part of a
/// folded line (the framing already split lines), so they count as LWS.
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

/// Parses a decimal number made only of digits (leading zeros allowed, as
/// RFC 4475 `wsinv` has them), refusing anything above `max`.
pub fn parse_decimal(s: &[u8], max: u64) -> Result<u64, NumberError> {
    if s.is_empty() {
        return Err(NumberError::Empty);
    }
    let mut value: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(NumberError::NotADigit);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .filter(|&v| v <= max)
            .ok_or(NumberError::TooLarge)?;
    }
    Ok(value)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    Empty,
    NotADigit,
    TooLarge,
}

impl NumberError {
    pub fn describe(self, max: u64) -> String {
        match self {
            NumberError::Empty => "number is missing".into(),
            NumberError::NotADigit => "not a decimal number".into(),
            NumberError::TooLarge => format!("number is larger than {max}"),
        }
    }
}

/// A read position over a header value.
#[derive(Clone)]
pub struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Cursor { s, pos: 0 }
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.s[self.pos..]
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub fn skip_lws(&mut self) {
        while self.peek().is_some_and(is_lws) {
            self.pos += 1;
        }
    }

    /// Consumes `b` (after optional LWS) if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Takes bytes while `f` holds.
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|&b| !f(b)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    pub fn token(&mut self) -> &'a [u8] {
        self.skip_lws();
        self.take_while(is_token_char)
    }

    /// A quoted string including its quotes, with backslash escapes honoured.
    pub fn quoted_string(&mut self) -> Result<&'a [u8], &'static str> {
        self.skip_lws();
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err("expected a quoted string");
        }
        let mut i = self.pos + 1;
        while i < self.s.len() {
            match self.s[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&self.s[start..self.pos]);
                }
                _ => i += 1,
            }
        }
        Err("unterminated quoted string")
    }
}

/// Splits a header value into its comma-separated elements, ignoring commas
/// inside quoted strings and `<...>`. Empty elements (`a,,b`) are skipped, as
/// lenient stacks send them; each element is returned trimmed of LWS.
pub fn split_list(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(s);
    std::iter::from_fn(move || loop {
        let s = rest?;
        let end = find_unquoted(s, b',');
        let (elem, next) = match end {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        rest = next;
        let elem = trim_lws(elem);
        if !elem.is_empty() {
            return Some(elem);
        }
    })
}

/// Finds `target` outside quoted strings and angle brackets.
pub fn find_unquoted(s: &[u8], target: u8) -> Option<usize> {
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if in_quotes {
            match b {
                b'\\' => i += 1,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else if b == target && !in_angle {
            return Some(i);
        } else {
            match b {
                b'"' => in_quotes = true,
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Case-insensitive ASCII comparison, the rule for SIP tokens and names.
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_range_is_enforced() {
        assert_eq!(parse_decimal(b"0068", 255), Ok(68));
        assert_eq!(parse_decimal(b"300", 255), Err(NumberError::TooLarge));
        assert_eq!(parse_decimal(b"-1", 255), Err(NumberError::NotADigit));
        assert_eq!(
            parse_decimal(b"36893488147419103232", u64::from(u32::MAX)),
            Err(NumberError::TooLarge)
        );
    }

    #[test]
    fn list_split_respects_quotes_and_brackets() {
        let parts: Vec<_> = split_list(b"\"a, b\" <sip:x;p=1,2>, <sip:y> ,, z").collect();
        assert_eq!(
            parts,
            vec![&b"\"a, b\" <sip:x;p=1,2>"[..], b"<sip:y>", b"z"]
        );
    }

    #[test]
    fn quoted_string_with_escapes() {
        let mut c = Cursor::new(br#" "J Rosenberg \\\""  <sip:x>"#);
        assert_eq!(c.quoted_string().unwrap(), br#""J Rosenberg \\\"""#);
        let mut c = Cursor::new(b"\"open");
        assert!(c.quoted_string().is_err());
    }
}
