//! The queue between a node and its bus. Publishes go out one at a time, in the order they were
//! made; the messages for one channel that queued up while the previous publish was in flight go
//! out together as one [batch](volley_protocol::cluster::batch). An idle node publishes each
//! message at once, a busy one makes one broker round trip for many messages: the batch grows
//! with the load, and no timer ever holds a message back.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use volley_protocol::cluster::batch::{Batch, OVERHEAD_PER_MESSAGE};

use super::{BusError, PubSub};

/// The most messages one batch holds: a receiving node delivers a batch in one go, so this also
/// bounds the burst a batch puts into a client's outgoing queue.
pub(crate) const MAX_BATCH_MESSAGES: usize = 256;

/// One message waiting for the bus, and who waits for the outcome.
pub(crate) struct Pending {
    channel: Arc<str>,
    payload: Bytes,
    done: oneshot::Sender<Result<(), BusError>>,
}

/// The sending side, held by the node.
pub(crate) struct Outbox {
    tx: mpsc::Sender<Pending>,
}

impl Outbox {
    /// An outbox holding at most `capacity` messages: further publishers wait for room.
    pub(crate) fn new(capacity: usize) -> (Outbox, mpsc::Receiver<Pending>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Outbox { tx }, rx)
    }

    /// Queues `payload` for `channel` and waits until the bus took it (or refused it).
    pub(crate) async fn publish(&self, channel: Arc<str>, payload: Bytes) -> Result<(), BusError> {
        let (done, outcome) = oneshot::channel();
        let pending = Pending {
            channel,
            payload,
            done,
        };
        if self.tx.send(pending).await.is_err() {
            return Err(stopped());
        }
        outcome.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> BusError {
    BusError::Unavailable("the cluster node stopped publishing".into())
}

/// What the outbox needs to know of its node.
pub(crate) trait Audience: Send + Sync + 'static {
    /// How many subscribers a message on `channel` must reach (see
    /// [`PubSub::publish_counted`]); `0` when none must.
    fn expected(&self, channel: &str) -> usize;
    /// The bus refused a publish: the broker is unreachable or failed (not called when a
    /// message reached too few subscribers).
    fn bus_failed(&self);
    /// A publish on `channel` reached every subscriber expected (`complete`; also when the bus
    /// does not count) or too few. Nothing by default.
    fn counted(&self, channel: &str, complete: bool) {
        let _ = (channel, complete);
    }
}

/// No expectations: every publish the bus takes counts as done.
impl Audience for () {
    fn expected(&self, _channel: &str) -> usize {
        0
    }
    fn bus_failed(&self) {}
}

/// Publishes `payload` and checks that it reached as many subscribers as `audience` expects,
/// when the bus can tell.
async fn publish_checked<B: PubSub>(
    bus: &B,
    audience: &impl Audience,
    channel: &str,
    payload: Bytes,
) -> Result<(), BusError> {
    // counted before publishing: a node heard of meanwhile may not have been subscribed yet
    let expected = audience.expected(channel);
    let outcome = bus.publish_counted(channel, payload).await;
    if outcome.is_err() {
        audience.bus_failed();
    }
    checked(audience, channel, outcome, expected)
}

/// Groups of different channels sent in one go, at most, on a bus whose rooms have channels.
pub(crate) const MAX_GROUPS: usize = 64;

/// The messages for one channel that go out as one bus message, and who waits for them.
struct Group {
    channel: Arc<str>,
    payload: Bytes,
    waiting: Vec<oneshot::Sender<Result<(), BusError>>>,
}

impl Group {
    fn settle(self, outcome: Result<(), BusError>) {
        crate::metrics::bus_published(self.waiting.len() as u64, outcome.is_ok());
        for done in self.waiting {
            let _ = done.send(outcome.clone());
        }
    }
}

/// `first`, and what queued up behind it for the same channel while the batch stays within
/// `max_bytes` bytes; the first message queued for another channel comes back with it.
fn group(
    first: Pending,
    rx: &mut mpsc::Receiver<Pending>,
    max_bytes: usize,
) -> (Group, Option<Pending>) {
    let mut batch = Batch::new();
    let channel = first.channel;
    let mut payload = first.payload;
    let mut waiting = vec![first.done];
    let mut carried = None;
    while let Ok(next) = rx.try_recv() {
        let size = if batch.count() == 0 {
            batch.len_with(&payload) + OVERHEAD_PER_MESSAGE + next.payload.len()
        } else {
            batch.len_with(&next.payload)
        };
        let joins = next.channel == channel
            && size <= max_bytes
            && waiting.len() < MAX_BATCH_MESSAGES
            && (batch.count() > 0 || batch.push(&payload))
            && batch.push(&next.payload);
        if !joins {
            carried = Some(next);
            break;
        }
        waiting.push(next.done);
    }
    if batch.count() > 0 {
        payload = batch.finish();
    }
    let group = Group {
        channel,
        payload,
        waiting,
    };
    (group, carried)
}

