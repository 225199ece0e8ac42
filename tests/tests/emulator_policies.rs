//! A team's own services under their own auth policies, end to end: an emulator started
//! with a `--config`-style file (in a temporary directory), called with curl through the
//! sidecar and with the Rust client. Allowed, explicitly denied, implicitly denied and a
//! header condition; an identity-based policy from the config; a forwarding target that
//! gets the identity headers without the credentials, and 100 MB bodies streamed through
//! it both ways; a gRPC app as a forwarding target.

mod e2e_common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e_common::{
    LARGE_LEN, MemoryProbe, StreamDigest, heavy_lock, large_sha256, large_stream, signer_with, tls,
};
use futures_util::TryStreamExt;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lattice_client::integrations::reqwest::SigV4Middleware;
use lattice_client::{Credentials, SigningConfig};
use lattice_emulator::greeter::greeter_client::GreeterClient;
use lattice_emulator::greeter::greeter_server::{Greeter, GreeterServer};
use lattice_emulator::greeter::{HelloReply, HelloRequest};
use lattice_emulator::{Config, Emulator, Verdict};
use lattice_tests::sidecar::{Sidecar, run_with_timeout};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ORDERS_HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const ORDERS_ARN: &str = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123456789abcdef0";
const APP_HOST: &str = "app-0aaaaaaaaaaaaaaaa.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const NETWORK_ARN: &str =
    "arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0123456789abcdef0";
const ORDERS_KEY: (&str, &str) = ("AKIDORDERSAPP", "orders/app/secret+key");
const ORDERS_PRINCIPAL: &str = "arn:aws:sts::111122223333:assumed-role/orders-app/s1";
const BILLING_KEY: (&str, &str) = ("AKIDBILLINGAPP", "billing/app/secret+key");
/// Temporary credentials of the orders app: the same principal, with a session token.
const SESSION_KEY: (&str, &str) = ("ASIAORDERSAPP", "orders/session/secret");
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEOrders//session+token==";
const BILLING_PRINCIPAL: &str = "arn:aws:sts::111122223333:assumed-role/billing-app/b1";
/// An auditor the service policy lets in everywhere, held back by its identity-based policy.
const AUDITOR_KEY: (&str, &str) = ("AKIDAUDITOR", "auditor/secret+key");
const AUDITOR_PRINCIPAL: &str = "arn:aws:sts::111122223333:assumed-role/auditor/a1";
const CURL_TIMEOUT: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(120);

