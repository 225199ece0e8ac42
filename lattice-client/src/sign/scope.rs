//! When and where a signature is valid: its timestamp and its credential scope.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where a signature is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope<'a> {
    /// SigV4, for one region.
    Region(&'a str),
    /// SigV4A, for a region set such as `*`.
    RegionSet(&'a str),
}

/// The signature time, formatted once as `YYYYMMDD'T'HHMMSS'Z'`. SigV4 dates have
/// four-digit years, so only times from 1970 to 9999 can be signed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timestamp {
    date_time: [u8; 16],
    /// Days since the Unix epoch: part of a SigV4 signing key's cache key.
    day: u64,
}

/// `{date}/[{region}/]{service}/aws4_request`: the last part of the `Authorization`
/// header's `Credential`, and a line of the string to sign. SigV4A's has no region.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CredentialScope<'a> {
    date: &'a str,
    region: Option<&'a str>,
    service: &'a str,
}

// === impl Timestamp ===

impl Timestamp {
    /// `None` before 1970 or after 9999.
    pub(crate) fn new(time: SystemTime) -> Option<Self> {
        let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
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

// === impl CredentialScope ===

impl<'a> CredentialScope<'a> {
    pub(crate) fn new(time: &'a Timestamp, scope: Scope<'a>, service: &'a str) -> Self {
        let region = match scope {
            Scope::Region(region) => Some(region),
            Scope::RegionSet(_) => None,
        };
        Self {
            date: time.date(),
            region,
            service,
        }
    }

    /// The scope in consecutive pieces, which the string to sign is hashed from and the
    /// `Authorization` header is written from (without a region, two are empty).
    pub(crate) fn parts(&self) -> [&'a str; 6] {
        let (region, slash) = self.region.map_or(("", ""), |region| (region, "/"));
        [self.date, "/", region, slash, self.service, "/aws4_request"]
    }
}
