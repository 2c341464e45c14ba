//! Tags, branches, Call-IDs and nonces. They must be unique and hard to
//! guess (a guessable tag lets a stranger forge a BYE), yet a replay or a
//! test must be able to reproduce them: so they come from a hash of a secret
//! seed the shell provides and a counter, never from the OS directly.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;
use sha2::{Digest, Sha256};

pub struct IdGenerator {
    seed: [u8; 32],
    /// A ChaCha keystream keyed from the seed: as unguessable as a keyed
    /// hash per id, at a fraction of the cost (ids are made on every
    /// request the gateway sends).
    stream: ChaCha12Rng,
}

impl IdGenerator {
    pub fn new(seed: [u8; 32]) -> Self {
        // Its own key, so that the stream never reveals what nonces are
        // keyed with.
        let key: [u8; 32] = Sha256::new()
            .chain_update(b"quirkgate ids")
            .chain_update(seed)
            .finalize()
            .into();
        IdGenerator {
            seed,
            stream: ChaCha12Rng::from_seed(key),
        }
    }

    /// N random bytes, appended to `out` as lowercase hex.
    fn push_random<const N: usize>(&mut self, out: &mut String) {
        let mut bytes = [0u8; N];
        self.stream.fill_bytes(&mut bytes);
        push_hex(out, &bytes);
    }

    /// 128 bits as 32 lowercase hex digits.
    pub fn next_hex(&mut self) -> String {
        let mut s = String::with_capacity(32);
        self.push_random::<16>(&mut s);
        s
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        let mut s = String::with_capacity(39);
        s.push_str("z9hG4bK");
        self.push_random::<16>(&mut s);
        s
    }

    /// A From/To tag (64 bits).
    pub fn tag(&mut self) -> String {
        let mut s = String::with_capacity(16);
        self.push_random::<8>(&mut s);
        s
    }

    pub fn call_id(&mut self) -> String {
        self.next_hex()
    }

    /// Keyed hash of `data` with the seed, for values the gateway must be
    /// able to recognise later without storing them (digest nonces).
    pub fn keyed(&self, data: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(data);
        hex(&h.finalize()[..16])
    }
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_reproducible() {
        let mut a = IdGenerator::new([7; 32]);
        let mut b = IdGenerator::new([7; 32]);
        let first = a.branch();
        assert!(first.starts_with("z9hG4bK") && first.len() == 39);
        assert_eq!(first, b.branch());
        assert_ne!(a.tag(), a.tag());
        assert_ne!(
            IdGenerator::new([8; 32]).call_id(),
            IdGenerator::new([7; 32]).call_id()
        );
    }
}
