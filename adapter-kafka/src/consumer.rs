//! The consumer of one `subscribe` call: assigned every partition of the topic at its end, it
//! forwards the records whose key matches a subscription to the sink.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use volley_cluster::{BusError, BusMessage, Subscription};

use crate::config::Settings;
use crate::context::BusContext;
use crate::{error, Inner, GRACE, LOG_TARGET};

type Kafka = StreamConsumer<BusContext>;

/// A consumer with its partitions assigned, and the next offset of each.
pub(crate) struct Assigned {
    consumer: Arc<Kafka>,
    /// Partition → offset of the next record to read.
    next: Vec<(i32, i64)>,
}

impl Assigned {
    /// Remembers that the record at `offset` of `partition` was read.
    fn advance(&mut self, partition: i32, offset: i64) {
        match self.next.iter_mut().find(|(p, _)| *p == partition) {
            Some((_, next)) => *next = (*next).max(offset + 1),
            None => self.next.push((partition, offset + 1)),
        }
    }

    /// Lists the topic's partitions and, if some are new, assigns them too, from their start
    /// (the others continue at their next offset).
    async fn add_new_partitions(&mut self, topic: &str) -> Result<(), String> {
        let consumer = self.consumer.clone();
        let owned = topic.to_owned();
        let listed = tokio::task::spawn_blocking(move || {
            let metadata = consumer
                .fetch_metadata(Some(&owned), Duration::from_secs(2))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(
                metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == owned && t.error().is_none())
                    .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
                    .unwrap_or_default(),
            )
        });
        let partitions = tokio::time::timeout(Duration::from_secs(3), listed)
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())??;
        let new: Vec<i32> = partitions
            .into_iter()
            .filter(|p| !self.next.iter().any(|(known, _)| known == p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let mut assignment = TopicPartitionList::new();
        for (partition, offset) in &self.next {
            assignment
                .add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| e.to_string())?;
        }
        for partition in &new {
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
        self.consumer
            .assign(&assignment)
            .map_err(|e| e.to_string())?;
        // Their first record is at 0 or later: until one is read, a replacement consumer
        // starts them by age (see `resume`).
        self.next.extend(new.iter().map(|p| (*p, -1)));
        tracing::info!(target: LOG_TARGET, topic, partitions = ?new, "reading new partitions of the Kafka topic");
        Ok(())
    }

    /// Stops fetching at once and destroys the consumer off the runtime threads.
    fn retire(self) {
        let _ = self.consumer.unassign();
        let consumer = self.consumer;
        tokio::task::spawn_blocking(move || drop(consumer));
    }
}

/// Where a consumer starts reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// At this offset.
    At(i64),
    /// At the first record whose timestamp is at least this (milliseconds since the epoch), or
    /// at the end when there is none; at the start of the log if the broker cannot tell.
    Since(i64),
}

/// Creates a consumer and assigns it every partition of the topic at its current end offset:
/// a record published after this returns has a larger offset.
pub(crate) async fn start(
    settings: &Settings,
    context: BusContext,
    deadline: Instant,
) -> Result<Assigned, BusError> {
    assign_from(settings, context, deadline, |_partition, _low, high| {
        Start::At(high)
    })
    .await
}

