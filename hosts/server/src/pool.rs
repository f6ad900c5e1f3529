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
//! **Two lanes.** Sharing the workers fairly is not sharing the CPU fairly: a tenant entitled
//! to one worker keeps one core busy for as long as its call runs, and on a small machine the
//! other tenants' short calls (and the reactor and database work around them) then queue for
//! the remaining cores in the operating system's scheduler. So the pool has two lanes of
//! `size` workers each. Every job starts in the *foreground* lane, on threads of normal
//! priority. A job still running after `foreground_slices` slices moves to the *background*
//! lane, whose threads run at the operating system's idle priority (`SCHED_IDLE` on Linux):
//! they get a core only when no thread of normal priority wants it. Short calls therefore
//! never wait behind long ones for a worker or a core, and long calls run on whatever CPU is
//! left — all of it on an idle machine, next to nothing on a saturated one, where they end at
//! their deadline. Both lanes serve tenants round-robin as above.
//!
//! Admission (rate, per-tenant and global concurrency caps) happens *before* a job is
//! queued, so the queues never hold more than the global cap, and a tenant has at most its
//! own concurrency cap of jobs (a job runs on one worker at a time).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Default number of slices a job runs in the foreground lane before it moves to the
/// background lane: 4 (400,000 fuel at the default `fuel_slice`).
pub const DEFAULT_FOREGROUND_SLICES: u32 = 4;

/// One slice of a job: `true` when the job has finished.
type Slice = Box<dyn FnMut() -> bool + Send + 'static>;

