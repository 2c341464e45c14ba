//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 8760): MD5 and
//! SHA-256, `qop=auth`, nonces that expire (`stale=true`) and a nonce-count
//! check against replayed credentials.
//!
//! Nonces carry their own mint time and a keyed hash of it, so verifying one
//! needs no table; only the highest nonce count seen per nonce is kept, and
//! entries die with their nonce.

use std::collections::HashMap;
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::ids::{hex, IdGenerator};
use crate::msg::headers::AuthField;
use crate::time::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Algorithm> {
        if name.eq_ignore_ascii_case(b"MD5") {
            Some(Algorithm::Md5)
        } else if name.eq_ignore_ascii_case(b"SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    fn hash(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex(&d.finalize())
        }
        match self {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
        }
    }
}

/// The inputs of a digest response.
pub struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub username: &'a [u8],
    pub realm: &'a [u8],
    pub password: &'a [u8],
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub nonce: &'a [u8],
    /// `Some((nc, cnonce))` with `qop=auth`; `None` for the RFC 2069 form.
    pub qop_auth: Option<(&'a [u8], &'a [u8])>,
}

/// The `response` value (RFC 2617 §3.2.2.1 with the RFC 8760 hashes).
pub fn digest_response(i: &DigestInput<'_>) -> String {
    let ha1 = i.algorithm.hash(&[i.username, i.realm, i.password]);
    let ha2 = i.algorithm.hash(&[i.method, i.uri]);
    match i.qop_auth {
        Some((nc, cnonce)) => {
            i.algorithm
                .hash(&[ha1.as_bytes(), i.nonce, nc, cnonce, b"auth", ha2.as_bytes()])
        }
        None => i.algorithm.hash(&[ha1.as_bytes(), i.nonce, ha2.as_bytes()]),
    }
}

/// The outcome of checking credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as this user.
    Ok(String),
    /// Right password, expired nonce: challenge again with `stale=true`.
    Stale,
    /// Wrong, replayed or malformed credentials; the reason is for the log.
    Refused(String),
}

/// The registrar's and proxy's side: challenges and verification.
pub struct DigestServer {
    realm: String,
    /// Offered in this order of preference, one challenge each.
    algorithms: Vec<Algorithm>,
    nonce_lifetime: Duration,
    /// Highest nonce count accepted per nonce.
    counts: HashMap<String, u32>,
}

/// How many nonce counts are tracked before expired ones are swept.
const SWEEP_AT: usize = 4096;

impl DigestServer {
    /// Only MD5 by default: deployed phones fail on a SHA-256 challenge
    /// even when an MD5 one follows (baresip 1.0 answers "Function not
    /// implemented", sipsak 0.9.8 gives up after the first). SHA-256 is
    /// offered when configured; RFC 8760 orders challenges by preference.
    pub const DEFAULT_ALGORITHMS: [Algorithm; 1] = [Algorithm::Md5];

