//! Errors at the proxy edge become synthetic responses: a status, an
//! `x-lattice-sidecar-error: <code>` header, and a one-line body saying what to fix.
//!
//! | status | code | cause |
//! |---|---|---|
//! | 400 | `missing-host`, `invalid-host`, `invalid-request`, `unsignable-request` | the request cannot be routed or signed |
//! | 403 | `host-not-allowed` | not a Lattice name or configured custom domain; nothing was sent |
//! | 405 | `connect-not-supported` | `CONNECT`: HTTPS inside a tunnel cannot be signed |
//! | 421 | `misdirected-request` | a fixed route received a request for another service |
//! | 500 | `signing-failed` | the signer rejected the request or parameters |
//! | 502 | `upstream-connect-failed`, `upstream-tls-failed`, `upstream-error` | connecting to or talking to the upstream failed |
//! | 503 | `credentials-unavailable` | no valid AWS credentials (yet) |
//! | 504 | `upstream-timeout`, `upstream-connect-timeout` | the upstream was too slow |
//!
//! A 403 *from Lattice* is passed through unchanged (see [`crate::signing`] for the
//! diagnosis the sidecar logs).

use std::error::Error as StdError;
use std::fmt;
use std::io;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderName, Response, StatusCode};
use lattice_client::ErrorKind;

/// Header naming the reason for a synthetic response.
pub const ERROR_HEADER: HeaderName = HeaderName::from_static("x-lattice-sidecar-error");

/// A boxed error, as tower and hyper pass them around.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A response the sidecar makes itself instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synthetic {
    pub status: StatusCode,
    /// Short, stable, kebab-case; goes into `x-lattice-sidecar-error` and metrics.
    pub code: &'static str,
    /// One line saying what to fix. Never contains secrets.
    pub message: String,
}

// === impl Synthetic ===

impl Synthetic {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn host_not_allowed(host: &str) -> Self {
        let hint = if lattice_client::host::normalize_host(host).is_none()
            || host.starts_with("localhost")
        {
            " (it names no service: send a Host header naming the service, use the sidecar as an \
             HTTP proxy, or start it with --upstream/--route)"
        } else {
            "; to sign for a custom domain, start the sidecar with --custom-domain"
        };
        Self::new(
            StatusCode::FORBIDDEN,
            "host-not-allowed",
            format!(
                "host `{}` is not a VPC Lattice service name (*.vpc-lattice-svcs.<region>.on.aws) \
                 or a configured custom domain{hint}; nothing was sent",
                printable(host)
            ),
        )
    }

    pub fn misdirected(requested: &str, upstream: &str) -> Self {
        Self::new(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected-request",
            format!(
                "this listener only forwards to `{upstream}`, but the request names `{}`; send it to \
                 the listener for that service",
                printable(requested)
            ),
        )
    }

    pub fn connect_not_supported() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "connect-not-supported",
            "CONNECT tunnels are not supported: a request inside an HTTPS tunnel cannot be signed; \
             send plain http:// URLs to the sidecar (it uses HTTPS toward Lattice)",
        )
    }

    pub fn credentials_unavailable(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "credentials-unavailable",
            format!(
                "no valid AWS credentials, so the request was not sent ({detail}); check the sidecar's AWS credential source"
            ),
        )
    }

    pub fn upstream_timeout(upstream: &str) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream-timeout",
            format!("`{upstream}` sent no response headers within --request-timeout"),
        )
    }

    /// Classify an error from the signing + upstream stack.
    pub fn from_upstream_error(error: &BoxError, upstream: &str) -> Self {
        let error: &(dyn StdError + 'static) = &**error;
        if let Some(signing) = lattice_client::Error::find_in(error) {
            return match signing.kind() {
                ErrorKind::Credentials => Self::credentials_unavailable(signing),
                ErrorKind::HostNotAllowed => Self::host_not_allowed(upstream),
                ErrorKind::InvalidRequest => {
                    Self::bad_request("unsignable-request", signing.to_string())
                }
                _ => Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "signing-failed",
                    signing.to_string(),
                ),
            };
        }
        let is_connect =
            find::<hyper_util::client::legacy::Error>(error).is_some_and(|e| e.is_connect());
        if let Some(tls) = find_tls_error(error) {
            return Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream-tls-failed",
                format!(
                    "TLS with `{upstream}` failed: {tls}; if it uses a private CA, pass it with --ca-file"
                ),
            );
        }
        if is_connect {
            if find_io_kind(error, io::ErrorKind::TimedOut) {
                return Self::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-connect-timeout",
                    format!("connecting to `{upstream}` timed out (--connect-timeout)"),
                );
            }
            return Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream-connect-failed",
                format!(
                    "cannot connect to `{upstream}`: {}; check DNS, routing and security groups",
                    chain(error)
                ),
            );
        }
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream-error",
            format!("request to `{upstream}` failed: {}", chain(error)),
        )
    }

    /// The response: `text/plain`, one line, `x-lattice-sidecar-error`.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let body = Bytes::from(format!("lattice-sidecar: {}\n", self.message));
        let mut response = Response::new(B::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(ERROR_HEADER, HeaderValue::from_static(self.code));
        response
    }
}

impl fmt::Display for Synthetic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = next(err);
    }
    None
}

/// The next error in a chain. `io::Error::source()` skips the error it wraps, so look
/// inside it explicitly (that is where hyper-rustls puts TLS errors).
fn next<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(io) = error.downcast_ref::<io::Error>()
        && let Some(inner) = io.get_ref()
    {
        return Some(inner as &(dyn StdError + 'static));
    }
    error.source()
}

fn find_tls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    find::<rustls::Error>(error)
}

fn find_io_kind(error: &(dyn StdError + 'static), kind: io::ErrorKind) -> bool {
    let mut current = Some(error);
    while let Some(err) = current {
        if err
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == kind)
        {
            return true;
        }
        current = next(err);
    }
    false
}

/// `outer: inner: innermost`, deduplicated (hyper repeats messages across layers).
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = next(err);
    }
    parts.join(": ")
}

/// Client-supplied text echoed in a message: visible ASCII only, bounded.
fn printable(text: &str) -> String {
    text.chars()
        .take(256)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_responses_carry_code_and_one_line() {
        let response: Response<Bytes> = Synthetic::host_not_allowed("example.com").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[ERROR_HEADER], "host-not-allowed");
        let body = std::str::from_utf8(response.body()).unwrap();
        assert!(
            body.ends_with('\n') && body.matches('\n').count() == 1,
            "{body}"
        );
        assert!(body.contains("--custom-domain"), "{body}");
    }

    #[test]
    fn loopback_hosts_get_a_routing_hint() {
        let s = Synthetic::host_not_allowed("127.0.0.1:8080");
        assert!(s.message.contains("Host header"), "{}", s.message);
    }

    #[test]
    fn unknown_upstream_errors_map_to_502() {
        let err: BoxError = Box::new(io::Error::other("x"));
        assert_eq!(
            Synthetic::from_upstream_error(&err, "u").status,
            StatusCode::BAD_GATEWAY
        );
    }

    #[test]
    fn printable_strips_control_characters() {
        assert_eq!(printable("a\r\nb"), "a??b");
    }
}
