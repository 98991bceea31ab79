//! Time, in one place: the monotonic clock that cache lifetimes count on and the wall
//! clock that `exp`/`nbf` are compared with.
//!
//! A seam for tests, not a setting: in release and integration-test builds both read
//! the system clocks; the crate's own tests (`cfg(test)`) derive the wall clock from
//! tokio's clock, so a test passes time with `pass` (tokio's paused clock) instead of
//! sleeping. Caches decide freshness on this clock too (moka's own expiry, on moka's
//! clock, only frees memory).

use std::time::Duration;

/// The monotonic clock (tokio's, so that a paused test clock drives it).
pub(crate) type Instant = tokio::time::Instant;

/// Now, on the monotonic clock.
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// `d` in whole milliseconds, rounded down and capped at `u32::MAX` (~49 days): a cache
/// entry's lifetime in 4 bytes rather than a 16-byte `Duration`, never longer than `d`.
pub(crate) fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Whether `lifetime` has passed since `since`.
pub(crate) fn has_passed(since: Instant, lifetime: Duration) -> bool {
    now().saturating_duration_since(since) >= lifetime
}

/// Seconds since the Unix epoch (token `exp`/`nbf` are wall-clock NumericDates).
#[cfg(not(test))]
pub fn now_unix() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Tests: the wall clock at the first call, moved on by tokio's clock since then.
#[cfg(test)]
#[allow(clippy::disallowed_types)] // the anchor tokio's clock is measured from
pub fn now_unix() -> i64 {
    use std::sync::OnceLock;
    use std::time::{SystemTime, UNIX_EPOCH};
    static START: OnceLock<(u128, std::time::Instant)> = OnceLock::new();
    let (unix_ms, at) = *START.get_or_init(|| {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH);
        (unix.map_or(0, |d| d.as_millis()), std::time::Instant::now())
    });
    let passed = now().saturating_duration_since(Instant::from_std(at));
    ((unix_ms + passed.as_millis()) / 1000) as i64
}

/// Tests: lets `duration` pass at once on tokio's clock (and so on [`now_unix`]), then
/// lets the clock run on, so that real sockets and timeouts behave as usual afterwards.
/// Needs a current-thread runtime (`#[tokio::test]`).
#[cfg(test)]
pub(crate) async fn pass(duration: Duration) {
    tokio::time::pause();
    tokio::time::advance(duration).await;
    tokio::time::resume();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passing_time_moves_both_clocks_without_waiting() {
        let (mono, unix) = (now(), now_unix());
        let real = std::time::SystemTime::now();
        pass(Duration::from_secs(3600)).await;
        assert!(has_passed(mono, Duration::from_secs(3600)));
        assert!(!has_passed(mono, Duration::from_secs(3700)));
        assert!((3600..=3601).contains(&(now_unix() - unix)));
        assert!(real.elapsed().unwrap() < Duration::from_secs(5), "it slept");
    }
}
