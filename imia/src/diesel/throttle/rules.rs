//! The throttle's rules over the stored lists of one counter: what an attempt, a failure and a
//! success do to them. Pure functions, run inside the store's transaction.

use std::time::Duration;

use super::Op;
use crate::throttle::shared::{Counter, millis};

/// The recent failures and the attempts in flight of one counter, oldest first, in Unix
/// milliseconds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Entries {
    failures: Vec<i64>,
    pending: Vec<i64>,
}

impl Entries {
    /// From the stored lists; what is not a number is ignored.
    pub(super) fn parse(failures: &str, pending: &str) -> Self {
        let list = |text: &str| {
            let mut times: Vec<i64> = text.split(',').filter_map(|t| t.trim().parse().ok()).collect();
            times.sort_unstable();
            times
        };
        Self {
            failures: list(failures),
            pending: list(pending),
        }
    }

    pub(super) fn text(times: &[i64]) -> String {
        times.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    }

    pub(super) fn failures_text(&self) -> String {
        Self::text(&self.failures)
    }

    pub(super) fn pending_text(&self) -> String {
        Self::text(&self.pending)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.failures.is_empty() && self.pending.is_empty()
    }

    /// Drops the failures `window` old and the attempts in flight `in_flight` old.
    pub(super) fn prune(&mut self, now: i64, window: i64, in_flight: i64) {
        self.failures.retain(|t| *t > now.saturating_sub(window));
        self.pending.retain(|t| *t > now.saturating_sub(in_flight));
    }

    /// Gives back the place of the oldest attempt in flight.
    pub(super) fn release(&mut self) {
        if !self.pending.is_empty() {
            self.pending.remove(0);
        }
    }

    /// When the row holds nothing any more: its newest failure's window or newest attempt's
    /// place has passed (`0` when empty).
    pub(super) fn expires_at(&self, window: Duration, in_flight: i64) -> i64 {
        let failures = self.failures.last().map(|t| t.saturating_add(millis(window)));
        let pending = self.pending.last().map(|t| t.saturating_add(in_flight));
        failures.max(pending).unwrap_or(0)
    }
}

