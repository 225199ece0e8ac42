//! Proves the verifier's building blocks against the AWS signing test suite in
//! `shared/sigv4-test-suite` (aws-c-auth v4/v4a, plus the botocore, smithy-rs
//! and historical aws-c-auth extras; see its README for formats and provenance).
//!
//! Every case directory found is checked; failures are collected per case and
//! reported together, and each test asserts how many cases it really checked.
//! Override the location with `SIGV4_TEST_SUITE_DIR`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};
use lattice_emulator::verifier::canonical::{
    CanonicalHeaders, canonical_query, canonical_request, canonical_uri_double, credential_scope,
    sha256_hex, string_to_sign, uri_encode,
};
use lattice_emulator::verifier::{
    Algorithm, Authorization, DEFAULT_MAX_SKEW, KeyLookup, Rejection, RequestView, Secret,
    UriEncoding, VerifyOptions, format_amz_date, v4, v4a, verify,
};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Case counts the README documents for the primary suite.
const PRIMARY_CASES: usize = 38;
/// The two v4a folders that hold only inputs (unused upstream).
const V4A_STUBS: [&str; 2] = [
    "get-vanilla-query-order-key",
    "get-vanilla-query-order-value",
];

const SUITE_AKID: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

// === harness plumbing ===

fn suite_dir() -> PathBuf {
    let dir = std::env::var_os("SIGV4_TEST_SUITE_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/sigv4-test-suite"
            ))
        },
        PathBuf::from,
    );
    assert!(
        dir.join("README.md").is_file(),
        "SigV4 test suite not found at {} (set SIGV4_TEST_SUITE_DIR)",
        dir.display()
    );
    dir
}

/// Sorted names of the sub-directories of `dir`.
fn case_names(dir: &Path) -> Vec<String> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn read_string(path: &Path) -> Result<String, String> {
    String::from_utf8(read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// `Ok` if equal; otherwise an error showing both sides.
fn expect_eq(what: &str, expected: &[u8], actual: &[u8]) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{what} differs\n  expected: {:?}\n  actual:   {:?}",
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(actual)
    ))
}

#[track_caller]
fn assert_no_failures(category: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{category}: {} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// === request.txt ===

/// A request in the suite's `request.txt` format, kept as raw bytes.
#[derive(Debug, Clone)]
struct RawRequest {
    method: String,
    path: String,
    query: Option<String>,
    /// Names as written; values after the first `:`, untrimmed, folds joined.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn split_line(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    }
}

/// Parses `request.txt` the way aws-c-auth's harness does: the request target
/// is the literal rest of line 1 minus ` HTTP/1.1` (it may hold raw spaces and
/// UTF-8), header values keep their leading spaces, a line starting with
/// whitespace continues the previous header (obs-fold), and what follows the
/// first empty line is the body.
fn parse_request(bytes: &[u8]) -> Result<RawRequest, String> {
    let (line, mut rest) = split_line(bytes);
    let line = std::str::from_utf8(line).map_err(|e| format!("request line: {e}"))?;
    let (method, target) = line
        .split_once(' ')
        .ok_or_else(|| format!("request line without a space: {line:?}"))?;
    // smithy-rs' signed requests omit the protocol.
    let target = target.strip_suffix(" HTTP/1.1").unwrap_or(target);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut body = Vec::new();
    while let Some(remaining) = rest {
        let (line, next) = split_line(remaining);
        rest = next;
        if line.is_empty() {
            body = next.unwrap_or_default().to_vec();
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            let (_, value) = headers
                .last_mut()
                .ok_or("continuation line before any header")?;
            let continued = line
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(line.len());
            value.push(b' ');
            value.extend_from_slice(&line[continued..]);
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or_else(|| {
            format!(
                "header line without ':': {:?}",
                String::from_utf8_lossy(line)
            )
        })?;
        let name = std::str::from_utf8(&line[..colon]).map_err(|e| format!("header name: {e}"))?;
        headers.push((name.to_owned(), line[colon + 1..].to_vec()));
    }
    Ok(RawRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        query,
        headers,
        body,
    })
}

impl RawRequest {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn authorization(&self) -> Result<Authorization, String> {
        let value = self
            .header("authorization")
            .ok_or("no Authorization header")?;
        let value = std::str::from_utf8(value).map_err(|e| e.to_string())?;
        Authorization::parse(value.trim_start())
    }

    /// The decoded value of query parameter `key`.
    fn query_param(&self, key: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k == key).then(|| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }

    fn header_map(&self) -> Result<HeaderMap, String> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
            let value =
                HeaderValue::from_bytes(value.trim_ascii()).map_err(|e| format!("{name}: {e}"))?;
            map.append(name, value);
        }
        Ok(map)
    }
}

