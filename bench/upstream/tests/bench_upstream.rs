//! `bench-upstream`, the sidecar benchmark's fixture (`bench/sidecar.sh`): it answers over
//! TLS with HTTP/1.1 and h2 in both serving modes, and by default serves connections on
//! `--threads` threads of its own (thread-per-core), not on a work-stealing runtime.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lattice_tests::sidecar::{BoxError, run_with_timeout};
use tempfile::TempDir;

const STARTUP: Duration = Duration::from_secs(20);
const CURL_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `bench-upstream`, killed on drop.
struct Upstream {
    child: Child,
    addr: String,
    dir: TempDir,
}

impl Upstream {
    fn start(args: &[&str]) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let out = std::fs::File::create(dir.path().join("out"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_bench-upstream"))
            .args(["--listen", "127.0.0.1:0", "--write-ca"])
            .arg(dir.path().join("ca.pem"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()?;
        let mut upstream = Upstream {
            child,
            addr: String::new(),
            dir,
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            let out = std::fs::read_to_string(upstream.dir.path().join("out"))?;
            if out.lines().any(|line| line == "ready") {
                upstream.addr = out
                    .lines()
                    .find_map(|line| line.strip_prefix("https "))
                    .ok_or("no `https ADDR` line before `ready`")?
                    .to_owned();
                return Ok(upstream);
            }
            if let Some(status) = upstream.child.try_wait()? {
                return Err(format!("bench-upstream exited early: {status}").into());
            }
            if Instant::now() >= deadline {
                return Err("bench-upstream did not print `ready` in time".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `(HTTP version, status, body length)` of a curl request over TLS.
    fn curl(&self, protocol: &str, path: &str) -> Result<(String, u16, usize), BoxError> {
        curl(
            &self.ca(),
            protocol,
            &format!("https://{}{path}", self.addr),
        )
    }

    /// The names of the process's threads.
    fn thread_names(&self) -> Result<Vec<String>, BoxError> {
        let mut names = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", self.child.id()))? {
            names.push(
                std::fs::read_to_string(task?.path().join("comm"))?
                    .trim()
                    .to_owned(),
            );
        }
        names.sort();
        Ok(names)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(ca: &Path, protocol: &str, url: &str) -> Result<(String, u16, usize), BoxError> {
    let output = run_with_timeout(
        Command::new("curl")
            .args(["-sS", "--max-time", "20", protocol, "--cacert"])
            .arg(ca)
            .args([
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code} %{size_download}",
            ])
            .arg(url),
        CURL_TIMEOUT,
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("curl {url} failed: {stderr}").into());
    }
    let mut fields = stdout.split_whitespace();
    let (Some(version), Some(status), Some(size)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(format!("unexpected curl output: {stdout:?}").into());
    };
    Ok((version.to_owned(), status.parse()?, size.parse()?))
}

/// Both protocols, both serving modes: `/` is 200 with 1 KiB, an unknown path 404.
#[test]
fn serves_http1_and_h2_over_tls_in_both_modes() -> Result<(), BoxError> {
    for mode in [&[][..], &["--work-stealing"][..]] {
        let upstream = Upstream::start(mode)?;
        for (protocol, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
            // Several requests, so more than one connection reaches the serving threads.
            for _ in 0..3 {
                let got = upstream.curl(protocol, "/")?;
                assert_eq!(got, (version.to_owned(), 200, 1024), "{mode:?} {protocol}");
            }
            let got = upstream.curl(protocol, "/missing")?;
            assert_eq!(got.1, 404, "{mode:?} {protocol}");
        }
    }
    Ok(())
}

/// `--threads 3` starts three serving threads of its own; `--work-stealing` starts none
/// (Tokio's workers serve instead).
#[test]
fn serves_on_threads_of_its_own_unless_work_stealing() -> Result<(), BoxError> {
    let serving = |names: &[String]| names.iter().filter(|n| n.starts_with("upstream-")).count();

    let per_thread = Upstream::start(&["--threads", "3"])?;
    let names = per_thread.thread_names()?;
    assert_eq!(serving(&names), 3, "{names:?}");
    assert_eq!(per_thread.curl("--http2", "/")?.1, 200);

    let work_stealing = Upstream::start(&["--threads", "3", "--work-stealing"])?;
    let names = work_stealing.thread_names()?;
    assert_eq!(serving(&names), 0, "{names:?}");
    assert_eq!(work_stealing.curl("--http2", "/")?.1, 200);
    Ok(())
}
