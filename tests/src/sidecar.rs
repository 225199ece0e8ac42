//! Runs the real `lattice-sidecar` binary as a child process for end-to-end tests.
//!
//! ```no_run
//! use lattice_emulator::{Emulator, ORDERS_HOST};
//! use lattice_tests::sidecar::Sidecar;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let emulator = Emulator::builder().start().await?;
//! let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
//! let response = sidecar.get(ORDERS_HOST, "/hello")?;
//! assert_eq!(response.status, 200);
//! # Ok(()) }
//! ```
//!
//! The builder picks free loopback ports, points the sidecar at the emulator (`--ca-file`
//! with the emulator's run-time CA, `--resolve` for every service), gives it the
//! emulator's test identity through the child's environment only, captures its logs to a
//! file, and waits (bounded) for `/readyz`. Dropping a [`Sidecar`] kills the process.
//!
//! The binary is found next to the test executable (`target/<profile>/lattice-sidecar`);
//! build it first with `cargo build --workspace --bins`.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use lattice_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, Emulator};

/// A boxed error for test helpers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long [`SidecarBuilder::spawn`] waits for the sidecar to become ready (or live).
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Read/write timeout of the helper's HTTP client.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures a sidecar child process. See the [module docs](self).
#[derive(Debug)]
pub struct SidecarBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    routes: Vec<String>,
    fixed_upstream: Option<String>,
    emulator: Option<EmulatorTarget>,
    credentials: bool,
    wait_ready: bool,
    open_file_limit: Option<u64>,
}

#[derive(Debug)]
struct EmulatorTarget {
    ca_pem: String,
    resolve: Vec<String>,
}

/// A running sidecar. Killed on drop.
pub struct Sidecar {
    child: Child,
    addr: SocketAddr,
    admin_addr: SocketAddr,
    route_addrs: Vec<SocketAddr>,
    log_path: PathBuf,
    dir: TempDir,
}

/// A parsed HTTP/1.1 response from [`Sidecar::request`] or [`http1`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header lines as `(lower-case name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

// === impl SidecarBuilder ===

impl SidecarBuilder {
    /// Add command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable on the child only.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Trust the emulator's CA and resolve each of its services to it: port 443 to the
    /// TLS listener, port 80 to the plain one.
    pub fn emulator(mut self, emulator: &Emulator) -> Self {
        let mut resolve = Vec::new();
        for service in emulator.services() {
            resolve.push(format!("{}:443:{}", service.host(), emulator.https_addr()));
            resolve.push(format!("{}:80:{}", service.host(), emulator.http_addr()));
        }
        self.emulator = Some(EmulatorTarget {
            ca_pem: emulator.ca_pem().to_owned(),
            resolve,
        });
        self
    }

    /// Forward everything on the main listener to `url` (`--upstream`).
    pub fn upstream(mut self, url: impl Into<String>) -> Self {
        self.fixed_upstream = Some(url.into());
        self
    }

    /// Add a `--route` listener (on a free port) to `url`; see [`Sidecar::route_addr`].
    pub fn route(mut self, url: impl Into<String>) -> Self {
        self.routes.push(url.into());
        self
    }

    /// Do not give the child the emulator's test identity (supply credentials with
    /// [`Self::env`] instead).
    pub fn without_credentials(mut self) -> Self {
        self.credentials = false;
        self
    }

    /// Wait only for `/livez` instead of `/readyz` (e.g. when credentials start broken).
    pub fn wait_live_only(mut self) -> Self {
        self.wait_ready = false;
        self
    }

    /// Run the sidecar with this open-file limit, soft and hard (through `prlimit`, from
    /// util-linux), as a host with a low `ulimit -n` would.
    pub fn open_file_limit(mut self, limit: u64) -> Self {
        self.open_file_limit = Some(limit);
        self
    }

