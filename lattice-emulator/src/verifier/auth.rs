//! Parsing of the `Authorization` header, `x-amz-date` and the SigV4A region set.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::Algorithm;

/// A parsed `Authorization` header:
/// `ALGORITHM Credential=AKID/SCOPE, SignedHeaders=a;b, Signature=hex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `AWS4-HMAC-SHA256` or `AWS4-ECDSA-P256-SHA256`.
    pub algorithm: Algorithm,
    /// The access key id from the credential.
    pub access_key_id: String,
    /// The scope date, `YYYYMMDD`.
    pub date: String,
    /// The scope region; SigV4 only (SigV4A carries a region set header instead).
    pub region: Option<String>,
    /// The scope service (signing name).
    pub service: String,
    /// `SignedHeaders`, validated lowercase, sorted, unique and including `host`.
    pub signed_headers: Vec<String>,
    /// The signature bytes (hex-decoded): HMAC output or DER ECDSA signature.
    pub signature: Vec<u8>,
}

// === impl Authorization ===

impl Authorization {
    /// Parses an `Authorization` value. Tolerates spaces after the commas;
    /// everything else is strict. The error explains what is wrong.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (name, params) = value
            .split_once(' ')
            .ok_or_else(|| format!("Authorization header is not a SigV4 header: '{value}'"))?;
        let algorithm = Algorithm::from_name(name).ok_or_else(|| {
            format!(
                "Unsupported Authorization algorithm '{name}'; expected '{}' or '{}'",
                Algorithm::SigV4.name(),
                Algorithm::SigV4A.name()
            )
        })?;

        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in params.split(',') {
            let part = part.trim_start_matches([' ', '\t']);
            let (key, val) = part.split_once('=').ok_or_else(|| {
                format!("Authorization parameter '{part}' is not of the form key=value")
            })?;
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return Err(format!("Unknown Authorization parameter '{key}'")),
            };
            if slot.replace(val).is_some() {
                return Err(format!(
                    "Authorization parameter '{key}' appears more than once"
                ));
            }
        }

        let mut missing = String::new();
        for (key, slot) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        ] {
            if slot.is_none() {
                missing.push_str(&format!(
                    "Authorization header requires '{key}' parameter. "
                ));
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(format!("{missing}Authorization={value}"));
        };

        let scope = Scope::parse(algorithm, credential)?;
        Ok(Self {
            algorithm,
            access_key_id: scope.access_key_id,
            date: scope.date,
            region: scope.region,
            service: scope.service,
            signed_headers: parse_signed_headers(signed_headers)?,
            signature: parse_signature(signature)?,
        })
    }

    /// Whether `name` (lowercase) is listed in `SignedHeaders`.
    pub fn signs(&self, name: &str) -> bool {
        self.signed_headers
            .binary_search_by(|h| h.as_str().cmp(name))
            .is_ok()
    }
}

struct Scope {
    access_key_id: String,
    date: String,
    region: Option<String>,
    service: String,
}

impl Scope {
    fn parse(algorithm: Algorithm, credential: &str) -> Result<Self, String> {
        let parts: Vec<&str> = credential.split('/').collect();
        let (akid, date, region, service, terminator) = match (algorithm, parts.as_slice()) {
            (Algorithm::SigV4, [akid, date, region, service, term]) => {
                (*akid, *date, Some(*region), *service, *term)
            }
            (Algorithm::SigV4A, [akid, date, service, term]) => {
                (*akid, *date, None, *service, *term)
            }
            (Algorithm::SigV4, _) => {
                return Err(format!(
                    "Credential must have the form AKID/YYYYMMDD/REGION/SERVICE/aws4_request, got '{credential}'"
                ));
            }
            (Algorithm::SigV4A, _) => {
                return Err(format!(
                    "Credential must have the form AKID/YYYYMMDD/SERVICE/aws4_request \
                     (SigV4A scopes have no region), got '{credential}'"
                ));
            }
        };
        if terminator != "aws4_request" {
            return Err(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            ));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "Invalid credential date '{date}'. Date is not the required format: yyyyMMdd."
            ));
        }
        if akid.is_empty() || service.is_empty() || region.is_some_and(str::is_empty) {
            return Err(format!("Credential has an empty component: '{credential}'"));
        }
        Ok(Self {
            access_key_id: akid.to_owned(),
            date: date.to_owned(),
            region: region.map(str::to_owned),
            service: service.to_owned(),
        })
    }
}

