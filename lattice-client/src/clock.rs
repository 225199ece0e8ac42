//! Time sources. The signer never reads the system clock directly, so tests can pin time.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

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
