//! gzip and deflate for long-polling responses, chosen by the request's `Accept-Encoding`.
//!
//! Only polling responses are compressed: a WebSocket message would need the `permessage-deflate`
//! extension, which Volley's WebSocket stack does not have (see
//! [`ServerBuilder::http_compression`](crate::ServerBuilder::http_compression)).

use std::io::Write;

use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http::{header, HeaderMap, HeaderValue};

/// Bodies up to this size are compressed on the task that answers the request; larger ones on
/// tokio's blocking pool. 16 KiB of chat JSON takes about 0.4 ms of CPU at level 6 on the
/// benchmarks' machine; a whole 1 MB payload about 30 ms, too long to hold a runtime worker.
const INLINE_MAX: usize = 16 * 1024;

/// How long-polling responses are compressed: the counterpart of the reference server's
/// `httpCompression` option, on by default there and here.
///
/// A response body of at least [`threshold`](Self::threshold) bytes is sent gzip- or
/// deflate-encoded when the request's `Accept-Encoding` accepts one of them (by its q-values: a
/// coding with `q=0` is refused, and `identity` preferred by a higher q-value wins); every such
/// response says `Vary: Accept-Encoding`. A smaller body, or one for a client that accepts
/// neither coding, goes as it is. The official clients decompress transparently (browsers, and
/// Node's `fetch`); clients whose HTTP stack does not decompress do not send `Accept-Encoding`.
///
/// What it costs: a polling response is bounded by the max payload (1 MB by default). At the
/// default level, a 2 KB body of chat JSON compresses to 44 % of its size in about 30 µs of
/// CPU, 100 KB to 26 % in about 2.6 ms, a whole 1 MB payload in about 30 ms (level 1: 60 %
/// and 39 %, in 16 µs, 0.3 ms and 4 ms; measured on the benchmarks' machine, an AMD EPYC
/// core). Bodies up to 16 KiB are compressed inline, on the task that answers the request;
/// larger ones on tokio's blocking pool, so that a large payload does not hold a runtime
/// worker for milliseconds. The codec is `flate2` on its `zlib-rs` backend (pure Rust).
///
/// ```
/// use volley::engine::HttpCompression;
/// use volley::Server;
///
/// // compress bodies from 4 KB, fast
/// let io = Server::builder()
///     .http_compression(Some(HttpCompression { threshold: 4096, level: 1 }))
///     .build();
/// // or never
/// let plain = Server::builder().http_compression(None).build();
/// # let _ = (io, plain);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCompression {
    /// Bodies smaller than this, in bytes, are never compressed (default 1024, as the
    /// reference server's).
    pub threshold: usize,
    /// The zlib compression level: 0 (stored, no compression) to 9 (smallest, slowest);
    /// larger values count as 9. Default 6, zlib's own default, which the reference server
    /// uses too.
    pub level: u32,
}

impl Default for HttpCompression {
    fn default() -> Self {
        HttpCompression {
            threshold: 1024,
            level: 6,
        }
    }
}

/// A content coding Volley can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950), as HTTP defines it.
    Deflate,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// What one request's responses may be compressed with: the server's settings, and the coding
/// its `Accept-Encoding` chose (`None`: it accepts neither).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Negotiated {
    config: HttpCompression,
    encoding: Option<Encoding>,
}

impl Negotiated {
    /// For a request with `headers`, on a server with `config` (`None`: compression is off).
    pub(crate) fn new(config: Option<HttpCompression>, headers: &HeaderMap) -> Option<Self> {
        let config = config?;
        Some(Negotiated {
            config,
            encoding: choose(headers),
        })
    }

