//! The last allowed host each thread signed for, per config.
//!
//! Checking the host against the allow-list and finding its region was a tenth of a warm
//! signature, and a client signs for the same few hosts over and over. A hit costs one
//! comparison of the host text. Only allowed hosts are remembered, and the key includes the
//! config's id, so a memo can never widen what a config allows.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longer host texts are not remembered (a DNS name is at most 253 bytes, plus a port).
const MAX_REMEMBERED: usize = 260;

static NEXT_CONFIG_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static LAST: RefCell<Option<Entry>> = const { RefCell::new(None) };
}

/// A process-unique id for a newly built config.
pub(super) fn next_config_id() -> u64 {
    NEXT_CONFIG_ID.fetch_add(1, Ordering::Relaxed)
}

/// Where the host text came from; the same text means different hosts from different
/// places (a default port is dropped only from the URI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    HostHeader,
    /// The URI authority, with the scheme's default port if the scheme has one.
    Authority {
        default_port: Option<u16>,
    },
}

/// Where the signing region of a remembered host is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RegionAt {
    /// SigV4A signs for the config's region set, not a region.
    RegionSet,
    /// In the host text: a Lattice service name carries its region.
    Source(Range<usize>),
    /// The config's default region.
    Default,
    /// The region given with the config's custom domain at this index.
    Domain(usize),
}

/// The host to sign (a range of the host text) and where its region is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Resolved {
    pub(super) host: Range<usize>,
    pub(super) region: RegionAt,
}

struct Entry {
    config_id: u64,
    origin: Origin,
    source: String,
    resolved: Resolved,
}

pub(super) fn lookup(config_id: u64, origin: Origin, source: &str) -> Option<Resolved> {
    LAST.try_with(|last| {
        let last = last.try_borrow().ok()?;
        let entry = last.as_ref()?;
        (entry.config_id == config_id && entry.origin == origin && entry.source == source)
            .then(|| entry.resolved.clone())
    })
    .ok()
    .flatten()
}

pub(super) fn remember(config_id: u64, origin: Origin, source: &str, resolved: Resolved) {
    if source.len() > MAX_REMEMBERED {
        return;
    }
    // Unavailable during thread teardown or a reentrant call: just don't remember.
    let _ = LAST.try_with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return;
        };
        match last.as_mut() {
            Some(entry) => {
                entry.config_id = config_id;
                entry.origin = origin;
                // Reuses the buffer: switching between hosts does not allocate.
                entry.source.clear();
                entry.source.push_str(source);
                entry.resolved = resolved;
            }
            None => {
                *last = Some(Entry {
                    config_id,
                    origin,
                    source: source.to_owned(),
                    resolved,
                });
            }
        }
    });
}

/// The range of `part` within `whole`, if `part` is a slice of `whole`.
pub(super) fn range_within(whole: &str, part: &str) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let range = start..start.checked_add(part.len())?;
    whole
        .get(range.clone())
        .filter(|slice| std::ptr::eq(slice.as_ptr(), part.as_ptr()))
        .map(|_| range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_within_finds_only_true_slices() {
        let whole = String::from("orders.example.com:443");
        assert_eq!(range_within(&whole, &whole[7..14]), Some(7..14));
        assert_eq!(range_within(&whole, &whole[..]), Some(0..whole.len()));
        // Equal text elsewhere in memory is not a slice.
        let copy = String::from("example");
        assert_eq!(range_within(&whole, &copy), None);
    }

    #[test]
    fn a_hit_needs_the_same_config_origin_and_text() {
        let id = next_config_id();
        let resolved = Resolved {
            host: 0..11,
            region: RegionAt::Default,
        };
        remember(id, Origin::HostHeader, "example.com", resolved.clone());
        assert_eq!(
            lookup(id, Origin::HostHeader, "example.com"),
            Some(resolved)
        );
        assert_eq!(
            lookup(id + 1_000_000, Origin::HostHeader, "example.com"),
            None
        );
        let from_uri = Origin::Authority {
            default_port: Some(443),
        };
        assert_eq!(lookup(id, from_uri, "example.com"), None);
        assert_eq!(lookup(id, Origin::HostHeader, "example.org"), None);
        assert_eq!(lookup(id, Origin::HostHeader, "example.co"), None);
    }

    #[test]
    fn long_host_texts_are_not_remembered() {
        let id = next_config_id();
        let long = "a".repeat(MAX_REMEMBERED + 1);
        let resolved = Resolved {
            host: 0..long.len(),
            region: RegionAt::Default,
        };
        remember(id, Origin::HostHeader, &long, resolved);
        assert_eq!(lookup(id, Origin::HostHeader, &long), None);
    }
}
