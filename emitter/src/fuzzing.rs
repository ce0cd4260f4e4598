//! What the fuzz targets in `fuzz/` (and the unit tests) drive the emitter through: an emitter
//! that records what it would publish instead of publishing it, and the checks of what a user
//! gives to connect. Not part of the API: hidden, built with the `fuzzing` feature (and in
//! tests), and free to change.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::{Emitter, EmitterError, Outgoing, SendFuture, Transport};

/// A transport that records each message (channel, payload) instead of publishing it, encoded
/// as every real transport encodes it.
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<(String, Bytes)>>);

impl Recorder {
    /// What was published so far, in order.
    pub fn sent(&self) -> Vec<(String, Bytes)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What was published so far, in order; forgets it.
    pub fn take(&self) -> Vec<(String, Bytes)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Transport for Recorder {
    fn send(&self, key: &str, message: Outgoing<'_>) -> SendFuture<'_> {
        let result = message.encode(key).map_err(EmitterError::from).map(|sent| {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(sent);
        });
        Box::pin(std::future::ready(result))
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}

/// An emitter (namespace `/`, the default key) that records instead of publishing.
pub fn recording() -> (Emitter, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    (Emitter::with_transport(recorder.clone()), recorder)
}

/// Polls `future` once: the recording emitter's futures are ready at once, so this is their
/// result (`None` for a future that would wait).
pub fn now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Checks a Kafka broker list (`[kafka://]host[:port][,…]`) and a topic name as
/// `Emitter::kafka_with_topic` does; the list in librdkafka's form, or why not.
#[cfg(any(feature = "kafka", feature = "fuzzing"))]
pub fn kafka_target(brokers: &str, topic: &str) -> Result<String, String> {
    crate::brokers::check_topic(topic)?;
    crate::brokers::parse_brokers(brokers)
}

/// Checks an AMQP URL and an exchange name as `Emitter::amqp_with_exchange` does; the broker
/// address (`host:port/vhost`), or why not.
#[cfg(feature = "amqp")]
pub fn amqp_target(url: &str, exchange: &str) -> Result<String, EmitterError> {
    crate::amqp::check_exchange(exchange)?;
    crate::amqp::parse_url(url).map(|(_, address)| address)
}
