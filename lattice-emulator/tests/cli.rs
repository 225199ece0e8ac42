//! The `lattice-emulator` binary: its exit codes, the loopback rule and
//! `--allow-non-loopback`, and a real start on loopback that refuses an unsigned request.

mod common;

use lattice_emulator::ORDERS_HOST;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio::time::timeout;

use common::{EX_USAGE, LIMIT, emulator, run};

/// `EX_SOFTWARE`: the exit code when the emulator cannot start.
const EX_SOFTWARE: i32 = 70;

#[tokio::test]
async fn non_loopback_listen_address_without_the_flag_is_a_usage_error() {
    let (status, stderr) = run(emulator(&["--https-listen", "0.0.0.0:8443"])).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(
        stderr.contains("--https-listen 0.0.0.0:8443 is not a loopback address"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-non-loopback"), "{stderr}");
}

#[tokio::test]
async fn every_bad_listen_address_is_reported_at_once() {
    let args = ["--https-listen", "0.0.0.0:1", "--http-listen", "[::]:2"];
    let (status, stderr) = run(emulator(&args)).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(stderr.contains("--https-listen 0.0.0.0:1"), "{stderr}");
    assert!(stderr.contains("--http-listen [::]:2"), "{stderr}");
}

#[tokio::test]
async fn malformed_listen_address_is_a_usage_error() {
    let (status, stderr) = run(emulator(&["--http-listen", "localhost:8080"])).await;
    assert_eq!(status.code(), Some(EX_USAGE), "{stderr}");
    assert!(stderr.contains("expected IP:PORT"), "{stderr}");
}

#[tokio::test]
async fn allow_non_loopback_passes_the_check_and_warns() {
    // 192.0.2.1 (TEST-NET-1, RFC 5737) is never a local address, so the bind fails and
    // nothing listens beyond loopback; what matters is that the flag got it that far.
    let args = [
        "--allow-non-loopback",
        "--https-listen",
        "192.0.2.1:0",
        "--http-listen",
        "127.0.0.1:0",
    ];
    let (status, stderr) = run(emulator(&args)).await;
    assert_eq!(status.code(), Some(EX_SOFTWARE), "{stderr}");
    assert!(
        stderr.contains("listening on a non-loopback address"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot listen on 192.0.2.1:0"), "{stderr}");
}

#[tokio::test]
async fn allow_non_loopback_has_an_environment_fallback() {
    let mut command = emulator(&["--https-listen", "192.0.2.1:0"]);
    command.env("LATTICE_EMULATOR_ALLOW_NON_LOOPBACK", "true");
    let (status, stderr) = run(command).await;
    assert_eq!(status.code(), Some(EX_SOFTWARE), "{stderr}");
    assert!(stderr.contains("cannot listen on 192.0.2.1:0"), "{stderr}");
}

#[tokio::test]
async fn serves_on_loopback_and_refuses_an_unsigned_request() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let ca_arg = ca.to_str().unwrap();
    let args = [
        "--https-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--write-ca",
        ca_arg,
    ];
    let mut child: Child = emulator(&args).spawn().expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");

    // "Lattice emulator listening on https://127.0.0.1:P and http://127.0.0.1:Q"
    let mut lines = BufReader::new(stdout).lines();
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
    // Keep the pipe open and drained: the banner goes on after its first line, and a
    // write to a closed stdout would stop the emulator.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http_addr = banner
        .rsplit_once(" and http://")
        .map(|(_, addr)| addr.to_owned())
        .expect("the banner names the plain-HTTP listener");
    let pem = std::fs::read_to_string(&ca).expect("--write-ca wrote the CA");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

    let response = timeout(LIMIT, async {
        let mut stream = TcpStream::connect(&http_addr).await.expect("connects");
        let request =
            format!("GET /hello HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("sends");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("reads");
        response
    })
    .await
    .expect("the emulator answers in time");
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: accessdeniedexception"),
        "{response}"
    );

    child.start_kill().expect("the emulator can be stopped");
    timeout(LIMIT, child.wait())
        .await
        .expect("the emulator stops in time")
        .expect("its status is readable");
}
