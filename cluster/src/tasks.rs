//! The background tasks a bus spawned, stopped with it.

use std::sync::{Mutex, PoisonError};

use tokio::task::JoinHandle;

/// The tasks a bus runs in the background (readers, resubscription loops), aborted together when
/// the bus closes or is dropped.
///
/// Adding a task lets go of those that have finished, so the set holds only the running ones.
///
/// ```
/// use volley_cluster::BusTasks;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let tasks = BusTasks::new();
/// let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
/// tasks.track(tokio::spawn(async move {
///     let _sender = tx;
///     std::future::pending::<()>().await
/// }));
/// assert_eq!(tasks.running(), 1);
/// tasks.abort_all();
/// assert_eq!(tasks.running(), 0);
/// // the task is gone, and with it the channel's only sender
/// let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await;
/// assert_eq!(stopped, Ok(None));
/// # });
/// ```
#[derive(Debug, Default)]
pub struct BusTasks {
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl BusTasks {
    /// No tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `task`, to abort with the others.
    pub fn track(&self, task: JoinHandle<()>) {
        let mut tasks = self.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Aborts every task kept so far.
    pub fn abort_all(&self) {
        for task in self.lock().drain(..) {
            task.abort();
        }
    }

    /// How many of the kept tasks have not finished.
    pub fn running(&self) -> usize {
        self.lock().iter().filter(|t| !t.is_finished()).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for BusTasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}
