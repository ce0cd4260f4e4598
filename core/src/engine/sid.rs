//! Session ids: 20 characters of base64url, like the reference server's.

use std::fmt;

use base64::Engine as _;

/// A session or socket id: 15 random bytes written as 20 base64url characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

impl Sid {
    /// Stands for a socket whose id is not known: an ack from a client of a Node node, whose
    /// cluster protocol does not say which socket answered. Twenty `0`s, which [`Sid::new`]
    /// can make only with a chance of one in 2^120.
    pub const UNNAMED: Sid = Sid([b'0'; 20]);

    /// A new random id.
    pub fn new() -> Self {
        let raw: [u8; 15] = rand::random();
        let mut out = [0u8; 20];
        // 15 bytes always encode to exactly 20 characters without padding.
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .unwrap_or(0);
        debug_assert_eq!(written, 20);
        Sid(out)
    }

    /// Parses an id received from a client; `None` unless it has the right form.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 20
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return None;
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(bytes);
        Some(Sid(out))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from base64url characters, which are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for Sid {
    fn default() -> Self {
        Sid::new()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl From<Sid> for String {
    fn from(sid: Sid) -> String {
        sid.as_str().to_owned()
    }
}

impl PartialEq<str> for Sid {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_20_base64url_chars_and_parse_back() {
        for _ in 0..100 {
            let sid = Sid::new();
            assert_eq!(sid.as_str().len(), 20);
            assert_eq!(Sid::parse(sid.as_str()), Some(sid));
        }
        assert_ne!(Sid::new(), Sid::new());
    }

    #[test]
    fn parse_rejects_wrong_forms() {
        assert_eq!(Sid::parse(""), None);
        assert_eq!(Sid::parse("short"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa/"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaaaa"), None);
    }
}
