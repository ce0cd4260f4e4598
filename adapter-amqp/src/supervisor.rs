//! The task that owns the connection: it consumes the node's queue into the sinks, notices when
//! the connection or a channel is lost, and reconnects with backoff, declaring everything again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;
use volley_cluster::BusMessage;

use std::sync::atomic::Ordering;

use crate::dedup::Dedup;
use crate::link::{Consuming, Link};
use crate::{wire, Shared, LOG_TARGET};

/// How often the health of the connection is checked when nothing else happens.
const HEALTH_CHECK: Duration = Duration::from_millis(200);

/// Why [`serve`] returned.
enum Outcome {
    /// The bus is closing.
    Stopped,
    /// The connection or a channel is gone, for this reason.
    Lost(String),
}

/// Runs until `stop`: serves `first`, then every connection that replaces it.
pub(crate) async fn run(shared: Arc<Shared>, stop: CancellationToken, first: Arc<Link>) {
    let settings = &shared.settings;
    let mut next = Some(first);
    let mut delay = settings.reconnect_min;
    let mut failures = 0u32;
    // Survives reconnections: that is when the broker redelivers.
    let mut dedup = Dedup::new(u64::from(settings.prefetch) * 4);
    loop {
        let link = match next.take() {
            Some(link) => link,
            None => {
                let attempt = tokio::select! {
                    _ = stop.cancelled() => break,
                    attempt = Link::open(settings) => attempt,
                };
                match attempt {
                    Ok(link) => {
                        tracing::info!(
                            target: LOG_TARGET,
                            address = %settings.address,
                            attempts = failures + 1,
                            "reconnected to RabbitMQ"
                        );
                        failures = 0;
                        delay = settings.reconnect_min;
                        let link = Arc::new(link);
                        shared.link.send_replace(Some(link.clone()));
                        link
                    }
                    Err(e) => {
                        failures += 1;
                        if failures == 1 || delay >= settings.reconnect_max {
                            tracing::warn!(
                                target: LOG_TARGET,
                                address = %settings.address,
                                error = %e,
                                retry_in = ?delay,
                                "cannot reconnect to RabbitMQ"
                            );
                        } else {
                            tracing::debug!(
                                target: LOG_TARGET,
                                error = %e,
                                retry_in = ?delay,
                                "cannot reconnect to RabbitMQ"
                            );
                        }
                        if !pause(&stop, &mut delay, settings.reconnect_max).await {
                            break;
                        }
                        continue;
                    }
                }
            }
        };

        let outcome = serve(&shared, &stop, &link, &mut dedup).await;
        shared.consuming.send_replace(false);
        shared.link.send_replace(None);
        if matches!(outcome, Outcome::Stopped) && shared.queue_declared.load(Ordering::Relaxed) {
            // Nobody will read it again: do not let it collect messages until it expires.
            link.delete_queue(&settings.queue).await;
        }
        link.close().await;
        match outcome {
            Outcome::Stopped => break,
            Outcome::Lost(reason) => tracing::warn!(
                target: LOG_TARGET,
                address = %settings.address,
                reason = %reason,
                "lost the connection to RabbitMQ; reconnecting"
            ),
        }
        if !pause(&stop, &mut delay, settings.reconnect_max).await {
            break;
        }
    }
    shared.consuming.send_replace(false);
    if let Some(link) = shared.link.send_replace(None) {
        link.close().await;
    }
    shared.clear_subscribers();
}

