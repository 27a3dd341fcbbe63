//! A lock for the few tests that measure the test process as a whole.
//!
//! libtest runs the tests of a binary in parallel threads of one process. Most tests keep to
//! what they make (their own servers, counters, databases), but a test that measures the whole
//! process, say its peak resident memory, would also count what the tests beside it do. Such a
//! test holds [`measure_process`] while it measures; tests that make the process allocate
//! heavily (large request bodies, argon2 at full cost in-process) hold [`allocate_heavily`].
//! The first excludes everything else that holds either; the second only excludes the first,
//! so heavy tests still run beside each other.
//!
//! ```
//! use imia_tests::serial;
//!
//! let _alone = serial::measure_process();
//! // … reset and read the peak resident memory; no heavy test runs meanwhile.
//! ```

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static PROCESS: RwLock<()> = RwLock::new(());

/// Waits until no test holds [`allocate_heavily`] or another `measure_process`, then keeps
/// them out until the guard is dropped. A test that panicked holding a guard does not poison
/// it for the others.
pub fn measure_process() -> RwLockWriteGuard<'static, ()> {
    PROCESS.write().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until no test holds [`measure_process`], then keeps it out until the guard is dropped.
pub fn allocate_heavily() -> RwLockReadGuard<'static, ()> {
    PROCESS.read().unwrap_or_else(PoisonError::into_inner)
}
