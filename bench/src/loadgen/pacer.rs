//! A fixed rate paced finer than tokio's timer, for the scenarios that measure latency at a
//! fixed offered load.
//!
//! tokio's timer counts whole milliseconds: a rate of 48,000 events/s driven by it sends 48
//! events together every millisecond, and the first acks of each group wait while the load
//! generator (one thread) is still writing the rest, so the latencies measured are mostly the
//! group's own queue. [`Pacer`] wakes from a periodic Linux `timerfd` instead, which the kernel
//! fires on its high-resolution clock and the runtime watches like any socket: no thread spins
//! between wake-ups.
//!
//! It wakes at most every [`FINEST`]: each wake-up costs the load generator a timer interrupt
//! and a system call, and at one wake-up per event (21 µs apart at 48,000/s) the load generator
//! itself is busy all the time, so that its own queue shows in the latencies again.

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;

/// The shortest time between two wake-ups of a [`Pacer`].
pub const FINEST: Duration = Duration::from_micros(250);

/// Hands out events at `rate` per second, from its creation on: one per period, or every
/// [`FINEST`] the events that fell due since the last wake-up when the period is shorter.
#[derive(Debug)]
pub struct Pacer {
    fd: AsyncFd<OwnedFd>,
    start: Instant,
    rate: f64,
    /// Events handed out so far.
    given: u64,
}

impl Pacer {
    /// A pacer whose first wake-up comes one period (at least [`FINEST`]) after now.
    pub fn new(rate: f64) -> io::Result<Pacer> {
        let rate = rate.max(1e-3);
        let period = Duration::from_secs_f64(1.0 / rate).max(FINEST);
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        let every = Timespec {
            tv_sec: i64::try_from(period.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(period.subsec_nanos()),
        };
        let spec = Itimerspec {
            it_interval: every,
            it_value: every,
        };
        let start = Instant::now();
        timerfd_settime(&fd, TimerfdTimerFlags::empty(), &spec)?;
        // tokio deprecates `AsyncFd::new` for types that may not own the descriptor they
        // name; `OwnedFd` owns it for as long as the `AsyncFd` lives, which is all that its
        // replacement, the `unsafe` `AsyncFd::register`, asks (this workspace forbids `unsafe`)
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(Pacer {
            fd,
            start,
            rate,
            given: 0,
        })
    }

    /// Waits for the next wake-up; returns how many events fell due since the previous call
    /// (at least one: more when the period is shorter than [`FINEST`], or when the caller came
    /// back late and owes them).
    pub async fn tick(&mut self) -> io::Result<u64> {
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                Ok(Ok(8)) => {}
                Ok(Ok(n)) => return Err(io::Error::other(format!("timerfd read {n} bytes"))),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
            // the events due by now, counted from the start, so that rounding never drifts
            let due = (self.start.elapsed().as_secs_f64() * self.rate) as u64;
            if due > self.given {
                let n = due - self.given;
                self.given = due;
                return Ok(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hands_out_the_rate_and_never_runs_ahead() {
        // 20,000/s: 50 µs apart, which tokio's millisecond timer cannot space
        // taken before the pacer's own start, so that "due by now" is never under the pacer's
        let start = Instant::now();
        let mut pacer = Pacer::new(20_000.0).expect("timerfd");
        let mut events = 0u64;
        let mut wake_ups = 0u64;
        while events < 2_000 {
            events += pacer.tick().await.expect("tick");
            wake_ups += 1;
        }
        // 2,000 events at 20,000/s take 100 ms at least
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "{:?}",
            start.elapsed()
        );
        // handed out in groups (FINEST apart), not one wake-up per event
        assert!(wake_ups < events, "{wake_ups} wake-ups for {events} events");
        // a caller that comes back late is owed every event that fell due meanwhile
        std::thread::sleep(Duration::from_millis(20));
        let owed = pacer.tick().await.expect("tick");
        assert!(owed >= 400, "{owed} events owed after 20 ms");
        let total = events + owed;
        let due = start.elapsed().as_secs_f64() * 20_000.0;
        assert!(
            total as f64 <= due + 1.0,
            "{total} events handed out, {due:.0} due"
        );
    }
}