/// Waits `delay` (then doubles it, up to `max`); `false` if the bus closes meanwhile.
async fn pause(stop: &CancellationToken, delay: &mut Duration, max: Duration) -> bool {
    let wait = *delay;
    *delay = (*delay * 2).min(max);
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// Serves one connection: sets up the queue once someone subscribes, forwards deliveries, and
/// returns when the connection or a channel is lost, or the bus closes.
async fn serve(
    shared: &Shared,
    stop: &CancellationToken,
    link: &Link,
    dedup: &mut Dedup,
) -> Outcome {
    let settings = &shared.settings;
    // Acknowledge in batches (`multiple`), half a prefetch window at a time, so the broker always
    // has room to send more.
    let ack_every = u32::from(settings.prefetch / 2).max(1);
    let mut unacked = 0u32;
    let mut consuming: Option<Consuming> = None;
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if consuming.is_none() && shared.has_subscribers() {
            let declared_before = shared.queue_declared.load(Ordering::Relaxed);
            match link.consume(settings, declared_before).await {
                Ok(c) => {
                    shared.queue_declared.store(true, Ordering::Relaxed);
                    if c.recreated {
                        let losses = shared.queue_losses.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::warn!(
                            target: LOG_TARGET,
                            queue = %c.queue,
                            expiry = ?settings.queue_expiry,
                            losses,
                            "this node's RabbitMQ queue was gone when it reconnected (away longer \
                             than the queue expiry, or lost by a broker restart): what was \
                             published meanwhile did not reach this node"
                        );
                    }
                    tracing::debug!(target: LOG_TARGET, queue = %c.queue, "consuming");
                    consuming = Some(c);
                    unacked = 0;
                    shared.consuming.send_replace(true);
                }
                Err(e) => return Outcome::Lost(format!("cannot set up this node's queue: {e}")),
            }
        }
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Outcome::Stopped,
            delivery = next_delivery(&mut consuming) => match delivery {
                Some(Ok(delivery)) => {
                    let acker = delivery.acker.clone();
                    if !forward(shared, stop, delivery, dedup).await {
                        return Outcome::Stopped;
                    }
                    unacked += 1;
                    if unacked >= ack_every {
                        unacked = 0;
                        let ack = acker.ack(BasicAckOptions { multiple: true });
                        match tokio::time::timeout(settings.operation_timeout, ack).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => return Outcome::Lost(format!("cannot acknowledge: {e}")),
                            Err(_) => return Outcome::Lost("acknowledging timed out".into()),
                        }
                    }
                }
                Some(Err(e)) => return Outcome::Lost(format!("the consumer failed: {e}")),
                None => return Outcome::Lost("the broker cancelled the consumer".into()),
            },
            _ = shared.wake.notified() => {
                if let Some(reason) = broken(link, consuming.as_ref()) {
                    return Outcome::Lost(reason);
                }
            }
            _ = health.tick() => {
                if let Some(reason) = broken(link, consuming.as_ref()) {
                    return Outcome::Lost(reason);
                }
            }
        }
    }
}

/// Why this connection can no longer be used, if it cannot.
fn broken(link: &Link, consuming: Option<&Consuming>) -> Option<String> {
    if !link.healthy() {
        return Some("the connection or its publishing channel closed".into());
    }
    if consuming.is_some_and(|c| !c.channel.status().connected()) {
        return Some("the consuming channel closed".into());
    }
    None
}

async fn next_delivery(consuming: &mut Option<Consuming>) -> Option<lapin::Result<Delivery>> {
    match consuming {
        Some(c) => c.consumer.next().await,
        None => std::future::pending().await,
    }
}

/// Hands one delivery to every sink that wants it, waiting while a sink is full. `false` if the
/// bus closed meanwhile.
async fn forward(
    shared: &Shared,
    stop: &CancellationToken,
    delivery: Delivery,
    dedup: &mut Dedup,
) -> bool {
    let channel = delivery.routing_key.as_str();
    let id = delivery
        .properties
        .message_id()
        .as_ref()
        .and_then(|id| wire::parse_message_id(id.as_str()));
    if let Some((publisher, seq)) = id {
        if !dedup.first_time(publisher, seq) {
            shared.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(target: LOG_TARGET, channel = %channel, "dropping a message delivered twice");
            return true;
        }
    }
    if delivery.data.len() > shared.settings.max_message_size {
        tracing::warn!(
            target: LOG_TARGET,
            channel = %channel,
            bytes = delivery.data.len(),
            "dropping a message larger than max_message_size"
        );
        return true;
    }
    let subscribers = shared.subscribers();
    if !subscribers.iter().any(|s| s.wants(channel)) {
        return true;
    }
    let payload = Bytes::from(delivery.data);
    let mut closed = false;
    for subscriber in subscribers.iter() {
        if !subscriber.wants(channel) {
            continue;
        }
        let message = BusMessage {
            channel: channel.to_owned(),
            payload: payload.clone(),
        };
        match subscriber.sink.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => closed = true,
            Err(TrySendError::Full(message)) => {
                tokio::select! {
                    _ = stop.cancelled() => return false,
                    sent = subscriber.sink.send(message) => closed |= sent.is_err(),
                }
            }
        }
    }
    if closed {
        shared.prune_subscribers();
    }
    true
}
