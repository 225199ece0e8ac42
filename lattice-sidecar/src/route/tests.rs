use http::{HeaderValue, StatusCode};

use super::*;
use crate::headers::header_map as headers;

const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const INVENTORY: &str = "inventory-0fedcba9876543210.7d67968.vpc-lattice-svcs.eu-west-1.on.aws";

fn signing() -> SigningConfig {
    SigningConfig::builder()
        .custom_domain_in("orders.example.com", "us-west-2")
        .build()
        .unwrap()
}

fn route(
    route: &Route,
    method: Method,
    uri: &str,
    pairs: &[(&str, &str)],
) -> Result<String, (StatusCode, &'static str)> {
    route_request(
        route,
        &Scheme::HTTPS,
        &signing(),
        &method,
        &uri.parse().unwrap(),
        &headers(pairs),
    )
    .map(|t| t.to_string())
    .map_err(|s| (s.status, s.code))
}

fn fixed(url: &str) -> Route {
    Route::Fixed(crate::config::parse_target("test", url, None).unwrap())
}

#[test]
fn forward_proxy_uses_the_uri_authority_over_https() {
    let r = Route::FromRequest;
    let expected = format!("https://{ORDERS}");
    assert_eq!(
        route(
            &r,
            Method::GET,
            &format!("http://{ORDERS}/a?b"),
            &[("host", "ignored.example")]
        ),
        Ok(expected.clone())
    );
    // The client's default port means the upstream's default port.
    assert_eq!(
        route(&r, Method::GET, &format!("http://{ORDERS}:80/a"), &[]),
        Ok(expected.clone())
    );
    assert_eq!(
        route(&r, Method::GET, &format!("https://{ORDERS}:443/a"), &[]),
        Ok(expected)
    );
    assert_eq!(
        route(&r, Method::GET, &format!("http://{ORDERS}:8443/a"), &[]),
        Ok(format!("https://{ORDERS}:8443"))
    );
}

#[test]
fn host_header_mode() {
    let r = Route::FromRequest;
    assert_eq!(
        route(&r, Method::POST, "/a", &[("host", ORDERS)]),
        Ok(format!("https://{ORDERS}"))
    );
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", "orders.example.com")]),
        Ok("https://orders.example.com".to_owned())
    );
    let upper = ORDERS.to_ascii_uppercase();
    assert!(route(&r, Method::GET, "/", &[("host", &upper)]).is_ok());
}

#[test]
fn upstream_scheme_http_applies_to_request_routes() {
    let target = route_request(
        &Route::FromRequest,
        &Scheme::HTTP,
        &signing(),
        &Method::GET,
        &format!("http://{ORDERS}/").parse().unwrap(),
        &HeaderMap::new(),
    )
    .unwrap();
    assert_eq!(target.to_string(), format!("http://{ORDERS}"));
}

#[test]
fn hosts_off_the_allow_list_are_left_to_the_signer() {
    // Routed as named; the signer refuses them before anything is sent (403
    // host-not-allowed, tested end to end in tests/tests/sidecar_hostile_input.rs).
    let r = Route::FromRequest;
    for (uri, host, target) in [
        ("/", Some("example.com"), "https://example.com"),
        ("/", Some("127.0.0.1:8080"), "https://127.0.0.1:8080"),
        (
            "http://169.254.169.254/latest",
            None,
            "https://169.254.169.254",
        ),
        (
            &format!("http://{ORDERS}.evil.com/"),
            None,
            &format!("https://{ORDERS}.evil.com"),
        ),
    ] {
        let pairs: Vec<(&str, &str)> = host.map(|h| ("host", h)).into_iter().collect();
        assert_eq!(route(&r, Method::GET, uri, &pairs), Ok(target.to_owned()));
        let authority = target.trim_start_matches("https://");
        assert!(!signing().allows_host(authority), "{authority}");
    }
}

#[test]
fn refusals() {
    let r = Route::FromRequest;
    assert_eq!(
        route(&r, Method::GET, "/", &[]),
        Err((StatusCode::BAD_REQUEST, "missing-host"))
    );
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", "")]),
        Err((StatusCode::BAD_REQUEST, "missing-host"))
    );
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", "a b")]),
        Err((StatusCode::BAD_REQUEST, "invalid-host"))
    );
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", &format!("me@{ORDERS}"))]),
        Err((StatusCode::BAD_REQUEST, "invalid-host"))
    );
    let mut two = headers(&[("host", ORDERS)]);
    two.append(HOST, HeaderValue::from_static("example.com"));
    let err = route_request(
        &r,
        &Scheme::HTTPS,
        &signing(),
        &Method::GET,
        &"/".parse().unwrap(),
        &two,
    )
    .unwrap_err();
    assert_eq!(err.code, "invalid-host");
    assert_eq!(
        route(&r, Method::CONNECT, &format!("{ORDERS}:443"), &[]),
        Err((StatusCode::METHOD_NOT_ALLOWED, "connect-not-supported"))
    );
    assert_eq!(
        route(&r, Method::OPTIONS, "*", &[("host", ORDERS)]),
        Err((StatusCode::BAD_REQUEST, "invalid-request"))
    );
}