    /// Start the binary and wait until it is ready.
    pub fn spawn(self) -> Result<Sidecar, BoxError> {
        let binary = sidecar_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("lattice-sidecar-test")
            .tempdir()?;
        // The listener, the admin listener and one per route, all different.
        let mut ports = free_ports(2 + self.routes.len())?;
        let route_addrs = ports.split_off(2);
        let (addr, admin_addr) = (ports[0], ports[1]);

        let mut args = vec![
            "--listen".to_owned(),
            addr.to_string(),
            "--admin-listen".to_owned(),
            admin_addr.to_string(),
        ];
        if let Some(upstream) = &self.fixed_upstream {
            args.extend(["--upstream".to_owned(), upstream.clone()]);
        }
        for (route, addr) in self.routes.iter().zip(&route_addrs) {
            args.extend(["--route".to_owned(), format!("{addr}={route}")]);
        }
        if let Some(emulator) = &self.emulator {
            let ca = dir.path().join("emulator-ca.pem");
            std::fs::write(&ca, &emulator.ca_pem)?;
            args.extend(["--ca-file".to_owned(), ca.display().to_string()]);
            for entry in &emulator.resolve {
                args.extend(["--resolve".to_owned(), entry.clone()]);
            }
        }
        args.extend(self.args.iter().cloned());

        // A clean environment: no host credentials or proxies leak in, and the AWS chain
        // never reaches for the EC2 metadata service (not loopback).
        let aws_config = dir.path().join("aws-config");
        let aws_credentials = dir.path().join("aws-credentials");
        File::create(&aws_config)?;
        File::create(&aws_credentials)?;
        let log_path = dir.path().join("sidecar.log");
        let log = File::create(&log_path)?;
        // prlimit sets the limit, then executes the sidecar in its own process.
        let mut command = match self.open_file_limit {
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command
                    .arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        command
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", &aws_config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &aws_credentials)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if self.credentials {
            command
                .env("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut sidecar = Sidecar {
            child,
            addr,
            admin_addr,
            route_addrs,
            log_path,
            dir,
        };
        let probe = if self.wait_ready { "/readyz" } else { "/livez" };
        sidecar.wait_for(probe)?;
        Ok(sidecar)
    }
}

// === impl Sidecar ===

impl Sidecar {
    /// A builder with the emulator's test identity as credentials.
    pub fn builder() -> SidecarBuilder {
        SidecarBuilder {
            args: Vec::new(),
            env: Vec::new(),
            routes: Vec::new(),
            fixed_upstream: None,
            emulator: None,
            credentials: true,
            wait_ready: true,
            open_file_limit: None,
        }
    }

    /// The main proxy listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, for `HTTP_PROXY` or `curl -x`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The listener of the `index`-th [`SidecarBuilder::route`].
    pub fn route_addr(&self, index: usize) -> SocketAddr {
        self.route_addrs[index]
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A scratch directory that lives as long as the sidecar.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the sidecar logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Wait (up to 10 s) until the logs contain `needle`, then return them. Log lines are
    /// written when a response finishes, which can be just after the client has it.
    pub fn wait_for_log(&self, needle: &str) -> Result<String, BoxError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return Ok(logs);
            }
            if Instant::now() >= deadline {
                return Err(format!("logs never contained {needle:?}:\n{logs}").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics unless `GET /echo` for `host` still gets a 200: after a refusal, the
    /// sidecar keeps serving.
    pub fn assert_still_serving(&self, host: &str) -> Result<(), BoxError> {
        let response = self.get(host, "/echo")?;
        assert_eq!(response.status, 200, "{}\n{}", response.text(), self.logs());
        Ok(())
    }

    /// `GET path` with `Host: host` on the main listener.
    pub fn get(&self, host: &str, path: &str) -> Result<RawResponse, BoxError> {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ))
    }

    /// Send raw bytes to the main listener and read the response.
    pub fn request(&self, raw: &str) -> Result<RawResponse, BoxError> {
        http1(self.addr, raw.as_bytes())
    }

    /// `GET path` on the admin listener: `(status, body)`.
    pub fn admin_get(&self, path: &str) -> Result<(u16, String), BoxError> {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        let response = http1(self.admin_addr, raw.as_bytes())?;
        Ok((
            response.status,
            String::from_utf8_lossy(&response.body).into_owned(),
        ))
    }

    /// A field of `/proc/<pid>/status` in KiB, e.g. `VmHWM` (peak RSS) or `VmRSS`.
    pub fn memory_kib(&self, field: &str) -> Result<u64, BoxError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .ok_or_else(|| format!("no {field} in /proc/{}/status", self.pid()))?;
        let kib = line
            .split_whitespace()
            .nth(1)
            .ok_or("malformed /proc status line")?;
        Ok(kib.parse()?)
    }

