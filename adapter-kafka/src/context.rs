//! The callbacks librdkafka calls on its own threads: logs, global errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use tokio::sync::Notify;

use crate::LOG_TARGET;

/// How often the same kind of error is logged as a warning; repeats in between are debug events.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Shared by every client of one bus.
#[derive(Clone, Default)]
pub(crate) struct BusContext {
    shared: Arc<Shared>,
    /// Whether this client's "all brokers down" events stop publishing: only the producer's
    /// (the admin client's connection is idle most of the time, and brokers close idle
    /// connections).
    ignores_down: bool,
}

#[derive(Default)]
struct Shared {
    /// Set when librdkafka reports that no broker is reachable; cleared by the bus once one
    /// answers again.
    down: AtomicBool,
    /// Wakes the task that waits for a broker to answer again.
    down_events: Arc<Notify>,
    limiter: Limiter,
}

impl BusContext {
    /// The same context for a client whose connection losses do not stop publishing.
    pub(crate) fn ignoring_down(&self) -> BusContext {
        BusContext {
            shared: self.shared.clone(),
            ignores_down: true,
        }
    }

    pub(crate) fn is_down(&self) -> bool {
        self.shared.down.load(Ordering::Acquire)
    }

    /// Sets whether every broker is down; returns whether it was.
    pub(crate) fn set_down(&self, down: bool) -> bool {
        let was = self.shared.down.swap(down, Ordering::AcqRel);
        if down {
            self.shared.down_events.notify_one();
        }
        was
    }

    /// Notified each time librdkafka reports every broker down.
    pub(crate) fn down_events(&self) -> Arc<Notify> {
        self.shared.down_events.clone()
    }

    /// Logs an error as a warning, unless the same one was logged as a warning recently.
    pub(crate) fn warn(&self, what: &str, error: &RdError) {
        let key = error
            .rdkafka_error_code()
            .map_or_else(|| error.to_string(), |code| format!("{code:?}"));
        if self.shared.limiter.allow(&key) {
            tracing::warn!(target: LOG_TARGET, error = %error, "{what}");
        } else {
            tracing::debug!(target: LOG_TARGET, error = %error, "{what}");
        }
    }
}

impl ClientContext for BusContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        // librdkafka's errors also reach `error` below, which warns (rate-limited); its log
        // lines repeat them on every reconnection attempt.
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(target: LOG_TARGET, facility = fac, "librdkafka: {log_message}")
            }
            _ => tracing::debug!(target: LOG_TARGET, facility = fac, "librdkafka: {log_message}"),
        }
    }

    fn error(&self, error: RdError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown)
            && !self.ignores_down
        {
            let _ = self.set_down(true);
        }
        let key = error
            .rdkafka_error_code()
            .map_or_else(|| error.to_string(), |code| format!("{code:?}"));
        if self.shared.limiter.allow(&key) {
            tracing::warn!(target: LOG_TARGET, error = %error, "Kafka: {reason}");
        } else {
            tracing::debug!(target: LOG_TARGET, error = %error, "Kafka: {reason}");
        }
    }
}

impl ConsumerContext for BusContext {}

/// Remembers when each kind of error was last logged as a warning.
#[derive(Default)]
struct Limiter {
    last: Mutex<Vec<(String, Instant)>>,
}

impl Limiter {
    fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.iter_mut().find(|(k, _)| k == key) {
            Some((_, at)) if now.duration_since(*at) < WARN_EVERY => false,
            Some((_, at)) => {
                *at = now;
                true
            }
            None => {
                // A handful of distinct codes at most; keep it bounded anyway.
                if last.len() >= 64 {
                    last.clear();
                }
                last.push((key.to_owned(), now));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_warns_once_per_kind() {
        let limiter = Limiter::default();
        assert!(limiter.allow("a"));
        assert!(!limiter.allow("a"));
        assert!(limiter.allow("b"));
        assert!(!limiter.allow("b"));
    }
}
