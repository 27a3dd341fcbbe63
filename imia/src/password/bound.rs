//! The concurrency bound behind [`Argon2Hasher`](super::Argon2Hasher): blocking work runs on
//! tokio's blocking threads, at most `max_concurrent` at once, at most `max_queue` more wait,
//! and further attempts fail at once with [`PasswordError::Busy`].
//!
//! The bound holds for work whose caller went away. actix drops a request's future when its
//! client resets the connection, at whatever await point it is:
//!
//! - while waiting for a slot: the waiting count is kept by a drop guard, so the queue keeps its
//!   capacity;
//! - while the work runs: the work cannot be stopped, so it owns its slot and gives it back
//!   when it finishes, not when its caller stops waiting for it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Semaphore;

use super::PasswordError;

/// At most `max_concurrent` pieces of blocking work at once, `max_queue` waiting.
#[derive(Debug)]
pub(crate) struct HashingBound {
    /// One permit per slot; a running piece of work owns its permit.
    permits: Arc<Semaphore>,
    /// Callers waiting for a permit right now.
    waiting: AtomicUsize,
    max_queue: usize,
}

/// One caller counted in [`HashingBound::waiting`] for as long as it lives, however its future
/// ends (done, refused or dropped).
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// How many were waiting before this one.
    ahead: usize,
}

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let ahead = count.fetch_add(1, Ordering::SeqCst);
        Self { count, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashingBound {
    /// `max_concurrent` slots (at least one), `max_queue` places to wait for one.
    pub(crate) fn new(max_concurrent: usize, max_queue: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            waiting: AtomicUsize::new(0),
            max_queue,
        }
    }

    /// How many may wait for a slot.
    pub(crate) fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// Runs `work` on a blocking thread once a slot is free, or fails fast when the queue is
    /// full. The slot stays taken until `work` returns, even if this future is dropped first.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
    {
        let permit = {
            let waiting = Waiting::enter(&self.waiting);
            if waiting.ahead >= self.max_queue + self.permits.available_permits() {
                tracing::warn!("password hashing queue is full; refusing the attempt");
                return Err(PasswordError::Busy);
            }
            Arc::clone(&self.permits)
                .acquire_owned()
                .await
                .map_err(|e| PasswordError::Failed(Box::new(e)))?
        };
        tokio::task::spawn_blocking(move || {
            // Given back when the work is done, whether or not anyone still awaits it.
            let _slot = permit;
            work()
        })
        .await
        .map_err(|e| PasswordError::Failed(Box::new(e)))?
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        sync::{Condvar, Mutex, mpsc},
        time::Duration,
    };

    use futures_util::{
        FutureExt as _,
        future::{self, Either},
    };

    use super::*;

    /// Counts how many pieces of work run at once; work can be held at a gate until the test
    /// opens it.
    struct Probe {
        running: AtomicUsize,
        most: AtomicUsize,
        started: AtomicUsize,
        gate: Mutex<Gate>,
        /// Signalled when the gate opens and when work arrives at it.
        changed: Condvar,
        /// Every piece of work holds a sender until it has run or been dropped unrun.
        alive: Mutex<Option<mpsc::Sender<()>>>,
        settled: Mutex<mpsc::Receiver<()>>,
    }

    impl Probe {
        fn new(open: bool) -> Arc<Self> {
            let (tx, rx) = mpsc::channel();
            Arc::new(Self {
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                started: AtomicUsize::new(0),
                gate: Mutex::new(Gate { open, held: 0 }),
                changed: Condvar::new(),
                alive: Mutex::new(Some(tx)),
                settled: Mutex::new(rx),
            })
        }

        /// A piece of work standing in for a hash: counted while it runs, held at the gate,
        /// then busy for `busy` (to overlap with others).
        fn work(self: &Arc<Self>, busy: Duration) -> impl FnOnce() -> Result<(), PasswordError> + Send + 'static {
            let probe = Arc::clone(self);
            let alive = self
                .alive
                .lock()
                .unwrap()
                .clone()
                .expect("work is made before settling");
            move || {
                let _alive = alive;
                probe.started.fetch_add(1, Ordering::SeqCst);
                let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
                probe.most.fetch_max(now, Ordering::SeqCst);
                probe.pass_gate();
                std::thread::sleep(busy);
                probe.running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }
        }

        /// Waits at the gate until it is open.
        fn pass_gate(&self) {
            let mut gate = self.gate.lock().unwrap();
            gate.held += 1;
            self.changed.notify_all();
            gate = self.changed.wait_while(gate, |g| !g.open).unwrap();
            gate.held -= 1;
        }

        /// Waits until `n` pieces of work are held at the (closed) gate.
        fn wait_held(&self, n: usize) {
            drop(
                self.changed
                    .wait_while(self.gate.lock().unwrap(), |g| g.held < n)
                    .unwrap(),
            );
        }

        fn open(&self) {
            self.gate.lock().unwrap().open = true;
            self.changed.notify_all();
        }

        /// Waits until every piece of work made so far has run or been dropped unrun.
        fn settle(&self) {
            drop(self.alive.lock().unwrap().take());
            assert!(self.settled.lock().unwrap().recv().is_err(), "nothing is sent");
        }

        fn most(&self) -> usize {
            self.most.load(Ordering::SeqCst)
        }

        /// Opens the gate when dropped, also when an assertion fails: a runtime waits for its
        /// blocking threads when it shuts down, and work held at the gate would hang the test.
        fn opens_on_drop(self: &Arc<Self>) -> OpenOnDrop {
            OpenOnDrop(Arc::clone(self))
        }
    }

    struct Gate {
        open: bool,
        /// Work waiting for it to open.
        held: usize,
    }

    struct OpenOnDrop(Arc<Probe>);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        actix_rt::System::new().block_on(f)
    }

    /// `max_concurrent + max_queue` attempts at once are all taken (the running ones held at
    /// a gate), one more is refused, and all of them finish.
    async fn assert_full_capacity(bound: &HashingBound, max_concurrent: usize) {
        let probe = Probe::new(false);
        let _open = probe.opens_on_drop();
        let capacity = max_concurrent + bound.max_queue;
        let mut all = pin!(future::join_all(
            (0..capacity).map(|_| bound.run(probe.work(Duration::ZERO)))
        ));
        assert!(
            all.as_mut().now_or_never().is_none(),
            "the running ones wait at the gate"
        );
        assert_eq!(
            bound.waiting.load(Ordering::SeqCst),
            bound.max_queue,
            "the rest are queued"
        );
        assert!(
            matches!(
                bound.run(probe.work(Duration::ZERO)).now_or_never(),
                Some(Err(PasswordError::Busy))
            ),
            "beyond the queue, attempts are refused at once"
        );
        probe.open();
        let results = all.await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert!(probe.most() <= max_concurrent, "{} ran at once", probe.most());
        assert_eq!(bound.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_idle_bound_takes_its_full_capacity() {
        block(async {
            let bound = HashingBound::new(2, 3);
            assert_full_capacity(&bound, 2).await;
            assert_full_capacity(&bound, 2).await;
        });
    }

    /// Work whose caller is dropped while it runs keeps its slot until it returns: callers
    /// that give up cannot start more work than the bound allows. Callers dropped while
    /// queued leave the queue as they found it.
    #[test]
    fn dropped_callers_neither_free_running_slots_nor_shrink_the_queue() {
        block(async {
            let bound = HashingBound::new(2, 3);
            let probe = Probe::new(false);
            let _open = probe.opens_on_drop();
            for attempt in 0..20 {
                // Polled once, then dropped: the first two while their work runs (it waits at
                // the gate), the others while queued.
                let outcome = bound.run(probe.work(Duration::ZERO)).now_or_never();
                assert!(outcome.is_none(), "attempt {attempt} finished: {outcome:?}");
                assert_eq!(
                    bound.permits.available_permits(),
                    2_usize.saturating_sub(attempt + 1),
                    "attempt {attempt}: the abandoned work's slots came free"
                );
                assert_eq!(
                    bound.waiting.load(Ordering::SeqCst),
                    0,
                    "attempt {attempt}: left in the queue"
                );
            }
            // The abandoned work still runs, and holds both slots.
            probe.wait_held(2);
            assert_eq!(probe.most(), 2);
            probe.open();
            // It finishes and gives its slots back.
            drop(bound.permits.acquire_many(2).await.unwrap());
            probe.settle();
            assert_eq!(probe.started.load(Ordering::SeqCst), 2, "only the first two ever ran");
            assert_full_capacity(&bound, 2).await;
        });
    }

    /// Many callers, cancelled at every await point (polled once, timed out after varied short
    /// delays, beaten by another future) or not at all: the work never exceeds the bound, and
    /// afterwards the bound is as new.
    #[test]
    fn callers_cancelled_at_any_point_never_exceed_the_bound() {
        const MAX_CONCURRENT: usize = 2;
        const ATTEMPTS: u64 = 240;
        block(async {
            let bound = Arc::new(HashingBound::new(MAX_CONCURRENT, 8));
            let probe = Probe::new(true);
            let mut outcomes = (0, 0, 0); // (done, busy, cancelled)
            for wave in 0..ATTEMPTS / 12 {
                let tasks: Vec<_> = (0..12)
                    .map(|i| {
                        let n = wave * 12 + i;
                        let attempt = bound.clone();
                        let work = probe.work(Duration::from_micros(300 + n % 5 * 200));
                        actix_rt::spawn(async move {
                            let run = attempt.run(work);
                            let delay = Duration::from_micros(n % 13 * 250);
                            match n % 4 {
                                0 => run.now_or_never(),
                                1 => tokio::time::timeout(delay, run).await.ok(),
                                2 => match future::select(pin!(run), pin!(tokio::time::sleep(delay))).await {
                                    Either::Left((result, _)) => Some(result),
                                    Either::Right(_) => None,
                                },
                                _ => Some(run.await),
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    match task.await.expect("the attempt's task") {
                        Some(Ok(())) => outcomes.0 += 1,
                        Some(Err(PasswordError::Busy)) => outcomes.1 += 1,
                        Some(Err(e)) => panic!("{e}"),
                        None => outcomes.2 += 1,
                    }
                }
            }
            probe.settle();
            let (done, busy, cancelled) = outcomes;
            println!(
                "{ATTEMPTS} attempts: {done} done, {busy} busy, {cancelled} cancelled; at most {} ran at once",
                probe.most()
            );
            assert!(
                done > 0 && cancelled > 0,
                "done {done}, busy {busy}, cancelled {cancelled}"
            );
            assert!(
                probe.most() <= MAX_CONCURRENT,
                "{} ran at once (done {done}, busy {busy}, cancelled {cancelled})",
                probe.most()
            );
            assert_eq!(bound.waiting.load(Ordering::SeqCst), 0);
            // Every slot comes back once the last work has returned.
            drop(bound.permits.acquire_many(MAX_CONCURRENT as u32).await.unwrap());
            assert_full_capacity(&bound, MAX_CONCURRENT).await;
        });
    }
}
