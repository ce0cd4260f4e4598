//! The consumer of one `subscribe` call: assigned every partition of the topic at its end, it
//! forwards the records whose key matches a subscription to the sink.

use std::collections::HashSet;
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
use volley::manager::cluster::{BusError, BusMessage, Subscription};

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

    /// Stops fetching at once and destroys the consumer off the runtime threads.
    fn retire(self) {
        let _ = self.consumer.unassign();
        let consumer = self.consumer;
        tokio::task::spawn_blocking(move || drop(consumer));
    }
}

/// Creates a consumer and assigns it every partition of the topic at its current end offset:
/// a record published after this returns has a larger offset.
pub(crate) async fn start(
    settings: &Settings,
    context: BusContext,
    deadline: Instant,
) -> Result<Assigned, BusError> {
    assign_from(settings, context, deadline, |_partition, _low, high| high).await
}

/// Creates a consumer that continues where an earlier one stopped (`next`): after an outage,
/// nothing the brokers kept is lost. Where the log no longer reaches that far (the topic was
/// created again, or truncated), or for a partition the earlier consumer did not know, it
/// starts at the beginning of what is there: all of it is newer than what was read.
pub(crate) async fn resume(
    settings: &Settings,
    context: BusContext,
    next: &[(i32, i64)],
    deadline: Instant,
) -> Result<Assigned, BusError> {
    let next = next.to_vec();
    assign_from(
        settings,
        context,
        deadline,
        move |partition, low, high| match next.iter().find(|(p, _)| *p == partition) {
            Some((_, offset)) if (low..=high).contains(offset) => *offset,
            _ => low,
        },
    )
    .await
}

/// Creates a consumer and assigns every partition of the topic at `pick(partition, low, high)`.
async fn assign_from(
    settings: &Settings,
    context: BusContext,
    deadline: Instant,
    pick: impl Fn(i32, i64, i64) -> i64 + Send + 'static,
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
            marks
                .into_iter()
                .map(|(partition, low, high)| (partition, pick(partition, low, high)))
                .collect::<Vec<_>>()
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
    Error(RdError),
}

fn receive(filter: &Filter, received: Result<BorrowedMessage<'_>, RdError>) -> Received {
    let message = match received {
        Ok(message) => message,
        Err(e) => return Received::Error(e),
    };
    let (partition, offset) = (message.partition(), message.offset());
    let Some(channel) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
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
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = sink.closed() => break,
            received = assigned.consumer.recv() => receive(&filter, received),
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
}
