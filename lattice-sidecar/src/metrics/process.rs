//! The standard process metrics, under the names every Prometheus client library uses
//! (client_golang's process collector, prometheus/procfs), read from `/proc/self` at
//! scrape time. prometheus-client has no process collector. Linux only, as the sidecar
//! is (it also relies on `/proc` for the open-file limit and `SO_*` options).
//!
//! | metric | from |
//! |---|---|
//! | `process_cpu_seconds_total` | `utime + stime` of `/proc/self/stat`, in clock ticks |
//! | `process_resident_memory_bytes` | `rss` of `/proc/self/stat`, in pages |
//! | `process_virtual_memory_bytes` | `vsize` of `/proc/self/stat` |
//! | `process_open_fds` | entries of `/proc/self/fd` |
//! | `process_max_fds` | the soft `RLIMIT_NOFILE` (absent when unlimited) |
//! | `process_start_time_seconds` | `starttime` of `/proc/self/stat` after `btime` of `/proc/stat` |
//!
//! A file that cannot be read leaves its metrics out of that scrape rather than failing
//! it.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Collects the `process_*` metrics.
#[derive(Debug)]
pub(crate) struct ProcessCollector {
    /// Kernel clock ticks per second (`USER_HZ`), for the tick counts in `stat`.
    ticks_per_second: f64,
    page_size: u64,
    /// Fixed for the life of the process: read once.
    start_time_seconds: Option<f64>,
}

/// The fields of `/proc/self/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime_ticks: u64,
    stime_ticks: u64,
    start_ticks: u64,
    vsize_bytes: u64,
    rss_pages: u64,
}

// === impl ProcessCollector ===

impl ProcessCollector {
    pub(crate) fn new() -> Self {
        let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
        let start_time_seconds = (|| {
            let boot = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
            let stat = Stat::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
            Some(boot as f64 + stat.start_ticks as f64 / ticks_per_second)
        })();
        Self {
            ticks_per_second,
            page_size: rustix::param::page_size() as u64,
            start_time_seconds,
        }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| Stat::parse(&text));
        if let Some(stat) = stat {
            let cpu = ConstCounter::new(
                (stat.utime_ticks + stat.stime_ticks) as f64 / self.ticks_per_second,
            );
            cpu.encode(encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent in seconds",
                Some(&Unit::Seconds),
                cpu.metric_type(),
            )?)?;
            let resident = ConstGauge::new(stat.rss_pages.saturating_mul(self.page_size));
            resident.encode(encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size in bytes",
                Some(&Unit::Bytes),
                resident.metric_type(),
            )?)?;
            let virtual_memory = ConstGauge::new(stat.vsize_bytes);
            virtual_memory.encode(encoder.encode_descriptor(
                "process_virtual_memory",
                "Virtual memory size in bytes",
                Some(&Unit::Bytes),
                virtual_memory.metric_type(),
            )?)?;
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            let open = ConstGauge::new(entries.count() as u64);
            open.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors",
                None,
                open.metric_type(),
            )?)?;
        }
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        if let Some(max) = limit.current {
            let max = ConstGauge::new(max);
            max.encode(encoder.encode_descriptor(
                "process_max_fds",
                "Maximum number of open file descriptors",
                None,
                max.metric_type(),
            )?)?;
        }
        if let Some(start) = self.start_time_seconds {
            let start = ConstGauge::new(start);
            start.encode(encoder.encode_descriptor(
                "process_start_time",
                "Start time of the process since unix epoch in seconds",
                Some(&Unit::Seconds),
                start.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

// === impl Stat ===

impl Stat {
    /// Parse `/proc/[pid]/stat` (proc(5)). The command name in field 2 may hold spaces
    /// and parentheses, so fields are counted from its last `)`.
    fn parse(text: &str) -> Option<Self> {
        let (_, rest) = text.rsplit_once(')')?;
        // rest[0] is field 3 (state): field N is rest[N - 3].
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Self {
            utime_ticks: field(14)?,
            stime_ticks: field(15)?,
            start_ticks: field(22)?,
            vsize_bytes: field(23)?,
            rss_pages: field(24)?,
        })
    }
}

/// `btime` of `/proc/stat`: boot time, in seconds since the Unix epoch.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A command name with spaces and parentheses, as proc(5) allows.
        let text = "4242 (lattice (side) car) S 1 4242 4242 0 -1 4194560 3208 0 0 0 \
                    150 37 0 0 20 0 9 0 123456 187691008 2811 18446744073709551615 1 1 0 0 0 0 \
                    0 4096 17664 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            Stat::parse(text),
            Some(Stat {
                utime_ticks: 150,
                stime_ticks: 37,
                start_ticks: 123456,
                vsize_bytes: 187691008,
                rss_pages: 2811,
            })
        );
        assert_eq!(Stat::parse("4242 (truncated) S 1 2"), None);
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1764979200\nprocesses 9\n"),
            Some(1764979200)
        );
    }

    #[test]
    fn this_process_is_described() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector::new()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
                .parse()
                .unwrap()
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        // Started before now, and not before the test binary could have been built today.
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
        assert!(value("process_cpu_seconds_total") > 0.0);
        let rss = value("process_resident_memory_bytes");
        assert!(
            rss > 1e6 && rss < value("process_virtual_memory_bytes"),
            "{text}"
        );
        let open = value("process_open_fds");
        let actual = std::fs::read_dir("/proc/self/fd").unwrap().count() as f64;
        assert!((open - actual).abs() <= 2.0, "{open} vs {actual}");
        assert!(value("process_max_fds") >= open);
        assert!(
            text.contains("# TYPE process_cpu_seconds counter"),
            "{text}"
        );
    }
}
