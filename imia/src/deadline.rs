//! The deadline on imia's calls to stores (the session store, the Diesel provider and stores):
//! a call slower than its limit fails, so that a store that cannot answer fails the request
//! quickly instead of holding it.

use std::{future::Future, time::Duration};

use tokio::time::error::Elapsed;

/// `work`'s result, or the error `timed_out` makes when `work` has not finished within `limit`
/// (`work` is then dropped).
///
/// The Diesel provider and stores pass [`ProviderError::unavailable`](crate::error::ProviderError::unavailable),
/// so a slow database answers as an unavailable store (503).
pub(crate) async fn within<T, E>(
    limit: Duration,
    work: impl Future<Output = Result<T, E>>,
    timed_out: impl FnOnce(Elapsed) -> E,
) -> Result<T, E> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(elapsed) => Err(timed_out(elapsed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: Future>(f: F) -> F::Output {
        actix_rt::System::new().block_on(f)
    }

    #[test]
    fn a_call_within_the_limit_gives_its_own_result() {
        block(async {
            let ok = within(Duration::from_secs(5), async { Ok::<_, String>(7) }, |_| "late".into());
            assert_eq!(ok.await, Ok(7));
            let err = within(
                Duration::from_secs(5),
                async { Err::<u8, _>("refused".to_owned()) },
                |_| "late".into(),
            );
            assert_eq!(err.await, Err("refused".to_owned()));
        });
    }

    #[test]
    fn a_call_past_the_limit_fails_with_the_callers_error() {
        block(async {
            let stuck = within(
                Duration::from_millis(20),
                std::future::pending::<Result<u8, String>>(),
                |e| format!("late: {e}"),
            );
            assert!(stuck.await.unwrap_err().starts_with("late: "));
        });
    }
}
