//! Pacing: requests spaced evenly across every user to hold a rate, and the slots a busy app
//! made the run omit.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Spaces requests evenly across every user to hold a rate. A slot no user was free to take
/// is not made up later (a slow app gets no burst after a stall) but counted: those are the
/// requests a paced run omitted because the app kept every user busy.
pub(super) struct Pacer {
    interval: Duration,
    /// The next free slot; `None` until the first request, so start-up is not a stall.
    next: Mutex<Option<tokio::time::Instant>>,
    pub(super) missed: AtomicU64,
}

impl Pacer {
    pub(super) fn new(rate: u32) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / f64::from(rate.max(1))),
            next: Mutex::new(None),
            missed: AtomicU64::new(0),
        }
    }

    pub(super) async fn wait(&self) {
        let (slot, missed) = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = tokio::time::Instant::now();
            take_slot(next.get_or_insert(now), now, self.interval)
        };
        self.missed.fetch_add(missed, Ordering::Relaxed);
        tokio::time::sleep_until(slot).await;
    }
}

/// The next free slot at or after `now` (the one after it is `interval` later), and how many
/// whole slots passed unused before `now`.
fn take_slot(
    next: &mut tokio::time::Instant,
    now: tokio::time::Instant,
    interval: Duration,
) -> (tokio::time::Instant, u64) {
    let missed = now.saturating_duration_since(*next).as_nanos() / interval.as_nanos().max(1);
    let slot = (*next).max(now);
    *next = slot + interval;
    (slot, missed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_slots_are_evenly_spaced_and_a_stall_brings_no_burst() {
        let start = tokio::time::Instant::now();
        let interval = Duration::from_millis(10);
        let mut next = start;
        let slots: Vec<_> = (0..3)
            .map(|_| take_slot(&mut next, start, interval))
            .map(|(slot, missed)| (slot - start, missed))
            .collect();
        assert_eq!(slots, [0, 10, 20].map(|ms| (Duration::from_millis(ms), 0)));
        // Every user was busy for a second: the next slot is now, not 97 slots at once, and
        // the 97 that passed unused are counted.
        let late = start + Duration::from_secs(1);
        assert_eq!(take_slot(&mut next, late, interval), (late, 97));
        assert_eq!(take_slot(&mut next, late, interval), (late + interval, 0));
    }
}
