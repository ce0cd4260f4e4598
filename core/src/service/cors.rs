//! Which browser origins may talk to the server. Same-origin only by default.

use http::{header, HeaderValue, Request};

use crate::engine::RequestError;

/// The origins allowed to connect from a browser.
///
/// ```
/// use volley::CorsOrigins;
/// let any: CorsOrigins = "*".into();
/// let one: CorsOrigins = "https://example.com".into();
/// let some: CorsOrigins = ["https://a.example", "https://b.example"].into();
/// assert_eq!(any, CorsOrigins::Any);
/// # let _ = (one, some);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorsOrigins {
    /// Only the server's own origin (scheme and host of the request).
    #[default]
    SameOrigin,
    /// Any origin.
    Any,
    /// These origins.
    List(Vec<String>),
}

impl From<&str> for CorsOrigins {
    fn from(origin: &str) -> Self {
        if origin == "*" {
            CorsOrigins::Any
        } else {
            CorsOrigins::List(vec![origin.to_owned()])
        }
    }
}

impl From<String> for CorsOrigins {
    fn from(origin: String) -> Self {
        origin.as_str().into()
    }
}

impl From<Vec<String>> for CorsOrigins {
    fn from(origins: Vec<String>) -> Self {
        if origins.iter().any(|o| o == "*") {
            CorsOrigins::Any
        } else {
            CorsOrigins::List(origins)
        }
    }
}

impl<const N: usize> From<[&str; N]> for CorsOrigins {
    fn from(origins: [&str; N]) -> Self {
        origins
            .iter()
            .map(|o| (*o).to_owned())
            .collect::<Vec<_>>()
            .into()
    }
}

/// The CORS policy of one server.
#[derive(Debug)]
pub(crate) struct Cors {
    origins: CorsOrigins,
}

impl Cors {
    pub(crate) fn new(origins: CorsOrigins) -> Self {
        Cors { origins }
    }

    /// Checks the request's `Origin`; `Ok(Some(origin))` when CORS headers must be added.
    pub(crate) fn check<B>(&self, req: &Request<B>) -> Result<Option<HeaderValue>, RequestError> {
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return Ok(None);
        };
        let text = origin.to_str().map_err(|_| RequestError::ForbiddenOrigin)?;
        let allowed = match &self.origins {
            CorsOrigins::Any => true,
            CorsOrigins::List(list) => list.iter().any(|o| o == text),
            CorsOrigins::SameOrigin => same_origin(req, text),
        };
        if allowed {
            Ok(Some(origin.clone()))
        } else {
            tracing::debug!(target: "volley::engine", origin = text, "origin refused");
            Err(RequestError::ForbiddenOrigin)
        }
    }
}

/// Whether `origin` is the scheme and host the request was sent to.
fn same_origin<B>(req: &Request<B>, origin: &str) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let scheme = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().scheme_str())
        .unwrap_or("http");
    origin
        .strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: Option<&str>) -> Request<()> {
        let mut b = Request::builder()
            .uri("/socket.io/?EIO=4")
            .header("host", "localhost:3000");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn same_origin_is_the_default() {
        let cors = Cors::new(CorsOrigins::default());
        assert_eq!(cors.check(&req(None)), Ok(None));
        assert!(cors.check(&req(Some("http://localhost:3000"))).is_ok());
        assert_eq!(
            cors.check(&req(Some("http://evil.example"))),
            Err(RequestError::ForbiddenOrigin)
        );
        assert_eq!(
            cors.check(&req(Some("https://localhost:3000"))),
            Err(RequestError::ForbiddenOrigin)
        );
    }

    #[test]
    fn lists_and_any() {
        let cors = Cors::new(["http://a.example"].into());
        assert!(cors.check(&req(Some("http://a.example"))).is_ok());
        assert!(cors.check(&req(Some("http://b.example"))).is_err());
        let cors = Cors::new("*".into());
        assert!(cors.check(&req(Some("http://b.example"))).is_ok());
    }
}
