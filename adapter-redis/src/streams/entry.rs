//! The entries of the stream, as `XREAD` and `XREVRANGE` return them. Replies come from a
//! server any program can write to: nothing here panics on what it finds, and an entry that is
//! not Volley's is returned without channel or data.

use bytes::Bytes;
use fred::prelude::Value;

/// The field holding the bus channel of an entry.
pub const CHANNEL_FIELD: &str = "channel";
/// The field holding the payload of an entry (a Volley cluster message or batch).
pub const DATA_FIELD: &str = "data";

/// One entry read from the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) channel: Option<String>,
    pub(crate) data: Option<Bytes>,
    /// The fields of Node's entries besides `data`.
    pub(crate) node: NodeFields,
}

/// The fields Node's streams adapter writes besides `data`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeFields {
    pub(crate) uid: Option<String>,
    pub(crate) nsp: Option<String>,
    pub(crate) kind: Option<String>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_string()),
        Value::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_owned),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<Bytes> {
    match value {
        Value::Bytes(b) => Some(b.clone()),
        Value::String(s) => Some(s.clone().into_inner()),
        _ => None,
    }
}

/// An `[id, [field, value, …]]` pair.
fn entry(value: &Value) -> Option<Entry> {
    let Value::Array(parts) = value else {
        return None;
    };
    let [id, fields] = parts.as_slice() else {
        return None;
    };
    let id = text(id)?;
    parse_id(&id)?;
    let mut out = Entry {
        id,
        channel: None,
        data: None,
        node: NodeFields::default(),
    };
    if let Value::Array(fields) = fields {
        for pair in fields.chunks(2) {
            let [name, value] = pair else { break };
            match text(name).as_deref() {
                Some(CHANNEL_FIELD) => out.channel = text(value),
                Some(DATA_FIELD) => out.data = bytes(value),
                Some("uid") => out.node.uid = text(value),
                Some("nsp") => out.node.nsp = text(value),
                Some("type") => out.node.kind = text(value),
                _ => {}
            }
        }
    }
    Some(out)
}

/// The entries of an `XREAD` reply on one stream (none when it timed out).
pub(crate) fn parse_read(reply: &Value) -> Result<Vec<Entry>, &'static str> {
    let entries = match reply {
        Value::Null => return Ok(Vec::new()),
        // RESP2: [[key, entries]]
        Value::Array(streams) => match streams.first() {
            None => return Ok(Vec::new()),
            Some(Value::Array(pair)) => match pair.as_slice() {
                [_key, entries] => entries,
                _ => return Err("a stream without its entries"),
            },
            Some(_) => return Err("a stream that is not a [key, entries] pair"),
        },
        // RESP3: {key: entries}
        Value::Map(map) => match map.values().next() {
            None => return Ok(Vec::new()),
            Some(entries) => entries,
        },
        _ => return Err("neither an array nor a map"),
    };
    match entries {
        Value::Array(list) => list
            .iter()
            .map(|e| entry(e).ok_or("an entry that is not [id, fields]"))
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err("entries that are not an array"),
    }
}

/// The entries of an `XRANGE` reply.
pub(crate) fn parse_range(reply: &Value) -> Option<Vec<Entry>> {
    match reply {
        Value::Array(list) => list.iter().map(entry).collect(),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}

/// The id of the entry of an `XREVRANGE … COUNT 1` reply.
pub(crate) fn last_id(reply: &Value) -> Option<String> {
    match reply {
        Value::Array(list) => list.first().and_then(entry).map(|e| e.id),
        _ => None,
    }
}

/// `ms-seq` as numbers.
pub(crate) fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Whether the id `id` comes after `last` in the stream.
pub(crate) fn after(id: &str, last: &str) -> bool {
    match (parse_id(id), parse_id(last)) {
        (Some(a), Some(b)) => a > b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn arr(values: Vec<Value>) -> Value {
        Value::Array(values)
    }

    #[test]
    fn reads_entries_and_skips_foreign_fields() {
        let reply = arr(vec![arr(vec![
            s("socket.io"),
            arr(vec![
                arr(vec![
                    s("1-0"),
                    arr(vec![
                        s("channel"),
                        s("v#"),
                        s("data"),
                        Value::Bytes(Bytes::from_static(b"\xc1\x00")),
                    ]),
                ]),
                // a Node streams-adapter entry
                arr(vec![
                    s("1-1"),
                    arr(vec![
                        s("uid"),
                        s("abc"),
                        s("nsp"),
                        s("/"),
                        s("type"),
                        s("2"),
                    ]),
                ]),
                // an odd number of fields
                arr(vec![s("2-0"), arr(vec![s("channel"), s("v#"), s("data")])]),
            ]),
        ])]);
        let entries = parse_read(&reply).expect("a valid reply");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].channel.as_deref(), Some("v#"));
        assert_eq!(entries[0].data.as_deref(), Some(&b"\xc1\x00"[..]));
        assert_eq!(entries[1].channel, None);
        assert_eq!(entries[2].id, "2-0");
        assert_eq!(entries[2].data, None);
        assert_eq!(parse_read(&Value::Null), Ok(Vec::new()));
    }

    #[test]
    fn refuses_malformed_replies_without_panicking() {
        for reply in [
            s("nope"),
            arr(vec![s("x")]),
            arr(vec![arr(vec![s("k")])]),
            arr(vec![arr(vec![s("k"), arr(vec![s("1-0")])])]),
            arr(vec![arr(vec![
                s("k"),
                arr(vec![arr(vec![s("no-id"), arr(vec![])])]),
            ])]),
            arr(vec![arr(vec![s("k"), Value::Integer(3)])]),
        ] {
            assert!(parse_read(&reply).is_err(), "{reply:?}");
        }
    }

    #[test]
    fn ids_compare_as_numbers() {
        assert!(after("10-0", "9-5"));
        assert!(after("9-10", "9-9"));
        assert!(!after("9-9", "9-9"));
        assert!(!after("x", "0-0"));
        assert_eq!(parse_id("18446744073709551615-0"), Some((u64::MAX, 0)));
        assert_eq!(parse_id("1-"), None);
        assert_eq!(
            last_id(&arr(vec![arr(vec![s("5-1"), arr(vec![])])])),
            Some("5-1".into())
        );
        assert_eq!(last_id(&arr(vec![])), None);
    }
}
