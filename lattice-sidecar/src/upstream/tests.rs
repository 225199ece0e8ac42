use http::StatusCode;

use super::*;

const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const INVENTORY: &str = "inventory-0fedcba9876543210.7d67968.vpc-lattice-svcs.eu-west-1.on.aws";

fn signing() -> SigningConfig {
    SigningConfig::builder()
        .custom_domain_in("orders.example.com", "us-west-2")
        .build()
        .unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
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
fn refusals() {
    let r = Route::FromRequest;
    let forbidden = Err((StatusCode::FORBIDDEN, "host-not-allowed"));
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", "example.com")]),
        forbidden
    );
    assert_eq!(
        route(&r, Method::GET, "/", &[("host", "127.0.0.1:8080")]),
        forbidden
    );
    assert_eq!(
        route(&r, Method::GET, "http://169.254.169.254/latest", &[]),
        forbidden
    );
    assert_eq!(
        route(&r, Method::GET, &format!("http://{ORDERS}.evil.com/"), &[]),
        forbidden
    );
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
    clean_response_headers(&mut h);
    let mut names: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["content-type", "x-amzn-errortype"]);
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