/// The team's files: the configuration and its policies, as a CI job would keep them.
fn write_config(dir: &Path, app: SocketAddr) -> std::path::PathBuf {
    let network = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AccountCallers", "Effect": "Allow", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"
        }]
    });
    let service = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OrdersTeam", "Effect": "Allow",
                "Principal": {"AWS": ORDERS_PRINCIPAL},
                "Action": "vpc-lattice-svcs:Invoke", "Resource": format!("{ORDERS_ARN}/*")
            },
            {
                "Sid": "NoAdmin", "Effect": "Deny", "Principal": "*",
                "Action": "vpc-lattice-svcs:Invoke", "Resource": format!("{ORDERS_ARN}/admin/*")
            },
            {
                "Sid": "Auditors", "Effect": "Allow",
                "Principal": {"AWS": AUDITOR_PRINCIPAL},
                "Action": "vpc-lattice-svcs:Invoke", "Resource": format!("{ORDERS_ARN}/*")
            },
            {
                "Sid": "ReportsForOrders", "Effect": "Allow",
                "Principal": {"AWS": BILLING_PRINCIPAL},
                "Action": "vpc-lattice-svcs:Invoke", "Resource": format!("{ORDERS_ARN}/reports/*"),
                "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "orders"}}
            }
        ]
    });
    let app_policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ORDERS_PRINCIPAL},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"
        }]
    });
    // The auditor's own (identity-based) policy: reports only, and never payroll.
    let auditor = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadReports", "Effect": "Allow",
                "Action": "vpc-lattice-svcs:Invoke", "Resource": format!("{ORDERS_ARN}/reports/*")
            },
            {
                "Sid": "NoPayroll", "Effect": "Deny",
                "Action": "vpc-lattice-svcs:Invoke",
                "Resource": format!("{ORDERS_ARN}/reports/payroll")
            }
        ]
    });
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    for (name, policy) in [
        ("network.json", network),
        ("orders.json", service),
        ("app.json", app_policy),
        ("auditor.json", auditor),
    ] {
        std::fs::write(dir.join("policies").join(name), policy.to_string()).unwrap();
    }
    let config = format!(
        r#"
[[identity]]
access_key_id = "{orders_id}"
secret_access_key = "{orders_secret}"
principal_arn = "{ORDERS_PRINCIPAL}"
org_id = "o-abc123"
tags = {{ team = "orders" }}

[[identity]]
access_key_id = "{session_id}"
secret_access_key = "{session_secret}"
session_token = "{SESSION_TOKEN}"
principal_arn = "{ORDERS_PRINCIPAL}"

[[identity]]
access_key_id = "{auditor_id}"
secret_access_key = "{auditor_secret}"
principal_arn = "{AUDITOR_PRINCIPAL}"
identity_policy = "policies/auditor.json"

[[identity]]
access_key_id = "{billing_id}"
secret_access_key = "{billing_secret}"
principal_arn = "{BILLING_PRINCIPAL}"

[[service_network]]
name = "prod"
arn = "{NETWORK_ARN}"
auth_type = "AWS_IAM"
auth_policy = "policies/network.json"

[[service]]
name = "orders"
host = "{ORDERS_HOST}"
arn = "{ORDERS_ARN}"
network = "prod"
auth_type = "AWS_IAM"
auth_policy = "policies/orders.json"
target = "echo"

[[service]]
name = "app"
host = "{APP_HOST}"
arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0aaaaaaaaaaaaaaaa"
network = "prod"
auth_type = "AWS_IAM"
auth_policy = "policies/app.json"
target = "http://{app}"
source_vpc = "vpc-0abc"
"#,
        orders_id = ORDERS_KEY.0,
        orders_secret = ORDERS_KEY.1,
        session_id = SESSION_KEY.0,
        session_secret = SESSION_KEY.1,
        billing_id = BILLING_KEY.0,
        billing_secret = BILLING_KEY.1,
        auditor_id = AUDITOR_KEY.0,
        auditor_secret = AUDITOR_KEY.1,
    );
    let path = dir.join("emulator.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// An emulator serving the team's configuration, with the team's app behind `APP_HOST`.
async fn start() -> (tempfile::TempDir, Emulator, SocketAddr) {
    let app = start_app().await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(write_config(dir.path(), app)).expect("the config is valid");
    let emulator = Emulator::builder()
        .config(config)
        .start()
        .await
        .expect("emulator starts");
    (dir, emulator, app)
}

fn sidecar(emulator: &Emulator, (id, secret): (&str, &str)) -> Sidecar {
    sidecar_builder(emulator, (id, secret))
        .spawn()
        .expect("the sidecar starts")
}

fn sidecar_builder(
    emulator: &Emulator,
    (id, secret): (&str, &str),
) -> lattice_tests::sidecar::SidecarBuilder {
    Sidecar::builder()
        .emulator(emulator)
        .without_credentials()
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
}

/// curl through the sidecar (forward proxy): `(status, headers, body)`.
fn curl(sidecar: &Sidecar, path: &str, extra: &[&str]) -> (u16, String, String) {
    let url = format!("http://{ORDERS_HOST}{path}");
    let output = run_with_timeout(
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-D",
                "-",
                "-x",
                &sidecar.proxy_url(),
            ])
            .args(extra)
            .arg(&url),
        CURL_TIMEOUT,
    )
    .expect("curl runs");
    assert!(
        output.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (head, body) = stdout.split_once("\r\n\r\n").expect("a response head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn decision_of(head: &str) -> Value {
    let raw = header(head, "x-lattice-emulator-decision").expect("the decision header");
    serde_json::from_str(raw).expect("the decision is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_the_sidecar_allowed_and_denied_by_the_team_policies() {
    let (_dir, emulator, _) = start().await;
    let orders = sidecar(&emulator, ORDERS_KEY);

    // Allowed: the OrdersTeam statement; the echo sees who called.
    let (status, _, body) = curl(&orders, "/orders/42", &[]);
    assert_eq!(status, 200, "{body}\n{}", orders.logs());
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        echo["identity"],
        format!("Principal={ORDERS_PRINCIPAL}; SessionName=s1; Type=AWS_IAM")
    );

    // Explicitly denied: NoAdmin wins over OrdersTeam.
    let (status, head, body) = curl(&orders, "/admin/users", &[]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        header(&head, "x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    assert_eq!(
        body,
        format!(
            "AccessDeniedException: User: {ORDERS_PRINCIPAL} is not authorized to perform: \
             vpc-lattice-svcs:Invoke on resource: {ORDERS_ARN}/admin/users with an explicit \
             deny in a service-based policy\n"
        )
    );
    let decision = decision_of(&head);
    assert_eq!(decision["decision"], "explicit_deny", "{decision}");
    assert_eq!(decision["policy"], "service", "{decision}");
    assert_eq!(decision["statement"], "NoAdmin", "{decision}");
    // The sidecar says why, quoting the message.
    let logs = orders.wait_for_log("policy deny").unwrap();
    assert!(logs.contains(ORDERS_PRINCIPAL), "{logs}");
    assert!(
        logs.contains(&format!("{ORDERS_ARN}/admin/users")),
        "{logs}"
    );

    // Implicitly denied: nothing allows billing outside /reports.
    let billing = sidecar(&emulator, BILLING_KEY);
    let (status, head, body) = curl(&billing, "/orders/42", &[]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        format!(
            "AccessDeniedException: User: {BILLING_PRINCIPAL} is not authorized to perform: \
             vpc-lattice-svcs:Invoke on resource: {ORDERS_ARN}/orders/42 because no \
             service-based policy allows the vpc-lattice-svcs:Invoke action\n"
        )
    );
    let decision = decision_of(&head);
    assert_eq!(decision["decision"], "implicit_deny", "{decision}");
    assert_eq!(decision["statement"], Value::Null, "{decision}");

    // A header condition: x-team: orders opens /reports to billing.
    let (status, _, body) = curl(&billing, "/reports/daily", &["-H", "x-team: orders"]);
    assert_eq!(status, 200, "{body}");
    let (status, head, _) = curl(&billing, "/reports/daily", &["-H", "x-team: billing"]);
    assert_eq!(status, 403);
    assert_eq!(decision_of(&head)["decision"], "implicit_deny");

    // Every decision is in the request log too.
    let denied = emulator
        .requests()
        .into_iter()
        .filter(|r| matches!(r.verdict, Verdict::Denied { .. }))
        .count();
    assert_eq!(denied, 3);
}

/// The config's `identity_policy`: the service policy lets the auditor in everywhere, its
/// identity-based policy only to /reports, and never to /reports/payroll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_policy_from_the_config_narrows_what_the_service_policy_allows() {
    let (_dir, emulator, _) = start().await;
    let auditor = sidecar(&emulator, AUDITOR_KEY);

    let (status, _, body) = curl(&auditor, "/reports/daily", &[]);
    assert_eq!(status, 200, "{body}\n{}", auditor.logs());
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        echo["identity"],
        format!("Principal={AUDITOR_PRINCIPAL}; SessionName=a1; Type=AWS_IAM")
    );

    // Explicitly denied by the identity policy, though the service policy allows.
    let (status, head, body) = curl(&auditor, "/reports/payroll", &[]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        header(&head, "x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    assert_eq!(
        body,
        format!(
            "AccessDeniedException: User: {AUDITOR_PRINCIPAL} is not authorized to perform: \
             vpc-lattice-svcs:Invoke on resource: {ORDERS_ARN}/reports/payroll with an \
             explicit deny in an identity-based policy\n"
        )
    );
    let decision = decision_of(&head);
    assert_eq!(decision["decision"], "explicit_deny", "{decision}");
    assert_eq!(decision["policy"], "identity", "{decision}");
    assert_eq!(decision["statement"], "NoPayroll", "{decision}");

    // Implicitly denied: the identity policy allows nothing outside /reports.
    let (status, head, body) = curl(&auditor, "/orders/42", &[]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        format!(
            "AccessDeniedException: User: {AUDITOR_PRINCIPAL} is not authorized to perform: \
             vpc-lattice-svcs:Invoke on resource: {ORDERS_ARN}/orders/42 because no \
             identity-based policy allows the vpc-lattice-svcs:Invoke action\n"
        )
    );
    let decision = decision_of(&head);
    assert_eq!(decision["decision"], "implicit_deny", "{decision}");
    assert_eq!(decision["policy"], "identity", "{decision}");

    // The same paths are open to the orders app, which has no identity policy.
    let orders = sidecar(&emulator, ORDERS_KEY);
    let (status, _, body) = curl(&orders, "/reports/payroll", &[]);
    assert_eq!(status, 200, "{body}");
}

/// The Rust client, signing in-process, against the emulator's TLS listener.
fn rust_client(
    emulator: &Emulator,
    signer: lattice_client::Signer,
) -> reqwest_middleware::ClientWithMiddleware {
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls(emulator).build().unwrap())
        .no_proxy()
        .timeout(TIMEOUT)
        .resolve(ORDERS_HOST, emulator.https_addr())
        .resolve(APP_HOST, emulator.https_addr())
        .build()
        .unwrap();
    reqwest_middleware::ClientBuilder::new(client)
        .with(SigV4Middleware::new(signer))
        .build()
}

