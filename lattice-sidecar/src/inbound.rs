//! Checks on what a client sent, before it is routed: the request must name one host,
//! one way. hyper's parser already refuses malformed request lines, header bytes,
//! obs-fold continuation lines and conflicting `Content-Length`s; this refuses what it
//! lets through but a signing proxy should not guess about.
//!
//! [`map_request`] is the whole request-to-upstream decision ([`route_request`], then
//! these checks); it is pure, and `fuzz/fuzz_targets/request_mapping.rs` calls it.

use http::header::{HOST, TRANSFER_ENCODING};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Method, Uri};
use lattice_client::SigningConfig;

use crate::config::{Route, Target};
use crate::errors::Synthetic;
use crate::listener::MAX_HEADERS;
use crate::upstream::route_request;

/// Decide the upstream of a request, or refuse it: [`route_request`], then
/// [`check_request`] (so a host off the allow-list is reported as that, 403). No I/O; the
/// proxy and the `request_mapping` fuzzer call it.
pub fn map_request(
    route: &Route,
    default_scheme: &Scheme,
    signing: &SigningConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Target, Synthetic> {
    let target = route_request(route, default_scheme, signing, method, uri, headers)?;
    check_request(uri, headers)?;
    Ok(target)
}

/// Refuse requests whose target is ambiguous:
///
/// - a request-target scheme other than `http`/`https` (`ftp://…`);
/// - a port that is not 1–65535 (`host:99999`), in the URI or `Host`;
/// - an absolute-form URI (or HTTP/2 `:authority`) and a `Host` header naming different
///   hosts, or no `host[:port]` at all. RFC 9112 §3.2.2 lets a proxy ignore such a
///   `Host`, and RFC 9113 §8.3.1 says to treat it as malformed; refusing keeps the
///   sidecar and any `Host`-routing hop in front of it from disagreeing about the
///   destination;
/// - a `Transfer-Encoding` other than one `chunked` (over all its header lines): hyper
///   removes only the chunked framing, so anything else would be forwarded as if it were
///   the content;
/// - more header fields than `MAX_HEADERS` (100): hyper's HTTP/1.1 parser refuses those with
///   431, and an h2c request gets the same limit here.
///
/// It runs after [`route_request`] has accepted the request, as in [`map_request`]: an
/// origin-form request's `Host` is then known to be `host[:port]`, and only its port is
/// checked here.
pub fn check_request(uri: &Uri, headers: &HeaderMap) -> Result<(), Synthetic> {
    if headers.len() > MAX_HEADERS {
        return Err(Synthetic::new(
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too-many-headers",
            format!(
                "the request has {} header fields; at most {MAX_HEADERS} are accepted",
                headers.len()
            ),
        ));
    }
    if let Some(scheme) = uri.scheme()
        && *scheme != Scheme::HTTP
        && *scheme != Scheme::HTTPS
    {
        return Err(Synthetic::bad_request(
            "invalid-request",
            format!(
                "request-target scheme `{}` is not http or https",
                printable(scheme.as_str())
            ),
        ));
    }
    if let Some(authority) = uri.authority() {
        check_port(authority.as_str())?;
    }
    let mut hosts = headers.get_all(HOST).iter();
    // Several Host headers are refused by `route_request`.
    if let (Some(host), None) = (hosts.next(), hosts.next()) {
        match uri.authority() {
            // Origin-form, the common case: `route_request` has parsed this Host already,
            // and the port check reads text, so parsing it again (a copy) is not needed.
            None => {
                if let Ok(host) = host.to_str() {
                    check_port(host)?;
                }
            }
            Some(authority) => {
                let parsed = Authority::try_from(host.as_bytes());
                if let Ok(host) = &parsed {
                    check_port(host.as_str())?;
                }
                if !parsed.is_ok_and(|host| same_origin(uri.scheme(), authority, &host)) {
                    return Err(Synthetic::bad_request(
                        "invalid-host",
                        format!(
                            "the Host header `{}` does not name the host of the request target \
                             `{}`; send one host",
                            printable(&String::from_utf8_lossy(host.as_bytes())),
                            printable(authority.as_str())
                        ),
                    ));
                }
            }
        }
    }
    let mut codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii);
    if let Some(first) = codings.next() {
        let rest: Vec<&[u8]> = codings.collect();
        if !first.eq_ignore_ascii_case(b"chunked") || !rest.is_empty() {
            let all: Vec<String> = std::iter::once(first)
                .chain(rest)
                .map(|c| printable(&String::from_utf8_lossy(c)))
                .collect();
            return Err(Synthetic::bad_request(
                "invalid-request",
                format!(
                    "Transfer-Encoding `{}` is not supported: only `chunked`, once",
                    all.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The port after the host in `host[:port]`, if any, must be 1–65535. (`host:` is left to
/// the allow-list, and user info to `route_request`: both refuse it.)
fn check_port(text: &str) -> Result<(), Synthetic> {
    if text.contains('@') {
        return Ok(());
    }
    let after_host = text.rsplit_once(']').map_or(text, |(_, rest)| rest);
    match after_host.rsplit_once(':') {
        Some((_, port)) if !port.is_empty() && !port.parse::<u16>().is_ok_and(|p| p != 0) => {
            Err(Synthetic::bad_request(
                "invalid-host",
                format!("port `{}` is not 1-65535", printable(port)),
            ))
        }
        _ => Ok(()),
    }
}

/// The same host (any case, trailing dot) and port (an absent port is the scheme's).
fn same_origin(scheme: Option<&Scheme>, a: &Authority, b: &Authority) -> bool {
    let default = if scheme == Some(&Scheme::HTTPS) {
        443
    } else {
        80
    };
    let host = |x: &Authority| x.host().trim_end_matches('.').to_ascii_lowercase();
    host(a) == host(b) && a.port_u16().unwrap_or(default) == b.port_u16().unwrap_or(default)
}

/// Client-supplied text echoed in a message: visible ASCII only, bounded.
fn printable(text: &str) -> String {
    text.chars()
        .take(256)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use http::{HeaderName, HeaderValue, StatusCode};

    use super::*;

    const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

    fn check(uri: &str, pairs: &[(&str, &str)]) -> Result<(), (StatusCode, &'static str)> {
        let headers: HeaderMap = pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect();
        check_request(&uri.parse().unwrap(), &headers).map_err(|s| (s.status, s.code))
    }

    #[test]
    fn host_and_target_must_agree() {
        let url = format!("http://{ORDERS}/x");
        assert_eq!(check(&url, &[("host", ORDERS)]), Ok(()));
        let upper = ORDERS.to_ascii_uppercase();
        assert_eq!(check(&url, &[("host", &format!("{upper}.:80"))]), Ok(()));
        assert_eq!(
            check(
                &format!("https://{ORDERS}/"),
                &[("host", &format!("{ORDERS}:443"))]
            ),
            Ok(())
        );
        let refused = Err((StatusCode::BAD_REQUEST, "invalid-host"));
        assert_eq!(check(&url, &[("host", "example.com")]), refused);
        assert_eq!(check(&url, &[("host", &format!("{ORDERS}:443"))]), refused);
        // A Host that is not host[:port] (or empty) cannot name the same host.
        assert_eq!(check(&url, &[("host", "")]), refused);
        assert_eq!(check(&url, &[("host", &format!("{ORDERS}/x"))]), refused);
        // Origin-form: only the Host header names the host.
        assert_eq!(check("/x", &[("host", "example.com")]), Ok(()));
    }

    #[test]
    fn ports_must_be_valid() {
        let refused = Err((StatusCode::BAD_REQUEST, "invalid-host"));
        assert_eq!(check("/", &[("host", &format!("{ORDERS}:99999"))]), refused);
        assert_eq!(check("/", &[("host", &format!("{ORDERS}:0"))]), refused);
        assert_eq!(check(&format!("http://{ORDERS}:65536/"), &[]), refused);
        assert_eq!(check("http://[::1]:70000/", &[]), refused);
        assert_eq!(check("http://[::1]/", &[]), Ok(()));
        assert_eq!(check(&format!("http://{ORDERS}:8443/"), &[]), Ok(()));
        // User info is route_request's to refuse, with its own message.
        assert_eq!(check(&format!("http://u:p@{ORDERS}/"), &[]), Ok(()));
    }

    #[test]
    fn only_http_schemes_and_chunked_framing() {
        let refused = Err((StatusCode::BAD_REQUEST, "invalid-request"));
        assert_eq!(check(&format!("ftp://{ORDERS}/"), &[]), refused);
        assert_eq!(
            check("/", &[("transfer-encoding", "gzip, chunked")]),
            refused
        );
        assert_eq!(check("/", &[("transfer-encoding", " Chunked ")]), Ok(()));
        // Two codings are refused alike whether in one header line or in two.
        assert_eq!(
            check("/", &[("transfer-encoding", "chunked, chunked")]),
            refused
        );
        assert_eq!(
            check(
                "/",
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked")
                ]
            ),
            refused
        );
        assert_eq!(check("/", &[("transfer-encoding", "")]), refused);
    }

    #[test]
    fn header_fields_are_limited_as_for_http1() {
        let names: Vec<String> = (0..MAX_HEADERS).map(|i| format!("x-h{i}")).collect();
        let mut pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        assert_eq!(check("/", &pairs), Ok(()));
        pairs.push(("x-one-more", "v"));
        assert_eq!(
            check("/", &pairs),
            Err((
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too-many-headers"
            ))
        );
    }
}
