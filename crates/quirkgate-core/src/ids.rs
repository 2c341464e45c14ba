//! Tags, branches, Call-IDs and nonces. They must be unique and hard to
//! guess (a guessable tag lets a stranger forge a BYE), yet a replay or a
//! test must be able to reproduce them: so they come from a hash of a secret
//! seed the shell provides and a counter, never from the OS directly.

use sha2::{Digest, Sha256};

pub struct IdGenerator {
    seed: [u8; 32],
    counter: u64,
}

impl IdGenerator {
    pub fn new(seed: [u8; 32]) -> Self {
        IdGenerator { seed, counter: 0 }
    }

    /// 128 bits of output as 32 lowercase hex digits.
    pub fn next_hex(&mut self) -> String {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(self.counter.to_be_bytes());
        hex(&h.finalize()[..16])
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.next_hex())
    }

    /// A From/To tag.
    pub fn tag(&mut self) -> String {
        self.next_hex()[..16].to_string()
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
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
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