fn parse_signed_headers(value: &str) -> Result<Vec<String>, String> {
    let names: Vec<&str> = value.split(';').collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(format!("SignedHeaders has an empty header name: '{value}'"));
    }
    if names
        .iter()
        .any(|n| n.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(format!("SignedHeaders must be lowercase: '{value}'"));
    }
    // Strictly increasing also rules out duplicates.
    if names.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "SignedHeaders must be sorted and without duplicates: '{value}'"
        ));
    }
    if !names.contains(&"host") {
        return Err(format!("SignedHeaders must include 'host': '{value}'"));
    }
    Ok(names.into_iter().map(str::to_owned).collect())
}

fn parse_signature(value: &str) -> Result<Vec<u8>, String> {
    let lower_hex = value
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if value.is_empty() || !lower_hex {
        return Err(format!(
            "Signature must be a lowercase hex string, got '{value}'"
        ));
    }
    hex::decode(value).map_err(|_| format!("Signature has an odd number of hex digits: '{value}'"))
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds; `None` if malformed.
pub fn parse_amz_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    if !(0..8).chain(9..15).all(|i| b[i].is_ascii_digit()) {
        return None;
    }
    let num = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let month = Month::try_from(u8::try_from(num(4, 6)).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(num(0, 4)).ok()?, month, num(6, 8) as u8).ok()?;
    let time = Time::from_hms(num(9, 11) as u8, num(11, 13) as u8, num(13, 15) as u8).ok()?;
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ` (or `@secs` if out of range).
pub fn format_amz_date_unix(secs: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("@{secs}"),
    }
}

/// Formats a time as `YYYYMMDDTHHMMSSZ`, the `x-amz-date` format.
pub fn format_amz_date(t: SystemTime) -> String {
    format_amz_date_unix(unix_seconds(t))
}

/// Whole seconds since the Unix epoch, negative before it, saturating.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Whether `region` matches one of the comma-separated patterns of a SigV4A
/// region set, where `*` matches any run of characters (`*`, `us-*`).
pub fn region_set_matches(region_set: &str, region: &str) -> bool {
    region_set
        .split(',')
        .map(str::trim)
        .filter(|pattern| !pattern.is_empty())
        .any(|pattern| wildcard_match(pattern.as_bytes(), region.as_bytes()))
}

/// Glob match with `*` only. Backtracks to the last `*`, so it is linear for
/// ordinary patterns and O(pattern × text) at worst, on header-sized input.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                // Let the last `*` swallow one more character and retry.
                Some((star_p, star_t)) => {
                    last_star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/svc/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=00ff";

    #[test]
    fn parses_v4_and_v4a() {
        let a = Authorization::parse(GOOD).expect("valid");
        assert_eq!(a.algorithm, Algorithm::SigV4);
        assert_eq!(a.access_key_id, "AKID");
        assert_eq!(a.region.as_deref(), Some("us-east-1"));
        assert_eq!(a.signature, vec![0, 255]);
        assert!(a.signs("x-amz-date") && !a.signs("x-amz-content-sha256"));

        let compact = GOOD.replace(", ", ",");
        assert_eq!(Authorization::parse(&compact), Ok(a.clone()));
        let spaced = GOOD.replace(", ", ",   ");
        assert_eq!(Authorization::parse(&spaced), Ok(a));

        let v4a = "AWS4-ECDSA-P256-SHA256 Credential=AKID/20150830/svc/aws4_request, \
                   SignedHeaders=host, Signature=30";
        let a = Authorization::parse(v4a).expect("valid v4a");
        assert_eq!((a.algorithm, a.region), (Algorithm::SigV4A, None));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "AWS4-HMAC-SHA256",
            "Bearer abc",
            "AWS4-HMAC-SHA512 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=a/20150830/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-ECDSA-P256-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/2015083/r/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws5_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=x-a, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=x-a;host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=Host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host;host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=;host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=0G",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=ABCD",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=abc",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00, X=1",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request; SignedHeaders=host; Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00,",
        ] {
            assert!(Authorization::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn amz_dates() {
        let t = parse_amz_date("20150830T123600Z").expect("valid");
        assert_eq!(format_amz_date_unix(t), "20150830T123600Z");
        for bad in [
            "",
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T1236\u{e9}Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn region_sets() {
        for (set, hit) in [
            ("*", true),
            ("us-west-2", true),
            ("us-*", true),
            ("*-west-*", true),
            ("u*2", true),
            ("eu-west-1, us-west-2", true),
            ("us-west-2,", true),
            ("us-west-1", false),
            ("eu-*", false),
            ("us-west-2x", false),
            ("", false),
            (",", false),
            ("US-WEST-2", false),
            ("*-east-*", false),
        ] {
            assert_eq!(region_set_matches(set, "us-west-2"), hit, "{set:?}");
        }
        assert!(wildcard_match(b"a*b*c", b"axxbyyc"));
        assert!(!wildcard_match(b"a*b*c", b"axxbyy"));
        assert!(wildcard_match(b"**", b""));
    }
}
