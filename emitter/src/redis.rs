//! The Redis transport: `PUBLISH` in the classic format of Node's `@socket.io/redis-emitter`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use fred::clients::Client;
use fred::interfaces::{ClientLike, PubsubInterface};
use fred::types::config::{Config, Options, ReconnectPolicy};
use fred::types::{Builder, ConnectHandle};

use crate::{EmitterError, Outgoing, SendFuture, Transport};

/// How long a connection attempt, and a publish, may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection backoff: from 100 ms, doubling, up to 5 s, forever.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 5_000;

/// One fred client; its connection task is stopped when the transport is dropped.
pub(crate) struct RedisTransport {
    client: Client,
    task: Mutex<Option<ConnectHandle>>,
}

impl fmt::Debug for RedisTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTransport")
            .field("server", &self.client.client_config().server)
            .finish_non_exhaustive()
    }
}

impl RedisTransport {
    pub(crate) async fn connect(url: &str) -> Result<Self, EmitterError> {
        let config =
            Config::from_url(url).map_err(|e| EmitterError::Connect(format!("{url}: {e}")))?;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = TIMEOUT;
                c.internal_command_timeout = TIMEOUT;
                // A publish that was written when the connection dropped is not sent again:
                // the caller gets an error and decides.
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = TIMEOUT)
            .set_policy(ReconnectPolicy::new_exponential(
                0,
                RECONNECT_MIN_MS,
                RECONNECT_MAX_MS,
                2,
            ))
            .build()
            .map_err(|e| EmitterError::Connect(e.to_string()))?;
        let task = client
            .init()
            .await
            .map_err(|e| EmitterError::Connect(format!("{url}: {e}")))?;
        Ok(RedisTransport {
            client,
            task: Mutex::new(Some(task)),
        })
    }

    async fn publish(&self, channel: String, payload: Bytes) -> Result<(), EmitterError> {
        let options = Options {
            // Not connected (reconnecting): fail now instead of waiting for the connection.
            fail_fast: true,
            timeout: Some(TIMEOUT),
            max_attempts: Some(1),
            ..Options::default()
        };
        self.client
            .with_options(&options)
            .publish::<i64, _, _>(channel, payload)
            .await
            .map(|_receivers| ())
            .map_err(|e| EmitterError::Publish(e.to_string()))
    }
}

impl Transport for RedisTransport {
    fn send(&self, key: &str, message: Outgoing<'_>) -> SendFuture<'_> {
        let encoded = message.encode(key);
        Box::pin(async move {
            let (channel, payload) = encoded?;
            self.publish(channel, payload).await
        })
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // `quit` waits for pending commands, and while reconnecting it could wait long:
            // the connection task is aborted afterwards anyway.
            let _ = tokio::time::timeout(TIMEOUT, self.client.quit()).await;
            if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
                task.abort();
            }
        })
    }
}

impl Drop for RedisTransport {
    fn drop(&mut self) {
        // Stops the connection (and reconnection) task; needs no runtime.
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}
