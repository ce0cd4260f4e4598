//! Sockets as the Admin UI shows them: `{id, clientId, transport, nsp, data, handshake, rooms}`.

use std::time::SystemTime;

use http::HeaderMap;
use volley_protocol::Value;

use super::time;
use crate::{Socket, SocketInfo};

/// A JSON-like object with its keys in the given order.
pub(crate) fn object(fields: Vec<(&str, Value)>) -> Value {
    Value::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn strings(list: impl IntoIterator<Item = String>) -> Value {
    Value::Array(list.into_iter().map(Value::from).collect())
}

/// Header names (lower case) and values; repeated headers are joined with `, ` as Node does.
fn headers(map: &HeaderMap) -> Value {
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(map.keys_len());
    for name in map.keys() {
        let values: Vec<String> = map
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.push((Value::from(name.as_str()), Value::from(values.join(", "))));
    }
    Value::Map(out)
}

/// The parameters of a query string; the last of repeated ones wins.
fn query(q: Option<&str>) -> Value {
    let mut out: Vec<(Value, Value)> = Vec::new();
    for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        let key = Value::from(k.as_ref());
        match out.iter_mut().find(|(existing, _)| *existing == key) {
            Some(entry) => entry.1 = Value::from(v.as_ref()),
            None => out.push((key, Value::from(v.as_ref()))),
        }
    }
    Value::Map(out)
}

/// The client's address: what a proxy in front says first (`cf-connecting-ip`,
/// `x-forwarded-for`), else the peer's address when the server knows it.
fn address(map: &HeaderMap, peer: Option<std::net::SocketAddr>) -> Value {
    let forwarded = ["cf-connecting-ip", "x-forwarded-for"]
        .iter()
        .find_map(|h| map.get(*h).and_then(|v| v.to_str().ok()));
    match (forwarded, peer) {
        (Some(addr), _) => Value::from(addr),
        (None, Some(peer)) => Value::from(peer.ip().to_string()),
        (None, None) => Value::Nil,
    }
}

/// A socket of this node, complete. `issued` is when it joined its namespace.
pub(crate) fn local_socket(socket: &Socket, issued: SystemTime) -> Value {
    let request = socket.request();
    let request_headers = request.headers();
    let url = request
        .uri
        .path_and_query()
        .map_or_else(|| request.uri.to_string(), |pq| pq.as_str().to_owned());
    let handshake = object(vec![
        ("address", address(&request_headers, request.remote_addr)),
        ("headers", headers(&request_headers)),
        ("query", query(request.uri.query())),
        ("issued", Value::from(time::millis(issued))),
        (
            "secure",
            Value::from(request.uri.scheme_str() == Some("https")),
        ),
        ("time", Value::from(time::js_string(issued))),
        ("url", Value::from(url)),
        (
            "xdomain",
            Value::from(request_headers.contains_key(http::header::ORIGIN)),
        ),
    ]);
    object(vec![
        ("id", Value::from(socket.id().as_str())),
        ("clientId", Value::from(client_id(socket))),
        ("transport", Value::from(socket.transport().as_str())),
        ("nsp", Value::from(socket.ns())),
        ("data", object(Vec::new())),
        ("handshake", handshake),
        ("rooms", strings(socket.rooms())),
    ])
}

/// The Engine.IO session id, shortened as the reference does (all of a client's sockets share
/// it, and the UI groups them by it).
fn client_id(socket: &Socket) -> String {
    let sid = socket.0.engine.sid();
    sid.as_str().chars().take(12).collect()
}

/// A socket of another node, from what the cluster's `fetch_sockets` carries: its id, rooms,
/// URL and address. Its headers, transport and connection are not known here: the headers are
/// empty, the transport is `"unknown"` and its id stands for its client id.
pub(crate) fn remote_socket(info: &SocketInfo) -> Value {
    let query_string = info.url.split_once('?').map(|(_, q)| q);
    let handshake = object(vec![
        (
            "address",
            info.address.clone().map_or(Value::Nil, Value::from),
        ),
        ("headers", object(Vec::new())),
        ("query", query(query_string)),
        ("issued", Value::Nil),
        ("secure", Value::from(false)),
        ("time", Value::Nil),
        ("url", Value::from(info.url.as_str())),
        ("xdomain", Value::from(false)),
    ]);
    object(vec![
        ("id", Value::from(info.id.as_str())),
        (
            "clientId",
            Value::from(info.id.chars().take(12).collect::<String>()),
        ),
        ("transport", Value::from("unknown")),
        ("nsp", Value::from(info.nsp.as_str())),
        ("data", object(Vec::new())),
        ("handshake", handshake),
        ("rooms", strings(info.rooms.iter().cloned())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_order_and_last_value() {
        let q = query(Some("foo=bar&EIO=4&foo=baz&t=x%20y"));
        let expected = Value::Map(vec![
            (Value::from("foo"), Value::from("baz")),
            (Value::from("EIO"), Value::from("4")),
            (Value::from("t"), Value::from("x y")),
        ]);
        assert_eq!(q, expected);
    }

    #[test]
    fn headers_join_repeated_values() {
        let mut map = HeaderMap::new();
        map.append("accept", "*/*".parse().expect("value"));
        map.append("x-a", "1".parse().expect("value"));
        map.append("x-a", "2".parse().expect("value"));
        let expected = Value::Map(vec![
            (Value::from("accept"), Value::from("*/*")),
            (Value::from("x-a"), Value::from("1, 2")),
        ]);
        assert_eq!(headers(&map), expected);
        map.insert("x-forwarded-for", "10.0.0.7".parse().expect("value"));
        assert_eq!(address(&map, None), Value::from("10.0.0.7"));
        assert_eq!(address(&HeaderMap::new(), None), Value::Nil);
    }

    #[test]
    fn remote_sockets_use_what_the_cluster_knows() {
        let info = SocketInfo {
            id: "IldXscjtwpF-8UtRAAAC".into(),
            nsp: "/".into(),
            rooms: vec!["IldXscjtwpF-8UtRAAAC".into(), "room1".into()],
            url: "/socket.io/?foo=bar&EIO=4".into(),
            address: Some("127.0.0.1".into()),
            ..SocketInfo::default()
        };
        let v = remote_socket(&info);
        let Value::Map(fields) = &v else {
            panic!("not an object: {v}");
        };
        let keys: Vec<_> = fields.iter().filter_map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "id",
                "clientId",
                "transport",
                "nsp",
                "data",
                "handshake",
                "rooms"
            ]
        );
    }
}
