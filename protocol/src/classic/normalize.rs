//! Replacing the MessagePack extensions of Node's encoders by plain values.

use rmpv::Value;

/// Replaces every MessagePack extension inside `value` by what a Node server would hand its
/// clients for it (timestamps and notepack 2 dates become `Date.toJSON()` text, notepack 2's
/// `undefined` nil or a dropped map entry, its ArrayBuffers binary, others `[type, binary]`):
/// the table is in the [module docs](super#foreign-values). Everything else is kept as is,
/// NaN and infinite floats included. Never panics; recurses into arrays and maps (decoded
/// values are at most [`MAX_DEPTH`](crate::msgpack::MAX_DEPTH) deep).
///
/// ```
/// use volley_protocol::classic::normalize;
/// use volley_protocol::Value;
///
/// // notepack 3's Date: timestamp 32 of 960_854_400 seconds.
/// let date = Value::Ext(-1, 960_854_400u32.to_be_bytes().to_vec());
/// assert_eq!(normalize(date), Value::from("2000-06-13T00:00:00.000Z"));
/// // notepack 2's undefined.
/// assert_eq!(normalize(Value::Array(vec![Value::Ext(0, vec![0])])), Value::Array(vec![Value::Nil]));
/// ```
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Ext(ty, data) => ext(ty, data),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .filter(|(_, value)| !is_undefined(value))
                .map(|(key, value)| (normalize(key), normalize(value)))
                .collect(),
        ),
        other => other,
    }
}

/// notepack 2's `undefined`: fixext 1 of type 0 (whatever the byte, as its decoder reads it).
fn is_undefined(value: &Value) -> bool {
    matches!(value, Value::Ext(0, data) if data.len() == 1)
}

fn ext(ty: i8, data: Vec<u8>) -> Value {
    match (ty, data.len()) {
        (0, 1) => Value::Nil,
        (0, 8) => {
            // notepack 2's Date: fixext 8 holding the milliseconds as a big-endian i64, read
            // as `hi * 2^32 + lo` in floating point like its decoder does.
            let (hi, lo) = split(&data);
            #[allow(clippy::cast_possible_wrap)]
            let hi = f64::from(hi as i32) * 4_294_967_296.0;
            date(hi + f64::from(lo))
        }
        (0, _) => Value::Binary(data),
        (-1, 4) => {
            let seconds = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            date(f64::from(seconds) * 1e3)
        }
        (-1, 8) => {
            // 30 bits of nanoseconds, 34 bits of seconds.
            let (hi, lo) = split(&data);
            let seconds = f64::from(hi & 0x3) * 4_294_967_296.0 + f64::from(lo);
            date(seconds * 1e3 + f64::from(hi >> 2) / 1e6)
        }
        (-1, 12) => {
            // 32 bits of nanoseconds, then the seconds as a big-endian i64.
            let nanos = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let (hi, lo) = split(&data[4..]);
            #[allow(clippy::cast_possible_wrap)]
            let seconds = f64::from(hi as i32) * 4_294_967_296.0 + f64::from(lo);
            date(seconds * 1e3 + f64::from(nanos) / 1e6)
        }
        _ => Value::Array(vec![Value::from(ty), Value::Binary(data)]),
    }
}

/// The two big-endian `u32`s of an 8-byte slice.
fn split(data: &[u8]) -> (u32, u32) {
    let mut hi = [0; 4];
    let mut lo = [0; 4];
    hi.copy_from_slice(&data[..4]);
    lo.copy_from_slice(&data[4..8]);
    (u32::from_be_bytes(hi), u32::from_be_bytes(lo))
}

/// `new Date(ms).toJSON()`: the ISO-8601 text, or nil for an invalid date.
fn date(ms: f64) -> Value {
    iso_string(ms).map_or(Value::Nil, Value::from)
}

/// `Date.prototype.toISOString` of `new Date(ms)`, or `None` where the date is invalid
/// (TimeClip: not finite, or more than 8.64e15 ms away from the epoch).
pub(super) fn iso_string(ms: f64) -> Option<String> {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return None;
    }
    // Exact: |ms| <= 8.64e15 < 2^63, truncated toward zero like ToIntegerOrInfinity.
    #[allow(clippy::cast_possible_truncation)]
    let ms = ms.trunc() as i64;
    const DAY: i64 = 86_400_000;
    let days = ms.div_euclid(DAY);
    let in_day = ms.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", -year)
    } else {
        format!("+{year:06}")
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    ))
}

/// Year, month (1..=12) and day (1..=31) of the proleptic Gregorian calendar for a number of
/// days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