// === context.json and signing settings ===

#[derive(Debug, Clone, Deserialize)]
struct Context {
    credentials: Credentials,
    expiration_in_seconds: u64,
    normalize: bool,
    region: String,
    service: String,
    sign_body: bool,
    timestamp: String,
    #[serde(default)]
    omit_session_token: bool,
    signed_body_value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
}

impl Context {
    fn load(case: &Path) -> Result<Self, String> {
        serde_json::from_slice(&read(&case.join("context.json"))?)
            .map_err(|e| format!("context.json: {e}"))
    }

    fn time(&self) -> Result<SystemTime, String> {
        let t = OffsetDateTime::parse(&self.timestamp, &Rfc3339)
            .map_err(|e| format!("timestamp: {e}"))?;
        Ok(t.into())
    }

    /// The settings of the suites that have no `context.json` (botocore,
    /// smithy-rs), as their READMEs describe them.
    fn fixed(akid: &str, secret: &str, region: &str, service: &str, timestamp: &str) -> Self {
        Self {
            credentials: Credentials {
                access_key_id: akid.into(),
                secret_access_key: secret.into(),
                token: None,
            },
            expiration_in_seconds: 3600,
            normalize: true,
            region: region.into(),
            service: service.into(),
            sign_body: false,
            timestamp: timestamp.into(),
            omit_session_token: false,
            signed_body_value: None,
        }
    }

    fn payload_hash(&self, body: &[u8]) -> String {
        match (self.sign_body, &self.signed_body_value) {
            (true, Some(literal)) => literal.clone(),
            (true, None) => sha256_hex(body),
            (false, _) => sha256_hex(b""),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Auth in the `Authorization` header.
    Header,
    /// Auth in `X-Amz-*` query parameters (presigned URL).
    Query,
}

impl Variant {
    fn prefix(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Query => "query",
        }
    }
}

/// What signing a suite request produces, up to the signature.
#[derive(Debug)]
struct Computed {
    canonical_request: Vec<u8>,
    string_to_sign: String,
    signed_headers: Vec<String>,
    scope: String,
}

/// Builds the canonical request and string-to-sign for `req` as aws-c-auth
/// does, with the verifier's building blocks: headers the signer adds,
/// double URI encoding, normalization per context, payload hash per
/// `sign_body`. `req` may already carry `X-Amz-Date` (botocore, smithy-rs).
fn compute(
    req: &RawRequest,
    ctx: &Context,
    algorithm: Algorithm,
    variant: Variant,
) -> Result<Computed, String> {
    let amz_date = format_amz_date(ctx.time()?);
    let date = &amz_date[..8];
    let scope = credential_scope(algorithm, date, &ctx.region, &ctx.service);
    let payload_hash = ctx.payload_hash(&req.body);
    let token = ctx
        .credentials
        .token
        .as_deref()
        .filter(|_| !ctx.omit_session_token);

    let mut headers = CanonicalHeaders::new();
    for (name, value) in &req.headers {
        headers.append(name, value);
    }
    if variant == Variant::Header {
        if req.header("x-amz-date").is_none() {
            headers.append("X-Amz-Date", amz_date.as_bytes());
        }
        if algorithm == Algorithm::SigV4A {
            headers.append("X-Amz-Region-Set", ctx.region.as_bytes());
        }
        if let Some(token) = token {
            headers.append("X-Amz-Security-Token", token.as_bytes());
        }
    }
    // Header variant: added whenever the body is signed. Query variant: only
    // for a literal value (aws-c-auth's Lattice presigning workaround).
    let content_header = match variant {
        Variant::Header => ctx.sign_body,
        Variant::Query => ctx.signed_body_value.is_some(),
    };
    if content_header {
        headers.append("x-amz-content-sha256", payload_hash.as_bytes());
    }
    let signed_headers: Vec<String> = headers.names().map(str::to_owned).collect();

    let mut query = req.query.clone().unwrap_or_default();
    if variant == Variant::Query {
        let mut params = vec![
            ("X-Amz-Algorithm", algorithm.name().to_owned()),
            (
                "X-Amz-Credential",
                format!("{}/{scope}", ctx.credentials.access_key_id),
            ),
            ("X-Amz-Date", amz_date.clone()),
            ("X-Amz-Expires", ctx.expiration_in_seconds.to_string()),
            ("X-Amz-SignedHeaders", signed_headers.join(";")),
        ];
        if algorithm == Algorithm::SigV4A {
            params.push(("X-Amz-Region-Set", ctx.region.clone()));
        }
        if let Some(token) = token {
            params.push(("X-Amz-Security-Token", token.to_owned()));
        }
        for (key, value) in params {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("{key}={}", uri_encode(value.as_bytes())));
        }
    }

