//! Publishing to, and reading, one JetStream stream: every message stored before the publish
//! returns, every node reading on from where it stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use volley_cluster::{BusError, BusMessage, Subscription};

use crate::config::Settings;
use crate::{subject, Connection, Inner, LOG_TARGET};

/// How long the server keeps a reader's consumer once the reader is gone.
const CONSUMER_LINGER: Duration = Duration::from_secs(30);
/// How often the server tells an idle reader that its consumer is alive: two missed mean it is
/// not, and the reader makes a new one.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Whether the stream is known to exist, and one creation at a time.
#[derive(Default)]
pub(crate) struct StreamState {
    ready: AtomicBool,
    lock: tokio::sync::Mutex<()>,
}

impl Settings {
    fn stream_name(&self) -> &str {
        self.stream.as_deref().unwrap_or(&self.root)
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream_name().to_owned(),
            subjects: vec![format!("{}.>", self.root)],
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::Old,
            max_messages: self.max_len,
            max_bytes: self.max_bytes,
            max_age: self.max_age,
            max_message_size: i32::try_from(self.max_message_size).unwrap_or(i32::MAX),
            num_replicas: 1,
            ..stream::Config::default()
        }
    }

    fn unavailable(&self, what: &str, e: impl std::fmt::Display) -> BusError {
        BusError::Unavailable(format!("NATS at {}: {what}: {e}", self.address))
    }
}

impl Inner {
    /// Creates the stream unless it is known to exist.
    pub(crate) async fn ensure_stream(&self) -> Result<(), BusError> {
        if self.stream.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(connection) = self.client.get() else {
            return Err(BusError::Unavailable("not connected to NATS".into()));
        };
        let settings = &self.settings;
        let _guard = self.stream.lock.lock().await;
        if self.stream.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let created = tokio::time::timeout(
            settings.operation_timeout * 2,
            connection
                .jetstream
                .get_or_create_stream(settings.stream_config()),
        )
        .await
        .map_err(|_| settings.unavailable("the stream", "no answer in time"))?;
        created.map_err(|e| settings.unavailable("cannot create or find the stream", e))?;
        self.stream.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Publishes to the stream and waits for its acknowledgement.
    pub(crate) async fn publish_stored(
        &self,
        connection: &Connection,
        subject: String,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.ensure_stream().await?;
        let settings = &self.settings;
        let len = payload.len();
        let stored = tokio::time::timeout(settings.operation_timeout + HEARTBEAT, async {
            connection.jetstream.publish(subject, payload).await?.await
        })
        .await
        .map_err(|_| settings.unavailable("publish", "no acknowledgement in time"))?;
        stored.map(drop).map_err(|e| {
            match e.kind() {
                // perhaps the server lost the stream (restarted without its storage): check it
                // on the next publish
                PublishErrorKind::StreamNotFound | PublishErrorKind::TimedOut => {
                    self.stream.ready.store(false, Ordering::Release);
                }
                _ => {}
            }
            match e.kind() {
                PublishErrorKind::Other if e.to_string().contains("maximum") => {
                    BusError::TooLarge(len)
                }
                _ => settings.unavailable("publish", e),
            }
        })
    }

    /// Starts reading the stream after its last message, in a task.
    pub(crate) async fn subscribe_stored(
        &self,
        connection: &Connection,
        subscriptions: &[Subscription],
        sink: mpsc::Sender<BusMessage>,
    ) -> Result<JoinHandle<()>, BusError> {
        self.ensure_stream().await?;
        let settings = self.settings.clone();
        let mut reader = Reader {
            jetstream: connection.jetstream.clone(),
            filter: consumer_filter(&settings.root, subscriptions),
            wanted: subscriptions.to_vec(),
            settings,
            last: 0,
            created: None,
        };
        let consumer = reader.consumer(true).await?;
        Ok(tokio::spawn(reader.run(consumer, sink)))
    }
}

/// The consumer's subject filter: the one subscription of a call that needs one, else every
/// subject of the root (servers before 2.10 take one filter only), checked by the reader.
fn consumer_filter(root: &str, subscriptions: &[Subscription]) -> String {
    match subject::filters(root, subscriptions).as_slice() {
        [one] => one.subject(),
        _ => format!("{root}.>"),
    }
}

/// One subscription's reading of the stream.
struct Reader {
    jetstream: Context,
    settings: Settings,
    filter: String,
    wanted: Vec<Subscription>,
    /// The sequence of the last message handled (delivered or skipped).
    last: u64,
    /// When the stream read was created: another time means it was lost and made again.
    created: Option<String>,
}

type Consumer = async_nats::jetstream::consumer::Consumer<pull::Config>;

impl Reader {
    /// A consumer that starts after the last message handled (after the stream's last message,
    /// when `first`).
    async fn consumer(&mut self, first: bool) -> Result<Consumer, BusError> {
        let settings = &self.settings;
        let timeout = settings.operation_timeout * 2;
        let mut stream = tokio::time::timeout(
            timeout,
            self.jetstream
                .get_or_create_stream(settings.stream_config()),
        )
        .await
        .map_err(|_| settings.unavailable("the stream", "no answer in time"))?
        .map_err(|e| settings.unavailable("the stream", e))?;
        let info = tokio::time::timeout(timeout, stream.info())
            .await
            .map_err(|_| settings.unavailable("the stream", "no answer in time"))?
            .map_err(|e| settings.unavailable("the stream", e))?;
        let created = info.created.to_string();
        if first {
            self.last = info.state.last_sequence;
        } else if self.created.as_ref() != Some(&created) {
            tracing::warn!(
                target: LOG_TARGET,
                stream = %info.config.name,
                "the NATS stream was lost and made again: reading the new one from its start"
            );
            self.last = 0;
        }
        self.created = Some(created);
        let config = pull::Config {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: self.last + 1,
            },
            ack_policy: AckPolicy::None,
            filter_subject: self.filter.clone(),
            inactive_threshold: CONSUMER_LINGER,
            memory_storage: true,
            num_replicas: 1,
            ..pull::Config::default()
        };
        tokio::time::timeout(timeout, stream.create_consumer(config))
            .await
            .map_err(|_| settings.unavailable("the stream's reader", "no answer in time"))?
            .map_err(|e| settings.unavailable("cannot read the stream", e))
    }