/// Creates a consumer that continues where an earlier one stopped (`next`): after an outage,
/// nothing the brokers kept is lost. Where the log no longer reaches that far (the topic was
/// created again, or truncated), or for a partition the earlier consumer did not know, it
/// starts at the first record younger than the max age, not at the start of what the brokers
/// retain (older records would be skipped anyway).
pub(crate) async fn resume(
    settings: &Settings,
    context: BusContext,
    next: &[(i32, i64)],
    deadline: Instant,
) -> Result<Assigned, BusError> {
    let next = next.to_vec();
    let since = now_millis().saturating_sub(millis(settings.max_age));
    assign_from(
        settings,
        context,
        deadline,
        move |partition, low, high| match next.iter().find(|(p, _)| *p == partition) {
            Some((_, offset)) if (low..=high).contains(offset) => Start::At(*offset),
            _ => Start::Since(since),
        },
    )
    .await
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The offsets at which `wanted` start, on `consumer`'s blocking calls: `Since` is asked of the
/// brokers (`ListOffsets` by timestamp), falling back to the start of the log.
fn resolve(
    consumer: &Kafka,
    topic: &str,
    wanted: Vec<(i32, i64, i64, Start)>,
    timeout: Duration,
) -> Vec<(i32, i64)> {
    let mut by_time = TopicPartitionList::new();
    for (partition, _, _, start) in &wanted {
        if let Start::Since(ts) = start {
            let _ = by_time.add_partition_offset(topic, *partition, Offset::Offset(*ts));
        }
    }
    let found = if by_time.count() > 0 {
        consumer.offsets_for_times(by_time, timeout).ok()
    } else {
        None
    };
    wanted
        .into_iter()
        .map(|(partition, low, high, start)| {
            let offset = match start {
                Start::At(offset) => offset,
                Start::Since(_) => match found
                    .as_ref()
                    .and_then(|f| f.find_partition(topic, partition))
                    .map(|e| (e.error().is_ok(), e.offset()))
                {
                    Some((true, Offset::Offset(o))) if (low..=high).contains(&o) => o,
                    Some((true, Offset::End)) => high,
                    _ => low,
                },
            };
            (partition, offset)
        })
        .collect()
}

/// Creates a consumer and assigns every partition of the topic at `pick(partition, low, high)`.
async fn assign_from(
    settings: &Settings,
    context: BusContext,
    deadline: Instant,
    pick: impl Fn(i32, i64, i64) -> Start + Send + 'static,
) -> Result<Assigned, BusError> {
    let mut config = settings.consumer.clone();
    let uid: [u8; 8] = rand::random();
    let group: String = uid.iter().map(|b| format!("{b:02x}")).collect();
    config.set("group.id", format!("volley-{group}"));
    let consumer: Kafka = config
        .create_with_context(context)
        .map_err(|e| BusError::Other(format!("cannot create a Kafka consumer: {e}")))?;
    let consumer = Arc::new(consumer);

    // The queries block: off the runtime threads.
    let topic = settings.topic.clone();
    let querying = consumer.clone();
    let offsets = tokio::task::spawn_blocking(move || {
        watermarks(&querying, &topic, deadline).map(|marks| {
            let wanted = marks
                .into_iter()
                .map(|(partition, low, high)| (partition, low, high, pick(partition, low, high)))
                .collect::<Vec<_>>();
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100));
            resolve(&querying, &topic, wanted, left)
        })
    });
    let left = deadline.saturating_duration_since(Instant::now());
    let offsets = match tokio::time::timeout(left + GRACE, offsets).await {
        Ok(Ok(offsets)) => offsets,
        Ok(Err(_panicked)) => Err(BusError::Other("the offset query failed".into())),
        Err(_) => Err(BusError::Unavailable(
            "timed out reading the end of the Kafka topic".into(),
        )),
    };
    let offsets = match offsets {
        Ok(offsets) => offsets,
        Err(e) => {
            tokio::task::spawn_blocking(move || drop(consumer));
            return Err(e);
        }
    };
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in &offsets {
        assignment
            .add_partition_offset(&settings.topic, *partition, Offset::Offset(*offset))
            .map_err(|e| BusError::Other(e.to_string()))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| BusError::Other(format!("cannot assign the Kafka partitions: {e}")))?;
    tracing::debug!(target: LOG_TARGET, topic = %settings.topic, ?offsets, "Kafka consumer assigned");
    Ok(Assigned {
        consumer,
        next: offsets,
    })
}

/// The partitions of `topic` with their low and high watermarks, retried until `deadline`
/// while the brokers are unreachable or the topic's leader is not known yet.
fn watermarks(
    consumer: &Kafka,
    topic: &str,
    deadline: Instant,
) -> Result<Vec<(i32, i64, i64)>, BusError> {
    let mut last_error = String::from("no answer");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BusError::Unavailable(format!(
                "cannot read the end of the Kafka topic {topic:?}: {last_error}"
            )));
        }
        match try_watermarks(consumer, topic, left) {
            Ok(marks) => return Ok(marks),
            Err(e) => last_error = e,
        }
        std::thread::sleep(Duration::from_millis(50).min(left));
    }
}