    let canonical_request = canonical_request(
        &req.method,
        &canonical_uri_double(&req.path, ctx.normalize),
        &canonical_query(&query),
        &headers,
        &signed_headers,
        &payload_hash,
    )
    .map_err(|e| e.to_string())?;
    let string_to_sign = string_to_sign(algorithm, &amz_date, &scope, &canonical_request);
    Ok(Computed {
        canonical_request,
        string_to_sign,
        signed_headers,
        scope,
    })
}

// === aws-c-auth format cases ===

/// The signature inside `*-signed-request.txt`, plus a check that its
/// SignedHeaders list equals ours.
fn stored_signed_request_signature(
    case: &Path,
    variant: Variant,
    ours: &Computed,
) -> Result<Vec<u8>, String> {
    let file = case.join(format!("{}-signed-request.txt", variant.prefix()));
    let signed = parse_request(&read(&file)?)?;
    let (signature, signed_headers) = match variant {
        Variant::Header => {
            let auth = signed.authorization()?;
            (auth.signature, auth.signed_headers.join(";"))
        }
        Variant::Query => {
            let sig = signed
                .query_param("X-Amz-Signature")
                .ok_or("no X-Amz-Signature")?;
            let headers = signed
                .query_param("X-Amz-SignedHeaders")
                .ok_or("no X-Amz-SignedHeaders")?;
            (hex::decode(sig).map_err(|e| e.to_string())?, headers)
        }
    };
    expect_eq(
        "signed-request SignedHeaders",
        ours.signed_headers.join(";").as_bytes(),
        signed_headers.as_bytes(),
    )?;
    Ok(signature)
}

/// `public-key.json`'s `X` and `Y`, lowercase hex.
fn public_key_hex(case: &Path) -> Result<(String, String), String> {
    #[derive(Deserialize)]
    struct Xy {
        #[serde(rename = "X")]
        x: String,
        #[serde(rename = "Y")]
        y: String,
    }
    let xy: Xy = serde_json::from_slice(&read(&case.join("public-key.json"))?)
        .map_err(|e| format!("public-key.json: {e}"))?;
    Ok((xy.x.to_ascii_lowercase(), xy.y.to_ascii_lowercase()))
}

