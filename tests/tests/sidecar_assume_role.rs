//! `--role-arn` end to end: the sidecar assumes a role at a fake STS on loopback (found
//! through `AWS_ENDPOINT_URL_STS`), signing the `AssumeRole` call with the chain's base
//! credentials, and then signs Lattice requests with the assumed-role credentials.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lattice_emulator::verifier::Secret;
use lattice_emulator::{ACCOUNT_ID, Emulator, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, RawResponse, Sidecar};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The chain's base credentials: only STS sees them; the emulator does not know them.
const BASE_ACCESS_KEY_ID: &str = "AKIDBASECREDENTIALS";
const BASE_SECRET_ACCESS_KEY: &str = "base/secret/access/key/EXAMPLE";
/// What the fake STS hands out for the role.
const ROLE_ACCESS_KEY_ID: &str = "ASIAASSUMEDROLEKEY";
const ROLE_SECRET_ACCESS_KEY: &str = "assumed/role/secret/key/EXAMPLE";
const ROLE_SESSION_TOKEN: &str = "assumed-role-session-token-EXAMPLE";
const ROLE_NAME: &str = "lattice-caller";
const SESSION_NAME: &str = "sidecar-e2e";
const EXTERNAL_ID: &str = "ext-id-42";
/// Upper bound for each blocking step (spawn and wait for /readyz, one request).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// One `AssumeRole` call as the fake STS received it.
#[derive(Debug, Clone)]
struct StsCall {
    form: HashMap<String, String>,
    authorization: Option<String>,
    security_token: Option<String>,
}

/// A fake STS Query API on loopback answering `AssumeRole` with fixed credentials.
struct FakeSts {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<StsCall>>>,
    task: JoinHandle<()>,
}

impl FakeSts {
    async fn start() -> Result<Self, BoxError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(request, recorded.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, calls, task })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn calls(&self) -> Vec<StsCall> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeSts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    request: Request<Incoming>,
    calls: Arc<Mutex<Vec<StsCall>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization");
    let security_token = header("x-amz-security-token");
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, String::new())),
    };
    let form = parse_form(&String::from_utf8_lossy(&body));
    let action = form.get("Action").cloned();
    calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(StsCall {
            form,
            authorization,
            security_token,
        });
    if action.as_deref() != Some("AssumeRole") {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>\
             <Message>only AssumeRole</Message></Error></ErrorResponse>"
                .to_owned(),
        ));
    }
    let xml = format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>{ROLE_ACCESS_KEY_ID}</AccessKeyId>
      <SecretAccessKey>{ROLE_SECRET_ACCESS_KEY}</SecretAccessKey>
      <SessionToken>{ROLE_SESSION_TOKEN}</SessionToken>
      <Expiration>2030-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>{arn}</Arn>
      <AssumedRoleId>AROAEXAMPLEROLEID:{SESSION_NAME}</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</AssumeRoleResponse>"#,
        arn = assumed_role_arn(),
    );
    Ok(reply(StatusCode::OK, xml))
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    response
}

/// `application/x-www-form-urlencoded` into a map (last value wins).
fn parse_form(body: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME}")
}

fn assumed_role_arn() -> String {
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{ROLE_NAME}/{SESSION_NAME}")
}

/// Run blocking harness code off the runtime, bounded by [`STEP_TIMEOUT`].
async fn blocking<T: Send + 'static>(
    step: &str,
    f: impl FnOnce() -> Result<T, BoxError> + Send + 'static,
) -> Result<T, BoxError> {
    match tokio::time::timeout(STEP_TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(joined) => joined?,
        Err(_) => Err(format!("{step} took longer than {STEP_TIMEOUT:?}").into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_arn_assumes_the_role_at_sts_and_signs_as_it() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    emulator.key_store().insert(Secret {
        access_key_id: ROLE_ACCESS_KEY_ID.to_owned(),
        secret_access_key: ROLE_SECRET_ACCESS_KEY.to_owned(),
        session_token: Some(ROLE_SESSION_TOKEN.to_owned()),
        principal: assumed_role_arn(),
        session_name: Some(SESSION_NAME.to_owned()),
    });
    assert!(!emulator.key_store().contains(BASE_ACCESS_KEY_ID));
    let sts = FakeSts::start().await?;

    let builder = Sidecar::builder()
        .emulator(&emulator)
        .without_credentials()
        .env("AWS_ACCESS_KEY_ID", BASE_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", BASE_SECRET_ACCESS_KEY)
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ENDPOINT_URL_STS", sts.url())
        .args([
            "--role-arn".to_owned(),
            role_arn(),
            "--role-session-name".to_owned(),
            SESSION_NAME.to_owned(),
            "--external-id".to_owned(),
            EXTERNAL_ID.to_owned(),
        ]);
    let sidecar = Arc::new(blocking("sidecar start", move || builder.spawn()).await?);

    let client = sidecar.clone();
    let response: RawResponse =
        blocking("request", move || client.get(ORDERS_HOST, "/echo")).await?;
    assert_eq!(
        response.status,
        200,
        "{}\nsidecar logs:\n{}",
        response.text(),
        sidecar.logs()
    );
    let echo = response.json()?;
    assert_eq!(
        echo["verified"]["access_key_id"], ROLE_ACCESS_KEY_ID,
        "{echo:#}"
    );
    // The emulator accepted the key only with its session token (the echo redacts it).
    assert_eq!(
        echo["headers"]["x-amz-security-token"][0], "<present>",
        "{echo:#}"
    );
    let signed = echo["verified"]["signed_headers"].as_array().cloned();
    assert!(
        signed.is_some_and(|h| h.iter().any(|h| h == "x-amz-security-token")),
        "{echo:#}"
    );
    assert_eq!(
        echo["identity"],
        format!(
            "Principal={}; SessionName={SESSION_NAME}; Type=AWS_IAM",
            assumed_role_arn()
        ),
        "{echo:#}"
    );

    let calls = sts.calls();
    assert!(!calls.is_empty(), "STS was never called");
    for call in &calls {
        let form = &call.form;
        assert_eq!(form.get("Action").map(String::as_str), Some("AssumeRole"));
        assert_eq!(form.get("Version").map(String::as_str), Some("2011-06-15"));
        assert_eq!(form.get("RoleArn"), Some(&role_arn()), "{form:?}");
        assert_eq!(
            form.get("RoleSessionName").map(String::as_str),
            Some(SESSION_NAME),
            "{form:?}"
        );
        assert_eq!(
            form.get("ExternalId").map(String::as_str),
            Some(EXTERNAL_ID),
            "{form:?}"
        );
        let authorization = call.authorization.as_deref().unwrap_or_default();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 ")
                && authorization.contains(&format!("Credential={BASE_ACCESS_KEY_ID}/"))
                && authorization.contains("/us-west-2/sts/aws4_request"),
            "AssumeRole not signed by the base credentials: {authorization:?}"
        );
        assert_eq!(call.security_token, None, "base credentials have no token");
    }
    Ok(())
}
