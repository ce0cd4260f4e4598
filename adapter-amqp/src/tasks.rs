//! The tokio tasks of one lapin connection, kept so that none outlives it.
//!
//! lapin runs a connection's background work (its internal command loop, the heartbeat timer,
//! one-shot futures such as a channel's close) as tasks spawned through the executor it is given,
//! and reads and writes the socket on a thread of its own, which registers the socket with the
//! reactor it is given. Some of those tasks outlive the connection:
//!
//! - when the TCP connect fails, the I/O thread returns without telling the command loop to
//!   stop, and the loop holds a sender of its own command queue, so it waits forever;
//! - after a close, the heartbeat task sleeps up to half the heartbeat interval before it sees
//!   that the connection is gone.
//!
//! With the plain tokio executor that is one task more per failed attempt while a broker is down
//! (the bus retries every few seconds), without bound.
//!
//! [`ConnectionTasks`] is the executor and the reactor of one connection attempt: it keeps the
//! abort handle of every task lapin spawns and counts the sockets lapin registers. Once the bus
//! is done with the connection (the attempt failed, or the link closed), [`retire`] aborts every
//! task left as soon as lapin's I/O thread has let go of its socket — the thread needs the
//! command loop until then — or after [`REAP_MAX`] at most.
//!
//! [`retire`]: ConnectionTasks::retire

use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use executor_trait::{BlockingExecutor, Executor, FullExecutor, Task};
use futures_io::{AsyncRead, AsyncWrite};
use reactor_trait::{AsyncIOHandle, IOHandle, Reactor, TimeReactor};
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

/// The longest a retired connection's tasks are left running while lapin's I/O thread may still
/// need them (a TCP connect or a close still under way): then they are aborted regardless.
pub(crate) const REAP_MAX: Duration = Duration::from_secs(30);

/// The executor and reactor handed to lapin for one connection attempt; see the module's
/// documentation. Clones share the same tasks.
#[derive(Clone)]
pub(crate) struct ConnectionTasks {
    handle: Handle,
    state: Arc<Mutex<State>>,
    /// Cancelled once the tasks are aborted: ends the [`REAP_MAX`] watchdog early.
    reaped: CancellationToken,
}

#[derive(Default)]
struct State {
    /// The tasks spawned and not seen finished yet.
    tasks: Vec<AbortHandle>,
    /// Sockets registered by the I/O thread and not dropped yet.
    live_sockets: usize,
    /// Whether the I/O thread ever registered a socket (it got past its TCP connect).
    registered: bool,
    /// Whether the bus is done with this connection.
    retired: bool,
    /// Whether the tasks were aborted: later spawns are dropped at once.
    reaped: bool,
}

impl ConnectionTasks {
    /// Tasks of a new connection attempt, spawned on the current tokio runtime.
    pub(crate) fn new() -> ConnectionTasks {
        ConnectionTasks {
            handle: Handle::current(),
            state: Arc::new(Mutex::new(State::default())),
            reaped: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bus is done with this connection. `io_thread_done`: lapin returned an error of its
    /// own from the connect (its I/O thread has ended or ends without a socket). The tasks are
    /// aborted now if the I/O thread is done with its socket, else when it drops it, or after
    /// [`REAP_MAX`]. Calling it again does nothing more.
    pub(crate) fn retire(&self, io_thread_done: bool) {
        let reap_now = {
            let mut state = self.lock();
            if state.retired {
                return;
            }
            state.retired = true;
            state.live_sockets == 0 && (state.registered || io_thread_done)
        };
        if reap_now {
            self.reap();
            return;
        }
        let tasks = self.clone();
        // Not tracked itself: it ends when the tasks are aborted, or after REAP_MAX.
        self.handle.spawn(async move {
            tokio::select! {
                _ = tasks.reaped.cancelled() => {}
                _ = tokio::time::sleep(REAP_MAX) => tasks.reap(),
            }
        });
    }

    /// Aborts every task still running; later spawns are dropped.
    fn reap(&self) {
        let tasks = {
            let mut state = self.lock();
            state.reaped = true;
            std::mem::take(&mut state.tasks)
        };
        for task in tasks {
            task.abort();
        }
        self.reaped.cancel();
    }

    /// Called when the I/O thread drops a socket it registered.
    fn socket_dropped(&self) {
        let reap_now = {
            let mut state = self.lock();
            state.live_sockets = state.live_sockets.saturating_sub(1);
            state.retired && state.live_sockets == 0 && !state.reaped
        };
        if reap_now {
            self.reap();
        }
    }
}

impl Executor for ConnectionTasks {
    fn block_on(&self, f: Pin<Box<dyn Future<Output = ()>>>) {
        // lapin does not use it (only `Connection::run` blocks, on its thread).
        self.handle.block_on(f);
    }

    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn Task> {
        let mut state = self.lock();
        if state.reaped {
            // The connection is gone and so is its I/O thread: nothing waits for this.
            return Box::new(Spawned(None));
        }
        // Bounded by the tasks still running: finished ones go on every spawn.
        state.tasks.retain(|t| !t.is_finished());
        let join = self.handle.spawn(f);
        state.tasks.push(join.abort_handle());
        Box::new(Spawned(Some(join)))
    }
}

#[async_trait::async_trait]
impl BlockingExecutor for ConnectionTasks {
    async fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send + 'static>) {
        let _ = self.handle.spawn_blocking(f).await;
    }
}

impl FullExecutor for ConnectionTasks {}

/// A task spawned for lapin (`None`: dropped, the connection being gone). Aborted or panicked,
/// it counts as finished: lapin never waits on one anyway.
struct Spawned(Option<JoinHandle<()>>);

impl Future for Spawned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.as_mut() {
            Some(join) => Pin::new(join).poll(cx).map(|_| ()),
            None => Poll::Ready(()),
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Task for Spawned {
    async fn cancel(self: Box<Self>) -> Option<()> {
        let join = self.0?;
        join.abort();
        join.await.ok()
    }
}

impl Reactor for ConnectionTasks {
    fn register(&self, socket: IOHandle) -> io::Result<Box<dyn AsyncIOHandle + Send>> {
        let inner = tokio_reactor_trait::Tokio::default()
            .with_handle(self.handle.clone())
            .register(socket)?;
        {
            let mut state = self.lock();
            state.live_sockets += 1;
            state.registered = true;
        }
        Ok(Box::new(Socket {
            inner: Box::into_pin(inner),
            tasks: self.clone(),
        }))
    }
}

#[async_trait::async_trait]
impl TimeReactor for ConnectionTasks {
    async fn sleep(&self, dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    fn interval(&self, dur: Duration) -> Box<dyn futures_core::Stream<Item = Instant>> {
        tokio_reactor_trait::Tokio::default()
            .with_handle(self.handle.clone())
            .interval(dur)
    }
}

/// A socket lapin's I/O thread registered: tells its [`ConnectionTasks`] when it is dropped.
struct Socket {
    inner: Pin<Box<dyn AsyncIOHandle + Send>>,
    tasks: ConnectionTasks,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.tasks.socket_dropped();
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_read(cx, buf)
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_close(cx)
    }
}