fn public_key(case: &Path) -> Result<p256::ecdsa::VerifyingKey, String> {
    let (x, y) = public_key_hex(case)?;
    let x = hex::decode(x).map_err(|e| e.to_string())?;
    let y = hex::decode(y).map_err(|e| e.to_string())?;
    v4a::verifying_key_from_xy(&x, &y)
        .ok_or_else(|| "public-key.json is not a P-256 point".to_owned())
}

/// Runs the piecewise and signature checks of one variant of one case.
fn check_variant(
    case: &Path,
    ctx: &Context,
    algorithm: Algorithm,
    variant: Variant,
) -> Result<(), String> {
    let prefix = variant.prefix();
    let req = parse_request(&read(&case.join("request.txt"))?)?;
    let ours = compute(&req, ctx, algorithm, variant)?;
    let expected_creq = read(&case.join(format!("{prefix}-canonical-request.txt")))?;
    expect_eq("canonical request", &expected_creq, &ours.canonical_request)?;
    let expected_sts = read(&case.join(format!("{prefix}-string-to-sign.txt")))?;
    expect_eq(
        "string-to-sign",
        &expected_sts,
        ours.string_to_sign.as_bytes(),
    )?;

    let stored = read_string(&case.join(format!("{prefix}-signature.txt")))?;
    let embedded = stored_signed_request_signature(case, variant, &ours)?;
    match algorithm {
        Algorithm::SigV4 => {
            let date = &ours.scope[..8];
            let key = v4::signing_key(
                &ctx.credentials.secret_access_key,
                date,
                &ctx.region,
                &ctx.service,
            );
            let signature = v4::signature(&key, &ours.string_to_sign);
            expect_eq("signature", stored.as_bytes(), signature.as_bytes())?;
            expect_eq(
                "signed-request signature",
                &embedded,
                &hex::decode(&signature).map_err(|e| e.to_string())?,
            )?;
        }
        Algorithm::SigV4A => {
            // ECDSA is randomized: verify the stored samples, never compare text.
            let key = public_key(case)?;
            let stored =
                hex::decode(&stored).map_err(|e| format!("{prefix}-signature.txt: {e}"))?;
            if !v4a::verify_signature(&key, &ours.string_to_sign, &stored) {
                return Err(format!("{prefix}-signature.txt does not verify"));
            }
            if !v4a::verify_signature(&key, &ours.string_to_sign, &embedded) {
                return Err(format!(
                    "signature in {prefix}-signed-request.txt does not verify"
                ));
            }
            let derived = derive_key(ctx)?;
            let own = hex::decode(v4a::sign(&derived, &ours.string_to_sign))
                .map_err(|e| e.to_string())?;
            if !v4a::verify_signature(&key, &ours.string_to_sign, &own) {
                return Err("our own signature does not verify against public-key.json".to_owned());
            }
        }
    }
    Ok(())
}

fn derive_key(ctx: &Context) -> Result<p256::ecdsa::SigningKey, String> {
    v4a::derive_signing_key(
        &ctx.credentials.access_key_id,
        &ctx.credentials.secret_access_key,
    )
    .ok_or_else(|| "KDF found no key".to_owned())
}

/// The KDF from the context credentials must reproduce `public-key.json`.
fn check_kdf(case: &Path, ctx: &Context) -> Result<(), String> {
    let derived = derive_key(ctx)?;
    let (x, y) = v4a::public_key_xy(derived.verifying_key());
    let (want_x, want_y) = public_key_hex(case)?;
    expect_eq(
        "derived public key X",
        want_x.as_bytes(),
        hex::encode(x).as_bytes(),
    )?;
    expect_eq(
        "derived public key Y",
        want_y.as_bytes(),
        hex::encode(y).as_bytes(),
    )
}

