//! `lattice-emulator --config FILE`: every way a file can be wrong (exit 64, naming the
//! file and what to fix), and SIGHUP reloads that take effect without dropping a request
//! under way and refuse a bad file while keeping the old one.

mod common;

use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::time::timeout;

use common::{EX_USAGE, LIMIT, emulator, run};

const HOST: &str = "orders.example.com";
const SERVICE_ARN: &str =
    "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123456789abcdef0";
const NETWORK_ARN: &str = "arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0123";

/// A valid file with one network and one service; `extra` is appended.
fn config(service_fields: &str, extra: &str) -> String {
    format!(
        r#"
[[service_network]]
name = "prod"
arn = "{NETWORK_ARN}"
auth_type = "NONE"

[[service]]
name = "orders"
host = "{HOST}"
arn = "{SERVICE_ARN}"
network = "prod"
{service_fields}
{extra}
"#
    )
}

/// Anonymous callers may invoke paths under `/{prefix}/`, nothing else.
fn anonymous_policy(prefix: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Sid": "Open{prefix}", "Effect": "Allow",
            "Principal": "*", "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "{SERVICE_ARN}/{prefix}/*"}}]}}"#
    )
}

/// Starts the binary on `config` and returns (stderr so far, exit status) once it exits.
async fn refused(dir: &Path, config_text: &str) -> (ExitStatus, String) {
    let path = dir.join("emulator.toml");
    std::fs::write(&path, config_text).unwrap();
    let args = [
        "--config",
        path.to_str().unwrap(),
        "--https-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    ];
    run(emulator(&args)).await
}

#[tokio::test]
async fn bad_toml_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = refused(dir.path(), "[[service]]\nname = \"orders\nhost = 1\n").await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(
        stderr.contains("emulator.toml: TOML parse error at line 2"),
        "{stderr}"
    );
}

#[tokio::test]
async fn unknown_field_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = config("auth_type = \"NONE\"\nauth_polcy = \"service.json\"", "");
    let (status, stderr) = refused(dir.path(), &text).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(stderr.contains("unknown field `auth_polcy`"), "{stderr}");
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("auth_polcy"))
        .unwrap();
    assert!(stderr.contains(&format!("at line {line}")), "{stderr}");
}

#[tokio::test]
async fn missing_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let (status, stderr) = run(emulator(&["--config", missing.to_str().unwrap()])).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read {}: No such file", missing.display())),
        "{stderr}"
    );
}

#[tokio::test]
async fn missing_policy_file_and_unparsable_policy_name_file_and_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("service.json"),
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
            "Condition": {"StringEqual": {"vpc-lattice-svcs:RequestMethod": "GET"}}}]}"#,
    )
    .unwrap();
    let text = config(
        "auth_type = \"AWS_IAM\"\nauth_policy = \"service.json\"",
        "[[identity]]\naccess_key_id = \"AKIDTEAM\"\nsecret_access_key = \"s\"\n\
         principal_arn = \"arn:aws:iam::111122223333:user/ci\"\nidentity_policy = \"gone.json\"",
    );
    let (status, stderr) = refused(dir.path(), &text).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    // Relative to the configuration file's directory, and every problem at once.
    let service_json = dir.path().join("service.json");
    assert!(
        stderr.contains(&format!("service \"orders\": {}", service_json.display())),
        "{stderr}"
    );
    assert!(stderr.contains("Statement[0].Condition"), "{stderr}");
    assert!(stderr.contains("StringEqual"), "{stderr}");
    assert!(stderr.contains("identity \"AKIDTEAM\""), "{stderr}");
    assert!(stderr.contains("gone.json"), "{stderr}");
}

#[tokio::test]
async fn a_policy_at_the_wrong_level_is_refused_as_policy_check_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    // An auth policy must name a principal; an identity-based policy must not.
    let statement = |principal: &str| {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", {principal}
                "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}}]}}"#
        )
    };
    std::fs::write(dir.path().join("service.json"), statement("")).unwrap();
    std::fs::write(
        dir.path().join("caller.json"),
        statement(r#""Principal": "*","#),
    )
    .unwrap();
    let text = config(
        "auth_type = \"AWS_IAM\"\nauth_policy = \"service.json\"",
        "[[identity]]\naccess_key_id = \"AKIDTEAM\"\nsecret_access_key = \"s\"\n\
         principal_arn = \"arn:aws:iam::111122223333:user/ci\"\nidentity_policy = \"caller.json\"",
    );
    let (status, stderr) = refused(dir.path(), &text).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "service \"orders\": {}: Statement[0]",
            dir.path().join("service.json").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "identity \"AKIDTEAM\": {}: Statement[0]",
            dir.path().join("caller.json").display()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn duplicate_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let second = format!(
        "[[service]]\nname = \"shadow\"\nhost = \"Orders.Example.com\"\narn = \"{SERVICE_ARN}\"\n\
         auth_type = \"NONE\""
    );
    let (status, stderr) = refused(dir.path(), &config("auth_type = \"NONE\"", &second)).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(
        stderr.contains(
            "service \"shadow\": host \"orders.example.com\" is already served by service \"orders\""
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn service_naming_an_unknown_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        config("auth_type = \"NONE\"", "").replace("network = \"prod\"", "network = \"prd\"");
    let (status, stderr) = refused(dir.path(), &text).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(
        stderr.contains(
            "service \"orders\": network \"prd\" is not declared in a [[service_network]] \
             (declared: prod)"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn bad_target_urls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (target, why) in [
        ("https://127.0.0.1:3000", "only http:// URLs are supported"),
        ("http://127.0.0.1:3000/api", "must not have a path or query"),
        ("127.0.0.1 3000", "invalid"),
    ] {
        let text = config(&format!("auth_type = \"NONE\"\ntarget = \"{target}\""), "");
        let (status, stderr) = refused(dir.path(), &text).await;
        assert_eq!(status.code(), Some(EX_USAGE), "{target}: {stderr}");
        assert!(
            stderr.contains(&format!("service \"orders\": target {target:?}: ")),
            "{stderr}"
        );
        assert!(stderr.contains(why), "{target}: {stderr}");
    }
}

/// The binary, running: its plain-HTTP address and everything it logged so far.
struct Running {
    child: Child,
    http_addr: String,
    logs: Arc<Mutex<String>>,
}

impl Running {
    async fn start(config: &Path) -> Self {
        let args = [
            "--config",
            config.to_str().unwrap(),
            "--https-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ];
        let mut child = emulator(&args).spawn().expect("the binary starts");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let banner = timeout(LIMIT, async {
            while let Some(line) = lines.next_line().await.expect("stdout is readable") {
                if line.starts_with("Lattice emulator listening on") {
                    return line;
                }
            }
            panic!("stdout closed before the banner");
        })
        .await
        .expect("the banner comes in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http_addr = banner
            .rsplit_once(" and http://")
            .map(|(_, addr)| addr.to_owned())
            .expect("the banner names the plain-HTTP listener");
        Self {
            child,
            http_addr,
            logs,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    fn hangup(&self) {
        let pid = self.child.id().expect("the emulator runs").to_string();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits (bounded) until the log holds `needle`; returns the log.
    async fn wait_for_log(&self, needle: &str) -> String {
        let found = timeout(LIMIT, async {
            loop {
                let logs = self.logs.lock().unwrap().clone();
                if logs.contains(needle) {
                    return logs;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {needle:?} in the log: {}", self.logs.lock().unwrap()))
    }
}

async fn status_of(client: &reqwest::Client, running: &Running, path: &str) -> u16 {
    let response = client
        .get(running.url(path))
        .header("host", HOST)
        .send()
        .await
        .expect("the emulator answers");
    response.status().as_u16()
}

#[tokio::test]
async fn sighup_reloads_keeps_requests_under_way_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emulator.toml");
    std::fs::write(dir.path().join("service.json"), anonymous_policy("before")).unwrap();
    let text = config(
        "auth_type = \"AWS_IAM\"\nauth_policy = \"service.json\"",
        "",
    );
    std::fs::write(&path, &text).unwrap();
    let mut running = Running::start(&path).await;
    // reqwest is built without a default TLS provider; this client speaks plain HTTP only.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(LIMIT).build().unwrap();
    assert_eq!(status_of(&client, &running, "/before/1").await, 200);
    assert_eq!(status_of(&client, &running, "/after/1").await, 403);

    // Every decision is a JSON log line with the decision `policy check` would print.
    let logs = running.wait_for_log("/after/1").await;
    let decisions: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
        .filter(|line: &serde_json::Value| line["target"] == "lattice_emulator::decision")
        .collect();
    assert_eq!(decisions.len(), 2, "{logs}");
    let denied = &decisions[1]["fields"];
    assert_eq!(denied["principal"], "anonymous", "{denied}");
    assert_eq!(
        denied["resource"],
        format!("{SERVICE_ARN}/after/1"),
        "{denied}"
    );
    let decision: serde_json::Value =
        serde_json::from_str(denied["decision"].as_str().unwrap()).unwrap();
    assert_eq!(decision["decision"], "implicit_deny", "{decision}");
    let allowed: serde_json::Value =
        serde_json::from_str(decisions[0]["fields"]["decision"].as_str().unwrap()).unwrap();
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["statement"], "Openbefore", "{allowed}");

    // An upload that starts under the old policy and ends after the reload.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(receiver));
    let upload = client
        .post(running.url("/before/upload"))
        .header("host", HOST)
        .body(body)
        .send();
    let upload = tokio::spawn(upload);
    sender
        .send(Ok(Bytes::from(vec![7u8; 65536])))
        .await
        .unwrap();
    // The request is under way once the policy decision is logged.
    running.wait_for_log("/before/upload").await;

    std::fs::write(dir.path().join("service.json"), anonymous_policy("after")).unwrap();
    running.hangup();
    running.wait_for_log("reloaded the configuration").await;
    assert_eq!(status_of(&client, &running, "/before/1").await, 403);
    assert_eq!(status_of(&client, &running, "/after/1").await, 200);

    sender
        .send(Ok(Bytes::from(vec![7u8; 65536])))
        .await
        .unwrap();
    drop(sender);
    let response = timeout(LIMIT, upload).await.unwrap().unwrap().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let echo: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(echo["body_len"], 131072, "{echo}");

    // A bad file: refused with the reason, and the previous configuration still serves.
    std::fs::write(dir.path().join("service.json"), "{\"Statement\": [").unwrap();
    running.hangup();
    let logs = running
        .wait_for_log("refused the new configuration; still serving the previous one")
        .await;
    assert!(logs.contains("service.json"), "{logs}");
    assert_eq!(status_of(&client, &running, "/after/2").await, 200);
    assert_eq!(status_of(&client, &running, "/before/2").await, 403);

    running.child.start_kill().unwrap();
    timeout(LIMIT, running.child.wait()).await.unwrap().unwrap();
}

/// A stream of the channel's items, for a request body sent piece by piece.
fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[tokio::test]
async fn aws_iam_without_an_auth_policy_denies_everything_and_none_lets_all_through() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let open = "[[service]]\nname = \"open\"\nhost = \"open.example.com\"\n\
                arn = \"arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0open\"\n\
                auth_type = \"NONE\"";
    let text = config("auth_type = \"AWS_IAM\"", open);
    let config = lattice_emulator::Config::parse(&text, dir.path()).unwrap();
    let emulator = lattice_emulator::Emulator::builder()
        .config(config)
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::builder().timeout(LIMIT).build().unwrap();
    let url = emulator.http_url("127.0.0.1", "/x");

    // "If you do not add an auth policy, all traffic will get an access denied error."
    let response = client.get(&url).header("host", HOST).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let decision: serde_json::Value =
        serde_json::from_slice(response.headers()["x-lattice-emulator-decision"].as_bytes())
            .unwrap();
    assert_eq!(decision["decision"], "implicit_deny", "{decision}");
    assert_eq!(decision["policy"], "service", "{decision}");
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        format!(
            "AccessDeniedException: User: anonymous is not authorized to perform: \
             vpc-lattice-svcs:Invoke on resource: {SERVICE_ARN}/x because no service-based \
             policy allows the vpc-lattice-svcs:Invoke action\n"
        )
    );

    // NONE on the service (and no network): no signature, no policy.
    let response = client
        .get(&url)
        .header("host", "open.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_reload_that_adds_a_host_reissues_the_tls_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let before = config("auth_type = \"NONE\"", "");
    let new_service = "[[service]]\nname = \"new\"\nhost = \"new.example.com\"\n\
                       arn = \"arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0new\"\n\
                       auth_type = \"NONE\"";
    let after = config("auth_type = \"NONE\"", new_service);
    let emulator = lattice_emulator::Emulator::builder()
        .config(lattice_emulator::Config::parse(&before, dir.path()).unwrap())
        .start()
        .await
        .unwrap();
    let mut tls = emulator.client_tls_config().unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    // One connection per request, so each one sees the certificate of the moment.
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(LIMIT)
        .resolve("new.example.com", emulator.https_addr())
        .resolve(HOST, emulator.https_addr())
        .build()
        .unwrap();
    let new_url = emulator.https_url("new.example.com", "/x");
    let error = client.get(&new_url).send().await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");

    emulator.reload(lattice_emulator::Config::parse(&after, dir.path()).unwrap());
    let response = client.get(&new_url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = client
        .get(emulator.https_url(HOST, "/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let hosts: Vec<String> = emulator
        .services()
        .iter()
        .map(|s| s.host().to_owned())
        .collect();
    assert_eq!(hosts, ["new.example.com", HOST]);
    emulator.shutdown().await;
}
