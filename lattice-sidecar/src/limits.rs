//! What one client may take: the size of a request head, and how many connections the
//! proxy holds, with the file descriptors kept back so the admin listener always answers.
//!
//! Every proxied client connection costs a file descriptor, and often one more for its
//! upstream connection (HTTP/1.1 upstreams take one per request in flight). Without a
//! bound, a few hundred idle sockets exhaust the process's open-file limit, and then
//! nothing can be accepted, `/livez` included. So:
//!
//! - at start-up the soft `RLIMIT_NOFILE` is raised to the hard limit (as Go's runtime
//!   and nginx's `worker_rlimit_nofile` do), since the soft default (often 1024) is a
//!   relic for select()-based programs;
//! - the proxy listeners share one [`ConnectionLimit`]: `--max-connections`, or by default
//!   half of what the limit leaves after [`FD_RESERVE`] (a client and its upstream), at
//!   most [`DEFAULT_MAX_CONNECTIONS`]; a connection over it is answered with 503 and
//!   closed at once;
//! - the admin listener keeps one spare descriptor ([`SpareFd`]) that it gives up to
//!   accept a probe when the process has run out anyway.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest request head accepted (HTTP/1.1 request line and headers; HTTP/2 header
/// list). Larger ones get 431 from hyper at the edge. hyper's HTTP/1.1 default (~400 KiB)
/// let through heads that upstreams refuse, which then surfaced as a 502 after signing;
/// 64 KiB is in line with common proxies (Envoy: 60 KiB).
pub(crate) const MAX_REQUEST_HEAD: usize = 64 * 1024;
/// The most header fields in a request (hyper's HTTP/1.1 default, made explicit, and
/// applied to h2c requests by `route`); more get 431.
pub(crate) const MAX_HEADERS: usize = 100;

/// Descriptors kept out of the proxy's share: the admin listener and its connections,
/// the listeners, the runtime's epoll and eventfds, DNS lookups, the log.
pub(crate) const FD_RESERVE: u64 = 128;
/// The default `--max-connections` when the open-file limit allows more.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Admin connections open at once; probes and scrapes need a handful.
pub(crate) const ADMIN_MAX_CONNECTIONS: usize = 32;

/// What a connection over the limit is told before it is closed. HTTP/1.1, since that is
/// what almost every client speaks first; an h2c client sees a protocol error instead.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
x-lattice-sidecar-error: too-many-connections\r\n\
connection: close\r\n\
content-length: 108\r\n\
\r\n\
lattice-sidecar: too many client connections are open (--max-connections); reuse connections or retry later\n";

/// Open connections, bounded. Cheap to clone; shared by the listeners it covers.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

/// One open connection's place under a [`ConnectionLimit`]; released when dropped.
pub(crate) type ConnectionPermit = OwnedSemaphorePermit;

/// A descriptor held open so that one can be freed when the process has none left.
#[derive(Debug)]
pub(crate) struct SpareFd(Option<File>);

// === impl ConnectionLimit ===

impl ConnectionLimit {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// A place for one more connection, or `None` at the limit.
    pub(crate) fn try_acquire(&self) -> Option<ConnectionPermit> {
        self.permits.clone().try_acquire_owned().ok()
    }
}

/// Answer a connection over the limit with a 503 and close it. The response fits in an
/// empty socket buffer, so one non-blocking write sends it whole; nothing waits. (Through
/// the std socket: tokio's `try_write` reports `WouldBlock` until its reactor has seen the
/// new socket become writable.)
pub(crate) fn refuse(stream: TcpStream) {
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    if stream.write_all(REFUSAL).is_ok() {
        // Read what the client already sent: closing a socket with unread data sends a
        // reset, which can make the client drop the 503 unread.
        let mut discard = [0u8; 4096];
        while matches!(stream.read(&mut discard), Ok(n) if n > 0) {}
    }
}

// === impl SpareFd ===

impl SpareFd {
    pub(crate) fn open() -> Self {
        Self(File::open("/dev/null").ok())
    }

    /// Give the descriptor up, so the next `accept` can have it.
    pub(crate) fn release(&mut self) -> bool {
        self.0.take().is_some()
    }

    /// Take a descriptor back if none is held (fails quietly while the process is out).
    pub(crate) fn restore(&mut self) {
        if self.0.is_none() {
            self.0 = File::open("/dev/null").ok();
        }
    }
}

/// Whether an accept failed because the process or the system is out of descriptors.
pub(crate) fn is_out_of_fds(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

/// Raise the soft open-file limit to the hard one; returns the soft limit now in force
/// (`None`: unlimited).
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(from = ?limit.current, to = ?limit.maximum, "raised the open-file limit");
                return limit.maximum;
            }
            Err(error) => tracing::debug!(%error, "cannot raise the open-file limit"),
        }
    }
    limit.current
}

/// The default `--max-connections` under an open-file limit: half of what is left after
/// [`FD_RESERVE`] (each client connection may need an upstream one), at least 1.
pub(crate) fn default_max_connections(open_file_limit: Option<u64>) -> usize {
    match open_file_limit {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(limit) => {
            let share = limit.saturating_sub(FD_RESERVE) / 2;
            usize::try_from(share)
                .unwrap_or(usize::MAX)
                .clamp(1, DEFAULT_MAX_CONNECTIONS)
        }
    }
}

/// The connection limit to serve with: `--max-connections`, else derived from the open-file
/// limit. Warns when an explicit value leaves no reserve under that limit.
pub(crate) fn max_connections(configured: Option<usize>, open_file_limit: Option<u64>) -> usize {
    let Some(configured) = configured else {
        return default_max_connections(open_file_limit);
    };
    if let Some(limit) = open_file_limit
        && (configured as u64)
            .saturating_mul(2)
            .saturating_add(FD_RESERVE)
            > limit
    {
        tracing::warn!(
            max_connections = configured,
            open_file_limit = limit,
            "--max-connections may exceed the open-file limit: raise it (ulimit -n, LimitNOFILE=) \
             or lower --max-connections; the admin listener keeps one spare descriptor either way"
        );
    }
    configured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_a_reserve_and_a_share_per_upstream() {
        assert_eq!(default_max_connections(Some(256)), 64);
        assert_eq!(default_max_connections(Some(1024)), 448);
        assert_eq!(
            default_max_connections(Some(1 << 20)),
            DEFAULT_MAX_CONNECTIONS
        );
        assert_eq!(default_max_connections(None), DEFAULT_MAX_CONNECTIONS);
        // A limit below the reserve still serves one connection.
        assert_eq!(default_max_connections(Some(16)), 1);
        assert_eq!(max_connections(Some(5), Some(16)), 5);
    }

    #[test]
    fn the_refusal_is_a_complete_response() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        assert!(body.ends_with('\n') && body.lines().count() == 1);
    }

    #[test]
    fn permits_are_bounded_and_returned() {
        let limit = ConnectionLimit::new(2);
        let a = limit.try_acquire().unwrap();
        let _b = limit.try_acquire().unwrap();
        assert!(limit.try_acquire().is_none());
        drop(a);
        assert!(limit.try_acquire().is_some());
    }
}
