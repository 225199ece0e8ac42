use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, Request, Uri};

use super::*;
use crate::{CanonicalRequest, ErrorKind};

const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) // 2023-11-14T22:13:20Z
}

fn creds(token: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIDTEST",
        "secret/key",
        token.map(str::to_owned),
        None,
        "test",
    )
}

fn sign(
    config: &SigningConfig,
    request: &mut Request<()>,
    token: Option<&str>,
) -> Result<Signed, Error> {
    let (mut parts, body) = std::mem::take(request).into_parts();
    let result = config.sign(
        &parts.method,
        &parts.uri,
        &mut parts.headers,
        &creds(token),
        time(),
    );
    *request = Request::from_parts(parts, body);
    result
}

fn auth_field<'a>(headers: &'a HeaderMap, field: &str) -> &'a str {
    let auth = headers["authorization"].to_str().unwrap();
    auth.split([' ', ','])
        .find_map(|part| part.strip_prefix(field).and_then(|p| p.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {field} in {auth}"))
}

fn signed_headers(headers: &HeaderMap) -> Vec<&str> {
    auth_field(headers, "SignedHeaders").split(';').collect()
}

fn default_config() -> SigningConfig {
    SigningConfig::builder().build().unwrap()
}

#[test]
fn signs_lattice_request_with_unsigned_payload() {
    let mut req = Request::get(format!("https://{ORDERS}/orders?b=2&a=1"))
        .body(())
        .unwrap();
    assert_eq!(
        sign(&default_config(), &mut req, None).unwrap(),
        Signed::Signed
    );
    let h = req.headers();
    assert_eq!(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert_eq!(h["x-amz-date"], "20231114T221320Z");
    assert!(h["authorization"].is_sensitive());
    assert!(
        h["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 ")
    );
    assert_eq!(
        auth_field(h, "Credential"),
        "AKIDTEST/20231114/us-west-2/vpc-lattice-svcs/aws4_request"
    );
    assert_eq!(
        signed_headers(h),
        ["host", "x-amz-content-sha256", "x-amz-date"]
    );
    assert!(!h.contains_key("x-amz-security-token"));
    assert!(
        !h.contains_key("host"),
        "the client adds Host; the signer must not duplicate it"
    );
}

#[test]
fn session_token_is_added_and_signed() {
    let mut req = Request::get(format!("https://{ORDERS}/")).body(()).unwrap();
    sign(&default_config(), &mut req, Some("the-token")).unwrap();
    assert_eq!(req.headers()["x-amz-security-token"], "the-token");
    assert!(req.headers()["x-amz-security-token"].is_sensitive());
    assert!(signed_headers(req.headers()).contains(&"x-amz-security-token"));
}

#[test]
fn replaces_existing_signer_headers_without_duplicates() {
    let mut req = Request::post(format!("https://{ORDERS}/"))
        .header("authorization", "Bearer stale")
        .header("authorization", "Bearer stale-2")
        .header("x-amz-date", "20000101T000000Z")
        .header("x-amz-content-sha256", "abc")
        .header("x-amz-security-token", "old-token")
        .header("x-amz-region-set", "eu-*")
        .body(())
        .unwrap();
    sign(&default_config(), &mut req, None).unwrap();
    let h = req.headers();
    for name in SIGNER_OWNED_HEADERS {
        assert!(h.get_all(name).iter().count() <= 1, "{name} duplicated");
    }
    assert!(
        !h.contains_key("x-amz-security-token"),
        "stale token must be removed"
    );
    assert!(!h.contains_key("x-amz-region-set"));
    assert_eq!(h["x-amz-date"], "20231114T221320Z");
    assert_eq!(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
}

#[test]
fn each_signer_header_alone_is_replaced() {
    for name in SIGNER_OWNED_HEADERS {
        let mut req = Request::get(format!("https://{ORDERS}/"))
            .header(name, "forged")
            .body(())
            .unwrap();
        sign(&default_config(), &mut req, None).unwrap();
        let values: Vec<_> = req.headers().get_all(name).iter().collect();
        assert!(
            !values.contains(&&http::HeaderValue::from_static("forged")),
            "{name}"
        );
        assert!(values.len() <= 1, "{name} duplicated");
    }
}

#[test]
fn signing_twice_gives_the_same_headers() {
    let config = default_config();
    let mut once = Request::get(format!("https://{ORDERS}/a"))
        .body(())
        .unwrap();
    sign(&config, &mut once, Some("t")).unwrap();
    let mut twice = once.clone();
    sign(&config, &mut twice, Some("t")).unwrap();
    assert_eq!(once.headers(), twice.headers());
}

#[test]
fn host_is_signed_as_sent() {
    let config = default_config();
    let cases = [
        (
            format!("https://{ORDERS}:8443/"),
            None,
            format!("{ORDERS}:8443"),
        ),
        (format!("https://{ORDERS}:443/"), None, ORDERS.to_owned()),
        (format!("http://{ORDERS}:80/"), None, ORDERS.to_owned()),
        (
            format!("http://{ORDERS}:443/"),
            None,
            format!("{ORDERS}:443"),
        ),
        (
            "/path".to_owned(),
            Some(format!("{ORDERS}:9000")),
            format!("{ORDERS}:9000"),
        ),
    ];
    for (uri, host_header, expected) in cases {
        let mut headers = HeaderMap::new();
        if let Some(host) = &host_header {
            headers.insert("host", HeaderValue::from_str(host).unwrap());
        }
        let uri: Uri = uri.parse().unwrap();
        assert_eq!(signed_host(&uri, &headers).unwrap().host, expected, "{uri}");
        config
            .sign(&Method::GET, &uri, &mut headers, &creds(None), time())
            .unwrap();
        assert!(headers.contains_key("authorization"));
    }
}

#[test]
fn canonicalize_authority_drops_only_default_ports() {
    for (input, expected) in [
        ("https://a.example:443/x?y", "https://a.example/x?y"),
        ("http://a.example:80/", "http://a.example/"),
        ("https://a.example:8443/", "https://a.example:8443/"),
        ("http://a.example:443/", "http://a.example:443/"),
        ("/relative", "/relative"),
    ] {
        let mut uri: Uri = input.parse().unwrap();
        canonicalize_authority(&mut uri);
        assert_eq!(uri.to_string(), expected);
    }
}

#[test]
fn hop_by_hop_and_rewritten_headers_are_not_signed() {
    let mut builder = Request::get(format!("https://{ORDERS}/"));
    for name in [
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "transfer-encoding",
        "expect",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-proto",
        "via",
        "traceparent",
        "tracestate",
        "baggage",
        "x-amzn-trace-id",
    ] {
        builder = builder.header(name, "v");
    }
    let mut req = builder.header("x-custom", "kept").body(()).unwrap();
    sign(&default_config(), &mut req, None).unwrap();
    assert_eq!(
        signed_headers(req.headers()),
        ["host", "x-amz-content-sha256", "x-amz-date", "x-custom"]
    );
}

#[test]
fn unsigned_header_set_is_configurable() {
    let config = SigningConfig::builder()
        .unsigned_headers(["x-skip-*", "x-exact"])
        .build()
        .unwrap();
    let mut req = Request::get(format!("https://{ORDERS}/"))
        .header("x-skip-me", "1")
        .header("x-exact", "1")
        .header("user-agent", "now-signed")
        .body(())
        .unwrap();
    sign(&config, &mut req, None).unwrap();
    assert_eq!(
        signed_headers(req.headers()),
        ["host", "user-agent", "x-amz-content-sha256", "x-amz-date"]
    );

    let err = SigningConfig::builder()
        .unsigned_header("Host")
        .unsigned_header("x-amz-date")
        .build()
        .unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
}

#[test]
fn non_ascii_header_value_is_an_error_not_a_panic() {
    let mut req = Request::get(format!("https://{ORDERS}/"))
        .header(
            "x-name",
            HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        )
        .body(())
        .unwrap();
    let err = sign(&default_config(), &mut req, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("x-name"), "{err}");
    assert!(
        !err.to_string().contains("caf"),
        "values are not echoed: {err}"
    );
}

#[test]
fn missing_authority_is_an_error_not_a_panic() {
    let mut req = Request::get("/no/authority").body(()).unwrap();
    let err = sign(&default_config(), &mut req, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("no host"), "{err}");
}

#[test]
fn unknown_hosts_are_refused_or_passed_through_unsigned() {
    let mut req = Request::get("https://example.com/")
        .header("authorization", "leaked?")
        .body(())
        .unwrap();
    let err = sign(&default_config(), &mut req.clone(), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostNotAllowed);
    assert!(err.to_string().contains("example.com"));

    let pass = SigningConfig::builder()
        .unknown_hosts(UnknownHosts::PassThrough)
        .build()
        .unwrap();
    assert_eq!(sign(&pass, &mut req, None).unwrap(), Signed::PassedThrough);
    assert!(!req.headers().contains_key("authorization"));
    assert!(!req.headers().contains_key("x-amz-date"));
}

#[test]
fn allows_host_answers_whether_the_host_would_be_signed() {
    let pass = SigningConfig::builder()
        .unknown_hosts(UnknownHosts::PassThrough)
        .custom_domain("api.example.com")
        .region("eu-west-1")
        .build()
        .unwrap();
    for config in [default_config(), pass] {
        assert!(config.allows_host(ORDERS));
        assert!(config.allows_host(&format!("{}:443", ORDERS.to_uppercase())));
        // Passed through unsigned is not allowed: a pass-through config says no too.
        for host in ["example.com", "127.0.0.1:8081", "", ":443"] {
            assert!(!config.allows_host(host), "{host}");
        }
    }
    let custom = SigningConfig::builder()
        .custom_domain("api.example.com")
        .region("eu-west-1")
        .build()
        .unwrap();
    assert!(custom.allows_host("API.example.com:443"));
    assert!(!custom.allows_host("www.example.com"));
}

#[test]
fn look_alike_hosts_are_refused() {
    for host in [
        format!("{ORDERS}.evil.com"),
        "vpc-lattice-svcs.us-west-2.on.aws".to_owned(),
        "127.0.0.1:443".to_owned(),
        "[::1]:443".to_owned(),
    ] {
        let mut req = Request::get("/")
            .header("host", host.as_str())
            .body(())
            .unwrap();
        let err = sign(&default_config(), &mut req, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HostNotAllowed, "{host}");
    }
}

#[test]
fn custom_domains_need_a_region_for_sigv4() {
    let err = SigningConfig::builder()
        .custom_domain("api.example.com")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("needs a region"), "{err}");
    assert!(
        SigningConfig::builder()
            .custom_domain("api.example.com")
            .sigv4a("*")
            .build()
            .is_ok()
    );

    let config = SigningConfig::builder()
        .region("eu-west-1")
        .custom_domain("api.example.com")
        .custom_domain_in("*.internal.example", "ap-south-1")
        .build()
        .unwrap();
    let scope_of = |url: &str| {
        let mut req = Request::get(url).body(()).unwrap();
        sign(&config, &mut req, None).unwrap();
        auth_field(req.headers(), "Credential")
            .split('/')
            .nth(2)
            .unwrap()
            .to_owned()
    };
    assert_eq!(scope_of("https://API.example.com./x"), "eu-west-1");
    assert_eq!(scope_of("https://svc.internal.example/x"), "ap-south-1");
    assert_eq!(
        scope_of(&format!("https://{ORDERS}/")),
        "us-west-2",
        "Lattice names keep their region"
    );
}

#[test]
fn build_reports_every_problem_at_once() {
    let err = SigningConfig::builder()
        .region("mars")
        .custom_domain("https://bad/")
        .sigv4a("US EAST")
        .build()
        .unwrap_err();
    assert_eq!(err.problems().len(), 3, "{err}");
}

#[test]
fn sigv4a_signs_with_region_set() {
    let config = SigningConfig::builder()
        .sigv4a("*")
        .custom_domain("orders.example.com")
        .build()
        .unwrap();
    let mut req = Request::get("https://orders.example.com/")
        .body(())
        .unwrap();
    sign(&config, &mut req, Some("tok")).unwrap();
    let h = req.headers();
    assert!(
        h["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-ECDSA-P256-SHA256 ")
    );
    assert_eq!(h["x-amz-region-set"], "*");
    assert_eq!(
        auth_field(h, "Credential"),
        "AKIDTEST/20231114/vpc-lattice-svcs/aws4_request"
    );
    assert_eq!(
        signed_headers(h),
        [
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-region-set",
            "x-amz-security-token"
        ]
    );
}

#[test]
fn debug_output_has_no_secrets() {
    let cache = CredentialsCache::from_static(creds(Some("session-token-value")));
    let signer = Signer::new(default_config(), cache);
    let debug = format!("{signer:?}");
    assert!(
        !debug.contains("secret/key") && !debug.contains("session-token-value"),
        "{debug}"
    );
}

#[tokio::test]
async fn signer_signs_with_cached_credentials_and_its_clock() {
    let clock = crate::clock::ManualClock::new(time());
    let cache = CredentialsCache::builder(creds(None))
        .clock(Arc::new(clock.clone()))
        .build();
    let signer = Signer::new(default_config(), cache);
    let mut req = Request::get(format!("https://{ORDERS}/")).body(()).unwrap();
    let err = signer.sign_cached(&mut req).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials, "cold cache: {err}");
    signer.credentials().warm().await.unwrap();
    clock.advance(Duration::from_secs(60));
    signer.sign_cached(&mut req).unwrap();
    assert_eq!(req.headers()["x-amz-date"], "20231114T221420Z");
}

#[test]
fn literal_plus_in_query_is_signed_as_plus_not_space() {
    let signature_of = |url: &str| {
        let mut req = Request::get(url).body(()).unwrap();
        sign(&default_config(), &mut req, None).unwrap();
        assert_eq!(
            req.uri().to_string(),
            url,
            "the request itself is never rewritten"
        );
        auth_field(req.headers(), "Signature").to_owned()
    };
    let plus = signature_of(&format!("https://{ORDERS}/s?q=a+b"));
    assert_eq!(plus, signature_of(&format!("https://{ORDERS}/s?q=a%2Bb")));
    assert_ne!(plus, signature_of(&format!("https://{ORDERS}/s?q=a%20b")));
    // In the canonical request: `%2B` in the query, and in the path as the path encoding
    // writes any `+`.
    let canonical = |uri: &str| {
        let mut canonical = CanonicalRequest::new();
        let uri: Uri = uri.parse().unwrap();
        canonical
            .write("GET", &uri, PathEncoding::Double, &mut [])
            .unwrap();
        canonical
            .as_str()
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(canonical("/p?x=+&y=1"), "GET\n/p\nx=%2B&y=1");
    assert_eq!(canonical("/a+b?x=1"), "GET\n/a%2Bb\nx=1");
}

#[test]
fn asterisk_and_authority_form_are_clear_errors() {
    for (method, uri, form) in [
        (Method::OPTIONS, "*", "asterisk-form"),
        (Method::CONNECT, &*format!("{ORDERS}:443"), "authority-form"),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static(ORDERS));
        let uri: Uri = uri.parse().unwrap();
        let err = default_config()
            .sign(&method, &uri, &mut headers, &creds(None), time())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
        assert!(err.to_string().contains(form), "{err}");
        assert!(!headers.contains_key("authorization"));
    }
}

#[test]
fn a_clock_outside_1970_to_9999_is_a_clear_error() {
    let mut late = Duration::from_secs(253_402_300_800); // 10000-01-01T00:00:00Z
    for time in [
        UNIX_EPOCH - Duration::from_secs(1),
        UNIX_EPOCH + late,
        UNIX_EPOCH + {
            late += Duration::from_secs(86_400 * 365 * 1000);
            late
        },
    ] {
        let mut headers = HeaderMap::new();
        let uri: Uri = format!("https://{ORDERS}/").parse().unwrap();
        let err = default_config()
            .sign(&Method::GET, &uri, &mut headers, &creds(None), time)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Signing, "{err}");
        assert!(err.to_string().contains("1970 to 9999"), "{err}");
    }
    // The last second that can be signed.
    let mut headers = HeaderMap::new();
    let uri: Uri = format!("https://{ORDERS}/").parse().unwrap();
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    default_config()
        .sign(&Method::GET, &uri, &mut headers, &creds(None), last)
        .unwrap();
    assert_eq!(headers["x-amz-date"], "99991231T235959Z");
}

