//! Publishing and subscribing on core NATS subjects: nothing stored.

use async_nats::client::PublishErrorKind;
use bytes::Bytes;
use futures_util::stream::{select_all, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use volley_cluster::{BusError, BusMessage, Subscription};

use crate::config::Settings;
use crate::{subject, Connection, LOG_TARGET};

/// One `PUB`, then a round trip: the server handles a connection's commands in order, so once
/// it answered, it has handed the message to every subscription it had, and a later publish
/// from any node comes after it. Within the operation timeout.
pub(crate) async fn publish(
    connection: &Connection,
    settings: &Settings,
    subject: String,
    payload: Bytes,
) -> Result<(), BusError> {
    let len = payload.len();
    let client = &connection.client;
    let sent = tokio::time::timeout(settings.operation_timeout, async {
        client
            .publish(subject, payload)
            .await
            .map_err(|e| match e.kind() {
                PublishErrorKind::MaxPayloadExceeded => BusError::TooLarge(len),
                PublishErrorKind::BadSubject => {
                    BusError::Other(format!("NATS refused the subject: {e}"))
                }
                _ => BusError::Unavailable(format!("NATS at {}: {e}", settings.address)),
            })?;
        round_trip(client, settings).await
    })
    .await;
    sent.unwrap_or_else(|_| {
        Err(BusError::Unavailable(format!(
            "NATS at {} did not take the message in time",
            settings.address
        )))
    })
}

/// Waits until the server has handled everything this client sent before: a request on a new
/// inbox, where nobody listens, which the server answers itself ("no responders").
async fn round_trip(client: &async_nats::Client, settings: &Settings) -> Result<(), BusError> {
    match client.request(client.new_inbox(), Bytes::new()).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => Ok(()),
        Err(e) => Err(BusError::Unavailable(format!(
            "NATS at {}: {e}",
            settings.address
        ))),
    }
}

/// Subscribes to the fewest subjects that cover `subscriptions`, makes sure the server has them
/// (one round trip), and forwards what they want to `sink` from a task, until the sink closes.
pub(crate) async fn subscribe(
    connection: &Connection,
    settings: &Settings,
    subscriptions: &[Subscription],
    sink: mpsc::Sender<BusMessage>,
) -> Result<JoinHandle<()>, BusError> {
    let client = &connection.client;
    let unavailable = |e: &dyn std::fmt::Display| {
        BusError::Unavailable(format!("NATS at {}: {e}", settings.address))
    };
    let mut subscribers = Vec::new();
    for filter in subject::filters(&settings.root, subscriptions) {
        let subscriber = client
            .subscribe(filter.subject())
            .await
            .map_err(|e| unavailable(&e))?;
        subscribers.push(subscriber);
    }
    // Once the server answered after the SUBs, every message published from then on reaches
    // them.
    tokio::time::timeout(settings.operation_timeout, round_trip(client, settings))
        .await
        .map_err(|_| unavailable(&"no answer to the subscription in time"))??;
    let root = settings.root.clone();
    let wanted = subscriptions.to_vec();
    Ok(tokio::spawn(async move {
        let mut messages = select_all(subscribers);
        loop {
            let message = tokio::select! {
                biased;
                _ = sink.closed() => break,
                message = messages.next() => message,
            };
            let Some(message) = message else { break };
            let Some(channel) = subject::channel(&root, &message.subject) else {
                tracing::debug!(target: LOG_TARGET, subject = %message.subject, "NATS message on a subject no channel has, skipped");
                continue;
            };
            if !wanted.iter().any(|s| s.matches(&channel)) {
                continue;
            }
            let message = BusMessage {
                channel,
                payload: message.payload,
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
    }))
}
