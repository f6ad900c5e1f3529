//! The bounded worker pool guests run on, off the async reactor, shared fairly by tenant.
//!
//! A fixed number of OS threads run *jobs* one slice at a time (for a call: one fuel slice,
//! [`palisade::PendingCall::step`]). Jobs wait in one queue per tenant, and workers serve the
//! tenants with waiting jobs round-robin: the tenant whose turn it is has its first job run
//! for a turn of `weight` slices (its
//! [`TenantLimits::weight`](crate::tenant::TenantLimits::weight), default 1) and goes to the
//! back of the round. When a job's turn ends and another job waits, the job is parked — its
//! whole state kept — behind its tenant's queue, and the worker takes the next job in the
//! round; when nothing waits it runs its job on, with no queue traffic. So a tenant's share
//! of the workers depends on its weight, not on how many calls it has or how long they run;
//! a call that waits still has its deadline running.
//!
//! Admission (rate, per-tenant and global concurrency caps) happens *before* a job is
//! queued, so the queues never hold more than the global cap, and a tenant has at most its
//! own concurrency cap of jobs (a job runs on one worker at a time).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// One slice of a job: `true` when the job has finished.
type Slice = Box<dyn FnMut() -> bool + Send + 'static>;

/// A job and the tenant whose queue it waits in.
struct Job {
    tenant: Arc<str>,
    weight: u32,
    slice: Slice,
}

/// The jobs waiting for a worker, by tenant, and the round-robin order of those tenants.
#[derive(Default)]
struct Queues {
    by_tenant: HashMap<Arc<str>, VecDeque<Job>>,
    /// Tenants with waiting jobs, in the order they are served.
    order: VecDeque<Arc<str>>,
    /// Jobs waiting, over all tenants.
    waiting: usize,
    closed: bool,
}

impl Queues {
    fn push(&mut self, job: Job) {
        let queue = self.by_tenant.entry(job.tenant.clone()).or_default();
        if queue.is_empty() {
            self.order.push_back(job.tenant.clone());
        }
        queue.push_back(job);
        self.waiting += 1;
    }

    /// The first job of the tenant whose turn it is; that tenant goes to the back.
    fn pop(&mut self) -> Option<Job> {
        let tenant = self.order.pop_front()?;
        let queue = self.by_tenant.get_mut(&tenant)?;
        let job = queue.pop_front()?;
        self.waiting -= 1;
        if queue.is_empty() {
            self.by_tenant.remove(&tenant);
        } else {
            self.order.push_back(tenant);
        }
        Some(job)
    }
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fixed pool of worker threads, serving tenants round-robin one slice at a time.
pub struct WorkerPool {
    shared: Arc<Shared>,
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
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
        });
        let mut threads = Vec::with_capacity(size);
        for i in 0..size {
            let for_worker = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("palisade-worker-{i}"))
                .spawn(move || worker(&for_worker));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    let pool = Self {
                        shared,
                        threads: Mutex::new(threads),
                        size,
                    };
                    pool.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(Self {
            shared,
            threads: Mutex::new(threads),
            size,
        })
    }

    /// Number of workers.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `f` on a worker as one job of `tenant` and awaits its result. `None` if the pool
    /// is shut down (or the job panicked, which host code never should).
    ///
    /// `f` runs one slice per invocation and returns `Some` when the job is done; after a
    /// `None` it is called again, on this or another worker, once the tenants queued behind
    /// it had their turn. `weight` is the tenant's share per round (at least 1). A job whose
    /// requester went away before its first slice is skipped.
    pub async fn run_sliced<R: Send + 'static>(
        &self,
        tenant: &str,
        weight: u32,
        mut f: impl FnMut() -> Option<R> + Send + 'static,
    ) -> Option<R> {
        let (done, result) = tokio::sync::oneshot::channel();
        let mut done = Some(done);
        let mut started = false;
        let slice: Slice = Box::new(move || {
            let Some(tx) = done.as_ref() else {
                return true;
            };
            // The requester went away while the job was queued: skip the work.
            if !started && tx.is_closed() {
                done = None;
                return true;
            }
            started = true;
            match f() {
                Some(r) => {
                    if let Some(tx) = done.take() {
                        let _ = tx.send(r);
                    }
                    true
                }
                None => false,
            }
        });
        {
            let mut queues = self.shared.lock();
            if queues.closed {
                return None;
            }
            queues.push(Job {
                tenant: tenant.into(),
                weight,
                slice,
            });
        }
        self.shared.ready.notify_one();
        result.await.ok()
    }

    /// Stops taking jobs, lets the queued and parked ones finish, and joins the workers.
    pub fn shutdown(&self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }
}