/// One config's host decision or region never carries over to another config, or to
/// another host.
#[test]
fn configs_keep_their_own_hosts_and_regions() {
    let east = SigningConfig::builder()
        .custom_domain_in("api.example.com", "us-east-1")
        .build()
        .unwrap();
    let west = SigningConfig::builder()
        .region("eu-west-1")
        .custom_domain("api.example.com")
        .build()
        .unwrap();
    let lattice_only = default_config();
    // Same shape as `east` (one custom domain with a region) for another name: state
    // shared across configs would sign `api.example.com` here.
    let decoy = SigningConfig::builder()
        .custom_domain_in("other.example.com", "eu-west-1")
        .build()
        .unwrap();
    let sigv4a = SigningConfig::builder()
        .sigv4a("*")
        .custom_domain("api.example.com")
        .build()
        .unwrap();
    let scope_of = |config: &SigningConfig, uri: &str| {
        let mut req = Request::get(uri).body(()).unwrap();
        sign(config, &mut req, None).map(|_| auth_field(req.headers(), "Credential").to_owned())
    };
    for _ in 0..3 {
        let custom = "https://api.example.com/x";
        let east_scope = scope_of(&east, custom).unwrap();
        assert!(east_scope.contains("/us-east-1/"), "{east_scope}");
        let west_scope = scope_of(&west, custom).unwrap();
        assert!(west_scope.contains("/eu-west-1/"), "{west_scope}");
        let error = scope_of(&lattice_only, custom).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::HostNotAllowed);
        scope_of(&east, custom).unwrap();
        let error = scope_of(&decoy, custom).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::HostNotAllowed);
        let v4a_scope = scope_of(&sigv4a, custom).unwrap();
        assert!(
            v4a_scope.ends_with("/vpc-lattice-svcs/aws4_request"),
            "{v4a_scope}"
        );

        // The same config, one allowed host after another: each gets its own region.
        let lattice = scope_of(&east, &format!("https://{ORDERS}/")).unwrap();
        assert!(lattice.contains("/us-west-2/"), "{lattice}");
        let other = ORDERS.replace("us-west-2", "ap-south-1");
        let lattice = scope_of(&east, &format!("https://{other}/")).unwrap();
        assert!(lattice.contains("/ap-south-1/"), "{lattice}");
        // Uppercase is lowercased into a fresh string.
        let upper = ORDERS.to_ascii_uppercase();
        let lattice = scope_of(&east, &format!("https://{upper}/")).unwrap();
        assert!(lattice.contains("/us-west-2/"), "{lattice}");
        // An allowed host just signed does not make a look-alike allowed.
        let error = scope_of(&east, "https://api.example.com.evil.test/").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::HostNotAllowed);
    }
}