    /// `body` as it is to be sent, and the headers it needs: `Content-Encoding` when it was
    /// compressed, `Vary: Accept-Encoding` whenever its size made it a candidate. A body larger
    /// than [`INLINE_MAX`] is compressed on the blocking pool; should that fail, it goes plain.
    pub(crate) async fn apply(self, body: Vec<u8>, headers: &mut HeaderMap) -> Bytes {
        if body.len() < self.config.threshold {
            return body.into();
        }
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        let Some(encoding) = self.encoding else {
            return body.into();
        };
        let level = self.config.level;
        let body = Bytes::from(body);
        let compressed = if body.len() <= INLINE_MAX {
            compress(encoding, level, &body)
        } else {
            let input = body.clone();
            let task = tokio::task::spawn_blocking(move || compress(encoding, level, &input));
            // an error: the runtime is shutting down
            task.await.ok().flatten()
        };
        match compressed {
            Some(compressed) => {
                headers.insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(encoding.name()),
                );
                compressed.into()
            }
            None => body,
        }
    }
}

/// `body` in `encoding` at `level`; `None` if the encoder failed (it writes to memory: it
/// does not).
fn compress(encoding: Encoding, level: u32, body: &[u8]) -> Option<Vec<u8>> {
    let level = Compression::new(level.min(9));
    // JSON chat traffic shrinks to a fifth or less; the vector grows past that if need be
    let out = Vec::with_capacity(body.len() / 4 + 32);
    match encoding {
        Encoding::Gzip => {
            let mut encoder = GzEncoder::new(out, level);
            encoder.write_all(body).ok()?;
            encoder.finish().ok()
        }
        Encoding::Deflate => {
            let mut encoder = ZlibEncoder::new(out, level);
            encoder.write_all(body).ok()?;
            encoder.finish().ok()
        }
    }
}

/// A q-value in thousandths (`q=0.5` is 500); `None` when it is not one.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    for (i, digit) in fraction.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    (thousandths <= 1000).then_some(thousandths)
}

