//! The global tracing subscriber: `--log-format text` (tracing-subscriber's) or `json`,
//! one object per line.
//!
//! JSON lines keep tracing-subscriber's flattened shape (`timestamp`, `level`, the
//! event's fields with `message`, then `target`), with one difference that needs a
//! formatter of our own: every field an event declares is written, and one without a
//! value (an `Option` that was `None`) is `null`. tracing-subscriber's JSON formatter
//! leaves such fields out, and cannot write `null`; so an access-log line without an
//! error or an upstream says `"error":null`, not `"error":"-"` or nothing, and every line
//! has the same keys.

use std::fmt;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogConfig, LogFormat};

/// Formats events as JSON lines, with `null` for declared fields without a value.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonLines;

/// An event's field values, in the order recorded.
#[derive(Default)]
struct Fields(Vec<(&'static str, Value)>);

/// One JSON line, serialized in order.
struct Line<'a> {
    timestamp: &'a str,
    event: &'a Event<'a>,
    fields: &'a Fields,
}

/// Install the global tracing subscriber: `--log`, else `RUST_LOG`, else `info`.
pub fn init_tracing(config: &LogConfig, rust_log: Option<String>) {
    let filter = config
        .filter
        .clone()
        .or(rust_log)
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stdout);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.event_format(JsonLines).try_init(),
    };
}

// === impl JsonLines ===

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = Line {
            timestamp: &timestamp,
            event,
            fields: &fields,
        };
        let json = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{json}")
    }
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let metadata = self.event.metadata();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("timestamp", self.timestamp)?;
        map.serialize_entry("level", metadata.level().as_str())?;
        for field in metadata.fields() {
            let value = self.fields.get(field.name()).unwrap_or(&Value::Null);
            map.serialize_entry(field.name(), value)?;
        }
        map.serialize_entry("target", metadata.target())?;
        map.end()
    }
}

// === impl Fields ===

impl Fields {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn set(&mut self, field: &Field, value: Value) {
        self.0.push((field.name(), value));
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn declared_fields_without_a_value_are_null() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let (none, some): (Option<&str>, Option<&str>) = (None, Some("x"));
            tracing::info!(
                target: "lattice_sidecar::access",
                status = 200u16,
                duration_ms = 1.5,
                complete = true,
                error = none,
                upstream = some,
                addr = %"127.0.0.1:1",
                "request"
            );
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request");
        assert_eq!(line["target"], "lattice_sidecar::access");
        assert_eq!(line["status"], 200);
        assert_eq!(line["duration_ms"], 1.5);
        assert_eq!(line["complete"], true);
        assert_eq!(line["error"], Value::Null);
        assert!(line.as_object().unwrap().contains_key("error"), "{text}");
        assert_eq!(line["upstream"], "x");
        assert_eq!(line["addr"], "127.0.0.1:1");
        // RFC 3339 UTC, as tracing-subscriber writes it.
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.ends_with('Z') && timestamp.contains('T'),
            "{timestamp}"
        );
        // Keys in tracing-subscriber's order: timestamp, level, fields, target.
        assert!(text.starts_with("{\"timestamp\":"), "{text}");
        assert!(
            text.trim_end()
                .ends_with("\"target\":\"lattice_sidecar::access\"}")
        );
    }
}
