//! Independent signers (curl's `--aws-sigv4`, botocore, awscrt) must be accepted
//! by the emulator, so the emulator's verifier is not only consistent with our
//! own signer.
//!
//! Needs `curl` (>= 7.75) and `python3` with `pip install botocore awscrt`;
//! missing tools fail the test rather than skipping it.

use std::{io::Write, process::Output, time::Duration};

use lattice_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_PRINCIPAL, DEFAULT_SECRET_ACCESS_KEY, Emulator, INVENTORY_HOST,
    ORDERS_HOST, ORDERS_REGION, Secret, test_identity,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::process::Command;

const TOOL_TIMEOUT: Duration = Duration::from_secs(20);
const SESSION_ACCESS_KEY_ID: &str = "ASIALATTICEEMULATOR";
const SESSION_SECRET: &str = "lattice/emulator/session/secret/EXAMPLE";
/// Characters that need encoding somewhere, to catch canonicalisation slips.
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjE/session+token==";
const SESSION_PRINCIPAL: &str = "arn:aws:sts::123456789012:assumed-role/emulator-role/peer-check";
const BOTOCORE_HINT: &str = "install Python 3, then `pip install botocore awscrt`";

/// An emulator that also accepts a temporary (session-token) identity, plus its CA on disk.
struct Fixture {
    emulator: Emulator,
    ca: NamedTempFile,
}

impl Fixture {
    async fn start() -> Self {
        let emulator = Emulator::builder().start().await.expect("emulator starts");
        emulator.key_store().insert(Secret {
            access_key_id: SESSION_ACCESS_KEY_ID.to_owned(),
            secret_access_key: SESSION_SECRET.to_owned(),
            session_token: Some(SESSION_TOKEN.to_owned()),
            principal: SESSION_PRINCIPAL.to_owned(),
            session_name: Some("peer-check".to_owned()),
        });
        let mut ca = NamedTempFile::new().unwrap();
        ca.write_all(emulator.ca_pem().as_bytes()).unwrap();
        Self { emulator, ca }
    }

    fn ca_path(&self) -> &str {
        self.ca.path().to_str().unwrap()
    }

    /// Runs curl signing for `region`, returns (status, body).
    async fn curl(&self, host: &str, path: &str, extra: &[&str]) -> (u16, String) {
        let port = self.emulator.https_addr().port();
        let resolve = format!("{host}:{port}:{}", self.emulator.https_addr().ip());
        let mut command = Command::new("curl");
        command
            .args(["-sS", "--noproxy", "*", "--max-time", "10"])
            .args(["--cacert", self.ca_path(), "--resolve", &resolve])
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
            .args(["-w", "\n%{http_code}"])
            .args(extra)
            .arg(self.emulator.https_url(host, path));
        let output = run(command, "curl is required (apt-get install curl)").await;
        assert!(
            output.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let (body, status) = stdout.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), body.to_owned())
    }

    /// Runs `tests/scripts/botocore_sign.py`, returns its JSON result.
    async fn botocore(&self, url: String, args: &[&str]) -> Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/botocore_sign.py");
        let connect = self.emulator.https_addr().to_string();
        let mut command = Command::new("python3");
        command
            .arg(script)
            .args([
                "--url",
                &url,
                "--connect",
                &connect,
                "--cacert",
                self.ca_path(),
            ])
            .args(args);
        let output = run(command, BOTOCORE_HINT).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "botocore_sign.py failed ({BOTOCORE_HINT}): {stderr}"
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

async fn run(mut command: Command, hint: &str) -> Output {
    command.kill_on_drop(true);
    match tokio::time::timeout(TOOL_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => panic!("cannot run {command:?}: {error}; {hint}"),
        Err(_) => panic!("{command:?} did not finish within {TOOL_TIMEOUT:?}"),
    }
}

fn curl_sigv4(user: &str) -> Vec<String> {
    vec![
        "--aws-sigv4".to_owned(),
        format!("aws:amz:{ORDERS_REGION}:vpc-lattice-svcs"),
        "--user".to_owned(),
        user.to_owned(),
    ]
}

fn default_user() -> String {
    format!("{DEFAULT_ACCESS_KEY_ID}:{DEFAULT_SECRET_ACCESS_KEY}")
}

fn echo(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not echo JSON ({error}): {body}"))
}