/// The coding to answer `Accept-Encoding` with: gzip or deflate, whichever it gives the higher
/// q-value (on a tie, the one it lists first; gzip when both come from `*`). `None` when
/// neither is acceptable (absent, or `q=0`), when `identity` has a higher q-value, or when the
/// header is absent. An entry that cannot be read is skipped.
pub(crate) fn choose(headers: &HeaderMap) -> Option<Encoding> {
    // (q, position in the header) of each coding listed
    let (mut gzip, mut deflate) = (None, None);
    let (mut any, mut identity) = (None, None);
    let entries = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for (position, entry) in entries.enumerate() {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let mut q = Some(1000);
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(value.trim());
                }
            }
        }
        let Some(q) = q else { continue };
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding.eq_ignore_ascii_case("deflate") {
            &mut deflate
        } else if coding == "*" {
            &mut any
        } else if coding.eq_ignore_ascii_case("identity") {
            &mut identity
        } else {
            continue;
        };
        // the first mention of a coding stands
        slot.get_or_insert((q, position));
    }
    // a coding not listed gets the q-value of `*`, and ranks after those listed
    let rank = |listed: Option<(u16, usize)>| match (listed, any) {
        (Some((q, position)), _) => (q, position),
        (None, Some((q, _))) => (q, usize::MAX),
        (None, None) => (0, usize::MAX),
    };
    let (g, d) = (rank(gzip), rank(deflate));
    let (encoding, q) = if d.0 > g.0 || (d.0 == g.0 && d.1 < g.1) {
        (Encoding::Deflate, d.0)
    } else {
        (Encoding::Gzip, g.0)
    };
    let identity_q = identity.map_or(0, |(q, _)| q);
    (q > 0 && q >= identity_q).then_some(encoding)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Read;

    use super::*;

    fn accept(values: &[&str]) -> Option<Encoding> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::ACCEPT_ENCODING, v.parse().unwrap());
        }
        choose(&headers)
    }

    #[test]
    fn chooses_by_q_values() {
        assert_eq!(accept(&[]), None);
        assert_eq!(accept(&[""]), None);
        assert_eq!(accept(&["gzip"]), Some(Encoding::Gzip));
        assert_eq!(accept(&["GZip"]), Some(Encoding::Gzip));
        assert_eq!(accept(&["deflate"]), Some(Encoding::Deflate));
        assert_eq!(accept(&["br"]), None);
        assert_eq!(accept(&["gzip, deflate, br"]), Some(Encoding::Gzip));
        assert_eq!(accept(&["deflate, gzip"]), Some(Encoding::Deflate));
        assert_eq!(accept(&["gzip;q=0.5, deflate"]), Some(Encoding::Deflate));
        assert_eq!(
            accept(&["gzip;q=0.8", "deflate;q=0.9"]),
            Some(Encoding::Deflate)
        );
        assert_eq!(
            accept(&["gzip ; q=0 , deflate;Q=0.001"]),
            Some(Encoding::Deflate)
        );
        assert_eq!(accept(&["gzip;q=0"]), None);
        assert_eq!(accept(&["identity;q=1, gzip;q=0"]), None);
        assert_eq!(accept(&["identity, gzip;q=0.5"]), None);
        assert_eq!(accept(&["identity;q=0.5, gzip"]), Some(Encoding::Gzip));
        assert_eq!(accept(&["identity;q=0"]), None);
        assert_eq!(accept(&["*"]), Some(Encoding::Gzip));
        assert_eq!(accept(&["*;q=0"]), None);
        assert_eq!(accept(&["*, gzip;q=0"]), Some(Encoding::Deflate));
        assert_eq!(accept(&["br, *;q=0.1"]), Some(Encoding::Gzip));
        // unreadable q-values: the entry is skipped
        assert_eq!(accept(&["gzip;q=2"]), None);
        assert_eq!(accept(&["gzip;q=abc, deflate"]), Some(Encoding::Deflate));
        assert_eq!(accept(&["gzip;q=0.0001"]), None);
        // the first mention stands
        assert_eq!(accept(&["gzip;q=0, gzip"]), None);
    }

    #[test]
    fn parses_q_values() {
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.001"), None);
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0.123"), Some(123));
        assert_eq!(parse_q("0."), Some(0));
        assert_eq!(parse_q(".5"), None);
        assert_eq!(parse_q("0.-1"), None);
        assert_eq!(parse_q(""), None);
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn negotiated(accept: &str, threshold: usize) -> Negotiated {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        let config = HttpCompression {
            threshold,
            ..HttpCompression::default()
        };
        Negotiated::new(Some(config), &headers).unwrap()
    }

    #[tokio::test]
    async fn compresses_from_the_threshold_on() {
        let body = "42[\"chat\",\"hello\"]\u{1e}".repeat(60).into_bytes();
        let mut headers = HeaderMap::new();
        let out = negotiated("gzip", body.len() + 1)
            .apply(body.clone(), &mut headers)
            .await;
        assert_eq!(out, body);
        assert!(headers.is_empty());

        let out = negotiated("gzip", body.len())
            .apply(body.clone(), &mut headers)
            .await;
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(headers[header::VARY], "Accept-Encoding");
        assert!(out.len() < body.len() / 4);
        assert_eq!(gunzip(&out), body);

        let mut headers = HeaderMap::new();
        let out = negotiated("deflate", 0)
            .apply(body.clone(), &mut headers)
            .await;
        assert_eq!(headers[header::CONTENT_ENCODING], "deflate");
        let mut decoded = Vec::new();
        flate2::read::ZlibDecoder::new(&out[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, body);

        // a client that accepts neither: plain, but the response still varies
        let mut headers = HeaderMap::new();
        let out = negotiated("br", 0).apply(body.clone(), &mut headers).await;
        assert_eq!(out, body);
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(headers[header::VARY], "Accept-Encoding");
    }

    #[tokio::test]
    async fn compresses_a_large_body_off_the_runtime() {
        let body: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{},", i % 977).into_bytes())
            .collect();
        assert!(body.len() > INLINE_MAX);
        let mut headers = HeaderMap::new();
        let out = negotiated("gzip", 0)
            .apply(body.clone(), &mut headers)
            .await;
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gunzip(&out), body);
    }

    #[test]
    fn off_is_off() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
        assert!(Negotiated::new(None, &headers).is_none());
    }
}