fn try_watermarks(
    consumer: &Kafka,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(i32, i64, i64)>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| e.to_string())?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err("the topic is not in the metadata".into());
    };
    if let Some(err) = found.error() {
        return Err(format!("{:?}", RDKafkaErrorCode::from(err)));
    }
    if found.partitions().is_empty() {
        return Err("the topic has no partition".into());
    }
    let mut marks = Vec::with_capacity(found.partitions().len());
    for partition in found.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition.id(), timeout)
            .map_err(|e| e.to_string())?;
        marks.push((partition.id(), low.max(0), high.max(0)));
    }
    marks.sort_unstable();
    Ok(marks)
}

/// Which records one `subscribe` call asked for.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    channels: HashSet<String>,
    prefixes: Vec<String>,
}

impl Filter {
    pub(crate) fn new(subscriptions: &[Subscription]) -> Filter {
        let mut channels = HashSet::new();
        let mut prefixes: Vec<String> = Vec::new();
        for s in subscriptions {
            match s {
                Subscription::Channel(c) => {
                    channels.insert(c.clone());
                }
                Subscription::Prefix(p) => {
                    if !prefixes.contains(p) {
                        prefixes.push(p.clone());
                    }
                }
            }
        }
        Filter { channels, prefixes }
    }

    pub(crate) fn wants(&self, channel: &str) -> bool {
        self.channels.contains(channel)
            || self
                .prefixes
                .iter()
                .any(|p| channel.starts_with(p.as_str()))
    }
}

/// What one received record or error means for the forwarding loop.
enum Received {
    /// A record for the sink, at this partition and offset.
    Message(BusMessage, i32, i64),
    /// A record no subscription wants.
    Skip(i32, i64),
    /// A record older than the max age.
    Stale(i32, i64),
    Error(RdError),
}

/// Whether a record with timestamp `timestamp` is older than `max_age` (milliseconds) at `now`.
fn is_stale(timestamp: Option<i64>, now: i64, max_age: i64) -> bool {
    timestamp.is_some_and(|ts| now.saturating_sub(ts) > max_age)
}

fn receive(
    filter: &Filter,
    max_age: i64,
    received: Result<BorrowedMessage<'_>, RdError>,
) -> Received {
    let message = match received {
        Ok(message) => message,
        Err(e) => return Received::Error(e),
    };
    let (partition, offset) = (message.partition(), message.offset());
    if is_stale(message.timestamp().to_millis(), now_millis(), max_age) {
        return Received::Stale(partition, offset);
    }
    // A record without a key (a foreign producer's, python-socketio's say) is on channel "",
    // which only a subscription to every channel (`Prefix("")`) takes.
    let key = message.key().unwrap_or_default();
    let Ok(channel) = std::str::from_utf8(key) else {
        return Received::Skip(partition, offset);
    };
    if !filter.wants(channel) {
        return Received::Skip(partition, offset);
    }
    let message = BusMessage {
        channel: channel.to_owned(),
        payload: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
    };
    Received::Message(message, partition, offset)
}

