//! SHA-256 digests and the one lower-case hex encoder every digest, HMAC tag and random id
//! is printed with (ring's SHA-256, already used for the audit HMAC).

use ring::digest::{Context, SHA256};

/// Lower-case hex; used per request (the token HMAC), so without a `format!` per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&SHA256, bytes).as_ref());
    out
}

/// SHA-256 over several parts fed in order, as hex (which files a configuration came from).
#[derive(Clone)]
pub struct Sha256Hex(Context);

impl std::fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256Hex")
    }
}

impl Default for Sha256Hex {
    fn default() -> Self {
        Sha256Hex(Context::new(&SHA256))
    }
}

impl Sha256Hex {
    pub fn update(&mut self, part: &[u8]) {
        self.0.update(part);
    }

    pub fn finish(self) -> String {
        hex(self.0.finish().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_the_known_vectors() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut parts = Sha256Hex::default();
        parts.update(b"a");
        parts.update(b"bc");
        assert_eq!(parts.finish(), hex(&sha256(b"abc")));
        assert_eq!(hex(&[0x00, 0x0f, 0xa0]), "000fa0");
    }
}
