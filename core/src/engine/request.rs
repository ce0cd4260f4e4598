//! What the client's opening HTTP request said, kept for the session's whole life.
//!
//! Every connection keeps it, and it is rarely read after the connect handler, so its headers
//! sit in one buffer of `name:value` lines rather than in a `HeaderMap`: a browser's dozen
//! headers take about 2 KB as a map (a bucket per header and an allocation per value), and
//! only their own length here.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};

/// What the client's opening HTTP request said: the `environ` of other servers.
///
/// ```
/// use volley::engine::RequestInfo;
///
/// let request = http::Request::get("/socket.io/?EIO=4&transport=websocket&room=lobby")
///     .header("User-Agent", "example")
///     .header("Accept-Language", "en")
///     .header("Accept-Language", "fr")
///     .body(())
///     .unwrap();
/// let info = RequestInfo::from_request(&request);
/// assert_eq!(info.header("user-agent").unwrap(), "example");
/// assert_eq!(info.query("room").as_deref(), Some("lobby"));
/// assert_eq!(info.headers().get_all("accept-language").iter().count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `name:value\n` per header value, as the request's map lists them; names in lowercase.
    headers: Bytes,
    /// Request URI, with the query string.
    pub uri: Uri,
    /// The peer's address, when the server was started with connect info (`SocketAddr`, or
    /// [`PeerAddr`](crate::serve::PeerAddr) on Volley's listener).
    pub remote_addr: Option<SocketAddr>,
}

impl RequestInfo {
    /// Keeps what `request` said, copied out of it: the request's headers and URI share bytes with
    /// the connection's read buffer, and keeping them would keep the whole buffer (some 16 KB)
    /// alive for the life of the session.
    pub fn from_request<B>(request: &Request<B>) -> Self {
        let extensions = request.extensions();
        let remote_addr = extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .or_else(|| {
                let peer = extensions.get::<axum::extract::ConnectInfo<crate::serve::PeerAddr>>();
                peer.map(|c| c.0 .0)
            });
        RequestInfo::new(request.headers(), copy_uri(request.uri()), remote_addr)
    }

    /// From its parts.
    pub fn new(headers: &HeaderMap, uri: Uri, remote_addr: Option<SocketAddr>) -> Self {
        let len = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 2)
            .sum();
        let mut buf = BytesMut::with_capacity(len);
        for (name, value) in headers {
            buf.put_slice(name.as_str().as_bytes());
            buf.put_u8(b':');
            buf.put_slice(value.as_bytes());
            buf.put_u8(b'\n');
        }
        RequestInfo {
            headers: buf.freeze(),
            uri,
            remote_addr,
        }
    }

    /// Each header value with its name, as the request's map listed them (a repeated header's
    /// values follow each other).
    pub fn header_entries(&self) -> impl Iterator<Item = (&str, HeaderValue)> + '_ {
        self.headers.split(|&b| b == b'\n').filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            let name = std::str::from_utf8(name).ok()?;
            let value = self.headers.slice_ref(value.get(1..)?);
            // the bytes came from a header value: valid as one again
            Some((name, HeaderValue::from_maybe_shared(value).ok()?))
        })
    }

    /// The first value of one header; `name` in any case.
    pub fn header(&self, name: &str) -> Option<HeaderValue> {
        self.header_entries()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All the headers, as a map (built on each call).
    pub fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.header_entries() {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                map.append(name, value);
            }
        }
        map
    }

    /// The value of one query parameter, if present.
    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.uri.query()?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A copy of `uri` that owns its bytes. A request's path and query (all a client sends to a
/// server, unless through a proxy) is copied in one allocation.
fn copy_uri(uri: &Uri) -> Uri {
    if let (None, Some(path_and_query)) = (uri.scheme(), uri.path_and_query()) {
        let bytes = Bytes::copy_from_slice(path_and_query.as_str().as_bytes());
        if let Ok(copy) = Uri::from_maybe_shared(bytes) {
            return copy;
        }
    }
    uri.to_string().parse().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_header_in_order_with_repeats_and_odd_bytes() {
        let mut map = HeaderMap::new();
        map.append("host", HeaderValue::from_static("example.com:80"));
        map.append("cookie", HeaderValue::from_static("a=1; b=2"));
        map.append("x-a", HeaderValue::from_static("1"));
        map.append("x-a", HeaderValue::from_static("2"));
        map.append("x-empty", HeaderValue::from_static(""));
        map.append("x-latin", HeaderValue::from_bytes(b"caf\xe9\tbar").unwrap());
        let info = RequestInfo::new(&map, Uri::from_static("/?a=1&b=two"), None);
        assert_eq!(info.headers(), map);
        assert_eq!(info.header("HOST").unwrap(), "example.com:80");
        assert_eq!(info.header("x-a").unwrap(), "1");
        assert_eq!(info.header("x-empty").unwrap(), "");
        assert_eq!(info.header("x-latin").unwrap().as_bytes(), b"caf\xe9\tbar");
        assert!(info.header("missing").is_none());
        assert_eq!(info.query("b").as_deref(), Some("two"));
        let names: Vec<&str> = info.header_entries().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["host", "cookie", "x-a", "x-a", "x-empty", "x-latin"]
        );
    }

    #[test]
    fn the_uri_is_copied_whole() {
        for uri in [
            "/socket.io/?EIO=4&transport=polling&t=%C3%A9",
            "/",
            "http://example.com:8080/socket.io/?EIO=4",
        ] {
            let original: Uri = uri.parse().unwrap();
            let copy = copy_uri(&original);
            assert_eq!(copy, original);
            assert_eq!(copy.to_string(), uri);
        }
    }

    #[test]
    fn no_headers() {
        let info = RequestInfo::new(&HeaderMap::new(), Uri::default(), None);
        assert!(info.headers().is_empty());
        assert!(info.header("host").is_none());
    }
}
