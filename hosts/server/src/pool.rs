//! The bounded worker pool guests run on, off the async reactor.
//!
//! A fixed number of OS threads take jobs from one queue. Admission (rate, per-tenant and
//! global concurrency caps) happens *before* a job is queued, so the queue never holds more
//! than the global cap; a guest can therefore only ever occupy one worker per admitted call,
//! and a tenant at most its own concurrency cap of workers.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed pool of worker threads.
pub struct WorkerPool {
    tx: Mutex<Option<Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

impl WorkerPool {
    /// Starts `size` workers (at least one).
    ///
    /// # Errors
    ///
    /// If the OS refuses to start a thread.
    pub fn new(size: usize) -> std::io::Result<Self> {
        let size = size.max(1);
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(size);
        for i in 0..size {
            let rx = rx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("palisade-worker-{i}"))
                    .spawn(move || worker(&rx))?,
            );
        }
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
            size,
        })
    }

    /// Number of workers.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `f` on a worker and awaits its result. `None` if the pool is shut down (or the job
    /// panicked, which host code never should).
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The requester went away while the job was queued: skip the work.
            if !done.is_closed() {
                let _ = done.send(f());
            }
        });
        {
            let tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
            tx.as_ref()?.send(job).ok()?;
        }
        result.await.ok()
    }

    /// Stops taking jobs, lets the queued ones finish, and joins the workers.
    pub fn shutdown(&self) {
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}
