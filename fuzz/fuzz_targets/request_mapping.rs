//! `request_mapping`: how the sidecar turns a request's method, URI and headers into an
//! upstream (`lattice_sidecar::route::map_request`), then signs it. It never panics; a
//! request it accepts goes over https (unless the listener's scheme is http and the client
//! did not ask for https), without user info, with a valid port, to the host the request
//! named (URI and `Host` agreeing), and is signed only if that host is on the allow-list
//! (the signer refuses the others); a refusal is a 4xx whose message is one printable
//! line.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use lattice_client::{Credentials, ErrorKind, Signed, SigningConfig};
use lattice_sidecar::config::{Route, Target};
use lattice_sidecar::route::{map_request, upstream_uri};
use libfuzzer_sys::fuzz_target;

const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

/// The input, as text so seeds are readable: a flags byte (bit 0: fixed route, bit 1:
/// SigV4A, bit 2: http listener; `0`-`7` in seeds), the method, `\n`, the request target,
/// then `\n`-separated `name: value` header lines.
struct Input<'a> {
    fixed_route: bool,
    sigv4a: bool,
    http_listener: bool,
    method: &'a [u8],
    uri: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (&flags, rest) = data.split_first()?;
        let mut lines = rest.split(|&b| b == b'\n');
        let method = lines.next()?;
        let uri = lines.next()?;
        let headers = lines
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                Some((&line[..colon], line[colon + 1..].trim_ascii_start()))
            })
            .collect();
        Some(Self {
            fixed_route: flags & 1 != 0,
            sigv4a: flags & 2 != 0,
            http_listener: flags & 4 != 0,
            method,
            uri,
            headers,
        })
    }
}

fn configs() -> &'static [SigningConfig; 2] {
    static CONFIGS: OnceLock<[SigningConfig; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        // Valid by construction; a build error is a bug too.
        let sigv4 = SigningConfig::builder()
            .custom_domain_in("api.example.com", "us-west-2")
            .custom_domain_in("*.internal.example", "eu-west-1")
            .build()
            .unwrap();
        let sigv4a = SigningConfig::builder()
            .sigv4a("*")
            .custom_domain("api.example.com")
            .build()
            .unwrap();
        [sigv4, sigv4a]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::parse(data) else {
        return;
    };
    let Ok(method) = Method::from_bytes(input.method) else {
        return;
    };
    let Ok(uri) = Uri::try_from(input.uri) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let signing = &configs()[usize::from(input.sigv4a)];
    let fixed = Target {
        scheme: Scheme::HTTPS,
        authority: Authority::from_static(ORDERS),
    };
    let route = match input.fixed_route {
        true => Route::Fixed(fixed.clone()),
        false => Route::FromRequest,
    };
    let listener_scheme = match input.http_listener {
        true => Scheme::HTTP,
        false => Scheme::HTTPS,
    };

    let target = match map_request(&route, &listener_scheme, signing, &method, &uri, &headers) {
        Ok(target) => target,
        Err(refusal) => {
            assert!(refusal.status.is_client_error(), "{refusal}");
            assert!(
                refusal
                    .message
                    .chars()
                    .all(|c| c.is_ascii_graphic() || c == ' '),
                "{refusal}"
            );
            return;
        }
    };
    assert_ne!(method, Method::CONNECT);
    let hosts: Vec<&HeaderValue> = headers.get_all(http::header::HOST).iter().collect();
    assert!(hosts.len() <= 1, "several Host headers accepted: {hosts:?}");

    // Where it goes.
    let authority = target.authority.as_str();
    assert!(!authority.contains('@'), "user info survived: {authority}");
    if let Some(port) = authority
        .rsplit_once(']')
        .map_or(authority, |(_, r)| r)
        .rsplit_once(':')
    {
        assert!(
            port.1.parse::<u16>().is_ok_and(|p| p != 0),
            "port: {authority}"
        );
    }
    match &route {
        Route::Fixed(fixed) => assert_eq!(&target, fixed),
        Route::FromRequest => {
            let expected = match (uri.scheme(), &listener_scheme) {
                (Some(s), _) if *s == Scheme::HTTPS => Scheme::HTTPS,
                (_, listener) => listener.clone(),
            };
            assert_eq!(target.scheme, expected, "{uri}");
            // The named host: the URI's, else Host's; and when both are there they agree.
            let named = |a: &str| {
                let host = Authority::try_from(a).unwrap();
                host.host().trim_end_matches('.').to_ascii_lowercase()
            };
            let upstream_host = named(authority);
            if let Some(from_uri) = uri.authority() {
                assert_eq!(named(from_uri.as_str()), upstream_host, "{uri}");
            }
            if let Some(host) = hosts.first().and_then(|h| h.to_str().ok())
                && !host.is_empty()
            {
                assert_eq!(named(host), upstream_host, "{uri} Host: {host}");
            }
        }
    }
    assert!(
        target.scheme == Scheme::HTTPS || target.scheme == Scheme::HTTP,
        "{target}"
    );
    // The URI sent upstream: the target's scheme and authority, the request's path.
    let upstream = upstream_uri(&target, &uri).expect("an accepted request can be forwarded");
    assert_eq!(upstream.scheme(), Some(&target.scheme));
    assert_eq!(upstream.authority(), Some(&target.authority));
    if let Some(pq) = uri.path_and_query() {
        assert_eq!(upstream.path_and_query(), Some(pq));
    }
    // Signed as the sidecar's stack signs it (no Host header: the URI names the upstream),
    // and only for a host on the allow-list.
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "fuzz");
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut signed_headers = HeaderMap::new();
    let signed = signing.sign(&method, &upstream, &mut signed_headers, &credentials, time);
    match (signing.allows_host(authority), signed) {
        (true, Ok(Signed::Signed)) => {}
        (false, Err(error)) if error.kind() == ErrorKind::HostNotAllowed => {}
        // Other signing refusals (a header the signer cannot sign) are 400s in the sidecar.
        (_, Err(error)) if error.kind() == ErrorKind::InvalidRequest => {}
        (allowed, signed) => panic!("{authority}: allowed {allowed}, signed {signed:?}"),
    }
});