    /// Reads until the sink closes, making a new consumer after each failure.
    async fn run(mut self, mut consumer: Consumer, sink: mpsc::Sender<BusMessage>) {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.read(&consumer, &sink).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(target: LOG_TARGET, error = %e, "reading the NATS stream failed; reading on after the last message read");
                }
            }
            consumer = loop {
                tokio::select! {
                    biased;
                    _ = sink.closed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                match self.consumer(false).await {
                    Ok(consumer) => break consumer,
                    Err(e) => {
                        tracing::debug!(target: LOG_TARGET, error = %e, "cannot read the NATS stream yet");
                    }
                }
            };
            tracing::info!(target: LOG_TARGET, after = self.last, "reading the NATS stream again");
            backoff = Duration::from_millis(50);
        }
    }

    /// Hands what the subscriptions want to the sink: `Ok` once the sink closed, the error that
    /// stopped the consumer otherwise.
    async fn read(
        &mut self,
        consumer: &Consumer,
        sink: &mpsc::Sender<BusMessage>,
    ) -> Result<(), String> {
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(self.settings.read_count)
            .heartbeat(HEARTBEAT)
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let next = tokio::select! {
                biased;
                _ = sink.closed() => return Ok(()),
                next = messages.next() => next,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the consumer ended".into()),
            };
            let Ok(info) = message.info() else {
                tracing::debug!(target: LOG_TARGET, subject = %message.subject, "a stream message without its sequence, skipped");
                continue;
            };
            let sequence = info.stream_sequence;
            if sequence <= self.last {
                continue; // delivered already, by the consumer before this one
            }
            if sequence > self.last + 1 && self.filter == format!("{}.>", self.settings.root) {
                tracing::warn!(
                    target: LOG_TARGET,
                    lost = sequence - self.last - 1,
                    "NATS stream messages lost: the stream dropped them (its limits) before this node read them"
                );
            }
            self.last = sequence;
            let Some(channel) = subject::channel(&self.settings.root, &message.subject) else {
                tracing::debug!(target: LOG_TARGET, subject = %message.subject, "a stream message on a subject no channel has, skipped");
                continue;
            };
            if !self.wanted.iter().any(|s| s.matches(&channel)) {
                continue;
            }
            let payload = message.message.payload.clone();
            if sink.send(BusMessage { channel, payload }).await.is_err() {
                return Ok(());
            }
        }
    }
}
