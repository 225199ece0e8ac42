//! `lattice-sidecar probe`: a health check that needs no shell and no curl, for images
//! built `FROM scratch`.
//!
//! ```text
//! lattice-sidecar probe            # GET http://127.0.0.1:9901/readyz
//! lattice-sidecar probe /livez     # a path on the admin listener
//! lattice-sidecar probe http://127.0.0.1:9902/readyz --timeout 1s
//! ```
//!
//! One HTTP/1.1 GET over plain TCP, bounded by `--timeout` from start to end: exit 0 on a
//! 2xx, 1 otherwise with a one-line reason on stderr (the status and the first line of the
//! body, or why no answer came), 64 for a bad URL or timeout. A path, and the default
//! URL, go to the admin listener's address: `--admin-listen`, so the
//! `LATTICE_SIDECAR_ADMIN_ADDR` a manifest gives the sidecar moves the probe with it.

use std::fmt;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use http::Uri;

use crate::config::EX_USAGE;

/// The probe reads at most this much of a response: a status line, headers and the
/// first line of a body.
const MAX_RESPONSE: usize = 16 * 1024;
/// Response headers parsed at most.
const MAX_HEADERS: usize = 32;
/// The reason printed is cut to this many characters.
const MAX_REASON: usize = 200;

/// `lattice-sidecar probe [URL|PATH]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// What to GET: an http:// URL, or a path on the admin listener (default /readyz).
    #[arg(env = "LATTICE_SIDECAR_PROBE_URL", value_name = "URL|PATH")]
    pub target: Option<String>,

    /// The admin listener's address, for a path or the default URL.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_ADMIN_ADDR",
        value_name = "ADDR",
        default_value = "127.0.0.1:9901"
    )]
    pub admin_listen: String,

    /// Time limit for the whole probe: connecting, sending, reading the answer.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_PROBE_TIMEOUT",
        value_name = "DURATION",
        default_value = "2s"
    )]
    pub timeout: String,
}

/// A validated probe: where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    /// `host[:port]`, for connecting and the `Host` header.
    host: String,
    port: u16,
    path: String,
    timeout: Duration,
}

/// Why a probe failed (exit 1).
#[derive(Debug)]
enum Failure {
    Resolve(std::io::Error),
    Connect(SocketAddr, std::io::Error),
    TimedOut(Duration),
    Io(std::io::Error),
    Malformed(&'static str),
    /// A non-2xx answer, summarised.
    Status(String),
}

/// The answer to a successful probe.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    code: u16,
    /// The reason phrase of the status line.
    phrase: String,
    /// The first line of the body.
    line: String,
}

/// Run the probe and print its one line: stdout when it succeeds, stderr otherwise.
pub fn run(args: &ProbeArgs) -> ExitCode {
    let probe = match Probe::from_args(args) {
        Ok(probe) => probe,
        Err(problem) => {
            eprintln!("lattice-sidecar probe: {problem}");
            return ExitCode::from(EX_USAGE);
        }
    };
    match probe.get() {
        Ok(answer) => {
            println!("lattice-sidecar probe: {probe}: {}", answer.summary());
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("lattice-sidecar probe: {probe}: {failure}");
            ExitCode::FAILURE
        }
    }
}

// === impl Probe ===

