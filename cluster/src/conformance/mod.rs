//! The contract every [`PubSub`] must meet, written once and run against each transport: the
//! in-process [`MemoryBus`] here, each broker adapter in its own tests.
//!
//! A transport takes part through a [`Harness`]: how to make a bus of it (connected or not, with
//! a size limit or not), what a *cluster* is for it (buses of one cluster hear each other, buses
//! of two clusters never do: an AMQP exchange, a Kafka topic, a Redis stream, a channel prefix on
//! a shared Redis server), and its [`Capabilities`]: how long delivery may take, and what it
//! legitimately does not do. A case the transport declares it does not support is skipped, with a
//! line on standard error saying why, never silently.
//!
//! [`bus_conformance_suite!`](crate::bus_conformance_suite) expands to one `#[tokio::test]` per
//! case; the cases are also public functions of [`cases`], for a test that wants one of them.
//! Enabled by the crate's `conformance` feature (for dev-dependencies).
//!
//! ```
//! // In tests/conformance.rs of a crate: every case, against the in-process bus.
//! volley_cluster::bus_conformance_suite!(volley_cluster::conformance::MemoryHarness);
//! # fn main() {}
//! ```

pub mod cases;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::{BusMessage, MemoryBus, PubSub};

/// What a transport does, and how long it may take. Start from [`Capabilities::default`]: a
/// transport that does everything the [`PubSub`] documentation describes, within the default
/// times, and has no size limit.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// How long a published message may take to arrive (default 5 s).
    pub wait: Duration,
    /// How long a case watches for a message that must not come (default 300 ms).
    pub quiet: Duration,
    /// The bound of a case that moves many messages (default 60 s); a case about refusals gets
    /// half of it.
    pub limit: Duration,
    /// The largest payload a bus takes when not told otherwise, when it has a limit at all and
    /// [`Options::max_message_size`] sets it. `None` (the default): no limit, and the cases about
    /// sizes are skipped.
    pub max_message_size: Option<usize>,
    /// Whether messages wait in the broker for a reader that is slower than the publishers, and
    /// all arrive (default `true`). Redis pub/sub drops them; the in-process bus makes the
    /// publishers wait instead.
    pub keeps_messages_for_slow_readers: bool,
    /// Whether publishes of one bus keep their order when awaited together, in the order they
    /// were first polled (default `false`): then the ordering case publishes that way.
    pub pipelined_publishes_keep_order: bool,
    /// Whether a publish that no subscriber of the cluster can receive fails with
    /// [`BusError::Unavailable`](crate::BusError::Unavailable) (default `false`: it is
    /// accepted and dropped).
    pub refuses_unrouted: bool,
    /// Whether the harness can close a bus: its sinks close, and later publishes and subscribes
    /// fail (default `true`).
    pub closes: bool,
    /// Whether a closed bus also refuses to connect again (default `false`).
    pub refuses_connect_after_close: bool,
    /// How soon calls on a bus whose broker cannot be reached fail (see [`FailFast`]).
    pub fails_fast: FailFast,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            wait: Duration::from_secs(5),
            quiet: Duration::from_millis(300),
            limit: Duration::from_secs(60),
            max_message_size: None,
            keeps_messages_for_slow_readers: true,
            pipelined_publishes_keep_order: false,
            refuses_unrouted: false,
            closes: true,
            refuses_connect_after_close: false,
            fails_fast: FailFast::default(),
        }
    }
}

/// Bounds on connect, publish and subscribe when nothing listens at the broker's address.
#[derive(Debug, Clone, Copy)]
pub struct FailFast {
    /// The bound of each call (default 5 s).
    pub each: Duration,
    /// The bound of the three together (default 5 s).
    pub total: Duration,
}

impl Default for FailFast {
    fn default() -> Self {
        FailFast {
            each: Duration::from_secs(5),
            total: Duration::from_secs(5),
        }
    }
}

/// How a case wants a bus made. A harness honours every field its transport has a setting for,
/// and ignores the others.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Do not connect: the first publish or subscribe does (default: connect before returning).
    pub lazy: bool,
    /// The largest payload the bus takes (default: the transport's default).
    pub max_message_size: Option<usize>,
    /// Many messages will wait in the broker for a slow reader: the transport may trade
    /// durability for speed (AMQP: transient messages).
    pub bulk: bool,
    /// How many messages the bus may take from the broker ahead of its sink, where the transport
    /// has such a window (AMQP: the prefetch).
    pub read_ahead: Option<u16>,
}

