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
//! **A tenant that runs long calls starts its next ones in the background.** For
//! [`DEMOTION_MEMORY`] after one of its jobs moved to the background lane, a tenant's new jobs
//! are queued there directly, and a job that started there renews that memory once it has
//! run as many slices as a demotion takes: a tenant looping long calls gets no
//! normal-priority window at the start of each. Its short calls meanwhile run at idle
//! priority too.
//!
//! **Locks are taken at normal priority (a priority ceiling).** A thread at idle priority that
//! is preempted while it holds a lock other threads need stalls them until it gets a core
//! again, which on a saturated machine may be never before their deadlines: a priority
//! inversion. So a background worker lowers its priority only while it runs a job's slice, and
//! code inside a slice that takes a lock shared with other threads (the registry, the KV store,
//! the log, the answer to the requester) runs in a [`foreground_section`], at normal priority.
//! Leaving idle priority needs `CAP_SYS_NICE` or an `RLIMIT_NICE` of at least 20; where it is
//! refused (checked at start), background workers keep normal priority and a warning says so.
//!
//! Admission (rate, per-tenant and global concurrency caps) happens *before* a job is
//! queued, so the queues never hold more than the global cap, and a tenant has at most its
//! own concurrency cap of jobs (a job runs on one worker at a time).

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default number of slices a job runs in the foreground lane before it moves to the
/// background lane: 4 (400,000 fuel at the default `fuel_slice`).
pub const DEFAULT_FOREGROUND_SLICES: u32 = 4;

/// How long after one of its jobs moved to the background lane a tenant's new jobs start
/// there: 1 s.
pub const DEMOTION_MEMORY: Duration = Duration::from_secs(1);

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

/// Where a foreground worker sends a job that has run its foreground slices, and when each
/// tenant last had a job sent there.
#[derive(Clone)]
struct Demotion {
    to: Arc<Lane>,
    after: u32,
    demoted: Arc<Mutex<HashMap<Arc<str>, Instant>>>,
}

impl Demotion {
    fn demote(&self, job: Job) {
        self.remember(&job.tenant);
        // (Were the background lane closed the job would be dropped; it is closed only after
        // the foreground workers are joined.)
        self.to.push(job);
    }

    /// Notes that `tenant` runs long jobs now: by a demotion, or by a job that started in
    /// the background and has run as many slices as a demotion takes.
    fn remember(&self, tenant: &Arc<str>) {
        let mut demoted = lock(&self.demoted);
        // Tenants that stopped sending long calls are forgotten: the map holds at most 64
        // entries, or the tenants demoted within the last `DEMOTION_MEMORY` if more.
        if demoted.len() >= 64 {
            demoted.retain(|_, at| at.elapsed() < DEMOTION_MEMORY);
        }
        demoted.insert(tenant.clone(), Instant::now());
    }

    /// Whether `tenant` had a job demoted within the last [`DEMOTION_MEMORY`].
    fn recently_demoted(&self, tenant: &str) -> bool {
        let mut demoted = lock(&self.demoted);
        match demoted.get(tenant) {
            Some(at) if at.elapsed() < DEMOTION_MEMORY => true,
            Some(_) => {
                demoted.remove(tenant);
                false
            }
            None => false,
        }
    }
}

