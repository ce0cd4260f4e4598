//! How bus channels become NATS subjects, and back.
//!
//! A channel is any string (`volley#`, `volley#<uid>#`, `socket.io#/#room#`…); a NATS subject is
//! dot-separated tokens of a restricted alphabet, where `*` and `>` are wildcards. The channel is
//! split at each `#` and each piece becomes one token, after the root token (the cluster's
//! subject root, `volley` by default): `socket.io#/#room#` is `volley.socket~2Eio./.room.~`.
//! In a token, ASCII letters, digits and `-_/:@=+,` stand for themselves, every other byte is
//! `~` and two upper-case hex digits, and an empty piece is `~` alone. So every channel has one
//! subject, and every subject of the root decodes to one channel (or is skipped as not ours).
//!
//! Splitting at `#` lets the server do most of the filtering: a prefix that ends at a `#` (as
//! every prefix Volley subscribes to does) is a wildcard subscription `root.tokens.>`; one that
//! ends inside a piece subscribes to the pieces before it and is checked by the bus.

use volley_cluster::Subscription;

/// Bytes that stand for themselves in a token.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b':' | b'@' | b'=' | b'+' | b',')
}

/// One piece of a channel as a subject token.
fn encode_piece(piece: &str, out: &mut String) {
    if piece.is_empty() {
        out.push('~');
        return;
    }
    for &b in piece.as_bytes() {
        if plain(b) {
            out.push(char::from(b));
        } else {
            out.push('~');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The subject of `channel` under `root`.
pub(crate) fn subject(root: &str, channel: &str) -> String {
    let mut out = String::with_capacity(root.len() + channel.len() + 8);
    out.push_str(root);
    for piece in channel.split('#') {
        out.push('.');
        encode_piece(piece, &mut out);
    }
    out
}

/// The channel of a subject under `root`, or `None` when it is not one this bus writes.
pub(crate) fn channel(root: &str, subject: &str) -> Option<String> {
    let rest = subject.strip_prefix(root)?.strip_prefix('.')?;
    let mut bytes = Vec::with_capacity(rest.len());
    for (i, token) in rest.split('.').enumerate() {
        if i > 0 {
            bytes.push(b'#');
        }
        decode_piece(token, &mut bytes)?;
    }
    String::from_utf8(bytes).ok()
}

fn decode_piece(token: &str, out: &mut Vec<u8>) -> Option<()> {
    if token == "~" {
        return Some(());
    }
    if token.is_empty() {
        return None;
    }
    let mut bytes = token.bytes();
    while let Some(b) = bytes.next() {
        if b == b'~' {
            let hi = hex_value(bytes.next()?)?;
            let lo = hex_value(bytes.next()?)?;
            let byte = hi << 4 | lo;
            // only what `encode_piece` escapes: one spelling per channel
            if plain(byte) {
                return None;
            }
            out.push(byte);
        } else if plain(b) {
            out.push(b);
        } else {
            return None;
        }
    }
    Some(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One NATS subscription: an exact subject, or every subject below some tokens (`tokens.>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    /// This subject.
    Exact(String),
    /// Every subject with more tokens than these, starting with them (`…​.>`).
    Below(String),
}

impl Filter {
    /// The subject to subscribe to.
    pub(crate) fn subject(&self) -> String {
        match self {
            Filter::Exact(s) => s.clone(),
            Filter::Below(s) => format!("{s}.>"),
        }
    }

    /// Whether every subject this filter matches is matched by `other` too.
    fn covered_by(&self, other: &Filter) -> bool {
        let Filter::Below(wide) = other else {
            return self == other;
        };
        let inner = match self {
            Filter::Exact(s) => s,
            Filter::Below(s) if s == wide => return true,
            Filter::Below(s) => s,
        };
        inner
            .strip_prefix(wide.as_str())
            .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// The fewest NATS subscriptions that receive every message `subscriptions` want, none of them
/// overlapping (so that a message arrives once), under `root`. Some may receive more than is
/// wanted (a prefix that ends inside a piece): check each message with
/// [`Subscription::matches`].
pub(crate) fn filters(root: &str, subscriptions: &[Subscription]) -> Vec<Filter> {
    let mut all: Vec<Filter> = subscriptions
        .iter()
        .map(|s| match s {
            Subscription::Channel(c) => Filter::Exact(subject(root, c)),
            Subscription::Prefix(p) => {
                // the pieces a matching channel surely has: all but the last, which a longer
                // piece may continue
                let mut pieces: Vec<&str> = p.split('#').collect();
                pieces.pop();
                let mut tokens = root.to_owned();
                for piece in pieces {
                    tokens.push('.');
                    encode_piece(piece, &mut tokens);
                }
                Filter::Below(tokens)
            }
        })
        .collect();
    // widest first, so that what they cover goes
    all.sort_by_key(|f| match f {
        Filter::Below(s) => (0, s.len()),
        Filter::Exact(s) => (1, s.len()),
    });
    let mut kept: Vec<Filter> = Vec::new();
    for filter in all {
        if !kept.iter().any(|k| filter.covered_by(k)) {
            kept.push(filter);
        }
    }
    kept
}

/// Whether `token` can be the subject root (and the stream's name): one token of letters,
/// digits, `-` and `_`.
pub(crate) fn valid_root(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip() {
        for name in [
            "volley#",
            "volley#0123456789abcdef#",
            "socket.io#/#room#",
            "socket.io-request#/chat#",
            "",
            "#",
            "##",
            "a b.c*d>e~f$g",
            "é#ü",
            "a#b",
        ] {
            let s = subject("volley", name);
            assert!(
                !s.contains(' ') && !s.contains('*') && !s.contains('>'),
                "{s}"
            );
            assert!(s.split('.').all(|t| !t.is_empty()), "{s}");
            assert_eq!(channel("volley", &s), Some(name.to_owned()), "{s}");
        }
        assert_eq!(
            subject("volley", "socket.io#/#room#"),
            "volley.socket~2Eio./.room.~"
        );
    }

    #[test]
    fn foreign_subjects_are_refused() {
        for s in [
            "other.volley",
            "volley",
            "volley.",
            "volley.a..b",
            "volley.~2",
            "volley.~zz",
            "volley.~41", // 'A' is written as itself
            "volley.a b",
            "volley.~FF", // not UTF-8
            "volleyx.a",
        ] {
            assert_eq!(channel("volley", s), None, "{s}");
        }
    }

    #[test]
    fn any_subject_decodes_to_nothing_or_to_the_channel_that_writes_it() {
        // a small deterministic generator over the characters that matter
        let alphabet = b"volley.~#*>$ 0A9aF/-_\xc3\xa9";
        let mut state: u32 = 1;
        for _ in 0..20_000 {
            let mut bytes = b"volley.".to_vec();
            for _ in 0..(state % 12) {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                bytes.push(alphabet[(state >> 16) as usize % alphabet.len()]);
            }
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let Ok(s) = std::str::from_utf8(&bytes) else {
                continue;
            };
            if let Some(c) = channel("volley", s) {
                assert_eq!(subject("volley", &c), s, "{c:?}");
            }
        }
    }

    #[test]
    fn prefixes_become_wildcards_without_overlap() {
        let f = filters(
            "r",
            &[
                Subscription::Channel("volley#".into()),
                Subscription::Channel("volley#abc#".into()),
                Subscription::Prefix("socket.io#".into()),
                Subscription::Prefix("socket.io#/#room".into()),
                Subscription::Channel("socket.io#/#x#".into()),
                Subscription::Prefix("socket.io-request#".into()),
                Subscription::Channel("volley#".into()),
            ],
        );
        assert_eq!(
            f.iter().map(Filter::subject).collect::<Vec<_>>(),
            vec![
                "r.socket~2Eio.>",
                "r.socket~2Eio-request.>",
                "r.volley.~",
                "r.volley.abc.~",
            ]
        );
        let all = filters("r", &[Subscription::Prefix("".into())]);
        assert_eq!(all, vec![Filter::Below("r".into())]);
        let partial = filters("r", &[Subscription::Prefix("vol".into())]);
        assert_eq!(partial, vec![Filter::Below("r".into())]);
        // `r.a.>` does not cover `r.ab.x`
        let two = filters(
            "r",
            &[
                Subscription::Prefix("a#".into()),
                Subscription::Channel("ab#x".into()),
            ],
        );
        assert_eq!(two.len(), 2);
    }

    #[test]
    fn roots_are_single_tokens() {
        assert!(valid_root("volley"));
        assert!(valid_root("my-app_2"));
        for bad in ["", "a.b", "a*", ">", "a b", "é"] {
            assert!(!valid_root(bad), "{bad}");
        }
    }
}