    pub fn new(
        realm: impl Into<String>,
        algorithms: &[Algorithm],
        nonce_lifetime: Duration,
    ) -> Self {
        DigestServer {
            realm: realm.into(),
            algorithms: algorithms.to_vec(),
            nonce_lifetime,
            counts: HashMap::new(),
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// `<mint time>.<unique>.<keyed hash of both>`: unique per challenge,
    /// so two clients never share a nonce count.
    fn nonce(&self, ids: &mut IdGenerator, now: Time) -> String {
        let body = format!("{:x}.{}", now.as_micros(), &ids.next_hex()[..8]);
        format!("{body}.{}", ids.keyed(body.as_bytes()))
    }

    /// When a nonce we minted was minted, or `None` if we did not mint it.
    fn nonce_time(&self, ids: &IdGenerator, nonce: &[u8]) -> Option<Time> {
        let text = std::str::from_utf8(nonce).ok()?;
        let (body, mac) = text.rsplit_once('.')?;
        if ids.keyed(body.as_bytes()) != mac {
            return None;
        }
        let (minted, _) = body.split_once('.')?;
        u64::from_str_radix(minted, 16).ok().map(Time::from_micros)
    }

    /// Challenge header values, in the configured order of preference.
    pub fn challenges(&self, ids: &mut IdGenerator, now: Time, stale: bool) -> Vec<String> {
        let nonce = self.nonce(ids, now);
        self.algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    a.name(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks `credentials` for a request of `method` to `request_uri`;
    /// `password` looks a user up.
    pub fn verify<'p>(
        &mut self,
        ids: &IdGenerator,
        now: Time,
        method: &[u8],
        request_uri: &[u8],
        credentials: &AuthField<'_>,
        password: impl Fn(&str) -> Option<&'p str>,
    ) -> Verdict {
        let refuse = |why: &str| Verdict::Refused(why.to_string());
        if !credentials.scheme.eq_ignore_ascii_case(b"Digest") {
            return refuse("not a Digest scheme");
        }
        let field = |name: &str| credentials.param(name);
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            field("username"),
            field("realm"),
            field("nonce"),
            field("uri"),
            field("response"),
        ) else {
            return refuse("incomplete credentials");
        };
        if realm.as_ref() != self.realm.as_bytes() {
            return refuse("wrong realm");
        }
        let algorithm = match field("algorithm") {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::from_name(&a) {
                Some(a) => a,
                None => return refuse("unsupported algorithm"),
            },
        };
        // Only an algorithm we offered: no downgrade to MD5 when only
        // SHA-256 is configured.
        if !self.algorithms.contains(&algorithm) {
            return refuse("algorithm not offered");
        }
        // The credentials must be for this request (RFC 2617 §3.2.2.5),
        // or an on-path attacker could reuse them for another number.
        if !uri.eq_ignore_ascii_case(request_uri) {
            return refuse("uri does not match the Request-URI");
        }
        let Ok(user) = std::str::from_utf8(&username) else {
            return refuse("user name is not UTF-8");
        };
        let Some(secret) = password(user) else {
            return refuse("unknown user");
        };
        let Some(minted) = self.nonce_time(ids, &nonce) else {
            return refuse("nonce was not issued here");
        };
        let qop = field("qop");
        let nc_cnonce = match qop.as_deref() {
            Some(b"auth") => match (field("nc"), field("cnonce")) {
                (Some(nc), Some(cnonce)) => Some((nc, cnonce)),
                _ => return refuse("qop=auth without nc or cnonce"),
            },
            Some(_) => return refuse("unsupported qop"),
            // We always offer qop=auth; without it there is no nonce count,
            // and the response could be replayed for the nonce's lifetime.
            None => return refuse("qop=auth is required"),
        };
        let expected = digest_response(&DigestInput {
            algorithm,
            username: &username,
            realm: &realm,
            password: secret.as_bytes(),
            method,
            uri: &uri,
            nonce: &nonce,
            qop_auth: nc_cnonce.as_ref().map(|(nc, c)| (nc.as_ref(), c.as_ref())),
        });
        if !expected.as_bytes().eq_ignore_ascii_case(&response) {
            return refuse("wrong password");
        }
        if now.since(minted) > self.nonce_lifetime {
            return Verdict::Stale;
        }
        if let Some((nc, _)) = &nc_cnonce {
            let Some(count) = std::str::from_utf8(nc)
                .ok()
                .and_then(|n| u32::from_str_radix(n, 16).ok())
            else {
                return refuse("nc is not hexadecimal");
            };
            let key = String::from_utf8_lossy(&nonce).into_owned();
            let last = self.counts.get(&key).copied().unwrap_or(0);
            if count <= last {
                return refuse("nonce count replayed");
            }
            self.counts.insert(key, count);
            self.sweep(ids, now);
        }
        Verdict::Ok(user.to_string())
    }

    fn sweep(&mut self, ids: &IdGenerator, now: Time) {
        if self.counts.len() < SWEEP_AT {
            return;
        }
        let lifetime = self.nonce_lifetime;
        let expired = |nonce: &str| {
            DigestServer::nonce_time(self, ids, nonce.as_bytes())
                .is_none_or(|t| now.since(t) > lifetime)
        };
        let dead: Vec<String> = self.counts.keys().filter(|n| expired(n)).cloned().collect();
        for n in dead {
            self.counts.remove(&n);
        }
    }
}

/// The client's side: the Authorization value answering `challenge`.
pub fn authorization(
    challenge: &AuthField<'_>,
    method: &[u8],
    uri: &[u8],
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Option<String> {
    let realm = challenge.param("realm")?;
    let nonce = challenge.param("nonce")?;
    let algorithm = match challenge.param("algorithm") {
        None => Algorithm::Md5,
        Some(a) => Algorithm::from_name(&a)?,
    };
    let offers_auth = challenge.param("qop").is_some_and(|q| {
        q.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"auth"))
    });
    let nc_text = format!("{nc:08x}");
    let response = digest_response(&DigestInput {
        algorithm,
        username: username.as_bytes(),
        realm: &realm,
        password: password.as_bytes(),
        method,
        uri,
        nonce: &nonce,
        qop_auth: offers_auth.then_some((nc_text.as_bytes(), cnonce.as_bytes())),
    });
    let mut value = format!(
        "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        String::from_utf8_lossy(&realm),
        String::from_utf8_lossy(&nonce),
        String::from_utf8_lossy(uri),
        algorithm.name()
    );
    if offers_auth {
        value.push_str(&format!(", qop=auth, nc={nc_text}, cnonce=\"{cnonce}\""));
    }
    if let Some(opaque) = challenge.param("opaque") {
        value.push_str(&format!(
            ", opaque=\"{}\"",
            String::from_utf8_lossy(&opaque)
        ));
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_md5_example() {
        // RFC 2617 §3.5: Mufasa / Circle Of Life.
        let r = digest_response(&DigestInput {
            algorithm: Algorithm::Md5,
            username: b"Mufasa",
            realm: b"testrealm@host.com",
            password: b"Circle Of Life",
            method: b"GET",
            uri: b"/dir/index.html",
            nonce: b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: Some((b"00000001", b"0a4f113b")),
        });
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_example() {
        // RFC 7616 §3.9.1 (the SHA-256 response; RFC 8760 uses the same).
        let r = digest_response(&DigestInput {
            algorithm: Algorithm::Sha256,
            username: b"Mufasa",
            realm: b"http-auth@example.org",
            password: b"Circle of Life",
            method: b"GET",
            uri: b"/dir/index.html",
            nonce: b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some((b"00000001", b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        });
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    fn field(s: &str) -> AuthField<'_> {
        AuthField::parse_all(s.as_bytes()).unwrap().remove(0)
    }

    fn login(
        server: &mut DigestServer,
        ids: &IdGenerator,
        now: Time,
        challenge: &str,
        nc: u32,
        password: &str,
    ) -> Verdict {
        let ch = field(challenge);
        let creds = authorization(
            &ch,
            b"REGISTER",
            b"sip:127.0.0.1",
            "100",
            password,
            "c0ffee",
            nc,
        )
        .unwrap();
        server.verify(
            ids,
            now,
            b"REGISTER",
            b"sip:127.0.0.1",
            &field(&creds),
            |u| (u == "100").then_some("secret"),
        )
    }

    #[test]
    fn both_algorithms_round_trip_and_replays_are_refused() {
        let mut ids = IdGenerator::new([1; 32]);
        let mut server = DigestServer::new(
            "quirkgate",
            &[Algorithm::Sha256, Algorithm::Md5],
            Duration::from_secs(300),
        );
        let t0 = Time::from_micros(1_000_000);
        let challenges = server.challenges(&mut ids, t0, false);
        assert!(challenges[0].contains("algorithm=SHA-256"));
        assert!(challenges[1].contains("algorithm=MD5"));
        // Both challenges carry one nonce, so its count keeps rising across them.
        for (nc, ch) in [
            (1, &challenges[0]),
            (2, &challenges[0]),
            (3, &challenges[1]),
        ] {
            assert_eq!(
                login(&mut server, &ids, t0, ch, nc, "secret"),
                Verdict::Ok("100".into())
            );
        }
        let replay = login(&mut server, &ids, t0, &challenges[1], 3, "secret");
        assert_eq!(replay, Verdict::Refused("nonce count replayed".into()));
        let wrong = login(&mut server, &ids, t0, &challenges[0], 9, "guess");
        assert_eq!(wrong, Verdict::Refused("wrong password".into()));
    }

    #[test]
    fn old_nonce_is_stale_and_foreign_nonce_refused() {
        let mut ids = IdGenerator::new([1; 32]);
        let mut server = DigestServer::new(
            "quirkgate",
            &DigestServer::DEFAULT_ALGORITHMS,
            Duration::from_secs(300),
        );
        let t0 = Time::from_micros(0);
        let ch = server.challenges(&mut ids, t0, false).remove(0);
        let later = t0 + Duration::from_secs(301);
        assert_eq!(
            login(&mut server, &ids, later, &ch, 1, "secret"),
            Verdict::Stale
        );
        let forged = ch.replace("nonce=\"0.", "nonce=\"1.");
        assert_eq!(
            login(&mut server, &ids, t0, &forged, 1, "secret"),
            Verdict::Refused("nonce was not issued here".into())
        );
    }
}