impl Probe {
    fn from_args(args: &ProbeArgs) -> Result<Self, String> {
        let timeout = humantime::parse_duration(&args.timeout).map_err(|e| {
            format!(
                "--timeout `{}` is not a duration like 2s ({e})",
                args.timeout
            )
        })?;
        if timeout.is_zero() {
            return Err("--timeout must be more than zero".to_owned());
        }
        let target = args.target.as_deref().unwrap_or("/readyz");
        if target.starts_with('/') {
            let admin: SocketAddr = args.admin_listen.parse().map_err(|_| {
                format!(
                    "--admin-listen `{}` is not IP:PORT, e.g. 127.0.0.1:9901",
                    args.admin_listen
                )
            })?;
            let ip = match admin.ip() {
                // The admin listener on every address is reachable on loopback.
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            let host = match ip {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            };
            let path = target
                .parse::<http::uri::PathAndQuery>()
                .map_err(|_| format!("`{target}` is not a valid path (e.g. /readyz or /livez)"))?;
            return Ok(Self {
                host,
                port: admin.port(),
                path: path.to_string(),
                timeout,
            });
        }
        Self::from_url(target, timeout)
    }

    fn from_url(url: &str, timeout: Duration) -> Result<Self, String> {
        let example = "e.g. http://127.0.0.1:9901/readyz, or a path such as /livez";
        let uri: Uri = url
            .parse()
            .map_err(|_| format!("`{url}` is not a URL ({example})"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "`{url}`: https is not supported: the admin listener speaks plain HTTP, \
                     so probe http://{}",
                    uri.authority().map_or("127.0.0.1:9901", |a| a.as_str())
                ));
            }
            Some(other) => return Err(format!("`{url}`: scheme `{other}` is not http")),
            None => return Err(format!("`{url}` needs http:// and a host ({example})")),
        }
        let Some(authority) = uri.authority() else {
            return Err(format!("`{url}` needs a host ({example})"));
        };
        if authority.as_str().contains('@') {
            return Err(format!("`{url}` must not contain user info"));
        }
        if authority.host().is_empty() {
            return Err(format!("`{url}` needs a host ({example})"));
        }
        let port = match authority.port() {
            Some(port) => match port.as_u16() {
                0 => return Err(format!("`{url}`: port 0 cannot be probed")),
                port => port,
            },
            None if authority.as_str().ends_with(':') => {
                return Err(format!("`{url}` has an empty port"));
            }
            None => 80,
        };
        Ok(Self {
            host: authority.host().to_owned(),
            port,
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.to_string()),
            timeout,
        })
    }

    /// GET the URL within the timeout.
    fn get(&self) -> Result<Answer, Failure> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = self.connect(deadline)?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: lattice-sidecar-probe\r\n\
             Accept: text/plain\r\nConnection: close\r\n\r\n",
            self.path,
            self.authority()
        );
        stream
            .set_write_timeout(Some(self.remaining(deadline)?))
            .map_err(Failure::Io)?;
        stream
            .write_all(request.as_bytes())
            .map_err(|e| self.io_failure(e))?;
        let response = self.read_response(&mut stream, deadline)?;
        let answer = parse_response(&response)?;
        match answer.code {
            200..=299 => Ok(answer),
            _ => Err(Failure::Status(answer.summary())),
        }
    }

    fn connect(&self, deadline: Instant) -> Result<TcpStream, Failure> {
        // Brackets of an IPv6 literal are URL syntax, not part of the address.
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = (host, self.port)
            .to_socket_addrs()
            .map_err(Failure::Resolve)?
            .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.remaining(deadline)?) {
                Ok(stream) => return Ok(stream),
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(Failure::TimedOut(self.timeout));
                }
                Err(error) => last = Some(Failure::Connect(addr, error)),
            }
        }
        Err(last.unwrap_or_else(|| {
            Failure::Resolve(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no address found",
            ))
        }))
    }

    /// Read until the server closes (the request said `Connection: close`), the whole
    /// `Content-Length` body is in, or [`MAX_RESPONSE`] bytes are.
    fn read_response(&self, stream: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, Failure> {
        let mut response = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        while response.len() < MAX_RESPONSE {
            stream
                .set_read_timeout(Some(self.remaining(deadline)?))
                .map_err(Failure::Io)?;
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(error) => return Err(self.io_failure(error)),
            }
            if is_complete(&response) {
                break;
            }
        }
        Ok(response)
    }

    fn remaining(&self, deadline: Instant) -> Result<Duration, Failure> {
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(Failure::TimedOut(self.timeout)),
        }
    }

    fn io_failure(&self, error: std::io::Error) -> Failure {
        match error.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                Failure::TimedOut(self.timeout)
            }
            _ => Failure::Io(error),
        }
    }

    fn authority(&self) -> String {
        match self.port {
            80 => self.host.clone(),
            port => format!("{}:{port}", self.host),
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

// === impl Answer ===

impl Answer {
    /// The status, then the body's first line if there is one.
    fn summary(&self) -> String {
        let status = match self.phrase.is_empty() {
            true => self.code.to_string(),
            false => format!("{} {}", self.code, self.phrase),
        };
        match self.line.is_empty() {
            true => status,
            false => format!("{status}: {}", self.line),
        }
    }
}

// === impl Failure ===

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Resolve(error) => write!(f, "cannot resolve the host: {error}"),
            Failure::Connect(addr, error) => write!(f, "cannot connect to {addr}: {error}"),
            Failure::TimedOut(timeout) => write!(
                f,
                "no answer within {} (--timeout)",
                humantime::format_duration(*timeout)
            ),
            Failure::Io(error) => write!(f, "connection failed: {error}"),
            Failure::Malformed(what) => write!(f, "not an HTTP response: {what}"),
            Failure::Status(summary) => f.write_str(summary),
        }
    }
}

/// Whether `response` holds a whole head and, with a `Content-Length`, the whole body.
fn is_complete(response: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = parsed.parse(response) else {
        return false;
    };
    content_length(parsed.headers).is_some_and(|length| response.len() >= head + length)
}

/// The status and the body's first line.
fn parse_response(response: &[u8]) -> Result<Answer, Failure> {
    if response.is_empty() {
        return Err(Failure::Malformed(
            "the connection closed without an answer",
        ));
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head = match parsed.parse(response) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Err(Failure::Malformed("incomplete head")),
        Err(_) => return Err(Failure::Malformed("invalid status line or headers")),
    };
    let code = parsed.code.ok_or(Failure::Malformed("no status code"))?;
    let chunked = parsed.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    let mut body = &response[head..];
    if chunked {
        // Skip the first chunk's size line.
        body = body
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&[][..], |end| &body[end + 1..]);
    }
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(Answer {
        code,
        phrase: printable(parsed.reason.unwrap_or_default().as_bytes()),
        line: printable(first_line),
    })
}

/// One line of printable ASCII, at most [`MAX_REASON`] characters: what a server sends
/// must not garble the health check's output.
fn printable(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_REASON)
        .collect()
}

fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
}

#[cfg(test)]
mod tests;