/// Checks every variant present in an aws-c-auth format case; returns how many ran.
fn check_case(case: &Path, algorithm: Algorithm, failures: &mut Vec<String>) -> usize {
    let name = case.display();
    let ctx = match Context::load(case) {
        Ok(ctx) => ctx,
        Err(e) => {
            failures.push(format!("{name}: {e}"));
            return 0;
        }
    };
    if algorithm == Algorithm::SigV4A
        && let Err(e) = check_kdf(case, &ctx)
    {
        failures.push(format!("{name} [kdf]: {e}"));
    }
    let mut checked = 0;
    for variant in [Variant::Header, Variant::Query] {
        if !case
            .join(format!("{}-canonical-request.txt", variant.prefix()))
            .is_file()
        {
            failures.push(format!("{name}: no {} variant", variant.prefix()));
            continue;
        }
        checked += 1;
        if let Err(e) = check_variant(case, &ctx, algorithm, variant) {
            failures.push(format!("{name} [{}]: {e}", variant.prefix()));
        }
    }
    checked
}

/// Runs a primary-suite folder; returns (cases, variants checked, stubs).
fn run_primary(
    sub: &str,
    algorithm: Algorithm,
    failures: &mut Vec<String>,
) -> (usize, usize, Vec<String>) {
    let dir = suite_dir().join(sub);
    let (mut cases, mut variants, mut stubs) = (0, 0, Vec::new());
    for name in case_names(&dir) {
        let case = dir.join(&name);
        if !case.join("header-canonical-request.txt").is_file() {
            stubs.push(name);
            continue;
        }
        cases += 1;
        variants += check_case(&case, algorithm, failures);
    }
    (cases, variants, stubs)
}

// === tests ===

#[test]
fn v4_suite() {
    let mut failures = Vec::new();
    let (cases, variants, stubs) = run_primary("v4", Algorithm::SigV4, &mut failures);
    assert_no_failures("v4", &failures);
    assert!(
        stubs.is_empty(),
        "v4 folders without expected results: {stubs:?}"
    );
    assert!(
        cases >= PRIMARY_CASES,
        "only {cases} v4 cases found, expected {PRIMARY_CASES}"
    );
    assert_eq!(
        variants,
        2 * cases,
        "every v4 case has a header and a query variant"
    );
    println!("v4: {cases} cases, {variants} vectors checked");
}

#[test]
fn v4a_suite() {
    let mut failures = Vec::new();
    let (cases, variants, stubs) = run_primary("v4a", Algorithm::SigV4A, &mut failures);
    assert_no_failures("v4a", &failures);
    assert_eq!(stubs, V4A_STUBS, "v4a folders without expected results");
    assert!(
        cases >= PRIMARY_CASES,
        "only {cases} v4a cases found, expected {PRIMARY_CASES}"
    );
    assert_eq!(
        variants,
        2 * cases,
        "every v4a case has a header and a query variant"
    );
    println!("v4a: {cases} cases, {variants} vectors checked");
}

struct OneKey(Secret);

impl KeyLookup for OneKey {
    fn lookup(&self, access_key_id: &str) -> Option<Secret> {
        (access_key_id == self.0.access_key_id).then(|| self.0.clone())
    }
}

/// Runs `verify` itself on a stored signed request. Only the UNSIGNED-PAYLOAD
/// cases have the `x-amz-content-sha256` header Lattice requires.
fn verify_signed_request(case: &Path, ctx: &Context, tamper: bool) -> Result<(), Rejection> {
    let fail = |e: String| Rejection::IncompleteSignature(format!("harness: {e}"));
    let mut signed = parse_request(&read(&case.join("header-signed-request.txt")).map_err(fail)?)
        .map_err(fail)?;
    if tamper {
        signed
            .headers
            .push(("Content-Length".into(), b"14".to_vec()));
    }
    let headers = signed.header_map().map_err(fail)?;
    let view = RequestView {
        method: &signed.method,
        raw_path: &signed.path,
        raw_query: signed.query.as_deref(),
        headers: &headers,
        authority: None,
    };
    let keys = OneKey(Secret {
        access_key_id: ctx.credentials.access_key_id.clone(),
        secret_access_key: ctx.credentials.secret_access_key.clone(),
        session_token: None,
        principal: "arn:aws:iam::123456789012:user/suite".into(),
        session_name: None,
    });
    let opts = VerifyOptions {
        service: ctx.service.clone(),
        region: ctx.region.clone(),
        max_skew: DEFAULT_MAX_SKEW,
    };
    let verified = verify(&view, &keys, &opts, ctx.time().map_err(fail)?)?;
    if verified.uri_encoding != UriEncoding::Double {
        return Err(fail(format!("matched {:?}", verified.uri_encoding)));
    }
    Ok(())
}