/// A fixed pool of worker threads in two lanes, serving tenants round-robin one slice at a
/// time.
pub struct WorkerPool {
    foreground: Arc<Lane>,
    background: Arc<Lane>,
    demotion: Demotion,
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
        let background = Arc::<Lane>::default();
        let pool = Self {
            foreground: Arc::default(),
            demotion: Demotion {
                to: background.clone(),
                after: foreground_slices.max(1),
                demoted: Arc::default(),
            },
            background,
            foreground_threads: Mutex::new(Vec::with_capacity(size)),
            background_threads: Mutex::new(Vec::with_capacity(size)),
            size,
        };
        let idle = match idle_priority_available() {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(
                    "background workers keep normal priority: long calls compete with short ones for CPU ({why})"
                );
                false
            }
        };
        for i in 0..size {
            let started = spawn(
                format!("palisade-worker-{i}"),
                pool.foreground.clone(),
                pool.demotion.clone(),
                Role::Foreground,
            )
            .map(|t| lock(&pool.foreground_threads).push(t))
            .and_then(|()| {
                spawn(
                    format!("palisade-background-{i}"),
                    pool.background.clone(),
                    pool.demotion.clone(),
                    Role::Background { idle },
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
    /// it had their turn (after its foreground slices, on a background worker; from the first
    /// slice if `tenant` was demoted within [`DEMOTION_MEMORY`]). `weight` is the tenant's
    /// share per round (at least 1). A job whose requester went away before its first slice
    /// is skipped.
    ///
    /// On a background worker `f` runs at idle priority: whatever it does that takes a lock
    /// shared with other threads belongs in a [`foreground_section`]. The result is handed
    /// to the requester at normal priority.
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
                    // Waking the requester's task takes the async runtime's locks.
                    let _fg = foreground_section();
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
        let lane = if self.demotion.recently_demoted(tenant) {
            &self.background
        } else {
            &self.foreground
        };
        if !lane.push(job) {
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

/// Which lane a worker serves.
#[derive(Clone, Copy)]
enum Role {
    /// Normal priority; a job that has run its foreground slices is demoted.
    Foreground,
    /// Slices at idle priority if `idle`; a job that has run as many slices as a demotion
    /// takes renews its tenant's demotion memory.
    Background { idle: bool },
}

fn spawn(
    name: String,
    lane: Arc<Lane>,
    demotion: Demotion,
    role: Role,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || worker(&lane, &demotion, role))
}

/// A worker thread's priority state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Priority {
    /// Normal priority, outside a background slice.
    Normal,
    /// In a background slice: idle priority, except inside `raised` nested foreground
    /// sections.
    InSlice { raised: u32 },
}

thread_local! {
    static PRIORITY: Cell<Priority> = const { Cell::new(Priority::Normal) };
}

/// A scope that runs at normal priority even inside a background slice; see
/// [`foreground_section`]. Not `Send`: it belongs to the thread that opened it.
#[must_use = "the section ends when this is dropped"]
pub struct ForegroundSection {
    opened: bool,
    _thread: PhantomData<*const ()>,
}

/// Opens a foreground section: until the returned value is dropped, the calling thread runs
/// at normal priority, even if it is a background worker running a slice at idle priority.
/// Code that a job runs and that takes a lock other threads need (a store, a log writer, a
/// channel to the async runtime) opens one first, so it cannot be preempted at idle priority
/// while it holds that lock. Anywhere else it does nothing; sections nest.
pub fn foreground_section() -> ForegroundSection {
    let opened = PRIORITY.with(|p| match p.get() {
        Priority::Normal => false,
        Priority::InSlice { raised } => {
            if raised == 0 {
                set_idle(false);
            }
            p.set(Priority::InSlice { raised: raised + 1 });
            true
        }
    });
    ForegroundSection {
        opened,
        _thread: PhantomData,
    }
}

impl Drop for ForegroundSection {
    fn drop(&mut self) {
        if !self.opened {
            return;
        }
        PRIORITY.with(|p| {
            if let Priority::InSlice { raised } = p.get() {
                let raised = raised.saturating_sub(1);
                if raised == 0 {
                    set_idle(true);
                }
                p.set(Priority::InSlice { raised });
            }
        });
    }
}

/// Runs one slice of `job`, at idle priority if `idle`; the worker is back at normal priority
/// when it returns.
fn run_slice(job: &mut Job, idle: bool) -> bool {
    if !idle {
        return (job.slice)();
    }
    PRIORITY.set(Priority::InSlice { raised: 0 });
    set_idle(true);
    let done = (job.slice)();
    set_idle(false);
    PRIORITY.set(Priority::Normal);
    done
}

/// Moves the calling thread into (`true`) or out of (`false`) the operating system's idle
/// scheduling class (`SCHED_IDLE`); `false` if refused. Cheap: one system call.
#[cfg(target_os = "linux")]
fn set_idle(idle: bool) -> bool {
    let policy = if idle {
        libc::SCHED_IDLE
    } else {
        libc::SCHED_OTHER
    };
    let param = libc::sched_param { sched_priority: 0 };
    // The policy alone changes; the thread's nice value stays what the process gave it. (The
    // `thread-priority` crate would also set a nice value, which a process started with a
    // raised one may not lower again.)
    #[expect(unsafe_code, reason = "one libc call on the calling thread")]
    // SAFETY: `pthread_self` is the calling thread, alive for the call, and `param` is a valid
    // `sched_param` for these two policies (static priority 0).
    let set =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), policy, &raw const param) };
    set == 0
}

