//! Header hygiene: what the sidecar removes from a client's request before signing it,
//! and from an upstream's response before relaying it.

use http::header::{CONNECTION, EXPECT, HOST, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};
use lattice_client::SIGNER_OWNED_HEADERS;

/// Prepare client headers for signing and forwarding: drop hop-by-hop headers (and what
/// `Connection` names), `Host` (the upstream's is set from the URI), `Expect` (the sidecar
/// answers `100-continue` itself), and any client-supplied signature headers. `TE:
/// trailers` survives, for gRPC. Every other header is kept.
pub(crate) fn clean_request_headers(headers: &mut HeaderMap) {
    let wants_trailers = headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("trailers")
        });
    remove_hop_by_hop(headers);
    headers.remove(HOST);
    headers.remove(EXPECT);
    headers.remove("http2-settings");
    for name in SIGNER_OWNED_HEADERS {
        headers.remove(name);
    }
    if wants_trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// Drop hop-by-hop headers (RFC 9110 §7.6.1): `Connection` and what it names,
/// `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade` and `Proxy-*`. Responses get
/// exactly this.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [CONNECTION, TE, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy {
        headers.remove(name);
    }
}

/// A header map from `(name, value)` pairs, for tests.
#[cfg(test)]
pub(crate) fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::header_map as headers;

    #[test]
    fn request_hygiene_removes_hop_by_hop_and_signature_headers() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-hop, Upgrade"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic abc"),
            ("upgrade", "websocket"),
            ("te", "gzip"),
            ("transfer-encoding", "chunked"),
            ("host", "127.0.0.1:8080"),
            ("expect", "100-continue"),
            ("http2-settings", "AAA"),
            ("authorization", "Bearer client"),
            ("x-amz-date", "20200101T000000Z"),
            ("x-amz-security-token", "client-token"),
            ("x-amz-content-sha256", "abc"),
            ("x-amz-region-set", "*"),
            ("content-type", "application/json"),
            ("content-length", "10"),
            ("x-amz-target", "kept"),
            ("cookie", "a=b"),
            ("traceparent", "00-abc"),
        ]);
        clean_request_headers(&mut h);
        let mut names: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "content-length",
                "content-type",
                "cookie",
                "traceparent",
                "x-amz-target"
            ]
        );
    }

    #[test]
    fn te_trailers_survives_for_grpc() {
        let mut h = headers(&[("te", "trailers"), ("content-type", "application/grpc")]);
        clean_request_headers(&mut h);
        assert_eq!(h.get(TE).unwrap(), "trailers");
        let mut h = headers(&[("te", "gzip, Trailers;q=0.5")]);
        clean_request_headers(&mut h);
        assert_eq!(h.get(TE).unwrap(), "trailers");
    }

    #[test]
    fn response_hygiene() {
        let mut h = headers(&[
            ("connection", "close, x-private"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("proxy-authenticate", "Basic"),
            ("x-amzn-errortype", "AccessDeniedException"),
            ("content-type", "text/plain"),
        ]);
        remove_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "x-amzn-errortype"]);
    }
}
