//! Where a request goes, or why it goes nowhere: the whole request-to-upstream decision.
//!
//! [`map_request`] is [`route_request`] (fixed route, proxy URI or `Host`), then
//! [`check_request`] (the request must name one host, one way, and be framed plainly).
//! Whether a host may be signed for is not decided here but by the signer, once per
//! request: a host off its allow-list is refused there (403 `host-not-allowed`) before
//! anything is sent. hyper's parser already refuses malformed request lines, header bytes,
//! obs-fold continuation lines and conflicting `Content-Length`s; this refuses what it
//! lets through but a signing proxy should not guess about. It is pure, and
//! `fuzz/fuzz_targets/request_mapping.rs` calls it.

use http::header::{HOST, TRANSFER_ENCODING, UPGRADE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Uri};
use lattice_client::SigningConfig;

use crate::config::{Route, Target, without_default_port};
use crate::errors::Synthetic;
use crate::limits::MAX_HEADERS;

/// Decide the upstream of a request, or refuse it: [`route_request`], then
/// [`check_request`]; a refused request whose target is off the allow-list is refused as
/// that (403). No I/O; the proxy and the `request_mapping` fuzzer call it.
pub fn map_request(
    route: &Route,
    default_scheme: &Scheme,
    signing: &SigningConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Target, Synthetic> {
    let target = route_request(route, default_scheme, signing, method, uri, headers)?;
    check_request(uri, headers).map_err(|refusal| {
        // Of two reasons to refuse, a target off the allow-list is the one to report. Only
        // refused requests pay for this look: the signer checks the others.
        match route == &Route::FromRequest && !signing.allows_host(target.authority.as_str()) {
            true => Synthetic::host_not_allowed(target.authority.as_str()),
            false => refusal,
        }
    })?;
    Ok(target)
}

/// Decide the upstream of a request, or refuse it.
pub fn route_request(
    route: &Route,
    default_scheme: &Scheme,
    signing: &SigningConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Target, Synthetic> {
    if method == Method::CONNECT {
        return Err(Synthetic::connect_not_supported());
    }
    if let Some(protocols) = unsupported_upgrade(headers) {
        return Err(Synthetic::upgrade_not_supported(&protocols));
    }
    if uri.path() == "*" {
        return Err(Synthetic::bad_request(
            "invalid-request",
            "asterisk-form request targets (`OPTIONS *`) cannot be forwarded",
        ));
    }
    let requested = requested_authority(uri, headers)?;
    match route {
        Route::Fixed(target) => {
            // Apps on fixed routes send `Host: 127.0.0.1:8081`, which is fine; naming a
            // different Lattice service means the request reached the wrong listener.
            if let Some(requested) = &requested
                && signing.allows_host(requested.as_str())
                && !requested.host().eq_ignore_ascii_case(target.host())
            {
                return Err(Synthetic::misdirected(
                    requested.as_str(),
                    &target.to_string(),
                ));
            }
            Ok(target.clone())
        }
        Route::FromRequest => {
            let Some(authority) = requested else {
                return Err(Synthetic::bad_request(
                    "missing-host",
                    "the request names no host: use the sidecar as an HTTP proxy (absolute URL) or send a Host header naming the service",
                ));
            };
            let client_scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
            let scheme = if client_scheme == Scheme::HTTPS {
                Scheme::HTTPS
            } else {
                default_scheme.clone()
            };
            // `http://svc:80/` means "the default port", which for https is 443.
            let authority = without_default_port(&client_scheme, &authority);
            let authority = without_default_port(&scheme, &authority);
            Ok(Target { scheme, authority })
        }
    }
}

/// The protocols an `Upgrade` header asks for, unless it asks for nothing or only `h2c`.
/// The sidecar never switches protocols: Lattice has no WebSockets, and a tunnel could
/// not be signed. `Upgrade: h2c` (what `curl --http2` sends for http:// URLs) is ignored
/// and the request served as HTTP/1.1, which RFC 9110 §7.8 allows and clients expect.
fn unsupported_upgrade(headers: &HeaderMap) -> Option<String> {
    let protocols: Vec<&str> = headers
        .get_all(UPGRADE)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match protocols.iter().all(|p| p.eq_ignore_ascii_case("h2c")) {
        true => None,
        false => Some(protocols.join(", ")),
    }
}

/// The host a request names: the URI's authority (absolute-form, or HTTP/2
/// `:authority`), else the `Host` header.
fn requested_authority(uri: &Uri, headers: &HeaderMap) -> Result<Option<Authority>, Synthetic> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Synthetic::bad_request(
            "invalid-host",
            "the request has more than one Host header",
        ));
    }
    let authority = match (uri.authority(), host) {
        (Some(authority), _) => authority.clone(),
        (None, None) => return Ok(None),
        (None, Some(value)) if value.is_empty() => return Ok(None),
        (None, Some(value)) => Authority::try_from(value.as_bytes()).map_err(|_| {
            Synthetic::bad_request("invalid-host", "the Host header is not a valid host[:port]")
        })?,
    };
    if authority.as_str().contains('@') {
        return Err(Synthetic::bad_request(
            "invalid-host",
            "the request host must not contain user info (`user@`)",
        ));
    }
    Ok(Some(authority))
}

/// `scheme://authority` of the target plus the path and query exactly as received.
pub fn upstream_uri(target: &Target, uri: &Uri) -> Result<Uri, Synthetic> {
    let path_and_query = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| {
            Synthetic::bad_request("invalid-request", "the request target cannot be forwarded")
        })
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

/// The port after the host in `host[:port]`, if any, must be 1–65535; `host:` has none.
/// (User info is left to `route_request`, which refuses it.)
fn check_port(text: &str) -> Result<(), Synthetic> {
    if text.contains('@') {
        return Ok(());
    }
    let after_host = text.rsplit_once(']').map_or(text, |(_, rest)| rest);
    match after_host.rsplit_once(':') {
        Some((_, port)) if !port.parse::<u16>().is_ok_and(|p| p != 0) => {
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
mod tests;