#[test]
fn fixed_routes_ignore_local_hosts_but_not_other_services() {
    let r = fixed(&format!("https://{ORDERS}"));
    let expected = Ok(format!("https://{ORDERS}"));
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", "127.0.0.1:8081")]),
        expected
    );
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", "localhost")]),
        expected
    );
    assert_eq!(route(&r, Method::GET, "/", &[]), expected);
    // HTTP/2 `:authority` of a gRPC stub pointed at localhost.
    assert_eq!(
        route(&r, Method::POST, "http://127.0.0.1:8081/pkg.Svc/Call", &[]),
        expected
    );
    assert_eq!(route(&r, Method::GET, "/", &[("host", ORDERS)]), expected);
    assert_eq!(
        route(&r, Method::GET, &format!("http://{INVENTORY}/"), &[]),
        Err((StatusCode::MISDIRECTED_REQUEST, "misdirected-request"))
    );
    assert_eq!(
        route(&r, Method::CONNECT, &format!("{ORDERS}:443"), &[]),
        Err((StatusCode::METHOD_NOT_ALLOWED, "connect-not-supported"))
    );
}

#[test]
fn upstream_uri_keeps_path_and_query_bytes() {
    let target = crate::config::parse_target("t", &format!("https://{ORDERS}"), None).unwrap();
    for raw in ["/a%2Fb/../c//d?z=1&a=%7e&a=1&&flag", "/?", "/x;y?q=a+b%20c"] {
        let uri = upstream_uri(&target, &raw.parse().unwrap()).unwrap();
        assert_eq!(uri.path_and_query().unwrap().as_str(), raw);
        assert_eq!(uri.authority().unwrap().as_str(), ORDERS);
    }
    let uri = upstream_uri(&target, &"http://other/p?q".parse().unwrap()).unwrap();
    assert_eq!(uri.to_string(), format!("https://{ORDERS}/p?q"));
}

#[test]
fn upgrades_are_refused_except_h2c_which_is_ignored() {
    let r = Route::FromRequest;
    for upgrade in ["websocket", "h2c, websocket", "WebSocket", "TLS/1.2"] {
        let pairs = [("host", ORDERS), ("upgrade", upgrade)];
        assert_eq!(
            route(&r, Method::GET, "/", &pairs),
            Err((StatusCode::NOT_IMPLEMENTED, "upgrade-not-supported")),
            "{upgrade:?}"
        );
    }
    for upgrade in ["h2c", "H2C", ""] {
        let pairs = [("host", ORDERS), ("upgrade", upgrade)];
        assert_eq!(
            route(&r, Method::GET, "/", &pairs),
            Ok(format!("https://{ORDERS}")),
            "{upgrade:?}"
        );
    }
}

fn check(uri: &str, pairs: &[(&str, &str)]) -> Result<(), (StatusCode, &'static str)> {
    check_request(&uri.parse().unwrap(), &headers(pairs)).map_err(|s| (s.status, s.code))
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
    // An empty port names none: refused here, since the allow-list is the signer's.
    assert_eq!(check(&format!("http://{ORDERS}:/"), &[]), refused);
    assert_eq!(check("/", &[("host", &format!("{ORDERS}:"))]), refused);
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

#[test]
fn a_refused_request_off_the_allow_list_is_refused_as_that() {
    let map = |uri: &str, host: &str| {
        map_request(
            &Route::FromRequest,
            &Scheme::HTTPS,
            &signing(),
            &Method::GET,
            &uri.parse().unwrap(),
            &headers(&[("host", host)]),
        )
        .map(|t| t.to_string())
        .map_err(|s| (s.status, s.code))
    };
    // URI and Host disagree: the target decides which refusal is reported.
    assert_eq!(
        map("http://example.com/", ORDERS),
        Err((StatusCode::FORBIDDEN, "host-not-allowed"))
    );
    assert_eq!(
        map(&format!("http://{ORDERS}/"), "example.com"),
        Err((StatusCode::BAD_REQUEST, "invalid-host"))
    );
    // Accepted requests are not judged here: the signer is the allow-list.
    assert_eq!(
        map("/", "example.com"),
        Ok("https://example.com".to_owned())
    );
}
