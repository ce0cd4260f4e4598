//! Failed Admin UI logins, per client address, and how they hold back the next attempts (see
//! [`LoginThrottle`] for the rules).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::LoginThrottle;

/// How long an attempt is held back when as many attempts as the address may still fail are
/// already being checked, or when every tracked address has one being checked.
const BUSY: Duration = Duration::from_secs(1);

/// Where login attempts come from: an IPv4 address, an IPv6 /64 prefix, or an unknown address
/// (the server runs without connect info), which every such client shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Origin(Option<IpAddr>);

impl Origin {
    /// The origin of a client whose handshake came from `peer`.
    pub(crate) fn of(peer: Option<SocketAddr>) -> Self {
        Origin(peer.map(|peer| match peer.ip().to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
            v4 => v4,
        }))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(IpAddr::V6(prefix)) => write!(f, "{prefix}/64"),
            Some(v4) => write!(f, "{v4}"),
            None => f.write_str("an unknown address"),
        }
    }
}

/// What one origin's attempts have come to.
#[derive(Debug)]
struct Record {
    /// Failed logins in a row.
    failures: u32,
    /// Attempts being checked now.
    in_flight: u32,
    /// The lockout in force: from when, for how long.
    locked: Option<(Instant, Duration)>,
    /// The last attempt or failure.
    touched: Instant,
}

impl Record {
    fn new(now: Instant) -> Self {
        Record {
            failures: 0,
            in_flight: 0,
            locked: None,
            touched: now,
        }
    }

    /// How long the lockout has left, if one is in force.
    fn locked_for(&self, now: Instant) -> Option<Duration> {
        let (since, lasts) = self.locked?;
        lasts
            .checked_sub(now.saturating_duration_since(since))
            .filter(|left| !left.is_zero())
    }

    /// Whether nothing about the origin needs remembering any more.
    fn is_stale(&self, now: Instant, forget_after: Duration) -> bool {
        self.in_flight == 0
            && self.locked_for(now).is_none()
            && now.saturating_duration_since(self.touched) >= forget_after
    }
}

/// The failed logins of every origin, bounded (see [`LoginThrottle::max_addresses`]).
#[derive(Debug)]
pub(crate) struct Throttle {
    settings: LoginThrottle,
    records: Mutex<HashMap<Origin, Record>>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    /// Given up before it was decided (the client went away): it counts for nothing.
    Abandoned,
}

/// An attempt allowed to be checked; it must be told how the check went
/// ([`succeeded`](Self::succeeded), [`failed`](Self::failed)).
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    throttle: &'a Throttle,
    origin: Origin,
    outcome: Outcome,
}

impl Attempt<'_> {
    /// The login succeeded: the origin's failures are forgotten.
    pub(crate) fn succeeded(mut self) {
        self.outcome = Outcome::Succeeded;
    }

    /// The login failed: it counts, and may start a lockout.
    pub(crate) fn failed(mut self) {
        self.outcome = Outcome::Failed;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.throttle
            .finish(self.origin, self.outcome, Instant::now());
    }
}

impl Throttle {
    pub(crate) fn new(settings: LoginThrottle) -> Self {
        Throttle {
            settings,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn records(&self) -> MutexGuard<'_, HashMap<Origin, Record>> {
        // the records stay consistent whatever panicked while holding them
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets an attempt from `origin` be checked, or says how long it must wait: during a
    /// lockout, or while as many attempts as the origin may still fail are being checked.
    pub(crate) fn admit(&self, origin: Origin) -> Result<Attempt<'_>, Duration> {
        let now = Instant::now();
        let held = self.try_admit(origin, now);
        if let Err(wait) = held {
            tracing::warn!(
                target: "volley::socketio",
                address = %origin,
                retry_in_ms = wait.as_millis() as u64,
                "Admin UI: login refused unchecked, too many failed logins from this address"
            );
        }
        held.map(|()| Attempt {
            throttle: self,
            origin,
            outcome: Outcome::Abandoned,
        })
    }

    fn try_admit(&self, origin: Origin, now: Instant) -> Result<(), Duration> {
        let mut records = self.records();
        if !records.contains_key(&origin) {
            self.make_room(&mut records, now)?;
        }
        let record = records.entry(origin).or_insert_with(|| Record::new(now));
        if record.is_stale(now, self.settings.forget_after) {
            *record = Record::new(now);
        }
        if let Some(left) = record.locked_for(now) {
            return Err(left);
        }
        // past the free failures, one attempt at a time
        let may_fail = self
            .settings
            .free_failures
            .saturating_sub(record.failures)
            .max(1);
        if record.in_flight >= may_fail {
            return Err(BUSY);
        }
        record.in_flight += 1;
        record.touched = now;
        Ok(())
    }

    /// Makes room for one more record: drops the stale ones, else the least recently used one
    /// with no attempt being checked.
    fn make_room(
        &self,
        records: &mut HashMap<Origin, Record>,
        now: Instant,
    ) -> Result<(), Duration> {
        let max = self.settings.max_addresses.max(1);
        if records.len() < max {
            return Ok(());
        }
        records.retain(|_, r| !r.is_stale(now, self.settings.forget_after));
        if records.len() < max {
            return Ok(());
        }
        let oldest = records
            .iter()
            .filter(|(_, r)| r.in_flight == 0)
            .min_by_key(|(_, r)| r.touched)
            .map(|(origin, _)| *origin);
        match oldest {
            Some(origin) => {
                records.remove(&origin);
                Ok(())
            }
            None => Err(BUSY),
        }
    }

    /// Records how an attempt from `origin` ended.
    fn finish(&self, origin: Origin, outcome: Outcome, now: Instant) {
        let mut records = self.records();
        let Some(record) = records.get_mut(&origin) else {
            return;
        };
        record.in_flight = record.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Succeeded => {
                record.failures = 0;
                record.locked = None;
            }
            Outcome::Failed => {
                record.failures = record.failures.saturating_add(1);
                record.touched = now;
                if let Some(beyond) = record.failures.checked_sub(self.settings.free_failures) {
                    let lockout = self.lockout(beyond);
                    record.locked = Some((now, lockout));
                    tracing::warn!(
                        target: "volley::socketio",
                        address = %origin,
                        failures = record.failures,
                        lockout_ms = lockout.as_millis() as u64,
                        "Admin UI: too many failed logins, address locked out"
                    );
                }
            }
            Outcome::Abandoned => {}
        }
        if record.failures == 0 && record.in_flight == 0 {
            records.remove(&origin);
        }
    }

