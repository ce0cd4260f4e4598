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

    /// The length of a node's tag at the end of the session ids it makes when other nodes may
    /// forward it their requests (see [`Sid::tagged`]).
    pub const TAG_LEN: usize = 6;

    /// Whether `tag` can be a session id's tag: [`Sid::TAG_LEN`] base64url characters.
    pub fn is_tag(tag: &str) -> bool {
        tag.len() == Self::TAG_LEN && tag.bytes().all(is_base64url)
    }

    /// A new random id that ends with `tag`, which names the node that made it, so that a node
    /// that gets a request for a session it does not hold knows where to forward it. The 14
    /// other characters are random (84 bits). `None` when `tag` is not one ([`Sid::is_tag`]).
    ///
    /// ```
    /// use volley::engine::Sid;
    ///
    /// let sid = Sid::tagged("a1b2c3").unwrap();
    /// assert_eq!(sid.tag(), "a1b2c3");
    /// assert!(sid.as_str().ends_with("a1b2c3"));
    /// assert!(Sid::tagged("no tag").is_none());
    /// ```
    pub fn tagged(tag: &str) -> Option<Self> {
        if !Self::is_tag(tag) {
            return None;
        }
        let mut sid = Sid::new();
        sid.0[20 - Self::TAG_LEN..].copy_from_slice(tag.as_bytes());
        Some(sid)
    }

    /// The last [`Sid::TAG_LEN`] characters: the tag of the node that made the id, when it was
    /// made with [`Sid::tagged`] (otherwise random characters that name no node).
    pub fn tag(&self) -> &str {
        &self.as_str()[20 - Self::TAG_LEN..]
    }

    /// Parses an id received from a client; `None` unless it has the right form.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 20 || !bytes.iter().all(|b| is_base64url(*b)) {
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

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
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
    fn tagged_ids_keep_their_tag_and_differ() {
        let a = Sid::tagged("0f9e8d").expect("a tag");
        let b = Sid::tagged("0f9e8d").expect("a tag");
        assert_ne!(a, b);
        assert_eq!(Sid::parse(a.as_str()), Some(a));
        assert_eq!(a.tag(), "0f9e8d");
        for bad in ["", "abcde", "abcdefg", "abc/ef", "abc de"] {
            assert!(Sid::tagged(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn parse_rejects_wrong_forms() {
        assert_eq!(Sid::parse(""), None);
        assert_eq!(Sid::parse("short"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa/"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaaaa"), None);
    }
}
