//! The two ways the Admin UI's reference server writes a time: JavaScript's `Date#toJSON`
//! (`2026-11-25T16:39:59.616Z`) for event timestamps, and `Date#toString` in UTC
//! (`Wed Nov 25 2026 16:39:59 GMT+0000 (Coordinated Universal Time)`) for a handshake's `time`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A UTC date and time broken into fields.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    weekday: u32,
    hour: u64,
    minute: u64,
    second: u64,
    milli: u64,
}

impl Civil {
    fn from_millis(ms: u64) -> Civil {
        let days = (ms / 86_400_000) as i64;
        let in_day = ms % 86_400_000;
        let (year, month, day) = date_from_days(days);
        Civil {
            year,
            month,
            day,
            // 1970-01-01 was a Thursday (4, counting from Sunday = 0)
            weekday: ((days + 4).rem_euclid(7)) as u32,
            hour: in_day / 3_600_000,
            minute: in_day / 60_000 % 60,
            second: in_day / 1000 % 60,
            milli: in_day % 1000,
        }
    }
}

/// The proleptic Gregorian date `days` days after 1970-01-01: (year, month 1-12, day 1-31).
fn date_from_days(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01 in 400-year eras of 146 097 days, so that leap days end each year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2026-11-25T16:39:59.616Z`, as JavaScript serializes a `Date` to JSON.
pub(crate) fn iso(at: SystemTime) -> String {
    let c = Civil::from_millis(millis(at));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
    )
}

/// `Wed Nov 25 2026 16:39:59 GMT+0000 (Coordinated Universal Time)`, JavaScript's
/// `Date#toString` in UTC.
pub(crate) fn js_string(at: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Civil::from_millis(millis(at));
    format!(
        "{} {} {:02} {:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[c.weekday as usize],
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn formats_like_javascript() {
        // the timestamps of the reference trace
        assert_eq!(iso(at(1_795_624_799_616)), "2026-11-25T16:39:59.616Z");
        assert_eq!(
            js_string(at(1_795_624_799_504)),
            "Wed Nov 25 2026 16:39:59 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(iso(at(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            js_string(at(0)),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
    }

    #[test]
    fn leap_days_and_year_ends() {
        // 2024-02-29T12:00:00.005Z and 2000-12-31T23:59:59.999Z
        assert_eq!(iso(at(1_709_208_000_005)), "2024-02-29T12:00:00.005Z");
        assert_eq!(iso(at(978_307_199_999)), "2000-12-31T23:59:59.999Z");
        assert_eq!(iso(at(978_307_200_000)), "2001-01-01T00:00:00.000Z");
        assert_eq!(
            js_string(at(1_709_208_000_005)),
            "Thu Feb 29 2024 12:00:00 GMT+0000 (Coordinated Universal Time)"
        );
    }
}