/// No idle scheduling class here: background workers keep normal priority.
#[cfg(not(target_os = "linux"))]
fn set_idle(_idle: bool) -> bool {
    false
}

/// Whether a thread may enter the idle scheduling class and leave it again (tried on a
/// throwaway thread); if not, why.
fn idle_priority_available() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("no idle scheduling class on this operating system".into());
    }
    let probe = std::thread::Builder::new()
        .name("palisade-priority-probe".into())
        .spawn(|| {
            if !set_idle(true) {
                return Err("SCHED_IDLE refused".to_owned());
            }
            if !set_idle(false) {
                return Err(
                    "leaving SCHED_IDLE needs CAP_SYS_NICE or RLIMIT_NICE >= 20 (`ulimit -e 20`, systemd `LimitNICE=20`), so that a background call can take locks at normal priority"
                        .to_owned(),
                );
            }
            Ok(())
        })
        .map_err(|e| format!("priority probe thread: {e}"))?;
    probe
        .join()
        .unwrap_or_else(|_| Err("priority probe panicked".into()))
}

fn worker(lane: &Lane, demotion: &Demotion, role: Role) {
    let idle = matches!(role, Role::Background { idle: true });
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
            if run_slice(&mut job, idle) {
                queues = lane.lock();
                break;
            }
            job.slices = job.slices.saturating_add(1);
            turn -= 1;
            match role {
                Role::Foreground if job.slices >= demotion.after => {
                    // A long job: on to the background lane.
                    demotion.demote(job);
                    queues = lane.lock();
                    break;
                }
                // A long job that started in the background keeps its tenant there.
                Role::Background { .. } if job.slices == demotion.after => {
                    demotion.remember(&job.tenant);
                }
                _ => {}
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

    /// The calling thread's scheduling policy (`libc::SCHED_*`).
    #[cfg(target_os = "linux")]
    fn policy() -> libc::c_int {
        #[expect(unsafe_code, reason = "one libc call on the calling thread")]
        // SAFETY: no pointer arguments; 0 is the calling thread.
        let policy = unsafe { libc::sched_getscheduler(0) };
        policy
    }

    /// Where one slice ran: the thread's name and, on Linux, its policy outside any section,
    /// inside a foreground section, inside a nested one, and after both closed.
    #[derive(Debug, Clone, PartialEq)]
    struct Ran {
        thread: String,
        #[cfg(target_os = "linux")]
        policies: [libc::c_int; 4],
    }

    fn ran() -> Ran {
        Ran {
            thread: thread_name(),
            #[cfg(target_os = "linux")]
            policies: {
                let outside = policy();
                let section = foreground_section();
                let inside = policy();
                let nested = foreground_section();
                let nested_inside = policy();
                drop(nested);
                drop(section);
                [outside, inside, nested_inside, policy()]
            },
        }
    }

    #[test]
    fn a_long_job_moves_to_an_idle_priority_worker_and_short_ones_keep_the_foreground() {
        // One worker per lane; a job moves to the background after 2 slices.
        let pool = Arc::new(WorkerPool::with_foreground_slices(1, 2).unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let slices = Arc::new(Mutex::new(Vec::<Ran>::new()));
        let long = {
            let (stop, slices) = (stop.clone(), slices.clone());
            submit(&pool, "hostile", 1, move || {
                slices.lock().unwrap().push(ran());
                std::thread::sleep(std::time::Duration::from_millis(1));
                stop.load(std::sync::atomic::Ordering::SeqCst).then_some(())
            })
        };
        // The long job is on the background worker once it has run more than 2 slices.
        while slices.lock().unwrap().len() < 4 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // A short job of another tenant is served by the foreground worker while the long
        // one still runs (it never waits for the long job's turn to end).
        let short = submit(&pool, "good", 1, || Some(()));
        assert_eq!(short.join().unwrap(), Some(()));
        assert!(!stop.load(std::sync::atomic::Ordering::SeqCst));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(long.join().unwrap(), Some(()));
        let slices = slices.lock().unwrap().clone();
        let (foreground, background) = slices.split_at(2);
        for slice in foreground {
            assert_eq!(slice.thread, "palisade-worker-0", "{slices:?}");
            // Foreground slices run at normal priority, and sections change nothing there.
            #[cfg(target_os = "linux")]
            assert_eq!(slice.policies, [libc::SCHED_OTHER; 4]);
        }
        for slice in background {
            assert_eq!(slice.thread, "palisade-background-0", "{slices:?}");
            // Background slices run under SCHED_IDLE, foreground sections (nested too) at
            // normal priority, and the slice is idle again once they close.
            #[cfg(target_os = "linux")]
            assert_eq!(
                slice.policies,
                [
                    libc::SCHED_IDLE,
                    libc::SCHED_OTHER,
                    libc::SCHED_OTHER,
                    libc::SCHED_IDLE
                ]
            );
        }
    }

    #[test]
    fn a_tenant_demoted_recently_starts_its_next_jobs_in_the_background() {
        let pool = Arc::new(WorkerPool::with_foreground_slices(1, 1).unwrap());
        // `hostile`'s first job runs 3 slices: demoted after its first.
        let mut n = 0;
        let first = submit(&pool, "hostile", 1, move || {
            n += 1;
            (n == 3).then_some(())
        });
        assert_eq!(first.join().unwrap(), Some(()));
        let where_ = |tenant: &'static str| {
            let seen = Arc::new(Mutex::new(String::new()));
            let s = seen.clone();
            let job = submit(&pool, tenant, 1, move || {
                *s.lock().unwrap() = thread_name();
                Some(())
            });
            assert_eq!(job.join().unwrap(), Some(()));
            seen.lock().unwrap().clone()
        };
        let demoted_at = || *lock(&pool.demotion.demoted).get("hostile").unwrap();
        let first_demotion = demoted_at();
        // Within `DEMOTION_MEMORY` its next job starts on the background lane; another
        // tenant's starts in the foreground. A short job does not renew the memory.
        assert_eq!(where_("hostile"), "palisade-background-0");
        assert_eq!(where_("good"), "palisade-worker-0");
        assert_eq!(demoted_at(), first_demotion);
        // A long job that started in the background renews it once it has run as many slices
        // as a demotion takes (here one), so a tenant looping long calls stays there.
        let mut n = 0;
        let long = submit(&pool, "hostile", 1, move || {
            n += 1;
            (n == 2).then_some(())
        });
        assert_eq!(long.join().unwrap(), Some(()));
        assert!(demoted_at() > first_demotion);
        // Once that memory has passed, `hostile` is back in the foreground.
        std::thread::sleep(DEMOTION_MEMORY.saturating_sub(demoted_at().elapsed()));
        assert_eq!(where_("hostile"), "palisade-worker-0");
        assert!(lock(&pool.demotion.demoted).is_empty());
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