async fn signer((id, secret): (&str, &str)) -> lattice_client::Signer {
    signer_with_token((id, secret), None).await
}

async fn signer_with_token(
    (id, secret): (&str, &str),
    token: Option<&str>,
) -> lattice_client::Signer {
    let credentials = Credentials::new(id, secret, token.map(str::to_owned), None, "e2e");
    signer_with(SigningConfig::builder().build().unwrap(), credentials).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_allowed_and_denied_by_the_team_policies() {
    let (_dir, emulator, _) = start().await;
    let orders = rust_client(&emulator, signer(ORDERS_KEY).await);
    let billing = rust_client(&emulator, signer(BILLING_KEY).await);
    let url = |path: &str| emulator.https_url(ORDERS_HOST, path);

    let response = orders.get(url("/orders/1")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let response = orders.delete(url("/admin/x")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );
    let decision: Value =
        serde_json::from_slice(response.headers()["x-lattice-emulator-decision"].as_bytes())
            .unwrap();
    assert_eq!(decision["decision"], "explicit_deny");
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("with an explicit deny")
    );

    let response = billing.get(url("/orders/1")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("because no service-based policy allows")
    );

    let allowed = billing
        .get(url("/reports/q?day=1"))
        .header("x-team", "orders")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let echo: Value = serde_json::from_slice(&allowed.bytes().await.unwrap()).unwrap();
    // The header was signed: the condition saw what the signature covers.
    assert!(
        echo["verified"]["signed_headers"]
            .to_string()
            .contains("x-team")
    );
    let refused = billing.get(url("/reports/q?day=1")).send().await.unwrap();
    assert_eq!(refused.status(), 403);

    // Temporary credentials: the token must come along, and is never forwarded.
    let session = rust_client(
        &emulator,
        signer_with_token(SESSION_KEY, Some(SESSION_TOKEN)).await,
    );
    let response = session.get(url("/orders/2")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let without_token = rust_client(&emulator, signer(SESSION_KEY).await);
    let response = without_token.get(url("/orders/2")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "InvalidSignatureException"
    );

    // Unsigned: anonymous, judged by the policies (no statement allows it).
    let anonymous = reqwest::Client::builder()
        .tls_backend_preconfigured(tls(&emulator).build().unwrap())
        .no_proxy()
        .resolve(ORDERS_HOST, emulator.https_addr())
        .build()
        .unwrap();
    let response = anonymous.get(url("/orders/1")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(
        body.starts_with("AccessDeniedException: User: anonymous is not authorized"),
        "{body}"
    );
}

type AppBody = BoxBody<Bytes, std::io::Error>;

/// The team's app: `GET /big` streams `LARGE_LEN` pattern bytes; anything else answers
/// with the headers it received and the length and SHA-256 of the body, hashed as it
/// streams in.
async fn start_app() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn app(request: Request<Incoming>) -> Result<Response<AppBody>, hyper::Error> {
    if request.uri().path() == "/big" {
        let frames = large_stream().map_ok(Frame::data);
        return Ok(Response::new(BodyExt::boxed(StreamBody::new(frames))));
    }
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), Value::from(value))
        })
        .collect();
    let path = request.uri().path().to_owned();
    let mut body = request.into_body();
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            hasher.update(data);
            len += data.len() as u64;
        }
    }
    let answer = json!({
        "path": path,
        "headers": headers,
        "len": len,
        "sha256": hex::encode(hasher.finalize()),
    });
    let body = Full::new(Bytes::from(answer.to_string())).map_err(|never| match never {});
    Ok(Response::new(BodyExt::boxed(body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_target_gets_identity_headers_and_100_mb_streamed_both_ways() {
    let (_dir, emulator, _) = start().await;
    // Temporary credentials, so the request carries x-amz-security-token too.
    let orders = sidecar_builder(&emulator, SESSION_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .spawn()
        .expect("the sidecar starts");
    // reqwest is built without a default TLS provider; this client speaks plain HTTP only.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(orders.proxy_url()).unwrap())
        .timeout(TIMEOUT)
        .build()
        .unwrap();

    // The emulator and the app run in this process: neither may hold a body in memory.
    let _heavy = heavy_lock().await;
    let probe = MemoryProbe::start();

    // Up: the app hashes what arrives.
    let started = Instant::now();
    let response = client
        .post(format!("http://{APP_HOST}/ingest?batch=7"))
        .header("authorization", "Bearer from-the-client")
        .body(reqwest::Body::wrap_stream(large_stream()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let up = started.elapsed();
    assert_eq!(seen["len"], LARGE_LEN, "{seen:#}");
    assert_eq!(seen["sha256"], large_sha256());
    assert_eq!(seen["path"], "/ingest");
    let headers = &seen["headers"];
    assert_eq!(
        headers["x-amzn-lattice-identity"],
        format!("Principal={ORDERS_PRINCIPAL}; SessionName=s1; Type=AWS_IAM"),
        "{headers:#}"
    );
    assert_eq!(
        headers["x-amzn-lattice-network"],
        "SourceVpcArn=arn:aws:ec2:us-west-2:111122223333:vpc/vpc-0abc"
    );
    let target = headers["x-amzn-lattice-target"].as_str().unwrap();
    assert!(
        target.starts_with(
            "ServiceArn=arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0aaaaaaaaaaaaaaaa; \
             ServiceNetworkArn=arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0123456789abcdef0;"
        ),
        "{target}"
    );
    assert_eq!(headers["authorization"], Value::Null, "{headers:#}");
    assert_eq!(headers["x-amz-security-token"], Value::Null, "{headers:#}");
    assert_eq!(headers["host"], APP_HOST);

    // Down: the app streams, the client hashes.
    let started = Instant::now();
    let response = client
        .get(format!("http://{APP_HOST}/big"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut digest = StreamDigest::default();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.try_next().await.unwrap() {
        digest.update(&chunk);
    }
    digest.assert_large_pattern();
    let down = started.elapsed();
    probe.assert_bounded("100 MiB up and down through the emulator's forwarding target");
    eprintln!("100 MiB through sidecar + emulator + app: up {up:?}, down {down:?}");
}

const GREETER_HOST: &str = "greeter-0bbbbbbbbbbbbbbbb.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
const GREETER_ARN: &str =
    "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0bbbbbbbbbbbbbbbb";
const GREETER_HTTP1_HOST: &str =
    "greeter-0cccccccccccccccc.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

/// The team's own gRPC app (a tonic server, HTTP/2 only): it tells each caller what
/// `x-amzn-lattice-identity` it received, and refuses the name "Mallory" with a status
/// that only trailers carry.
#[derive(Clone, Copy)]
struct TeamGreeter;

#[tonic::async_trait]
impl Greeter for TeamGreeter {
    async fn say_hello(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        let identity = identity_of(&request);
        let name = request.into_inner().name;
        if name == "Mallory" {
            return Err(tonic::Status::permission_denied("the team app says no"));
        }
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {name}"),
            principal: identity,
        }))
    }

    type StreamGreetingsStream = std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<HelloReply, tonic::Status>> + Send>,
    >;

    async fn stream_greetings(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<Self::StreamGreetingsStream>, tonic::Status> {
        let identity = identity_of(&request);
        let name = request.into_inner().name;
        let replies = (1..=3).map(move |n| {
            Ok(HelloReply {
                message: format!("Hello {name} #{n}"),
                principal: identity.clone(),
            })
        });
        Ok(tonic::Response::new(Box::pin(futures_util::stream::iter(
            replies,
        ))))
    }

    async fn collect_greetings(
        &self,
        request: tonic::Request<tonic::Streaming<HelloRequest>>,
    ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
        let identity = identity_of(&request);
        let mut requests = request.into_inner();
        let mut names = Vec::new();
        while let Some(request) = requests.message().await? {
            names.push(request.name);
        }
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {}", names.join(", ")),
            principal: identity,
        }))
    }
}

fn identity_of<T>(request: &tonic::Request<T>) -> String {
    request
        .metadata()
        .get("x-amzn-lattice-identity")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("<none>")
        .to_owned()
}

/// `target_protocol_version = "GRPC"`: a team's gRPC app as a forwarding target, called
/// through the sidecar (h2c in, h2 + TLS to the emulator, h2c to the app): unary and
/// streaming both ways, a non-OK status from the app's trailers, and the identity header
/// reaching the app. The same app behind an `HTTP1` target cannot answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_app_is_a_forwarding_target_through_the_sidecar() {
    let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
        .expect("a loopback port");
    let app = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(GreeterServer::new(TeamGreeter))
            .serve_with_incoming(incoming),
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": ORDERS_PRINCIPAL},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"
        }]
    });
    std::fs::write(dir.path().join("greeter.json"), policy.to_string()).unwrap();
    let text = format!(
        r#"
[[identity]]
access_key_id = "{id}"
secret_access_key = "{secret}"
principal_arn = "{ORDERS_PRINCIPAL}"

[[service]]
name = "greeter"
host = "{GREETER_HOST}"
arn = "{GREETER_ARN}"
auth_type = "AWS_IAM"
auth_policy = "greeter.json"
target = "http://{app}"
target_protocol_version = "GRPC"

[[service]]
name = "greeter-http1"
host = "{GREETER_HTTP1_HOST}"
arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0cccccccccccccccc"
auth_type = "AWS_IAM"
auth_policy = "greeter.json"
target = "http://{app}"
"#,
        id = ORDERS_KEY.0,
        secret = ORDERS_KEY.1,
    );
    let config = Config::parse(&text, dir.path()).expect("the config is valid");
    let emulator = Emulator::builder().config(config).start().await.unwrap();
    let sidecar = sidecar_builder(&emulator, ORDERS_KEY)
        .route(format!("https://{GREETER_HOST}"))
        .route(format!("https://{GREETER_HTTP1_HOST}"))
        .spawn()
        .expect("the sidecar starts");
    let client = |index: usize| {
        let endpoint = format!("http://{}", sidecar.route_addr(index));
        async move {
            let channel = tonic::transport::Endpoint::from_shared(endpoint)
                .unwrap()
                .timeout(TIMEOUT)
                .connect()
                .await
                .expect("the sidecar's route listener");
            GreeterClient::new(channel)
        }
    };
    let mut greeter = client(0).await;
    let identity = format!("Principal={ORDERS_PRINCIPAL}; SessionName=s1; Type=AWS_IAM");
    let hello = |name: &str| HelloRequest { name: name.into() };

    let reply = greeter.say_hello(hello("Ada")).await.unwrap().into_inner();
    assert_eq!(reply.message, "Hello Ada");
    assert_eq!(reply.principal, identity);

    // The app's status travels in its trailers, through the emulator and the sidecar.
    let status = greeter.say_hello(hello("Mallory")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert_eq!(status.message(), "the team app says no");

    // Server streaming: every reply, then the OK trailers.
    let replies: Vec<HelloReply> = greeter
        .stream_greetings(hello("Bo"))
        .await
        .unwrap()
        .into_inner()
        .try_collect()
        .await
        .unwrap();
    let messages: Vec<&str> = replies.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["Hello Bo #1", "Hello Bo #2", "Hello Bo #3"]);
    assert!(replies.iter().all(|r| r.principal == identity));

    // Client streaming: the app reads every request before it answers.
    let names = futures_util::stream::iter(["a", "b", "c"].map(hello));
    let reply = greeter.collect_greetings(names).await.unwrap().into_inner();
    assert_eq!(reply.message, "Hello a, b, c");
    assert_eq!(reply.principal, identity);

    // The same app as an HTTP1 target (the default) is spoken to in HTTP/1.1: no answer.
    let status = client(1)
        .await
        .say_hello(hello("Ada"))
        .await
        .expect_err("an HTTP/2-only app behind an HTTP1 target");
    assert_ne!(status.code(), tonic::Code::Ok, "{status:?}");
    assert!(
        emulator
            .requests()
            .iter()
            .any(|r| r.host.as_deref() == Some(GREETER_HOST)
                && r.path == "/lattice.test.Greeter/SayHello"),
        "the calls went through the emulator"
    );
}