#[test]
fn extra_aws_c_auth_post_unsigned_payload() {
    let root = suite_dir().join("extra/aws-c-auth-post-unsigned-payload");
    let mut failures = Vec::new();
    let (mut cases, mut variants) = (0, 0);
    for (sub, algorithm) in [("v4", Algorithm::SigV4), ("v4a", Algorithm::SigV4A)] {
        for name in case_names(&root.join(sub)) {
            let case = root.join(sub).join(&name);
            cases += 1;
            variants += check_case(&case, algorithm, &mut failures);
            // End to end through `verify`: the stored request passes, and the
            // same request with an extra signed-header value does not.
            match Context::load(&case) {
                Ok(ctx) => {
                    if let Err(r) = verify_signed_request(&case, &ctx, false) {
                        failures.push(format!("{} [verify]: {r}", case.display()));
                    }
                    match verify_signed_request(&case, &ctx, true) {
                        Err(Rejection::InvalidSignature(_)) => {}
                        other => failures
                            .push(format!("{} [verify tampered]: {other:?}", case.display())),
                    }
                }
                Err(e) => failures.push(format!("{}: {e}", case.display())),
            }
        }
    }
    assert_no_failures("aws-c-auth post-unsigned-payload", &failures);
    assert_eq!((cases, variants), (2, 4), "cases and variants checked");
}

#[test]
fn extra_botocore_aws4_testsuite() {
    let root = suite_dir().join("extra/botocore-aws4_testsuite");
    let ctx = Context::fixed(
        SUITE_AKID,
        SUITE_SECRET,
        "us-east-1",
        "service",
        "2015-08-30T12:36:00Z",
    );
    let mut failures = Vec::new();
    let mut cases = BTreeSet::new();
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        for name in case_names(&dir) {
            let case = dir.join(&name);
            if !case.join(format!("{name}.req")).is_file() {
                pending.push(case);
                continue;
            }
            cases.insert(name.clone());
            let file = |ext: &str| case.join(format!("{name}.{ext}"));
            let result = (|| -> Result<(), String> {
                let req = parse_request(&read(&file("req"))?)?;
                let ours = compute(&req, &ctx, Algorithm::SigV4, Variant::Header)?;
                expect_eq(
                    "canonical request",
                    &read(&file("creq"))?,
                    &ours.canonical_request,
                )?;
                expect_eq(
                    "string-to-sign",
                    &read(&file("sts"))?,
                    ours.string_to_sign.as_bytes(),
                )?;
                let key = v4::signing_key(SUITE_SECRET, "20150830", "us-east-1", "service");
                let authz = format!(
                    "AWS4-HMAC-SHA256 Credential={SUITE_AKID}/{}, SignedHeaders={}, Signature={}",
                    ours.scope,
                    ours.signed_headers.join(";"),
                    v4::signature(&key, &ours.string_to_sign)
                );
                expect_eq("Authorization", &read(&file("authz"))?, authz.as_bytes())
            })();
            if let Err(e) = result {
                failures.push(format!("{}: {e}", case.display()));
            }
        }
    }
    assert_no_failures("botocore aws4_testsuite", &failures);
    let want = [
        "get-special-character",
        "get-vanilla-query-order-key",
        "get-vanilla-query-order-value",
    ];
    assert_eq!(
        cases.into_iter().collect::<Vec<_>>(),
        want,
        "botocore cases checked"
    );
}