/// Signing again, or after another config signed, gives the same signature: nothing from
/// one signature changes the next.
#[test]
fn signing_after_another_config_signs_the_same() {
    let config = default_config();
    let other = SigningConfig::builder().build().unwrap();
    let signed = |config: &SigningConfig, host_header: Option<&str>| {
        let mut builder = Request::get(format!("https://{ORDERS}:443/a?b=c"));
        if let Some(host) = host_header {
            builder = builder.header("host", host);
        }
        let mut req = builder.body(()).unwrap();
        sign(config, &mut req, Some("token")).unwrap();
        req.headers()["authorization"].clone()
    };
    let first = (signed(&other, None), signed(&config, None));
    let again = signed(&config, None);
    assert_eq!(first.1, again);
    assert_eq!(first.0, again);
    // The same text from the Host header keeps its port: a different signature.
    let with_port = signed(&config, Some(&format!("{ORDERS}:443")));
    assert_ne!(with_port, again);
    assert_eq!(with_port, signed(&config, Some(&format!("{ORDERS}:443"))));
}

/// Up to 16 signed headers sit on the stack while signing; more spill to the heap. Both
/// sides of the boundary sign every header, and insertion order never matters.
#[test]
fn requests_with_many_headers_sign_every_one() {
    let config = default_config();
    for extra in [14, 15, 16, 40] {
        let names: Vec<String> = (0..extra).map(|i| format!("x-extra-{i:02}")).collect();
        let signed = |order: &mut dyn Iterator<Item = &String>| {
            let mut builder = Request::get(format!("https://{ORDERS}/many"));
            for name in order {
                builder = builder.header(name.as_str(), format!("value {name}"));
            }
            let mut req = builder.body(()).unwrap();
            sign(&config, &mut req, None).unwrap();
            req
        };
        let forward = signed(&mut names.iter());
        let backward = signed(&mut names.iter().rev());
        let listed = signed_headers(forward.headers());
        // host + the extras + x-amz-content-sha256 + x-amz-date.
        assert_eq!(listed.len(), extra + 3, "{listed:?}");
        for name in &names {
            assert!(listed.contains(&name.as_str()), "{name} not signed");
        }
        assert_eq!(
            forward.headers()["authorization"],
            backward.headers()["authorization"]
        );
    }
}