/// Forwards the records of one subscription to its sink until the sink closes or the bus stops.
///
/// When every broker connection is lost, the consumer stops fetching at once and is replaced,
/// once a broker answers again, by a new one that continues at the next offset (see
/// [`resume`]). A brand-new consumer also learns the topic afresh: a broker that lost its data
/// has a new topic (librdkafka 2.12 can crash on a fetch for a topic id a broker no longer
/// knows, which tansu's memory storage answers after a restart).
pub(crate) async fn forward(
    mut assigned: Assigned,
    filter: Filter,
    sink: mpsc::Sender<BusMessage>,
    stop: CancellationToken,
    bus: Weak<Inner>,
) {
    let mut last_topic_check: Option<Instant> = None;
    let Some((max_age, check_every, topic)) = bus.upgrade().map(|inner| {
        let s = &inner.settings;
        (millis(s.max_age), s.partition_check, s.topic.clone())
    }) else {
        assigned.retire();
        return;
    };
    let mut partition_check = tokio::time::interval(check_every);
    partition_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    partition_check.reset();
    let mut stale_log: Option<Instant> = None;
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = sink.closed() => break,
            received = assigned.consumer.recv() => receive(&filter, max_age, received),
            _ = partition_check.tick() => {
                if let Err(e) = assigned.add_new_partitions(&topic).await {
                    tracing::debug!(target: LOG_TARGET, error = %e, "cannot check the Kafka topic's partitions");
                }
                continue;
            }
        };
        match received {
            Received::Message(message, partition, offset) => {
                assigned.advance(partition, offset);
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    sent = sink.send(message) => if sent.is_err() { break },
                }
            }
            Received::Skip(partition, offset) => assigned.advance(partition, offset),
            Received::Stale(partition, offset) => {
                assigned.advance(partition, offset);
                let Some(inner) = bus.upgrade() else { break };
                let total = inner.stale.fetch_add(1, Ordering::Relaxed) + 1;
                if stale_log.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
                    stale_log = Some(Instant::now());
                    tracing::warn!(
                        target: LOG_TARGET,
                        topic = %topic,
                        partition,
                        offset,
                        max_age = ?inner.settings.max_age,
                        total,
                        "skipping Kafka records older than max_age"
                    );
                }
            }
            Received::Error(e) => {
                let Some(inner) = bus.upgrade() else { break };
                inner.context.warn("Kafka consumer error", &e);
                let code = e.rdkafka_error_code();
                if code == Some(RDKafkaErrorCode::AllBrokersDown) {
                    let next = assigned.next.clone();
                    assigned.retire();
                    drop(inner);
                    match rebuild(&next, &sink, &stop, &bus).await {
                        Some(fresh) => assigned = fresh,
                        None => return,
                    }
                } else if code.is_some_and(error::is_unknown_topic) {
                    // The broker lost the topic: create it again (at most once a second), so
                    // that this node receives again even if nobody publishes.
                    inner.topic_lost();
                    let due =
                        last_topic_check.is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
                    if due {
                        last_topic_check = Some(Instant::now());
                        let deadline = Instant::now() + inner.settings.connect_timeout;
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = inner.ensure_topic(deadline) => {}
                        }
                    }
                }
            }
        }
    }
    assigned.retire();
}

/// Waits until a broker answers, makes sure the topic exists, and returns a consumer that
/// continues at `next`; `None` when the sink or the bus closed meanwhile.
async fn rebuild(
    next: &[(i32, i64)],
    sink: &mpsc::Sender<BusMessage>,
    stop: &CancellationToken,
    bus: &Weak<Inner>,
) -> Option<Assigned> {
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            _ = sink.closed() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
        let inner = bus.upgrade()?;
        let deadline = Instant::now() + inner.settings.connect_timeout;
        let attempt = async {
            // The brokers may have lost the topic while they were away.
            inner.recheck_topic();
            inner.ensure_topic(deadline).await?;
            resume(
                &inner.settings,
                inner.context.ignoring_down(),
                next,
                deadline,
            )
            .await
        };
        let result = tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            _ = sink.closed() => return None,
            result = attempt => result,
        };
        match result {
            Ok(assigned) => {
                tracing::info!(target: LOG_TARGET, topic = %inner.settings.topic, offsets = ?assigned.next, "Kafka consumer resumed");
                return Some(assigned);
            }
            Err(e) => {
                tracing::debug!(target: LOG_TARGET, error = %e, "the Kafka consumer cannot resume yet");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_channels_and_prefixes() {
        let filter = Filter::new(&[
            Subscription::Prefix("a#".into()),
            Subscription::Prefix("a#".into()),
            Subscription::Channel("a#c".into()),
            Subscription::Channel("x".into()),
        ]);
        assert!(filter.wants("a#"));
        assert!(filter.wants("a#c"));
        assert!(filter.wants("a#b#"));
        assert!(filter.wants("x"));
        assert!(!filter.wants("x#"));
        assert!(!filter.wants("a"));
        assert!(!filter.wants(""));
        assert!(!Filter::new(&[]).wants("a"));
    }

    #[test]
    fn staleness_is_by_the_record_timestamp() {
        assert!(!is_stale(None, 100_000, 30_000));
        assert!(!is_stale(Some(70_000), 100_000, 30_000));
        assert!(is_stale(Some(69_999), 100_000, 30_000));
        // a clock ahead of ours is not stale
        assert!(!is_stale(Some(200_000), 100_000, 30_000));
        assert!(!is_stale(Some(i64::MIN), i64::MIN, 0));
    }
}