impl Options {
    /// Sets [`lazy`](Options::lazy).
    pub fn lazy(self) -> Self {
        Options { lazy: true, ..self }
    }

    /// Sets [`max_message_size`](Options::max_message_size).
    pub fn max_message_size(self, bytes: usize) -> Self {
        Options {
            max_message_size: Some(bytes),
            ..self
        }
    }

    /// Sets [`bulk`](Options::bulk).
    pub fn bulk(self) -> Self {
        Options { bulk: true, ..self }
    }

    /// Sets [`read_ahead`](Options::read_ahead).
    pub fn read_ahead(self, messages: u16) -> Self {
        Options {
            read_ahead: Some(messages),
            ..self
        }
    }
}

/// A transport under test; see the [module's documentation](self).
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// The bus.
    type Bus: PubSub + Clone;
    /// What the buses of one cluster share.
    type Cluster: Send + Sync;

    /// A short name for reports (`redis`, `amqp`, …).
    fn name(&self) -> &str;

    /// What the transport does; see [`Capabilities`].
    fn capabilities(&self) -> Capabilities;

    /// Held for the whole case, taken before its time starts: a lock shared with other tests of
    /// the same broker (one that restarts it takes it alone). Nothing by default.
    async fn lock(&self) -> Box<dyn Send> {
        Box::new(())
    }

    /// A new cluster no other case (or concurrent test run) uses. `name` says which case asks.
    async fn cluster(&self, name: &str) -> Self::Cluster;

    /// The name of channel `name` in `cluster`. The name itself by default: a transport whose
    /// clusters do not share channels. On a transport where every cluster hears every channel
    /// (Redis pub/sub), a prefix of the cluster's own.
    fn channel(&self, cluster: &Self::Cluster, name: &str) -> String {
        let _ = cluster;
        name.to_owned()
    }

    /// A bus of `cluster`: a node.
    async fn bus(&self, cluster: &Self::Cluster, options: Options) -> Self::Bus;

    /// A bus with default settings at an address where nothing listens, not connected; `None`
    /// (the default) for a transport without a broker: the case about unreachable brokers is
    /// skipped.
    async fn unreachable(&self) -> Option<Self::Bus> {
        None
    }

    /// Connects `bus`, or says why not. `Ok` by default.
    async fn connect(&self, bus: &Self::Bus) -> Result<(), ConnectError> {
        let _ = bus;
        Ok(())
    }

    /// Whether `bus` is connected, when the transport says (`None` by default).
    fn is_connected(&self, bus: &Self::Bus) -> Option<bool> {
        let _ = bus;
        None
    }

    /// Closes `bus` (see [`Capabilities::closes`]). Nothing by default.
    async fn close(&self, bus: &Self::Bus) {
        let _ = bus;
    }

    /// Removes what `cluster` left on the broker (an AMQP exchange). Nothing by default.
    async fn remove(&self, cluster: Self::Cluster) {
        let _ = cluster;
    }
}

/// Why [`Harness::connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The broker could not be reached; the transport's reason.
    Unreachable(String),
    /// Anything else (the bus was closed, the broker refused a declaration, …).
    Other(String),
}

/// Which bound a case runs under (see [`Capabilities::limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The whole limit: the case moves many messages.
    Full,
    /// Half of it: the case is about refusals.
    Half,
}

/// Runs one case: takes the harness's [lock](Harness::lock), then awaits `body` within the
/// harness's limit, failing the test when it does not finish in time.
pub async fn run<H: Harness>(
    harness: &H,
    bound: Bound,
    body: impl std::future::Future<Output = ()>,
) {
    let limit = match bound {
        Bound::Full => harness.capabilities().limit,
        Bound::Half => harness.capabilities().limit / 2,
    };
    let _lock = harness.lock().await;
    if tokio::time::timeout(limit, body).await.is_err() {
        panic!(
            "the case did not finish within {limit:?} on {}",
            harness.name()
        );
    }
}

/// Says on standard error that `case` does not run on this transport, for want of what its
/// capabilities declare it does not have (`missing`): straight to the process's standard error,
/// which the test harness does not capture, so that every run shows it.
fn skip<H: Harness>(harness: &H, case: &str, missing: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "conformance: `{case}` skipped on {}, which declares {missing}",
        harness.name()
    );
}