    /// The lockout after `beyond` failures past the free ones: the first, doubled each time,
    /// at most the longest.
    fn lockout(&self, beyond: u32) -> Duration {
        let factor = 1u32.checked_shl(beyond).unwrap_or(u32::MAX);
        self.settings
            .first_lockout
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.settings.max_lockout)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.records().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(last: u8) -> Origin {
        Origin::of(Some(SocketAddr::from(([192, 0, 2, last], 4000))))
    }

    fn throttle(free_failures: u32) -> Throttle {
        Throttle::new(LoginThrottle {
            free_failures,
            first_lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(30),
            forget_after: Duration::from_secs(600),
            max_addresses: 4,
        })
    }

    /// An attempt from `from` at `now` that ends as `outcome`, if it is admitted.
    fn attempt(t: &Throttle, from: Origin, now: Instant, outcome: Outcome) -> Result<(), Duration> {
        t.try_admit(from, now)?;
        t.finish(from, outcome, now);
        Ok(())
    }

    fn fail(t: &Throttle, from: Origin, now: Instant) -> Result<(), Duration> {
        attempt(t, from, now, Outcome::Failed)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn free_failures_then_growing_lockouts() {
        let (t, from, start) = (throttle(2), origin(1), Instant::now());
        assert!(fail(&t, from, start).is_ok());
        // the second failure is checked, and starts a 10 s lockout
        assert!(fail(&t, from, start).is_ok());
        assert_eq!(fail(&t, from, start), Err(secs(10)));
        assert!(fail(&t, origin(2), start).is_ok(), "other addresses go on");
        let good = attempt(&t, from, start + secs(4), Outcome::Succeeded);
        assert_eq!(good, Err(secs(6)), "the right password waits too");
        assert!(
            fail(&t, from, start + secs(10)).is_ok(),
            "tried again after the lockout"
        );
        assert_eq!(fail(&t, from, start + secs(10)), Err(secs(20)));
        assert!(fail(&t, from, start + secs(30)).is_ok());
        assert_eq!(fail(&t, from, start + secs(30)), Err(secs(30)), "capped");
        let later = start + secs(60);
        assert!(attempt(&t, from, later, Outcome::Succeeded).is_ok());
        assert!(
            fail(&t, from, later).is_ok(),
            "a success forgets the failures"
        );
        assert!(fail(&t, from, later).is_ok());
    }

    #[test]
    fn concurrent_attempts_cannot_pass_the_free_failures() {
        let (t, from) = (throttle(2), origin(1));
        let first = t.admit(from);
        let second = t.admit(from);
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(t.admit(from).err(), Some(BUSY));
        drop((first, second));
        assert_eq!(t.tracked(), 0, "abandoned attempts count for nothing");
        assert!(t.admit(from).map(Attempt::failed).is_ok());
        let pending = t.admit(from);
        assert!(pending.is_ok());
        assert_eq!(t.admit(from).err(), Some(BUSY));
    }

    #[test]
    fn the_table_stays_bounded_and_forgets() {
        let (t, start) = (throttle(5), Instant::now());
        for last in 0..50 {
            assert!(fail(&t, origin(last), start).is_ok());
            assert!(t.tracked() <= 4);
        }
        assert!(attempt(&t, origin(1), start, Outcome::Succeeded).is_ok());
        let later = start + secs(600);
        assert!(fail(&t, origin(200), later).is_ok());
        assert_eq!(
            t.tracked(),
            4,
            "stale records are kept until room is needed"
        );
        for _ in 0..5 {
            assert!(fail(&t, origin(0), later).is_ok());
        }
        assert!(fail(&t, origin(0), later).is_err());
        // long after the last failure, the address starts over
        for _ in 0..5 {
            assert!(fail(&t, origin(0), later + secs(600)).is_ok());
        }
    }

    #[test]
    fn ipv6_counts_by_its_64_prefix() -> Result<(), std::net::AddrParseError> {
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1".parse()?;
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:2".parse()?;
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:3".parse()?;
        assert_eq!(Origin::of(Some(a)), Origin::of(Some(b)));
        assert_eq!(Origin::of(Some(a)).to_string(), "2001:db8:1:2::/64");
        assert_eq!(Origin::of(Some(mapped)), origin(1));
        assert_eq!(Origin::of(None).to_string(), "an unknown address");
        Ok(())
    }
}