/// Whether a publish on `channel` that reached `reached` subscribers (when the bus could tell)
/// reached the `expected` ones (told to `audience`).
fn checked(
    audience: &impl Audience,
    channel: &str,
    outcome: Result<Option<usize>, BusError>,
    expected: usize,
) -> Result<(), BusError> {
    match outcome {
        Ok(Some(reached)) if reached < expected => {
            audience.counted(channel, false);
            Err(BusError::Undelivered { reached, expected })
        }
        Ok(Some(_)) => {
            audience.counted(channel, true);
            Ok(())
        }
        Ok(None) => {
            // not counted: as good as it gets
            audience.counted(channel, true);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Publishes what the outbox receives until it closes or the bus is dropped (with its node). A
/// batch holds at most `max_bytes` bytes (a larger message goes out alone).
///
/// On a bus whose rooms have channels, what queued up for several channels goes out in one call
/// ([`PubSub::publish_counted_many`]: one round trip on Redis), up to [`MAX_GROUPS`] channels, in
/// the order it was queued.
pub(crate) async fn run<B: PubSub>(
    bus: Weak<B>,
    mut rx: mpsc::Receiver<Pending>,
    max_bytes: usize,
    audience: impl Audience,
) {
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let Some(live) = bus.upgrade() else { return };
        let (first, next) = group(first, &mut rx, max_bytes);
        carried = next;
        if carried.is_none() || !live.rooms_have_channels() {
            let outcome =
                publish_checked(&*live, &audience, &first.channel, first.payload.clone()).await;
            first.settle(outcome);
            continue;
        }
        let mut groups = vec![first];
        while groups.len() < MAX_GROUPS {
            let Some(next) = carried.take() else { break };
            let (g, after) = group(next, &mut rx, max_bytes);
            groups.push(g);
            carried = after;
        }
        // counted before publishing: a node heard of meanwhile may not have been subscribed yet
        let expected: Vec<usize> = groups
            .iter()
            .map(|g| audience.expected(&g.channel))
            .collect();
        let messages = groups
            .iter()
            .map(|g| (g.channel.clone(), g.payload.clone()))
            .collect();
        let mut outcomes = live.publish_counted_many(messages).await.into_iter();
        let mut failed = false;
        for (g, expected) in groups.into_iter().zip(expected) {
            let outcome = outcomes
                .next()
                .unwrap_or_else(|| Err(BusError::Unavailable("no outcome from the bus".into())));
            failed |= matches!(outcome, Err(ref e) if !matches!(e, BusError::Undelivered { .. }));
            let outcome = checked(&audience, &g.channel, outcome, expected);
            g.settle(outcome);
        }
        if failed {
            audience.bus_failed();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use tokio::sync::mpsc;
    use volley_protocol::cluster::batch;

    use super::*;
    use crate::manager::cluster::{BusMessage, Subscription};

    /// A bus that takes a millisecond per publish and records what it was given.
    #[derive(Default)]
    struct Recorder {
        published: Mutex<Vec<(String, Bytes)>>,
        fail: bool,
        /// Rooms have channels: several channels go out in one call, each recorded here.
        rooms: bool,
        many_calls: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl PubSub for Recorder {
        async fn publish(&self, channel: &str, payload: Bytes) -> Result<(), BusError> {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if self.fail {
                return Err(BusError::Unavailable("down".into()));
            }
            self.published
                .lock()
                .unwrap()
                .push((channel.to_owned(), payload));
            Ok(())
        }
        async fn subscribe(
            &self,
            _: &[Subscription],
            _: mpsc::Sender<BusMessage>,
        ) -> Result<(), BusError> {
            Ok(())
        }
        fn rooms_have_channels(&self) -> bool {
            self.rooms
        }
        async fn publish_counted_many(
            &self,
            messages: Vec<(Arc<str>, Bytes)>,
        ) -> Vec<Result<Option<usize>, BusError>> {
            self.many_calls.lock().unwrap().push(messages.len());
            tokio::time::sleep(Duration::from_millis(1)).await;
            let mut published = self.published.lock().unwrap();
            messages
                .into_iter()
                .map(|(channel, payload)| {
                    // the channel "lonely#" has no subscriber
                    let reached = usize::from(&*channel != "lonely#");
                    published.push((channel.to_string(), payload));
                    Ok(Some(reached))
                })
                .collect()
        }
    }

    impl Recorder {
        /// Every message the bus was given, batches opened, with its channel.
        fn messages(&self) -> Vec<(String, Vec<u8>)> {
            let mut out = Vec::new();
            for (channel, payload) in self.published.lock().unwrap().iter() {
                if batch::is_batch(payload) {
                    for part in batch::split(payload).unwrap() {
                        out.push((channel.clone(), part.to_vec()));
                    }
                } else {
                    out.push((channel.clone(), payload.to_vec()));
                }
            }
            out
        }
        fn publishes(&self) -> usize {
            self.published.lock().unwrap().len()
        }
    }

    /// Publishes `messages` from one task each, in order of spawning, and waits for all.
    async fn publish_all(
        bus: Recorder,
        max_bytes: usize,
        messages: Vec<(String, Vec<u8>)>,
    ) -> (Arc<Recorder>, Vec<Result<(), BusError>>) {
        let bus = Arc::new(bus);
        let (outbox, rx) = Outbox::new(1024);
        let outbox = Arc::new(outbox);
        let task = tokio::spawn(run(Arc::downgrade(&bus), rx, max_bytes, ()));
        let mut handles = Vec::new();
        for (channel, payload) in messages {
            let outbox = outbox.clone();
            handles.push(tokio::spawn(async move {
                outbox.publish(channel.into(), payload.into()).await
            }));
            // each publish is queued before the next is made: the order is known
            tokio::task::yield_now().await;
        }
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.unwrap());
        }
        task.abort();
        (bus, results)
    }

    fn numbered(channel: &str, n: usize) -> Vec<(String, Vec<u8>)> {
        (0..n)
            .map(|i| (channel.to_owned(), format!("message {i}").into_bytes()))
            .collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn messages_piling_up_go_out_together_in_order() {
        let sent = numbered("main#", 200);
        let (bus, results) = publish_all(Recorder::default(), 64 * 1024, sent.clone()).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(bus.messages(), sent);
        // the first goes out alone at once, the rest piled up behind it
        assert!(bus.publishes() < 10, "{} publishes", bus.publishes());
        assert!(!batch::is_batch(&bus.published.lock().unwrap()[0].1));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn channels_are_never_mixed_and_order_holds_across_them() {
        let mut sent = Vec::new();
        for i in 0..60 {
            let channel = if i % 20 < 10 { "main#" } else { "main#node#" };
            sent.push((channel.to_owned(), format!("m{i}").into_bytes()));
        }
        let (bus, results) = publish_all(Recorder::default(), 64 * 1024, sent.clone()).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(bus.messages(), sent);
        assert!(bus.publishes() < 60);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn with_a_channel_per_room_many_channels_go_out_in_one_call_in_order() {
        let mut sent = Vec::new();
        for i in 0..300 {
            sent.push((
                format!("main#/#room{}#", i % 7),
                format!("m{i}").into_bytes(),
            ));
        }
        let bus = Recorder {
            rooms: true,
            ..Recorder::default()
        };
        let (bus, results) = publish_all(bus, 64 * 1024, sent.clone()).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(bus.messages(), sent);
        let calls = bus.many_calls.lock().unwrap().clone();
        assert!(
            !calls.is_empty() && calls.iter().all(|n| (2..=MAX_GROUPS).contains(n)),
            "{calls:?}"
        );
        // far fewer round trips than messages: one call carries many channels
        assert!(
            bus.publishes() / calls.len().max(1) > 4,
            "{} publishes in {calls:?}",
            bus.publishes()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn in_one_call_each_channel_gets_its_own_outcome() {
        struct Expects;
        impl Audience for Expects {
            fn expected(&self, _channel: &str) -> usize {
                1
            }
            fn bus_failed(&self) {}
        }
        let bus = Arc::new(Recorder {
            rooms: true,
            ..Recorder::default()
        });
        let (outbox, rx) = Outbox::new(64);
        let outbox = Arc::new(outbox);
        let task = tokio::spawn(run(Arc::downgrade(&bus), rx, 64 * 1024, Expects));
        let mut handles = Vec::new();
        for (i, channel) in ["a#", "lonely#", "b#", "lonely#", "c#"]
            .into_iter()
            .enumerate()
        {
            let outbox = outbox.clone();
            handles.push(tokio::spawn(async move {
                outbox.publish(channel.into(), vec![i as u8].into()).await
            }));
        }
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.unwrap());
        }
        task.abort();
        let undelivered: Vec<bool> = results
            .iter()
            .map(|r| {
                matches!(
                    r,
                    Err(BusError::Undelivered {
                        reached: 0,
                        expected: 1
                    })
                )
            })
            .collect();
        assert_eq!(
            undelivered,
            [false, true, false, true, false],
            "{results:?}"
        );
        assert!(results[0].is_ok() && results[2].is_ok() && results[4].is_ok());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn batches_hold_a_bounded_number_of_messages() {
        let sent = numbered("main#", 3 * MAX_BATCH_MESSAGES);
        let (bus, _) = publish_all(Recorder::default(), usize::MAX, sent.clone()).await;
        assert_eq!(bus.messages(), sent);
        for (_, payload) in bus.published.lock().unwrap().iter() {
            let count = batch::split(payload).map_or(1, |p| p.len());
            assert!(count <= MAX_BATCH_MESSAGES, "{count} messages");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn batches_stay_within_the_limit() {
        let sent = numbered("main#", 100);
        let limit = 100;
        let (bus, _) = publish_all(Recorder::default(), limit, sent.clone()).await;
        assert_eq!(bus.messages(), sent);
        for (_, payload) in bus.published.lock().unwrap().iter() {
            assert!(payload.len() <= limit, "{} bytes", payload.len());
        }
        // no batching at all with a limit of 0
        let (bus, _) = publish_all(Recorder::default(), 0, sent.clone()).await;
        assert_eq!(bus.publishes(), 100);
        assert_eq!(bus.messages(), sent);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_publisher_of_a_failed_batch_sees_the_error() {
        let bus = Recorder {
            fail: true,
            ..Recorder::default()
        };
        let (_, results) = publish_all(bus, 64 * 1024, numbered("main#", 50)).await;
        assert_eq!(results.len(), 50);
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(BusError::Unavailable(_)))));
    }

    /// A bus that says every publish reached `reached` subscribers, or fails.
    struct Counting {
        reached: Option<usize>,
    }

    #[async_trait]
    impl PubSub for Counting {
        async fn publish(&self, _: &str, _: Bytes) -> Result<(), BusError> {
            Ok(())
        }
        async fn publish_counted(&self, _: &str, _: Bytes) -> Result<Option<usize>, BusError> {
            self.reached
                .map(Some)
                .ok_or_else(|| BusError::Unavailable("down".into()))
        }
        async fn subscribe(
            &self,
            _: &[Subscription],
            _: mpsc::Sender<BusMessage>,
        ) -> Result<(), BusError> {
            Ok(())
        }
    }

    /// Expects `expected` subscribers on every channel and counts the bus failures.
    #[derive(Default)]
    struct Expecting {
        expected: usize,
        failures: std::sync::atomic::AtomicUsize,
    }

    impl Audience for Arc<Expecting> {
        fn expected(&self, _: &str) -> usize {
            self.expected
        }
        fn bus_failed(&self) {
            self.failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    async fn publish_once(bus: Counting, audience: &Arc<Expecting>) -> Result<(), BusError> {
        let bus = Arc::new(bus);
        let (outbox, rx) = Outbox::new(4);
        let task = tokio::spawn(run(Arc::downgrade(&bus), rx, 1024, audience.clone()));
        let outcome = outbox.publish("main#".into(), "x".into()).await;
        task.abort();
        outcome
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_publish_reaching_too_few_subscribers_fails() {
        let audience = Arc::new(Expecting {
            expected: 3,
            ..Expecting::default()
        });
        let short = publish_once(Counting { reached: Some(2) }, &audience).await;
        assert_eq!(
            short,
            Err(BusError::Undelivered {
                reached: 2,
                expected: 3
            })
        );
        // too few subscribers is not a broker failure
        assert_eq!(
            audience.failures.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        assert_eq!(
            publish_once(Counting { reached: Some(3) }, &audience).await,
            Ok(())
        );
        assert_eq!(
            publish_once(Counting { reached: Some(4) }, &audience).await,
            Ok(())
        );
        assert!(publish_once(Counting { reached: None }, &audience)
            .await
            .is_err());
        assert_eq!(
            audience.failures.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn publishing_after_the_bus_is_gone_fails() {
        let (outbox, rx) = Outbox::new(4);
        let bus = Arc::new(Recorder::default());
        let task = tokio::spawn(run(Arc::downgrade(&bus), rx, 1024, ()));
        drop(bus);
        assert!(outbox.publish("main#".into(), "x".into()).await.is_err());
        task.await.unwrap();
    }
}