#[tokio::test]
async fn curl_get_with_sorted_query_is_accepted() {
    let fixture = Fixture::start().await;
    let args = curl_sigv4(&default_user());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // curl 7.88 signs the query as written, so it must already be in canonical order.
    let (status, body) = fixture
        .curl(ORDERS_HOST, "/orders/7?a=1&b=two&c=", &args)
        .await;
    assert_eq!(status, 200, "{body}");
    let echo = echo(&body);
    assert_eq!(echo["query"], "a=1&b=two&c=");
    assert_eq!(echo["verified"]["access_key_id"], DEFAULT_ACCESS_KEY_ID);
    assert_eq!(echo["verified"]["algorithm"], "AWS4-HMAC-SHA256");
    let identity = echo["identity"].as_str().unwrap();
    assert_eq!(
        identity,
        format!("Principal={DEFAULT_PRINCIPAL}; SessionName=; Type=AWS_IAM")
    );
    assert_eq!(echo["headers"]["authorization"][0], "<present>");
}

#[tokio::test]
async fn curl_post_with_body_is_accepted() {
    let fixture = Fixture::start().await;
    let args = curl_sigv4(&default_user());
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--data-binary", "order=42&qty=3"]);
    let (status, body) = fixture.curl(ORDERS_HOST, "/orders", &args).await;
    assert_eq!(status, 200, "{body}");
    let echo = echo(&body);
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["body_sha256"],
        hex::encode(Sha256::digest(b"order=42&qty=3"))
    );
    assert_eq!(echo["verified"]["access_key_id"], DEFAULT_ACCESS_KEY_ID);
    let signed = echo["verified"]["signed_headers"].to_string();
    assert!(signed.contains("x-amz-content-sha256"), "{signed}");
}

#[tokio::test]
async fn curl_with_session_token_header_is_accepted() {
    let fixture = Fixture::start().await;
    let args = curl_sigv4(&format!("{SESSION_ACCESS_KEY_ID}:{SESSION_SECRET}"));
    let token_header = format!("x-amz-security-token: {SESSION_TOKEN}");
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    // curl has no token option; a custom x-amz-* header is signed like any other.
    args.extend(["-H", &token_header]);
    let (status, body) = fixture.curl(ORDERS_HOST, "/whoami", &args).await;
    assert_eq!(status, 200, "{body}");
    let echo = echo(&body);
    assert_eq!(echo["verified"]["access_key_id"], SESSION_ACCESS_KEY_ID);
    assert_eq!(echo["headers"]["x-amz-security-token"][0], "<present>");
    assert!(!body.contains(SESSION_TOKEN), "token echoed: {body}");
    assert_eq!(
        echo["identity"],
        format!("Principal={SESSION_PRINCIPAL}; SessionName=peer-check; Type=AWS_IAM")
    );
}

#[tokio::test]
async fn botocore_sigv4_is_accepted_with_and_without_session_token() {
    let fixture = Fixture::start().await;
    let url = fixture
        .emulator
        .https_url(ORDERS_HOST, "/items/a%20b?z=9&a=1&a=0");
    let plain = fixture
        .botocore(
            url.clone(),
            &[
                "--algorithm",
                "sigv4",
                "--region",
                ORDERS_REGION,
                "--access-key-id",
                DEFAULT_ACCESS_KEY_ID,
                "--secret-access-key",
                DEFAULT_SECRET_ACCESS_KEY,
            ],
        )
        .await;
    assert_eq!(plain["status"], 200, "{plain}");
    let echo_plain = echo(plain["body"].as_str().unwrap());
    assert_eq!(
        echo_plain["verified"]["access_key_id"],
        DEFAULT_ACCESS_KEY_ID
    );
    assert_eq!(echo_plain["verified"]["algorithm"], "AWS4-HMAC-SHA256");

    let with_token = fixture
        .botocore(
            url,
            &[
                "--algorithm",
                "sigv4",
                "--region",
                ORDERS_REGION,
                "--method",
                "PUT",
                "--body",
                "{\"qty\": 1}",
                "--access-key-id",
                SESSION_ACCESS_KEY_ID,
                "--secret-access-key",
                SESSION_SECRET,
                "--session-token",
                SESSION_TOKEN,
            ],
        )
        .await;
    assert_eq!(with_token["status"], 200, "{with_token}");
    let echo_token = echo(with_token["body"].as_str().unwrap());
    assert_eq!(
        echo_token["verified"]["access_key_id"],
        SESSION_ACCESS_KEY_ID
    );
    assert_eq!(echo_token["body_len"], 10);
}

