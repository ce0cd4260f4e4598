//! What the fuzz targets in `fuzz/` (and the unit tests) drive the emitter through: an emitter
//! on an in-process bus that records what it publishes, and the checks of what a user gives to
//! connect (the adapters' own, as the constructors call them). Not part of the API: hidden,
//! built with the `fuzzing` feature (and in tests), and free to change.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::sync::mpsc;
use volley_cluster::{BusMessage, MemoryBus, PubSub, Subscription};

use crate::Emitter;

/// How many messages a recording emitter holds before its publishes wait (the fuzz targets take
/// them after each publish).
const CAPACITY: usize = 1024;

/// One published message: its channel and payload.
pub type Sent = (String, Bytes);

/// What a recording emitter published, in order.
#[derive(Debug)]
pub struct Recorder {
    /// The memory bus's messages, and those read from it so far.
    received: Mutex<(mpsc::Receiver<BusMessage>, Vec<Sent>)>,
}

impl Recorder {
    /// What was published so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        let mut received = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        let (rx, sent) = &mut *received;
        while let Ok(message) = rx.try_recv() {
            sent.push((message.channel, message.payload));
        }
        sent.clone()
    }

    /// What was published so far, in order; forgets it.
    pub fn take(&self) -> Vec<Sent> {
        let sent = self.sent();
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clear();
        sent
    }
}

/// An emitter (namespace `/`, the default key) on a `MemoryBus` of its own, and what it
/// publishes there. Its publishes are ready at once (see [`now`]).
pub fn recording() -> (Emitter, Recorder) {
    let bus = MemoryBus::new();
    let (tx, rx) = mpsc::channel(CAPACITY);
    // The memory bus subscribes at once and cannot fail but for a poisoned lock.
    let subscribed = now(bus.subscribe(&[Subscription::Prefix(String::new())], tx));
    debug_assert!(matches!(subscribed, Some(Ok(()))), "{subscribed:?}");
    let recorder = Recorder {
        received: Mutex::new((rx, Vec::new())),
    };
    (Emitter::new(bus), recorder)
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

/// Checks a Kafka broker list (`[kafka://]host[:port][,…][?settings]`) and a topic name as
/// `Emitter::kafka_with_topic` does (`volley-kafka`'s own checks, librdkafka's of the
/// configuration included), without connecting; the brokers in librdkafka's form, or why not.
#[cfg(feature = "kafka")]
pub fn kafka_target(brokers: &str, topic: &str) -> Result<String, crate::EmitterError> {
    crate::kafka_bus(brokers, Some(topic)).map(|bus| bus.brokers().to_owned())
}

/// Checks an AMQP URL and an exchange name as `Emitter::amqp_with_exchange` does
/// (`volley-amqp`'s own checks), without connecting.
#[cfg(feature = "amqp")]
pub fn amqp_target(url: &str, exchange: &str) -> Result<(), crate::EmitterError> {
    crate::amqp_bus(url, exchange).map(drop)
}