fn worker(shared: &Shared) {
    let mut queues = shared.lock();
    loop {
        let Some(mut job) = queues.pop() else {
            if queues.closed {
                return;
            }
            queues = shared
                .ready
                .wait(queues)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        drop(queues);
        // The job's turn: `weight` slices, more while nobody waits.
        let mut turn = job.weight.max(1);
        loop {
            if (job.slice)() {
                queues = shared.lock();
                break;
            }
            turn -= 1;
            queues = shared.lock();
            if queues.waiting > 0 && turn == 0 {
                // Others wait: park this job behind them and serve the next in the round.
                queues.push(job);
                break;
            }
            if queues.waiting == 0 {
                turn = job.weight.max(1);
            }
            drop(queues);
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    reason = "tests fail loudly on the first unexpected value"
)]
mod tests {
    use super::*;

    fn job(tenant: &str, id: usize, log: &Arc<Mutex<Vec<usize>>>) -> Job {
        let log = log.clone();
        Job {
            tenant: tenant.into(),
            weight: 1,
            slice: Box::new(move || {
                log.lock().unwrap().push(id);
                true
            }),
        }
    }

    #[test]
    fn tenants_take_turns_whatever_their_number_of_jobs() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut q = Queues::default();
        // The hostile tenant queued four jobs before the good tenant's two arrived.
        for id in [10, 11, 12, 13] {
            q.push(job("hostile", id, &log));
        }
        for id in [20, 21] {
            q.push(job("good", id, &log));
        }
        while let Some(mut j) = q.pop() {
            (j.slice)();
        }
        assert_eq!(*log.lock().unwrap(), [10, 20, 11, 21, 12, 13]);
        assert_eq!(q.waiting, 0);
        assert!(q.order.is_empty() && q.by_tenant.is_empty());
    }

    /// Runs `f` as a job of `tenant` on `pool` from its own thread.
    fn submit(
        pool: &Arc<WorkerPool>,
        tenant: &'static str,
        weight: u32,
        f: impl FnMut() -> Option<()> + Send + 'static,
    ) -> std::thread::JoinHandle<Option<()>> {
        let pool = pool.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(pool.run_sliced(tenant, weight, f))
        })
    }

    #[test]
    fn a_job_whose_turn_ended_is_parked_behind_the_waiting_ones() {
        let pool = Arc::new(WorkerPool::new(1).unwrap());
        let order = Arc::new(Mutex::new(Vec::<String>::new()));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        // A long job of tenant `a` (weight 2): 5 slices, the first held until `b` and `c` wait.
        let entered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let a = {
            let (order, entered) = (order.clone(), entered.clone());
            let mut n = 0;
            submit(&pool, "a", 2, move || {
                if n == 0 {
                    entered.store(true, std::sync::atomic::Ordering::SeqCst);
                    gate.lock().unwrap().recv().unwrap();
                }
                n += 1;
                order.lock().unwrap().push(format!("a{n}"));
                (n == 5).then_some(())
            })
        };
        // `a` runs (its first slice holds the one worker) before `b` and `c` arrive: were it
        // only queued, `b` could be counted as waiting with it and released too early.
        while !entered.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let short = |name: &'static str| {
            let order = order.clone();
            submit(&pool, name, 1, move || {
                order.lock().unwrap().push(name.to_owned());
                Some(())
            })
        };
        let (b, c) = (short("b"), short("c"));
        while pool.shared.lock().waiting < 2 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        release.send(()).unwrap();
        for t in [a, b, c] {
            assert_eq!(t.join().unwrap(), Some(()));
        }
        let mut order = order.lock().unwrap().clone();
        // `b` and `c` arrive from two threads, in either order; both run after `a`'s turn of
        // two slices (weight 2) and before the rest of `a`.
        if order.get(2..4) == Some(&["c".to_owned(), "b".to_owned()][..]) {
            order.swap(2, 3);
        }
        assert_eq!(order, ["a1", "a2", "b", "c", "a3", "a4", "a5"]);
    }
}
