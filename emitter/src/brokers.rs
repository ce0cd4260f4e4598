//! Kafka broker lists and topic names as a user gives them, checked without librdkafka (so
//! that the fuzz targets reach them without building it).

/// The port of a broker given without one.
const DEFAULT_PORT: u16 = 9092;

/// Parses `[kafka://]host[:port][,host[:port]…]` into librdkafka's `host:port,host:port`.
pub(crate) fn parse_brokers(brokers: &str) -> Result<String, String> {
    let list = match brokers.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("kafka") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "unknown scheme {scheme:?}: expected kafka://host:port[,host:port]"
            ))
        }
        None => brokers,
    };
    let list = list.strip_suffix('/').unwrap_or(list);
    if list.trim().is_empty() {
        return Err("no broker given: expected host:port[,host:port]".into());
    }
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err("an empty entry in the broker list".into());
        }
        if entry.contains(['@', '/', '?', '#', ' ']) || entry.chars().any(char::is_control) {
            return Err(
                "expected host:port entries: credentials, paths and parameters are not supported"
                    .into(),
            );
        }
        // `[v6]:port`, `[v6]`, `host:port`, `host`
        let (host, port) = if entry.starts_with('[') {
            match entry.split_once(']') {
                Some((v6, rest)) if v6.len() > 1 => {
                    let host = &entry[..v6.len() + 1];
                    match rest {
                        "" => (host, None),
                        _ => match rest.strip_prefix(':') {
                            Some(port) => (host, Some(port)),
                            None => return Err("expected :port after an IPv6 address".into()),
                        },
                    }
                }
                _ => return Err("invalid IPv6 address".into()),
            }
        } else {
            match entry.split_once(':') {
                None => (entry, None),
                Some((host, port)) if !port.contains(':') => (host, Some(port)),
                Some(_) => return Err("write IPv6 addresses in brackets: [::1]:9092".into()),
            }
        };
        if host.is_empty() {
            return Err("missing host".into());
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(format!("invalid port {p:?}")),
            },
        };
        out.push(format!("{host}:{port}"));
    }
    Ok(out.join(","))
}

/// Checks a topic name as Kafka does.
pub(crate) fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 249 {
        return Err("a topic name has 1 to 249 characters".into());
    }
    if topic == "." || topic == ".." {
        return Err(format!("{topic:?} is reserved"));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "{topic:?}: only ASCII letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_lists() {
        for (input, expected) in [
            ("127.0.0.1:9092", "127.0.0.1:9092"),
            ("kafka://127.0.0.1:9092", "127.0.0.1:9092"),
            ("KAFKA://h1:1,h2:2/", "h1:1,h2:2"),
            ("h1, h2:9093", "h1:9092,h2:9093"),
            ("[::1]:9093,[fe80::1]", "[::1]:9093,[fe80::1]:9092"),
        ] {
            assert_eq!(parse_brokers(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in [
            "", "kafka://", "http://h", "h:0", "h:x", "h,", ":1", "u:p@h", "h/t", "::1", "[::1",
            "[]:1", "[::1]9",
        ] {
            assert!(parse_brokers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topic_names() {
        assert!(check_topic("volley").is_ok());
        assert!(check_topic("a.b_c-D9").is_ok());
        for bad in ["", ".", "..", "a b", "é", &"x".repeat(250)] {
            assert!(check_topic(bad).is_err(), "{bad}");
        }
    }
}