    /// How many file descriptors the process has open.
    pub fn open_fds(&self) -> Result<usize, BoxError> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid()))?.count())
    }

    /// Send SIGTERM.
    pub fn terminate(&self) -> Result<(), BoxError> {
        self.signal("TERM")
    }

    /// Send a signal by name (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) -> Result<(), BoxError> {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -{name} {} failed: {status}", self.pid()).into());
        }
        Ok(())
    }

    /// Wait up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, BoxError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "sidecar still running after {timeout:?}; logs:\n{}",
                    self.logs()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn wait_for(&mut self, path: &str) -> Result<(), BoxError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "sidecar exited ({status}) before {path} succeeded; logs:\n{}",
                    self.logs()
                )
                .into());
            }
            match self.admin_get(path) {
                Ok((200, _)) => return Ok(()),
                Ok((status, body)) => last = format!("{status} {body}"),
                Err(error) => last = error.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "sidecar not ready within {READY_TIMEOUT:?} ({path}: {last}); logs:\n{}",
                    self.logs()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sidecar")
            .field("pid", &self.child.id())
            .field("addr", &self.addr)
            .field("admin_addr", &self.admin_addr)
            .field("route_addrs", &self.route_addrs)
            .finish_non_exhaustive()
    }
}

// === impl RawResponse ===

impl RawResponse {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, BoxError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("not JSON ({e}): {}", self.text()).into())
    }
}

/// Where the sidecar binary is: next to the test executable's `deps/` directory.
pub fn sidecar_binary() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| {
            if deps.ends_with("deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .ok_or("cannot locate the target directory from the test executable")?;
    let binary = profile_dir.join("lattice-sidecar");
    if !binary.is_file() {
        return Err(format!(
            "{} not found: run `cargo build --workspace --bins` first",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> Result<SocketAddr, BoxError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?)
}

/// `count` distinct free loopback ports. Each stays bound until all are picked: the kernel
/// may hand out a port again as soon as it is released, so picking them one by one with
/// [`free_port`] once gave the listener and a route the same port.
pub fn free_ports(count: usize) -> Result<Vec<SocketAddr>, BoxError> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?))
        .collect()
}

/// Write `raw` to `addr` and read one HTTP/1.x response (until close, or the end of a
/// `content-length`/chunked body). Only for loopback test traffic.
pub fn http1(addr: SocketAddr, raw: &[u8]) -> Result<RawResponse, BoxError> {
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not loopback").into());
    }
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(raw)?;
    read_response(&mut stream)
}

/// Read one response from a stream, skipping `1xx` interim responses.
pub fn read_response(stream: &mut impl Read) -> Result<RawResponse, BoxError> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let Some(head_end) = find(&buffer, b"\r\n\r\n") else {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(format!(
                    "connection closed before a response: {:?}",
                    String::from_utf8_lossy(&buffer)
                )
                .into());
            }
            buffer.extend_from_slice(&chunk[..n]);
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        buffer.drain(..head_end + 4);
        if (100..200).contains(&status) {
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            read_chunked(stream, buffer)?
        } else if let Some(length) = header("content-length") {
            let length: usize = length.parse()?;
            while buffer.len() < length {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err("connection closed inside the body".into());
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            buffer.truncate(length);
            buffer
        } else {
            stream.read_to_end(&mut buffer)?;
            buffer
        };
        return Ok(RawResponse {
            status,
            headers,
            body,
        });
    }
}

fn read_chunked(stream: &mut impl Read, mut buffer: Vec<u8>) -> Result<Vec<u8>, BoxError> {
    let mut body = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut fill = |buffer: &mut Vec<u8>| -> Result<(), BoxError> {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err("connection closed inside a chunked body".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    loop {
        let line_end = loop {
            match find(&buffer, b"\r\n") {
                Some(end) => break end,
                None => fill(&mut buffer)?,
            }
        };
        let size_text = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)?;
        buffer.drain(..line_end + 2);
        if size == 0 {
            return Ok(body);
        }
        while buffer.len() < size + 2 {
            fill(&mut buffer)?;
        }
        body.extend_from_slice(&buffer[..size]);
        buffer.drain(..size + 2);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Run a command with a time limit, capturing stdout and stderr.
pub fn run_with_timeout(
    command: &mut Command,
    timeout: Duration,
) -> Result<std::process::Output, BoxError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{command:?} did not finish within {timeout:?}").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = out.join().map_err(|_| "stdout reader panicked")?;
    let stderr = err.join().map_err(|_| "stderr reader panicked")?;
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_loopback_ports() -> Result<(), BoxError> {
        let ports = free_ports(64)?;
        let distinct: std::collections::HashSet<u16> = ports.iter().map(|a| a.port()).collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        assert!(ports.iter().all(|a| a.ip().is_loopback() && a.port() != 0));
        Ok(())
    }
}