#[test]
fn extra_smithy_rs() {
    let root = suite_dir().join("extra/smithy-rs/v4");
    let mut failures = Vec::new();
    let mut checked = Vec::new();

    // Self-consistent case: AKIDEXAMPLE, us-east-2, lambda, time from the request.
    let case = root.join("double-url-encode");
    let result = (|| -> Result<(), String> {
        let ctx = Context::fixed(
            SUITE_AKID,
            SUITE_SECRET,
            "us-east-2",
            "lambda",
            "2021-05-11T15:40:45Z",
        );
        let req = parse_request(&read(&case.join("request.txt"))?)?;
        let ours = compute(&req, &ctx, Algorithm::SigV4, Variant::Header)?;
        expect_eq(
            "canonical request",
            &read(&case.join("header-canonical-request.txt"))?,
            &ours.canonical_request,
        )?;
        // The stored string-to-sign has a stray final newline that is not signed.
        let sts = read_string(&case.join("header-string-to-sign.txt"))?;
        expect_eq(
            "string-to-sign",
            sts.strip_suffix('\n').unwrap_or(&sts).as_bytes(),
            ours.string_to_sign.as_bytes(),
        )?;
        let key = v4::signing_key(SUITE_SECRET, "20210511", "us-east-2", "lambda");
        let signed = parse_request(&read(&case.join("header-signed-request.txt"))?)?;
        let signature =
            hex::decode(v4::signature(&key, &ours.string_to_sign)).map_err(|e| e.to_string())?;
        expect_eq("signature", &signed.authorization()?.signature, &signature)
    })();
    checked.push("double-url-encode");
    if let Err(e) = result {
        failures.push(format!("{}: {e}", case.display()));
    }

    // Only the canonical path is reliable here; the signed request was made
    // with smithy-rs' dummy credentials at the suite's usual time and scope.
    let case = root.join("double-encode-path");
    let result = (|| -> Result<(), String> {
        let req = parse_request(&read(&case.join("request.txt"))?)?;
        let expected = read_string(&case.join("header-canonical-request.txt"))?;
        let expected_path = expected.lines().nth(1).ok_or("short canonical request")?;
        expect_eq(
            "canonical path",
            expected_path.as_bytes(),
            canonical_uri_double(&req.path, true).as_bytes(),
        )?;
        let ctx = Context::fixed(
            "ANOTREAL",
            "notrealrnrELgWzOk3IfjzDKtFBhDby",
            "us-east-1",
            "service",
            "2015-08-30T12:36:00Z",
        );
        let ours = compute(&req, &ctx, Algorithm::SigV4, Variant::Header)?;
        let key = v4::signing_key(
            &ctx.credentials.secret_access_key,
            "20150830",
            "us-east-1",
            "service",
        );
        let signed = parse_request(&read(&case.join("header-signed-request.txt"))?)?;
        let signature =
            hex::decode(v4::signature(&key, &ours.string_to_sign)).map_err(|e| e.to_string())?;
        expect_eq("signature", &signed.authorization()?.signature, &signature)
    })();
    checked.push("double-encode-path");
    if let Err(e) = result {
        failures.push(format!("{}: {e}", case.display()));
    }

    assert_no_failures("smithy-rs", &failures);
    let found = case_names(&root);
    assert_eq!(
        found,
        ["double-encode-path", "double-url-encode"],
        "smithy-rs cases present"
    );
    assert_eq!(checked.len(), found.len(), "smithy-rs cases checked");
}

#[test]
fn request_parser_keeps_raw_bytes() {
    let req = parse_request(b"GET /a b/\xe1\x88\xb4?x=%20 HTTP/1.1\nA:  v1\n  v2\nA:v3\n\nbody")
        .expect("parses");
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/a b/\u{1234}")
    );
    assert_eq!(req.query.as_deref(), Some("x=%20"));
    let headers: Vec<(&str, &[u8])> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    assert_eq!(headers, [("A", &b"  v1 v2"[..]), ("A", &b"v3"[..])]);
    assert_eq!(req.body, b"body");
}
