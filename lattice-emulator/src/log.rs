//! A bounded record of every request that reached the emulator.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use crate::policy::Decision;

/// What the emulator did with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Verified (or on an auth-NONE service) and handed to a target.
    Forwarded {
        /// The verified access key id; `None` on auth-NONE services.
        access_key_id: Option<String>,
    },
    /// Refused with a 403 carrying this error code, e.g. `InvalidSignatureException`.
    Rejected {
        /// The code sent in `x-amzn-errortype`.
        code: &'static str,
    },
    /// Denied by the auth policies: answered 403 `AccessDeniedException`.
    Denied {
        /// Why, as `policy check` would explain it.
        decision: Decision,
    },
    /// No service matched the host: answered 404.
    UnknownHost,
}

/// One request as the emulator saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The routing host (lower case, without port), if the request named one.
    pub host: Option<String>,
    /// The request method.
    pub method: String,
    /// The path exactly as received.
    pub path: String,
    /// What happened to it.
    pub verdict: Verdict,
}

/// Shared, bounded log; the oldest records are dropped first.
#[derive(Clone, Debug)]
pub(crate) struct RequestLog {
    inner: Arc<Mutex<LogInner>>,
}

#[derive(Debug)]
struct LogInner {
    capacity: usize,
    records: VecDeque<RequestRecord>,
}

// === impl RequestLog ===

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Mutex::new(LogInner {
                capacity,
                records: VecDeque::with_capacity(capacity.min(1024)),
            })),
        }
    }

    pub(crate) fn push(&self, record: RequestRecord) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.records.len() >= inner.capacity {
            inner.records.pop_front();
        }
        inner.records.push_back(record);
    }

    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.records.iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str) -> RequestRecord {
        RequestRecord {
            host: None,
            method: "GET".to_owned(),
            path: path.to_owned(),
            verdict: Verdict::UnknownHost,
        }
    }

    #[test]
    fn drops_the_oldest_record_when_full() {
        let log = RequestLog::new(2);
        log.push(record("/1"));
        log.push(record("/2"));
        log.push(record("/3"));
        let paths: Vec<String> = log.snapshot().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/2", "/3"]);
        log.clear();
        assert!(log.snapshot().is_empty());
    }
}
