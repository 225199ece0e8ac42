//! `lattice-emulator policy check`: its JSON, its exit codes (0 allow, 1 deny, 64 bad
//! input) and where the service ARN comes from.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use lattice_emulator::{INVENTORY_HOST, ORDERS_CUSTOM_DOMAIN, ORDERS_HOST};
use serde_json::{Value, json};

const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/app/s1";
const ORDERS_ARN: &str = "arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0123456789abcdef0";

const SERVICE_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [
    {"Sid": "AppReads", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
     "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
     "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}}},
    {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "arn:aws:vpc-lattice:*:*:service/*/admin/*"}
]}"#;

/// A directory of policy files for one test.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("a temporary directory"))
    }

    fn write(&self, name: &str, json: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, json).expect("the policy is written");
        path
    }
}

/// Runs `lattice-emulator policy check <args>` with an empty environment.
fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lattice-emulator"))
        .args(["policy", "check"])
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The one JSON object on stdout, with exactly the four documented fields.
fn decision(output: &Output) -> Value {
    let stdout = String::from_utf8(output.stdout.clone()).expect("UTF-8");
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let value: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["decision", "policy", "reason", "statement"],
        "{stdout}"
    );
    // And in the documented order.
    let at = |key: &str| stdout.find(&format!("\"{key}\":")).expect("the key");
    assert!(
        at("decision") < at("policy") && at("policy") < at("statement"),
        "{stdout}"
    );
    assert!(at("statement") < at("reason"), "{stdout}");
    value
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn an_allow_exits_0_and_names_the_statement() {
    let files = Files::new();
    let service = files.write("service.json", SERVICE_POLICY);
    let url = format!("https://{ORDERS_HOST}/orders/7?id=7");
    let output = check(&[
        "--service-policy",
        path(&service),
        "--principal",
        SESSION,
        "--method",
        "GET",
        "--url",
        &url,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        decision(&output),
        json!({
            "decision": "allow",
            "policy": "service",
            "statement": "AppReads",
            "reason": format!("vpc-lattice-svcs:Invoke on {ORDERS_ARN}/orders/7 for {SESSION} is allowed by service policy statement \"AppReads\""),
        })
    );
}

#[test]
fn an_explicit_deny_exits_1_and_names_the_statement_by_index() {
    let files = Files::new();
    let service = files.write("service.json", SERVICE_POLICY);
    // The custom domain names the same service as the generated name.
    let url = format!("https://{ORDERS_CUSTOM_DOMAIN}/admin/users");
    let output = check(&[
        "--service-policy",
        path(&service),
        "--principal",
        SESSION,
        "--method",
        "GET",
        "--url",
        &url,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        decision(&output),
        json!({
            "decision": "explicit_deny",
            "policy": "service",
            "statement": 1,
            "reason": format!("statement #1 in the service policy denies vpc-lattice-svcs:Invoke on {ORDERS_ARN}/admin/users for {SESSION}"),
        })
    );
}

#[test]
fn an_implicit_deny_exits_1_with_a_null_statement() {
    let files = Files::new();
    let network = files.write(
        "network.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}]}"#,
    );
    let service = files.write("service.json", SERVICE_POLICY);
    let url = format!("https://{INVENTORY_HOST}/items");
    let output = check(&[
        "--network-policy",
        path(&network),
        "--service-policy",
        path(&service),
        "--anonymous",
        "--method",
        "POST",
        "--url",
        &url,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let inventory = "arn:aws:vpc-lattice:eu-west-1:123456789012:service/svc-0fedcba9876543210";
    assert_eq!(
        decision(&output),
        json!({
            "decision": "implicit_deny",
            "policy": "service",
            "statement": null,
            "reason": format!("no statement in the service policy allows vpc-lattice-svcs:Invoke on {inventory}/items for anonymous"),
        })
    );
}

#[test]
fn no_policy_means_auth_type_none() {
    let output = check(&[
        "--anonymous",
        "--method",
        "GET",
        "--url",
        &format!("http://{ORDERS_HOST}/"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = decision(&output);
    assert_eq!(value["decision"], "allow");
    assert_eq!(value["policy"], Value::Null);
    assert_eq!(value["statement"], Value::Null);
}

#[test]
fn request_details_reach_the_conditions() {
    let files = Files::new();
    let service = files.write(
        "service.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Everything", "Effect": "Allow",
            "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*", "Condition": {
              "StringEquals": {
                "vpc-lattice-svcs:RequestHeader/x-team": "payments",
                "vpc-lattice-svcs:RequestQueryString/q": "a b",
                "vpc-lattice-svcs:SourceVpc": "vpc-1",
                "vpc-lattice-svcs:SourceVpcOwnerAccount": "111122223333",
                "vpc-lattice-svcs:ServiceNetworkArn": "arn:aws:vpc-lattice:us-west-2:123456789012:servicenetwork/sn-1",
                "aws:PrincipalOrgID": "o-1",
                "aws:PrincipalTag/team": "payments"},
              "ForAllValues:StringLike": {"aws:PrincipalOrgPaths": "o-1/*"},
              "NumericEquals": {"vpc-lattice-svcs:Port": 8443},
              "Bool": {"aws:SecureTransport": "false"},
              "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}"#,
    );
    let mut args = vec![
        "--service-policy",
        path(&service),
        "--principal",
        SESSION,
        "--principal-org-id",
        "o-1",
        "--principal-org-path",
        "o-1/r-1/",
        "--principal-org-path",
        "o-1/r-2/",
        "--principal-tag",
        "team=payments",
        "--method",
        "GET",
        "--url",
        "http://svc.example.com:8443/p?q=a%20b",
        "--header",
        "X-Team: payments",
        "--service-arn",
        "arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-1",
        "--service-network-arn",
        "arn:aws:vpc-lattice:us-west-2:123456789012:servicenetwork/sn-1",
        "--source-vpc",
        "vpc-1",
        "--source-vpc-owner",
        "111122223333",
        "--source-ip",
        "10.1.2.3",
    ];
    let output = check(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(decision(&output)["statement"], "Everything");

    // One detail off, and the same policy denies.
    let ip = args
        .iter()
        .position(|arg| *arg == "10.1.2.3")
        .expect("the IP");
    args[ip] = "192.0.2.1";
    let output = check(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(decision(&output)["decision"], "implicit_deny");
}

#[test]
fn the_service_arn_of_an_unknown_lattice_host_carries_its_region() {
    let files = Files::new();
    let service = files.write(
        "service.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Frankfurt", "Effect": "Allow", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "arn:aws:vpc-lattice:eu-central-1:000000000000:service/svc-emulated/*"}]}"#,
    );
    let output = check(&[
        "--service-policy",
        path(&service),
        "--anonymous",
        "--method",
        "GET",
        "--url",
        "https://billing-0aaaaaaaaaaaaaaaa.1a2b3c4.vpc-lattice-svcs.eu-central-1.on.aws/x",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(decision(&output)["statement"], "Frankfurt");
}

#[test]
fn with_config_the_service_and_its_network_come_from_the_file() {
    let files = Files::new();
    let service = files.write(
        "service.json",
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "ProdOnly", "Effect": "Allow", "Principal": "*",
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0aaaaaaaaaaaaaaaa/*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:ServiceNetworkArn":
                "arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0bbbbbbbbbbbbbbbb"}}}]}"#,
    );
    let config = files.write(
        "emulator.toml",
        r#"
[[service_network]]
name = "prod"
arn = "arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0bbbbbbbbbbbbbbbb"
auth_type = "NONE"

[[service]]
name = "billing"
host = "billing.internal.example.com"
arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0aaaaaaaaaaaaaaaa"
network = "prod"
auth_type = "AWS_IAM"
auth_policy = "service.json"
target = "echo"
"#,
    );
    let request = [
        "--service-policy",
        path(&service),
        "--anonymous",
        "--method",
        "GET",
        "--url",
        "https://billing.internal.example.com/invoices",
    ];

    let output = check(&[&request[..], &["--config", path(&config)]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(decision(&output)["statement"], "ProdOnly");

    // Without the file the host is unknown: not a Lattice name, so no ARN to guess.
    let output = check(&request);
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr(&output).contains("pass --service-arn"),
        "{}",
        stderr(&output)
    );

    // A file that does not load is bad input, named.
    let missing = files.0.path().join("missing.toml");
    let output = check(&[&request[..], &["--config", path(&missing)]].concat());
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr(&output).contains("missing.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_policies_exit_64_naming_the_file_and_the_place() {
    let files = Files::new();
    let url = format!("https://{ORDERS_HOST}/");
    let cases = [
        (
            "json.json",
            "{\"Statement\": [\n  {\"Effect\": }\n]}",
            "json.json: line 2 column 14: invalid JSON: expected value",
        ),
        (
            "operator.json",
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEqual": {"aws:SourceIp": "x"}}}]}"#,
            r#"operator.json: Statement[0].Condition: unknown operator "StringEqual""#,
        ),
        (
            "version.json",
            r#"{"Version": "2012-10-18", "Statement": []}"#,
            r#"version.json: Version: must be "2012-10-17" (or the old "2008-10-17"), not "2012-10-18""#,
        ),
        (
            "element.json",
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resources": "*"}]}"#,
            "element.json: Statement[0].Resources: unknown element",
        ),
        (
            "noprincipal.json",
            r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#,
            "noprincipal.json: Statement[0]: an auth policy statement needs Principal or NotPrincipal",
        ),
    ];
    for (name, json, expected) in cases {
        let policy = files.write(name, json);
        let output = check(&[
            "--network-policy",
            path(&policy),
            "--principal",
            SESSION,
            "--method",
            "GET",
            "--url",
            &url,
        ]);
        assert_eq!(output.status.code(), Some(64), "{name}");
        assert!(output.stdout.is_empty(), "{name}: no decision is printed");
        let stderr = stderr(&output);
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            stderr.contains(path(&policy)),
            "{name} names the file: {stderr}"
        );
    }

    let missing = files.0.path().join("missing.json");
    let output = check(&[
        "--service-policy",
        path(&missing),
        "--anonymous",
        "--method",
        "GET",
        "--url",
        &url,
    ]);
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr(&output).contains("missing.json: file: cannot read it"),
        "{}",
        stderr(&output)
    );

    // An identity-based policy names no principal.
    let identity = files.write(
        "identity.json",
        r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}"#,
    );
    let output = check(&[
        "--identity-policy",
        path(&identity),
        "--principal",
        SESSION,
        "--method",
        "GET",
        "--url",
        &url,
    ]);
    assert_eq!(output.status.code(), Some(64));
    assert!(
        stderr(&output).contains(
            "identity.json: Statement[0]: an identity-based policy cannot name a Principal"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_input_exits_64_with_the_reason() {
    let url = format!("https://{ORDERS_HOST}/");
    let cases: [(&[&str], &str); 9] = [
        (
            &["--principal", "app", "--method", "GET", "--url", &url],
            "expected an IAM or STS principal ARN",
        ),
        (&["--method", "GET", "--url", &url], "--principal"),
        (
            &[
                "--principal",
                SESSION,
                "--anonymous",
                "--method",
                "GET",
                "--url",
                &url,
            ],
            "cannot be used with",
        ),
        (&["--anonymous", "--url", &url], "--method"),
        (
            &["--anonymous", "--method", "GET", "--url", "ftp://x/"],
            "the scheme must be https or http",
        ),
        (
            &[
                "--anonymous",
                "--method",
                "GET",
                "--url",
                "https://example.org/",
            ],
            "pass --service-arn",
        ),
        (
            &[
                "--anonymous",
                "--method",
                "GET",
                "--url",
                &url,
                "--service-arn",
                "svc-1",
            ],
            "--service-arn \"svc-1\": expected arn:aws:vpc-lattice:",
        ),
        (
            &[
                "--anonymous",
                "--method",
                "GET",
                "--url",
                &url,
                "--header",
                "no-colon",
            ],
            "expected NAME:VALUE",
        ),
        (
            &[
                "--anonymous",
                "--method",
                "GET",
                "--url",
                &url,
                "--source-ip",
                "10.0.0.300",
            ],
            "--source-ip",
        ),
    ];
    for (args, expected) in cases {
        let output = check(args);
        assert_eq!(output.status.code(), Some(64), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn help_exits_0() {
    let output = check(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("--identity-policy") && help.contains("64 bad input"),
        "{help}"
    );
}

/// The README's example prints what the README says.
#[test]
fn the_readme_example_holds() {
    let readme = include_str!("../README.md");
    let section = &readme[readme
        .find("## Check auth policies offline")
        .expect("the section")..];
    let json_blocks: Vec<&str> = section
        .split("```json\n")
        .skip(1)
        .map(|block| block.split("```").next().expect("a closed block"))
        .collect();
    let (printed, policy) = (json_blocks[0].trim(), json_blocks[1]);
    let files = Files::new();
    let service = files.write("service.json", policy);
    let output = check(&[
        "--service-policy",
        path(&service),
        "--principal",
        SESSION,
        "--method",
        "GET",
        "--url",
        "https://orders.example.com/admin/users",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), printed);
}
