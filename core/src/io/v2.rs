//! Socket.IO protocol v4, spoken by `socket.io-client` 2.x over Engine.IO v3 (accepted with
//! [`crate::ServerBuilder::allow_eio3`]). Its packets are those of v5 except:
//!
//! - the client is connected to `/` as soon as its session opens, without asking;
//! - a CONNECT carries no auth: the namespace name carries a query string instead
//!   (`0/admin?token=x,`), and the acknowledgement carries no socket id (`40/admin,`);
//! - a refusal is an ERROR packet (type 4, CONNECT_ERROR's number) carrying the refusal's data,
//!   or its message, which the client emits as `error`.
//!
//! Only connects and refusals differ on the wire; events, acks, binary attachments and
//! disconnects are written alike, so a broadcast's frame serves clients of either version.

use volley_protocol::{EncodeError, Value};

use super::namespace::NamespaceInner;
use crate::engine::{EngineSocket, Frame};
use crate::{Client, ConnectError, Parser, Socket};

type Session = std::sync::Arc<EngineSocket<Client>>;

/// The namespace a v2 client's CONNECT names, and its query as the auth the connect handler
/// gets: a map of the query's parameters (strings), or `None` without a query.
pub(crate) fn namespace_and_auth(ns: String) -> (String, Option<Value>) {
    match ns.split_once('?') {
        Some((name, query)) => (name.to_owned(), Some(query_map(query.as_bytes()))),
        None => (ns, None),
    }
}

/// The auth of the implicit connect to `/`: the handshake request's query (what a v2 client
/// sets as `query` in its options), less Engine.IO's own parameters.
pub(crate) fn handshake_auth(session: &Session) -> Option<Value> {
    let query = session.request().uri.query()?;
    let map = query_map(query.as_bytes());
    match &map {
        Value::Map(entries) if entries.is_empty() => None,
        _ => Some(map),
    }
}

/// Query parameters as a map of strings; Engine.IO's own (`EIO`, `transport`, `sid`, `t`,
/// `b64`) are left out.
fn query_map(query: &[u8]) -> Value {
    let entries = form_urlencoded::parse(query)
        .filter(|(k, _)| !matches!(&**k, "EIO" | "transport" | "sid" | "t" | "b64"))
        .map(|(k, v)| (Value::from(k.into_owned()), Value::from(v.into_owned())))
        .collect();
    Value::Map(entries)
}

/// A new socket of a v2 client. Its id in `/` is the Engine.IO session id, which is what the
/// client takes as its `socket.id`; elsewhere a new id (the client believes it is
/// `<namespace>#<session id>`, which is not an id this server can hold). Connection state
/// recovery does not apply: such a client never asks for it.
pub(crate) fn socket(
    nsp: &std::sync::Arc<NamespaceInner>,
    session: &Session,
    auth: Option<Value>,
) -> Socket {
    let id = if nsp.name == "/" {
        session.sid()
    } else {
        crate::Sid::new()
    };
    Socket::with_ids(nsp.clone(), session.clone(), auth, id, None, false)
}

/// The CONNECT acknowledgement: `40` for `/`, `40/admin,` for another namespace.
pub(crate) fn connect_ack(ns: &str) -> Frame {
    if ns == "/" {
        return Frame::Text(axum::extract::ws::Utf8Bytes::from_static("40"));
    }
    let mut text = String::with_capacity(ns.len() + 3);
    text.push_str("40");
    text.push_str(ns);
    text.push(',');
    Frame::Text(text.into())
}

/// A refusal of a connect, as the session's client expects it: for a v2 client an ERROR packet
/// with the refusal's data (a map or a string) or else its message; for others a CONNECT_ERROR
/// with both.
pub(crate) fn connect_error(
    parser: Parser,
    session: &EngineSocket<Client>,
    ns: &str,
    refusal: &ConnectError,
) -> Result<Frame, EncodeError> {
    if !session.eio3() {
        return parser.connect_error(ns, &refusal.to_value());
    }
    match refusal.data() {
        Some(data @ (Value::Map(_) | Value::String(_))) => parser.connect_error(ns, data),
        _ => parser.connect_error(ns, &Value::from(refusal.message())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_query_of_a_namespace_is_its_auth() {
        let (ns, auth) = namespace_and_auth("/admin?token=a%26b&x=1".to_owned());
        assert_eq!(ns, "/admin");
        let auth = auth.unwrap();
        let token = auth
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == Some("token"));
        assert_eq!(token.unwrap().1.as_str(), Some("a&b"));
        assert_eq!(
            namespace_and_auth("/admin".to_owned()),
            ("/admin".to_owned(), None)
        );
    }

    #[test]
    fn engine_parameters_are_not_auth() {
        let map = query_map(b"EIO=3&transport=polling&t=N1&b64=1&token=x");
        assert_eq!(
            map,
            Value::Map(vec![(Value::from("token"), Value::from("x"))])
        );
    }

    #[test]
    fn acknowledgements_carry_no_id() {
        let text = |f: Frame| match f {
            Frame::Text(t) => t.as_str().to_owned(),
            _ => unreachable!(),
        };
        assert_eq!(text(connect_ack("/")), "40");
        assert_eq!(text(connect_ack("/admin")), "40/admin,");
    }
}
