//! Time sources. The signer never reads the system clock directly, so tests can pin time.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header::DATE};

/// A source of wall-clock time for signing and credential expiry.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// A shareable [`Clock`].
pub type SharedClock = Arc<dyn Clock>;

/// The real system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        // The one place that reads the system clock (see clippy.toml).
        #[allow(clippy::disallowed_methods)]
        SystemTime::now()
    }
}

/// Skews below this are Date's one-second resolution and network delay, not a wrong clock;
/// Lattice itself accepts signatures up to five minutes off.
const SKEW_TOLERANCE: Duration = Duration::from_secs(60);
/// A server claiming to be further off than this is broken, not a reference.
const MAX_SKEW: Duration = Duration::from_secs(24 * 60 * 60);

/// The signing clock: a [`Clock`] plus the server's offset from it, learned from the
/// `Date` of requests that were refused with 403, as the AWS SDKs do. A host whose clock
/// is wrong then loses one request, not all of them until NTP catches up.
#[derive(Debug)]
pub(crate) struct SigningClock {
    clock: SharedClock,
    /// Server time minus local time, in milliseconds.
    offset_millis: AtomicI64,
    corrects_skew: bool,
}

impl SigningClock {
    pub(crate) fn new(clock: SharedClock, corrects_skew: bool) -> Self {
        Self {
            clock,
            offset_millis: AtomicI64::new(0),
            corrects_skew,
        }
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(crate) fn corrects_skew(&self) -> bool {
        self.corrects_skew
    }

    /// Server time minus local time, as learned so far.
    pub(crate) fn offset_millis(&self) -> i64 {
        self.offset_millis.load(Ordering::Relaxed)
    }

    /// The time to sign with: local time moved by the learned offset.
    pub(crate) fn now(&self) -> SystemTime {
        let local = self.clock.now();
        let offset = self.offset_millis();
        let magnitude = Duration::from_millis(offset.unsigned_abs());
        let corrected = if offset >= 0 {
            local.checked_add(magnitude)
        } else {
            local.checked_sub(magnitude)
        };
        corrected.unwrap_or(local)
    }

    /// Learn from a response to a signed request. Only a 403 carries the information: it
    /// is how Lattice refuses a signature whose time is off, and a 2xx `Date` from a
    /// misconfigured server must not break signing that works.
    pub(crate) fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        if !self.corrects_skew || status != StatusCode::FORBIDDEN {
            return;
        }
        let Some(server) = headers
            .get(DATE)
            .and_then(|date| date.to_str().ok())
            .and_then(|date| httpdate::parse_http_date(date).ok())
        else {
            return;
        };
        let local = self.clock.now();
        let (skew, server_ahead) = match server.duration_since(local) {
            Ok(ahead) => (ahead, true),
            Err(behind) => (behind.duration(), false),
        };
        if skew > MAX_SKEW {
            tracing::warn!(
                skew_secs = skew.as_secs(),
                server_ahead,
                "ignoring the Date of a 403: more than a day from the local clock"
            );
            return;
        }
        let offset = if skew < SKEW_TOLERANCE {
            0
        } else {
            let millis = i64::try_from(skew.as_millis()).unwrap_or(i64::MAX);
            if server_ahead { millis } else { -millis }
        };
        let previous = self.offset_millis.swap(offset, Ordering::Relaxed);
        if previous != offset {
            tracing::warn!(
                offset_secs = offset / 1000,
                previous_offset_secs = previous / 1000,
                "request refused with a Date far from the local clock; signing with the \
                 server's time from now on (fix the host's NTP)"
            );
        }
    }
}

#[cfg(any(test, feature = "test-util"))]
pub use manual::ManualClock;

#[cfg(any(test, feature = "test-util"))]
mod manual {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime};

    /// A clock that only moves when told to (`test-util` feature).
    #[derive(Clone, Debug)]
    pub struct ManualClock {
        now: Arc<Mutex<SystemTime>>,
    }

    impl ManualClock {
        /// A clock stopped at `start`.
        pub fn new(start: SystemTime) -> Self {
            Self {
                now: Arc::new(Mutex::new(start)),
            }
        }

        /// Move the clock forward.
        pub fn advance(&self, by: Duration) {
            let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
            *now += by;
        }

        /// Set the clock.
        pub fn set(&self, to: SystemTime) {
            *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
        }
    }

    impl super::Clock for ManualClock {
        fn now(&self) -> SystemTime {
            *self.now.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use http::HeaderValue;

    use super::*;

    fn local() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn signing_clock(corrects_skew: bool) -> SigningClock {
        SigningClock::new(Arc::new(ManualClock::new(local())), corrects_skew)
    }

    fn dated(date: SystemTime) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::try_from(httpdate::fmt_http_date(date)).unwrap();
        headers.insert(DATE, value);
        headers
    }

    #[test]
    fn a_refusal_dated_far_from_the_local_clock_moves_signing_time() {
        let clock = signing_clock(true);
        let ahead = Duration::from_secs(10 * 60);
        clock.observe(StatusCode::FORBIDDEN, &dated(local() + ahead));
        assert_eq!(clock.offset_millis(), 600_000);
        assert_eq!(clock.now(), local() + ahead);

        clock.observe(StatusCode::FORBIDDEN, &dated(local() - ahead));
        assert_eq!(clock.offset_millis(), -600_000);
        assert_eq!(clock.now(), local() - ahead);

        // The local clock was fixed: the next refusal's Date agrees with it.
        clock.observe(
            StatusCode::FORBIDDEN,
            &dated(local() + Duration::from_secs(2)),
        );
        assert_eq!(clock.offset_millis(), 0);
        assert_eq!(clock.now(), local());
    }

    #[test]
    fn only_plausible_refusals_teach_the_clock() {
        let clock = signing_clock(true);
        let far = local() + Duration::from_secs(3600);
        for status in [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::BAD_GATEWAY,
        ] {
            clock.observe(status, &dated(far));
        }
        assert_eq!(clock.offset_millis(), 0, "only a 403 carries skew");

        clock.observe(StatusCode::FORBIDDEN, &HeaderMap::new());
        let mut garbage = HeaderMap::new();
        garbage.insert(DATE, HeaderValue::from_static("yesterday"));
        clock.observe(StatusCode::FORBIDDEN, &garbage);
        assert_eq!(clock.offset_millis(), 0, "no usable Date");

        clock.observe(
            StatusCode::FORBIDDEN,
            &dated(local() + Duration::from_secs(2 * 24 * 3600)),
        );
        assert_eq!(clock.offset_millis(), 0, "more than a day off is ignored");

        let disabled = signing_clock(false);
        disabled.observe(StatusCode::FORBIDDEN, &dated(far));
        assert_eq!(disabled.offset_millis(), 0);
        assert_eq!(disabled.now(), local());
    }
}