/// A job and the tenant whose queue it waits in.
struct Job {
    tenant: Arc<str>,
    weight: u32,
    /// Slices run so far, over both lanes.
    slices: u32,
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

/// One lane: its queues and the signal its workers wait on.
#[derive(Default)]
struct Lane {
    queues: Mutex<Queues>,
    ready: Condvar,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`; `false` (and the job dropped, its requester answered `None`) if the
    /// lane is closed.
    fn push(&self, job: Job) -> bool {
        {
            let mut queues = self.lock();
            if queues.closed {
                return false;
            }
            queues.push(job);
        }
        self.ready.notify_one();
        true
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Where a foreground worker sends a job that has run its foreground slices.
#[derive(Clone)]
struct Demotion {
    to: Arc<Lane>,
    after: u32,
}

/// A fixed pool of worker threads in two lanes, serving tenants round-robin one slice at a
/// time.
pub struct WorkerPool {
    foreground: Arc<Lane>,
    background: Arc<Lane>,
    foreground_threads: Mutex<Vec<JoinHandle<()>>>,
    background_threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

impl WorkerPool {
    /// Starts `size` workers (at least one) in each lane, moving jobs to the background
    /// lane after [`DEFAULT_FOREGROUND_SLICES`].
    ///
    /// # Errors
    ///
    /// If the OS refuses to start a thread.
    pub fn new(size: usize) -> std::io::Result<Self> {
        Self::with_foreground_slices(size, DEFAULT_FOREGROUND_SLICES)
    }

    /// Starts `size` workers (at least one) in each lane; a job runs at most
    /// `foreground_slices` slices (at least one) in the foreground lane.
    ///
    /// # Errors
    ///
    /// If the OS refuses to start a thread.
    pub fn with_foreground_slices(size: usize, foreground_slices: u32) -> std::io::Result<Self> {
        let size = size.max(1);
        let pool = Self {
            foreground: Arc::default(),
            background: Arc::default(),
            foreground_threads: Mutex::new(Vec::with_capacity(size)),
            background_threads: Mutex::new(Vec::with_capacity(size)),
            size,
        };
        let demotion = Demotion {
            to: pool.background.clone(),
            after: foreground_slices.max(1),
        };
        for i in 0..size {
            let started = spawn(
                format!("palisade-worker-{i}"),
                pool.foreground.clone(),
                Some(demotion.clone()),
            )
            .map(|t| lock(&pool.foreground_threads).push(t))
            .and_then(|()| {
                spawn(
                    format!("palisade-background-{i}"),
                    pool.background.clone(),
                    None,
                )
            })
            .map(|t| lock(&pool.background_threads).push(t));
            if let Err(e) = started {
                pool.shutdown();
                return Err(e);
            }
        }
        Ok(pool)
    }

    /// Number of workers in each lane.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `f` on a worker as one job of `tenant` and awaits its result. `None` if the pool
    /// is shut down (or the job panicked, which host code never should).
    ///
    /// `f` runs one slice per invocation and returns `Some` when the job is done; after a
    /// `None` it is called again, on this or another worker, once the tenants queued behind
    /// it had their turn (after its foreground slices, on a background worker). `weight` is
    /// the tenant's share per round (at least 1). A job whose requester went away before its
    /// first slice is skipped.
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
        let job = Job {
            tenant: tenant.into(),
            weight,
            slices: 0,
            slice,
        };
        if !self.foreground.push(job) {
            return None;
        }
        result.await.ok()
    }

    /// Stops taking jobs, lets the queued and parked ones finish, and joins the workers:
    /// the foreground lane first, since its jobs may still move to the background lane.
    pub fn shutdown(&self) {
        for (lane, threads) in [
            (&self.foreground, &self.foreground_threads),
            (&self.background, &self.background_threads),
        ] {
            lane.close();
            for t in std::mem::take(&mut *lock(threads)) {
                let _ = t.join();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn spawn(
    name: String,
    lane: Arc<Lane>,
    demotion: Option<Demotion>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(move || {
        if demotion.is_none() {
            lower_priority();
        }
        worker(&lane, demotion.as_ref());
    })
}

/// Puts the calling (background) worker thread at the operating system's idle priority;
/// where that is refused, the thread keeps its priority and a warning says so.
fn lower_priority() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let lowered = {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id, thread_schedule_policy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        // The policy is set before the nice value, and only the policy matters for an idle
        // thread: a refused nice value (a process started with a raised one) is harmless.
        set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            idle,
        )
        .or_else(|e| match thread_schedule_policy() {
            Ok(policy) if policy == idle => Ok(()),
            _ => Err(e),
        })
    };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let lowered =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
    if let Err(e) = lowered {
        tracing::warn!(
            error = ?e,
            "background worker keeps normal priority: long calls compete with short ones for CPU"
        );
    }
}

fn worker(lane: &Lane, demotion: Option<&Demotion>) {
    let mut queues = lane.lock();
    loop {
        let Some(mut job) = queues.pop() else {
            if queues.closed {
                return;
            }
            queues = lane
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
                queues = lane.lock();
                break;
            }
            job.slices = job.slices.saturating_add(1);
            turn -= 1;
            if let Some(demotion) = demotion.filter(|d| job.slices >= d.after) {
                // A long job: on to the background lane. (Were that lane closed the job
                // would be dropped; it is closed only after this one's workers are joined.)
                demotion.to.push(job);
                queues = lane.lock();
                break;
            }
            queues = lane.lock();
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
            slices: 0,
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
        while pool.foreground.lock().waiting < 2 {
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

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[test]
    fn a_long_job_moves_to_an_idle_priority_worker_and_short_ones_keep_the_foreground() {
        // One worker per lane; a job moves to the background after 2 slices.
        let pool = Arc::new(WorkerPool::with_foreground_slices(1, 2).unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = Arc::new(Mutex::new(Vec::<String>::new()));
        let background_policy_idle = Arc::new(Mutex::new(None));
        let long = {
            let (stop, threads, idle) = (
                stop.clone(),
                threads.clone(),
                background_policy_idle.clone(),
            );
            submit(&pool, "hostile", 1, move || {
                let name = thread_name();
                if name.starts_with("palisade-background") && idle.lock().unwrap().is_none() {
                    #[cfg(target_os = "linux")]
                    {
                        use thread_priority::unix::*;
                        *idle.lock().unwrap() = Some(
                            thread_schedule_policy().unwrap()
                                == ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
                        );
                    }
                }
                threads.lock().unwrap().push(name);
                std::thread::sleep(std::time::Duration::from_millis(1));
                stop.load(std::sync::atomic::Ordering::SeqCst).then_some(())
            })
        };
        // The long job is on the background worker once it has run more than 2 slices.
        while threads.lock().unwrap().len() < 4 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // A short job of another tenant is served by the foreground worker while the long
        // one still runs (it never waits for the long job's turn to end).
        let short = submit(&pool, "good", 1, || Some(()));
        assert_eq!(short.join().unwrap(), Some(()));
        assert!(!stop.load(std::sync::atomic::Ordering::SeqCst));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(long.join().unwrap(), Some(()));
        let threads = threads.lock().unwrap().clone();
        let (foreground, background) = threads.split_at(2);
        assert_eq!(foreground, ["palisade-worker-0", "palisade-worker-0"]);
        assert!(
            background.iter().all(|t| t == "palisade-background-0"),
            "{threads:?}"
        );
        #[cfg(target_os = "linux")]
        assert_eq!(
            *background_policy_idle.lock().unwrap(),
            Some(true),
            "background workers run under SCHED_IDLE"
        );
    }

    #[test]
    fn shutdown_finishes_jobs_that_move_to_the_background_during_it() {
        let pool = Arc::new(WorkerPool::with_foreground_slices(1, 1).unwrap());
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut n = 0;
        let job = {
            let started = started.clone();
            submit(&pool, "a", 1, move || {
                started.store(true, std::sync::atomic::Ordering::SeqCst);
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
                (n == 20).then_some(())
            })
        };
        // Shut down while the job runs its first (foreground) slice: it then moves to the
        // background lane during the shutdown and still runs to its end.
        while !started.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        pool.shutdown();
        assert_eq!(job.join().unwrap(), Some(()));
    }
}
