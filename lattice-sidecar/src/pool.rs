//! Which of a worker's upstream clients a request goes out on.
//!
//! hyper-util's pooled client keeps one HTTP/2 connection per upstream, and when the
//! server's `SETTINGS_MAX_CONCURRENT_STREAMS` is reached it queues further requests
//! inside h2, silently, until a stream frees up. Envoy instead opens another connection
//! when a connection is at its stream limit; this does the same. A worker owns several
//! clients, each with its own pool, and sends at most [`STREAMS_PER_CONNECTION`] requests
//! in flight to one upstream through each, so with HTTP/2 no connection carries more
//! streams than that. The next request goes through the next client, which opens its own
//! connection. Past [`MAX_CONNECTIONS_PER_UPSTREAM`] clients the request is refused with
//! 503 `upstream-busy` rather than queued.
//!
//! The stream bound also bounds what slow readers can hold: see `client`'s window sizes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Requests in flight to one upstream through one client: at most one HTTP/2 connection's
/// streams. RFC 9113 §6.5.2 asks servers to allow at least 100, so a compliant upstream
/// never makes a request wait for a stream.
pub(crate) const STREAMS_PER_CONNECTION: usize = 100;
/// Clients (so HTTP/2 connections) a worker uses for one upstream at most.
pub(crate) const MAX_CONNECTIONS_PER_UPSTREAM: usize = 64;

/// Names one upstream pool: the same authority over https, plain http, or h2c are
/// different connections.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) authority: Arc<str>,
    pub(crate) https: bool,
    pub(crate) h2c: bool,
}

/// A worker's clients, and what each has in flight to each upstream. Cheap to clone.
pub(crate) struct Pools<C> {
    state: Arc<Mutex<State<C>>>,
    make_client: Arc<dyn Fn() -> C + Send + Sync>,
}

struct State<C> {
    /// Shared, so handing one out copies a pointer rather than the client.
    clients: Vec<Arc<C>>,
    in_flight: InFlight,
}

/// Requests in flight, per client and upstream. Upstreams with none in flight are
/// forgotten, so this holds no more entries than there are requests; the maps keep their
/// capacity, so a steady load allocates nothing here.
#[derive(Debug)]
struct InFlight {
    per_client: usize,
    max_clients: usize,
    /// One map per client made so far.
    clients: Vec<HashMap<PoolKey, usize>>,
}

/// One request's place in a client's share of an upstream; given back when dropped,
/// which the proxy does when the response body ends or is abandoned.
pub(crate) struct Lease {
    state: Arc<Mutex<dyn Release + Send>>,
    key: PoolKey,
    client: usize,
}

trait Release {
    fn release(&mut self, key: &PoolKey, client: usize);
}

// === impl Pools ===

impl<C: Send + Sync + 'static> Pools<C> {
    /// `make_client` builds one more client (with an empty pool of its own) when all
    /// existing ones are at their share of an upstream.
    pub(crate) fn new(make_client: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Self::with_limits(
            make_client,
            STREAMS_PER_CONNECTION,
            MAX_CONNECTIONS_PER_UPSTREAM,
        )
    }

    fn with_limits(
        make_client: impl Fn() -> C + Send + Sync + 'static,
        per_client: usize,
        max_clients: usize,
    ) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                clients: Vec::new(),
                in_flight: InFlight {
                    per_client,
                    max_clients,
                    clients: Vec::new(),
                },
            })),
            make_client: Arc::new(make_client),
        }
    }

    /// The client for one more request to `key`, with its lease; `None` when every client
    /// this worker may use for it is at its share.
    pub(crate) fn acquire(&self, key: &PoolKey) -> Option<(Arc<C>, Lease)> {
        let mut state = lock(&self.state);
        let client = state.in_flight.acquire(key)?;
        while state.clients.len() <= client {
            let made = (self.make_client)();
            state.clients.push(Arc::new(made));
        }
        let chosen = state.clients[client].clone();
        drop(state);
        let lease = Lease {
            state: self.state.clone(),
            key: key.clone(),
            client,
        };
        Some((chosen, lease))
    }
}

impl<C> Clone for Pools<C> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            make_client: self.make_client.clone(),
        }
    }
}

impl<C> fmt::Debug for Pools<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pools").finish_non_exhaustive()
    }
}

impl<C> Release for State<C> {
    fn release(&mut self, key: &PoolKey, client: usize) {
        self.in_flight.release(key, client);
    }
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The counts stay consistent even if a holder panicked: every change is one step.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// === impl InFlight ===

impl InFlight {
    /// The first client with room for one more request to `key`, counted in.
    fn acquire(&mut self, key: &PoolKey) -> Option<usize> {
        let room =
            |counts: &HashMap<PoolKey, usize>| counts.get(key).is_none_or(|&n| n < self.per_client);
        let client = match self.clients.iter().position(room) {
            Some(client) => client,
            None if self.clients.len() < self.max_clients => {
                self.clients.push(HashMap::new());
                self.clients.len() - 1
            }
            None => return None,
        };
        *self.clients[client].entry(key.clone()).or_insert(0) += 1;
        Some(client)
    }

    fn release(&mut self, key: &PoolKey, client: usize) {
        let Some(counts) = self.clients.get_mut(client) else {
            return;
        };
        if let Some(count) = counts.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(key);
            }
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.clients.iter().all(HashMap::is_empty)
    }
}

// === impl Lease ===

impl Drop for Lease {
    fn drop(&mut self) {
        lock(&*self.state).release(&self.key, self.client);
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("upstream", &self.key.authority)
            .field("client", &self.client)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(authority: &str) -> PoolKey {
        PoolKey {
            authority: authority.into(),
            https: true,
            h2c: false,
        }
    }

    /// Pools of numbered clients, counting how many were made.
    fn numbered(per_client: usize, max_clients: usize) -> (Pools<usize>, Arc<AtomicUsize>) {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = made.clone();
        let pools = Pools::with_limits(
            move || counter.fetch_add(1, Ordering::Relaxed),
            per_client,
            max_clients,
        );
        (pools, made)
    }

    #[test]
    fn a_full_client_sends_the_next_request_through_a_new_one() {
        let (pools, made) = numbered(2, 3);
        let a = key("a");
        let leases: Vec<(Arc<usize>, Lease)> = (0..6).map(|_| pools.acquire(&a).unwrap()).collect();
        let clients: Vec<usize> = leases.iter().map(|(c, _)| **c).collect();
        assert_eq!(clients, [0, 0, 1, 1, 2, 2]);
        assert_eq!(made.load(Ordering::Relaxed), 3);
        // Every client is at its share: refused, not queued.
        assert!(pools.acquire(&a).is_none());
        // Another upstream has its own shares in the same clients.
        assert_eq!(pools.acquire(&key("b")).map(|(c, _)| *c), Some(0));
        // A finished request frees its place in its own client.
        let mut leases = leases;
        drop(leases.remove(3));
        assert_eq!(pools.acquire(&a).map(|(c, _)| *c), Some(1));
        assert_eq!(made.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn upstreams_with_nothing_in_flight_are_forgotten() {
        let (pools, _) = numbered(1, 4);
        for i in 0..1000 {
            let authority = format!("svc-{i}");
            let leases: Vec<_> = (0..3)
                .map(|_| pools.acquire(&key(&authority)).unwrap())
                .collect();
            drop(leases);
        }
        let state = lock(&pools.state);
        assert!(state.in_flight.is_empty(), "{:?}", state.in_flight);
        assert_eq!(state.clients.len(), 3);
    }
}
