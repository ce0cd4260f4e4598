//! Forwarding a request for a session another node holds, so that a load balancer needs no
//! sticky sessions: the request goes, as it came, to the address the session's node advertises
//! (see [`EngineHandler::session_owner`]), and its answer comes back the same way. The upgrade
//! of a polling session to WebSocket is forwarded too: once the owner switches protocols, this
//! node copies bytes both ways until either side closes.
//!
//! Over HTTP between nodes rather than over the cluster's bus: a forwarded poll then costs one
//! request on a kept-alive connection to the owner (no broker hop each way, nothing on the bus
//! that every node reads), a body streams through as it arrives, and a WebSocket simply
//! continues on the owner's socket. The bench (`volley-bench forward`) measures what it adds.
//!
//! The owner sees the request as the client sent it, with a `volley-forwarded` header that
//! stops it from forwarding further (a stale address can never make a loop). A client may send
//! that header itself: it only gets what it would without forwarding, an unknown session.
//!
//! Limits: a forward holds one connection to the owner for as long as the client's request
//! lasts, so forwarded requests are bounded by the connections this node accepts (see
//! [`Listener`](crate::serve::Listener)); kept-alive connections to each node are capped at
//! [`IDLE_PER_NODE`]; connecting to the owner times out after [`CONNECT_TIMEOUT`], and its answer
//! must begin within a ping interval and timeout (a long-poll is held at most one interval).
//!
//! [`EngineHandler::session_owner`]: super::EngineHandler::session_owner

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::RequestError;

/// The header a forwarded request carries: its receiver never forwards it again.
pub const FORWARDED: HeaderName = HeaderName::from_static("volley-forwarded");

/// How long connecting to the owner may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Idle kept-alive connections kept to each other node, at most.
pub const IDLE_PER_NODE: usize = 64;

/// How long an idle kept-alive connection to another node is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that concern one connection, not the request: never passed on (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The client that forwards, made on first use (a node that never forwards never makes it).
#[derive(Default)]
pub(crate) struct Forwarder {
    client: OnceLock<Client<HttpConnector, Body>>,
}

impl Forwarder {
    fn client(&self) -> &Client<HttpConnector, Body> {
        self.client.get_or_init(|| {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(IDLE_TIMEOUT)
                .pool_max_idle_per_host(IDLE_PER_NODE)
                .build(connector)
        })
    }

    /// Sends `req` to `address` and answers with what comes back; `wait` bounds the wait for
    /// the answer's head.
    pub(crate) async fn forward(
        &self,
        mut req: Request<Body>,
        address: &str,
        wait: Duration,
    ) -> Response {
        let upgrade = is_websocket_upgrade(req.headers());
        let client_side = upgrade
            .then(|| req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>())
            .flatten();
        let (mut parts, body) = req.into_parts();
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) = format!("http://{address}{target}").parse::<Uri>() else {
            tracing::warn!(target: "volley::engine", address, "advertised address is not usable");
            return unreachable();
        };
        parts.uri = uri;
        strip_hop_by_hop(&mut parts.headers);
        if upgrade {
            ask_websocket(&mut parts.headers);
        }
        parts
            .headers
            .insert(FORWARDED, HeaderValue::from_static("1"));
        let sent = self.client().request(Request::from_parts(parts, body));
        let mut res = match tokio::time::timeout(wait, sent).await {
            Ok(Ok(res)) => res,
            Ok(Err(e)) => {
                tracing::debug!(target: "volley::engine", address, error = %e, "forward failed");
                return unreachable();
            }
            Err(_) => {
                tracing::debug!(target: "volley::engine", address, "forward timed out");
                return unreachable();
            }
        };
        crate::metrics::request_forwarded(true);
        if res.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_side) = client_side else {
                // the owner switched protocols for a request that did not ask to
                return unreachable();
            };
            let owner_side = hyper::upgrade::on(&mut res);
            tokio::spawn(async move {
                let (Ok(client), Ok(owner)) = tokio::join!(client_side, owner_side) else {
                    return;
                };
                let (mut client, mut owner) = (TokioIo::new(client), TokioIo::new(owner));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut owner).await;
            });
            let (mut parts, _) = res.into_parts();
            strip_answer(&mut parts.headers);
            ask_websocket(&mut parts.headers);
            return Response::from_parts(parts, Body::empty());
        }
        let (mut parts, body) = res.into_parts();
        strip_answer(&mut parts.headers);
        Response::from_parts(parts, Body::new(body))
    }
}

/// The answer when the owner cannot be reached: its session is out of reach, which a client
/// handles as it does an unknown one (it reconnects).
fn unreachable() -> Response {
    crate::metrics::request_forwarded(false);
    let mut res = RequestError::UnknownSid.into_response();
    *res.status_mut() = StatusCode::BAD_GATEWAY;
    res
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// The two headers of a WebSocket upgrade, on a request or its `101` answer (hop-by-hop: they
/// were stripped with the others).
fn ask_websocket(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // and whatever the Connection header names as such
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// An answer's headers, less what this node's own layers add again (CORS, `Vary`), which
/// would otherwise appear twice.
fn strip_answer(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::VARY,
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-mine"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-mine", HeaderValue::from_static("1"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::COOKIE));
    }

    #[test]
    fn a_websocket_upgrade_is_recognised_in_any_case_and_list() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(!is_websocket_upgrade(&headers));
        headers.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(is_websocket_upgrade(&headers));
        headers.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!is_websocket_upgrade(&headers));
    }
}
