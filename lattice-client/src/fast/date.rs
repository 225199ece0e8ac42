//! `SystemTime` -> `YYYYMMDD'T'HHMMSS'Z'` without `format!` or the `time` crate.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// The last second formatted on this thread: requests signed in the same second share
    /// it. Without it, lattice-client / floor in the ratio bench went from 1.14-1.17 to 1.18
    /// in four alternating runs (`bench/RESULTS.md`).
    static LAST: Cell<Option<(u64, Timestamp)>> = const { Cell::new(None) };
}

/// The signature time, formatted once. Only 1970..=9999 is supported; the signer falls back
/// to aws-sigv4 outside that range (aws-sigv4 prints wider years, which we do not copy).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timestamp {
    date_time: [u8; 16],
    /// Days since the Unix epoch: the signing-key cache key.
    day: u64,
}

// === impl Timestamp ===

impl Timestamp {
    pub(crate) fn new(time: SystemTime) -> Option<Self> {
        let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
        let last = LAST.try_with(Cell::get).ok().flatten();
        if let Some((last_secs, timestamp)) = last
            && last_secs == secs
        {
            return Some(timestamp);
        }
        let timestamp = Self::format(secs)?;
        // Ignored when thread-local storage is gone: the timestamp is still right.
        let _ = LAST.try_with(|last| last.set(Some((secs, timestamp))));
        Some(timestamp)
    }

    fn format(secs: u64) -> Option<Self> {
        let day = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, mday) = civil_from_days(day);
        if year > 9999 {
            return None;
        }
        let mut date_time = *b"00000000T000000Z";
        write_digits(&mut date_time[0..4], year);
        write_digits(&mut date_time[4..6], month);
        write_digits(&mut date_time[6..8], mday);
        write_digits(&mut date_time[9..11], rem / 3600);
        write_digits(&mut date_time[11..13], rem / 60 % 60);
        write_digits(&mut date_time[13..15], rem % 60);
        Some(Self { date_time, day })
    }

    /// `YYYYMMDD'T'HHMMSS'Z'`.
    pub(crate) fn date_time(&self) -> &str {
        // Only ASCII digits, 'T' and 'Z' are ever written.
        std::str::from_utf8(&self.date_time).unwrap_or_default()
    }

    /// `YYYYMMDD`.
    #[cfg(test)]
    pub(crate) fn date(&self) -> &str {
        &self.date_time()[..8]
    }

    pub(crate) fn day(&self) -> u64 {
        self.day
    }
}

fn write_digits(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Howard Hinnant's `civil_from_days`, for days >= 0 since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