/// A name no other test (or concurrent test run) uses: letters, digits, `-` and `.` only, so
/// that it fits a Kafka topic, an AMQP exchange and a Redis key alike.
pub fn unique(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "volley-test.{name}.{}.{nanos:x}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Receives the next message, failing the test after `within`.
pub async fn next(rx: &mut mpsc::Receiver<BusMessage>, within: Duration) -> BusMessage {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Some(message)) => message,
        Ok(None) => panic!("the sink was closed"),
        Err(_) => panic!("no message within {within:?}"),
    }
}

/// Asserts that nothing arrives for `quiet`.
pub async fn nothing_more(rx: &mut mpsc::Receiver<BusMessage>, quiet: Duration) {
    if let Ok(Some(message)) = tokio::time::timeout(quiet, rx.recv()).await {
        panic!("unexpected message {message:?}");
    }
}

/// Publishes on `channel` until a publish succeeds and `rx` receives it, trying for at most
/// `within` (every 100 ms): how a test waits for delivery to resume after a fault. Returns how
/// long it took.
pub async fn until_delivered<B: PubSub>(
    bus: &B,
    rx: &mut mpsc::Receiver<BusMessage>,
    channel: &str,
    within: Duration,
) -> Duration {
    let start = tokio::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        assert!(
            start.elapsed() < within,
            "no delivery on {channel} within {within:?}"
        );
        attempt += 1;
        let payload = bytes::Bytes::from(format!("after-{attempt}"));
        if bus.publish(channel, payload.clone()).await.is_ok() {
            // Delivered only once the subscription is back: wait a little for this one, and
            // skip older ones that a restored subscription may still deliver.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
            while let Ok(Some(m)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                if m.payload == payload {
                    assert_eq!(m.channel, channel);
                    return start.elapsed();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The in-process [`MemoryBus`] as a [`Harness`]: a cluster is one bus, its nodes are clones of
/// it. It has no size limit, cannot be closed, and makes publishers wait for a full sink.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryHarness;

#[async_trait]
impl Harness for MemoryHarness {
    type Bus = MemoryBus;
    type Cluster = MemoryBus;

    fn name(&self) -> &str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            quiet: Duration::from_millis(200),
            keeps_messages_for_slow_readers: false,
            closes: false,
            ..Capabilities::default()
        }
    }

    async fn cluster(&self, _name: &str) -> MemoryBus {
        MemoryBus::new()
    }

    async fn bus(&self, cluster: &MemoryBus, options: Options) -> MemoryBus {
        assert!(
            options.max_message_size.is_none(),
            "the memory bus has no size limit"
        );
        cluster.clone()
    }
}

/// Expands to one `#[tokio::test]` per case of [`cases`], each running it against the
/// [`Harness`] that `$harness` (an expression, evaluated once per test) makes. The crate that
/// uses it depends on `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! bus_conformance_suite {
    ($harness:expr) => {
        $crate::bus_conformance_suite!(@cases $harness;
            Full: exact_channel_and_prefix_deliver_to_their_subscribers,
            Full: every_node_of_a_cluster_receives_every_message_and_no_other_cluster_does,
            Full: payloads_are_byte_exact,
            Full: order_is_kept_for_ten_thousand_messages,
            Full: a_slow_reader_loses_nothing,
            Full: each_subscribe_call_gets_only_its_own_messages_once,
            Full: prefix_with_glob_characters_matches_literally,
            Full: many_concurrent_publishers_are_all_delivered_once,
            Full: messages_published_before_subscribing_are_not_delivered,
            Full: a_publish_right_after_subscribe_is_delivered,
            Full: a_dropped_sink_does_not_stop_publishing,
            Full: connect_is_lazy_and_close_ends_everything,
            Full: a_4_mib_limit_carries_a_3_mib_payload,
            Half: oversized_publishes_are_refused_before_connecting,
            Half: an_unreachable_broker_fails_fast,
        );
    };
    (@cases $harness:expr; $($bound:ident: $case:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $harness;
                $crate::conformance::run(
                    &harness,
                    $crate::conformance::Bound::$bound,
                    $crate::conformance::cases::$case(&harness),
                )
                .await;
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    crate::bus_conformance_suite!(crate::conformance::MemoryHarness);
}