/// The throttle's rules on one attempt's counters (their entries, in the same order), as the
/// Redis throttle's script applies them: returns whether an [`Op::Allow`] is allowed.
pub(super) fn apply(op: Op, counters: &[Counter], entries: &mut [Entries], now: i64, in_flight: i64) -> bool {
    for (counter, entry) in counters.iter().zip(entries.iter_mut()) {
        entry.prune(now, millis(counter.window), in_flight);
    }
    match op {
        Op::Allow => {
            let allowed = counters.iter().zip(entries.iter()).all(|(counter, entry)| {
                entry.failures.len() < counter.max
                    && entry.failures.len() + entry.pending.len() < counter.max.saturating_add(counter.burst)
            });
            if allowed {
                for entry in entries.iter_mut() {
                    entry.pending.push(now);
                }
            }
            allowed
        }
        Op::Failed => {
            for (counter, entry) in counters.iter().zip(entries.iter_mut()) {
                entry.release();
                entry.failures.push(now);
                entry.failures.sort_unstable();
                let extra = entry.failures.len().saturating_sub(counter.max.max(1));
                entry.failures.drain(..extra);
            }
            true
        }
        Op::Abandoned => {
            for entry in entries.iter_mut() {
                entry.release();
            }
            true
        }
        Op::Succeeded => {
            for (counter, entry) in counters.iter().zip(entries.iter_mut()) {
                if counter.clears_on_success {
                    *entry = Entries::default();
                } else {
                    entry.release();
                }
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(max: usize, window_ms: u64, clears_on_success: bool) -> Counter {
        Counter {
            key: "k".repeat(64),
            max,
            window: Duration::from_millis(window_ms),
            clears_on_success,
            burst: 0,
        }
    }

    const IN_FLIGHT: i64 = 30_000;

    /// One counter: an attempt at `now` that is allowed or not, then fails.
    fn attempt_fails(c: &Counter, e: &mut Entries, now: i64) -> bool {
        let counters = std::slice::from_ref(c);
        let allowed = apply(Op::Allow, counters, std::slice::from_mut(e), now, IN_FLIGHT);
        if allowed {
            apply(Op::Failed, counters, std::slice::from_mut(e), now, IN_FLIGHT);
        }
        allowed
    }

    #[test]
    fn locks_after_max_failures_and_the_window_slides_as_in_memory() {
        let c = counter(3, 1_000, true);
        let mut e = Entries::default();
        assert!(attempt_fails(&c, &mut e, 0));
        assert!(attempt_fails(&c, &mut e, 400));
        assert!(attempt_fails(&c, &mut e, 800));
        assert_eq!(e.failures, [0, 400, 800]);
        assert!(
            e.pending.is_empty(),
            "a failure turns the place in flight into a failure"
        );
        // Locked, and a refused attempt does not extend the lock.
        assert!(!attempt_fails(&c, &mut e, 900));
        assert!(!attempt_fails(&c, &mut e, 999));
        // The oldest failure leaves the window (strictly after `window`): one more attempt...
        assert!(attempt_fails(&c, &mut e, 1_000));
        assert_eq!(e.failures, [400, 800, 1_000]);
        // ...which locks again until the next oldest leaves.
        assert!(!attempt_fails(&c, &mut e, 1_399));
        assert!(attempt_fails(&c, &mut e, 1_400));
        assert_eq!(e.expires_at(c.window, IN_FLIGHT), 2_400);
    }

    #[test]
    fn attempts_in_flight_take_places_until_they_report_or_lapse() {
        let c = counter(2, 60_000, true);
        let mut e = Entries::default();
        let one = std::slice::from_ref(&c);
        assert!(apply(Op::Allow, one, std::slice::from_mut(&mut e), 0, IN_FLIGHT));
        assert!(apply(Op::Allow, one, std::slice::from_mut(&mut e), 1, IN_FLIGHT));
        assert!(
            !apply(Op::Allow, one, std::slice::from_mut(&mut e), 2, IN_FLIGHT),
            "two in flight"
        );
        assert_eq!(e.pending, [0, 1]);
        // Places in flight lapse after `in_flight`.
        assert!(apply(
            Op::Allow,
            one,
            std::slice::from_mut(&mut e),
            IN_FLIGHT,
            IN_FLIGHT
        ));
        assert_eq!(e.pending, [1, IN_FLIGHT]);
        assert_eq!(e.expires_at(c.window, IN_FLIGHT), 2 * IN_FLIGHT);
    }

    #[test]
    fn a_burst_lets_more_attempts_start_until_a_limit_is_reached() {
        let c = Counter {
            burst: 2,
            ..counter(2, 60_000, true)
        };
        let mut e = Entries::default();
        let allow = |e: &mut Entries, now| {
            apply(
                Op::Allow,
                std::slice::from_ref(&c),
                std::slice::from_mut(e),
                now,
                IN_FLIGHT,
            )
        };
        assert!((0..4).all(|now| allow(&mut e, now)), "max + burst in flight");
        assert!(!allow(&mut e, 4));
        apply(
            Op::Failed,
            std::slice::from_ref(&c),
            std::slice::from_mut(&mut e),
            5,
            IN_FLIGHT,
        );
        apply(
            Op::Failed,
            std::slice::from_ref(&c),
            std::slice::from_mut(&mut e),
            6,
            IN_FLIGHT,
        );
        assert_eq!(e.pending.len(), 2);
        assert!(!allow(&mut e, 7), "a reached limit refuses, burst or not");
    }

    #[test]
    fn an_abandoned_attempt_gives_its_place_back_and_counts_nothing() {
        let c = counter(1, 60_000, true);
        let mut e = Entries::default();
        let one = std::slice::from_ref(&c);
        assert!(apply(Op::Allow, one, std::slice::from_mut(&mut e), 0, IN_FLIGHT));
        assert!(
            !apply(Op::Allow, one, std::slice::from_mut(&mut e), 1, IN_FLIGHT),
            "the place is taken"
        );
        apply(Op::Abandoned, one, std::slice::from_mut(&mut e), 2, IN_FLIGHT);
        assert!(e.is_empty(), "no failure recorded");
        assert!(apply(Op::Allow, one, std::slice::from_mut(&mut e), 3, IN_FLIGHT));
    }

    #[test]
    fn a_success_clears_the_username_and_gives_the_address_its_place_back() {
        let user = counter(5, 60_000, true);
        let addr = counter(5, 60_000, false);
        let counters = [user, addr];
        let mut entries = [Entries::default(), Entries::default()];
        apply(Op::Failed, &counters, &mut entries, 0, IN_FLIGHT);
        assert!(apply(Op::Allow, &counters, &mut entries, 1, IN_FLIGHT));
        apply(Op::Succeeded, &counters, &mut entries, 2, IN_FLIGHT);
        assert!(entries[0].is_empty());
        assert_eq!(entries[1].failures, [0], "the address keeps its failures");
        assert!(entries[1].pending.is_empty());
        // One limit full refuses the attempt, and nothing is reserved anywhere.
        let tight = [counter(1, 60_000, true), counter(5, 60_000, false)];
        let mut entries = [Entries::default(), Entries::default()];
        apply(Op::Failed, &tight, &mut entries, 0, IN_FLIGHT);
        assert!(!apply(Op::Allow, &tight, &mut entries, 1, IN_FLIGHT));
        assert!(entries.iter().all(|e| e.pending.is_empty()));
    }

    #[test]
    fn failures_are_kept_to_the_limit_and_zero_allows_nothing() {
        let c = counter(2, 60_000, true);
        let mut e = Entries::default();
        for now in 0..5 {
            apply(
                Op::Failed,
                std::slice::from_ref(&c),
                std::slice::from_mut(&mut e),
                now,
                IN_FLIGHT,
            );
        }
        assert_eq!(e.failures, [3, 4]);
        let zero = counter(0, 60_000, true);
        let mut e = Entries::default();
        assert!(!apply(
            Op::Allow,
            std::slice::from_ref(&zero),
            std::slice::from_mut(&mut e),
            0,
            IN_FLIGHT
        ));
        apply(
            Op::Failed,
            std::slice::from_ref(&zero),
            std::slice::from_mut(&mut e),
            0,
            IN_FLIGHT,
        );
        assert_eq!(e.failures.len(), 1);
    }

    #[test]
    fn stored_lists_round_trip_and_junk_is_ignored() {
        let e = Entries::parse("300,100,200", "");
        assert_eq!(e.failures, [100, 200, 300]);
        assert_eq!(e.failures_text(), "100,200,300");
        assert_eq!(e.pending_text(), "");
        assert_eq!(Entries::parse("1,x,,2", " 5 ").pending, [5]);
        assert!(Entries::parse("", "").is_empty());
    }
}