#[tokio::test]
async fn botocore_sigv4a_is_accepted_with_and_without_session_token() {
    let fixture = Fixture::start().await;
    // The region set `*` must be valid for a service in any region.
    for host in [ORDERS_HOST, INVENTORY_HOST] {
        let url = fixture.emulator.https_url(host, "/sigv4a?b=2&a=1");
        let plain = fixture
            .botocore(
                url.clone(),
                &[
                    "--algorithm",
                    "sigv4a",
                    "--region",
                    "*",
                    "--access-key-id",
                    DEFAULT_ACCESS_KEY_ID,
                    "--secret-access-key",
                    DEFAULT_SECRET_ACCESS_KEY,
                ],
            )
            .await;
        assert_eq!(plain["status"], 200, "{host}: {plain}");
        let echo_plain = echo(plain["body"].as_str().unwrap());
        assert_eq!(
            echo_plain["verified"]["algorithm"],
            "AWS4-ECDSA-P256-SHA256"
        );
        assert_eq!(
            echo_plain["verified"]["access_key_id"],
            DEFAULT_ACCESS_KEY_ID
        );
    }

    let url = fixture.emulator.https_url(ORDERS_HOST, "/sigv4a");
    let with_token = fixture
        .botocore(
            url,
            &[
                "--algorithm",
                "sigv4a",
                "--region",
                "*",
                "--method",
                "POST",
                "--body",
                "payload",
                "--access-key-id",
                SESSION_ACCESS_KEY_ID,
                "--secret-access-key",
                SESSION_SECRET,
                "--session-token",
                SESSION_TOKEN,
            ],
        )
        .await;
    assert_eq!(with_token["status"], 200, "{with_token}");
    let echo_token = echo(with_token["body"].as_str().unwrap());
    assert_eq!(
        echo_token["verified"]["access_key_id"],
        SESSION_ACCESS_KEY_ID
    );
    assert_eq!(
        echo_token["headers"]["x-amz-security-token"][0],
        "<present>"
    );
}

#[tokio::test]
async fn botocore_with_wrong_secret_is_invalid_signature() {
    let fixture = Fixture::start().await;
    let url = fixture.emulator.https_url(ORDERS_HOST, "/orders");
    let result = fixture
        .botocore(
            url,
            &[
                "--algorithm",
                "sigv4",
                "--region",
                ORDERS_REGION,
                "--access-key-id",
                DEFAULT_ACCESS_KEY_ID,
                "--secret-access-key",
                "not-the-secret",
            ],
        )
        .await;
    assert_eq!(result["status"], 403, "{result}");
    assert_eq!(
        result["headers"]["x-amzn-errortype"][0],
        "InvalidSignatureException"
    );
    let body = result["body"].as_str().unwrap();
    assert!(body.starts_with("InvalidSignatureException"), "{body}");
    // Nothing reached a target.
    let forwarded = fixture
        .emulator
        .requests()
        .into_iter()
        .filter(|r| matches!(r.verdict, lattice_emulator::Verdict::Forwarded { .. }))
        .count();
    assert_eq!(forwarded, 0);
}

#[tokio::test]
async fn key_store_and_clock_changes_apply_while_running() {
    let fixture = Fixture::start().await;
    let url = fixture.emulator.https_url(ORDERS_HOST, "/rotate");
    let sign_default = [
        "--algorithm",
        "sigv4",
        "--region",
        ORDERS_REGION,
        "--access-key-id",
        DEFAULT_ACCESS_KEY_ID,
        "--secret-access-key",
        DEFAULT_SECRET_ACCESS_KEY,
    ];

    fixture.emulator.key_store().remove(DEFAULT_ACCESS_KEY_ID);
    let removed = fixture.botocore(url.clone(), &sign_default).await;
    assert_eq!(removed["status"], 403, "{removed}");
    assert_eq!(
        removed["headers"]["x-amzn-errortype"][0],
        "UnrecognizedClientException"
    );

    fixture.emulator.key_store().insert(test_identity());
    let skew = Duration::from_secs(10 * 60);
    fixture
        .emulator
        .set_clock(move || std::time::SystemTime::now() + skew);
    let skewed = fixture.botocore(url.clone(), &sign_default).await;
    assert_eq!(skewed["status"], 403, "{skewed}");
    assert_eq!(
        skewed["headers"]["x-amzn-errortype"][0],
        "InvalidSignatureException"
    );
    // Clients correct their clock from `date`, which follows the emulator's clock.
    let date = skewed["headers"]["date"][0].as_str().unwrap();
    let date = httpdate::parse_http_date(date).unwrap();
    let ahead = date.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(9 * 60),
        "date header {ahead:?} ahead"
    );

    fixture.emulator.set_clock(std::time::SystemTime::now);
    let restored = fixture.botocore(url, &sign_default).await;
    assert_eq!(restored["status"], 200, "{restored}");
}
