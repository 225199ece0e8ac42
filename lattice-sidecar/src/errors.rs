//! Errors at the proxy edge become synthetic responses: a status, an
//! `x-lattice-sidecar-error: <code>` header, and a one-line body saying what to fix.
//!
//! | status | code | cause |
//! |---|---|---|
//! | 400 | `missing-host`, `invalid-host`, `invalid-request`, `unsignable-request` | the request cannot be routed or signed |
//! | 400 | `ambiguous-framing` | both `Content-Length` and `Transfer-Encoding`, or `Content-Length` twice; the connection is closed |
//! | 400 | `invalid-request-body` | the request body could not be read (bad chunk size) while it streamed upstream |
//! | 403 | `host-not-allowed` | not a Lattice name or configured custom domain; nothing was sent |
//! | 405 | `connect-not-supported` | `CONNECT`: HTTPS inside a tunnel cannot be signed |
//! | 431 | `too-many-headers` | an h2c request with more header fields than HTTP/1.1 clients may send |
//! | 501 | `upgrade-not-supported` | `Upgrade` to anything but `h2c` (which is ignored): Lattice has no WebSockets |
//! | 421 | `misdirected-request` | a fixed route received a request for another service |
//! | 500 | `signing-failed` | the signer rejected the request or parameters |
//! | 502 | `upstream-connect-failed` | the TCP connection failed (refused, unreachable) |
//! | 502 | `upstream-tls-failed` | the TLS handshake failed (not TLS, closed or reset during it) or the certificate was rejected (untrusted CA, wrong name, expired) |
//! | 502 | `upstream-invalid-response` | the upstream's response had both `Content-Length` and `Transfer-Encoding` |
//! | 502 | `upstream-error` | the upstream failed after the connection was up, before response headers (e.g. reset during the request body) |
//! | 503 | `credentials-unavailable` | no valid AWS credentials (yet) |
//! | 503 | `upstream-busy` | this worker already has its most requests in flight to that upstream |
//! | 503 | `too-many-connections` | `--max-connections` client connections are open; the connection is closed |
//! | 504 | `upstream-timeout`, `upstream-connect-timeout` | the upstream was too slow |
//!
//! Once response headers have been forwarded the status cannot change: if the upstream
//! then fails mid-body, the client's connection (HTTP/1.1) or stream (HTTP/2) is aborted
//! so the truncation is visible, and the access log says `error=upstream-response-aborted`.
//!
//! A gRPC client (`content-type: application/grpc*`) gets the same error as a gRPC
//! trailers-only response: HTTP 200 with `grpc-status` mapped from the status as gRPC's
//! HTTP mapping does (403 `PERMISSION_DENIED`, 502/503/504 `UNAVAILABLE`, 400 `INTERNAL`,
//! others `UNKNOWN`), the line as `grpc-message`, and `x-lattice-sidecar-error`. gRPC
//! libraries show `grpc-message`; for an HTTP status alone they would invent a message.
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
pub(crate) const ERROR_HEADER: HeaderName = HeaderName::from_static("x-lattice-sidecar-error");

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// A boxed error, as tower and hyper pass them around.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// The TCP connector's failure to reach an upstream, marked so it can be told apart from
/// a failed TLS handshake on a connection that did open (different code and remedy).
#[derive(Debug)]
pub(crate) struct TcpConnectError(BoxError);

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

    pub fn upgrade_not_supported(protocols: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "upgrade-not-supported",
            format!(
                "protocol upgrades (`Upgrade: {}`) are not supported: VPC Lattice has no WebSockets, \
                 and the sidecar forwards plain HTTP requests only",
                printable(protocols)
            ),
        )
    }

    /// Whether the connection must be closed after this response: the client asked for
    /// something other than a plain request (a tunnel, a protocol switch) or framed a
    /// request ambiguously, so what it sends next on the connection cannot be trusted to
    /// be a request.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self.code,
            "ambiguous-framing" | "connect-not-supported" | "upgrade-not-supported"
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

    pub fn upstream_busy(upstream: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream-busy",
            format!(
                "too many requests are in flight to `{upstream}` on this worker ({} connections of {} \
                 streams each); retry later, or spread the load over more sidecar workers",
                crate::pool::MAX_CONNECTIONS_PER_UPSTREAM,
                crate::pool::STREAMS_PER_CONNECTION
            ),
        )
    }

    pub fn upstream_invalid_response(upstream: &str) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream-invalid-response",
            format!(
                "`{upstream}` sent a response with both Content-Length and Transfer-Encoding, \
                 which cannot be relayed safely; it was dropped (check the upstream server)"
            ),
        )
    }

    pub fn invalid_request_body() -> Self {
        Self::bad_request(
            "invalid-request-body",
            "the request body could not be read (malformed chunked encoding, e.g. a bad chunk \
             size, or the client stopped sending); it was not forwarded whole",
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
            return Self::tls_failed(upstream, &tls.to_string(), tls_remedy(tls));
        }
        if is_connect {
            if find_io_kind(error, io::ErrorKind::TimedOut) {
                return Self::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-connect-timeout",
                    format!("connecting to `{upstream}` timed out (--connect-timeout)"),
                );
            }
            // Not the TCP connector, so the TLS handshake: the upstream accepted the
            // connection, then closed or reset it instead of answering the ClientHello.
            if find::<TcpConnectError>(error).is_none() {
                return Self::tls_failed(
                    upstream,
                    &chain(error),
                    "check that it serves TLS on that port (and that --resolve points at the right address)",
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

    fn tls_failed(upstream: &str, detail: &str, remedy: &str) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream-tls-failed",
            format!("TLS with `{upstream}` failed: {detail}; {remedy}"),
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

    /// The same error for a gRPC client: a trailers-only response (HTTP 200, no body)
    /// carrying `grpc-status`, `grpc-message` and `x-lattice-sidecar-error`.
    pub fn into_grpc_response<B: Default>(self) -> Response<B> {
        // grpc-message is percent-encoded UTF-8: printable ASCII but `%` goes as is.
        const GRPC_MESSAGE_SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');
        let code = lattice_client::grpc::code_for_http_status(self.status);
        let message = format!("lattice-sidecar: {}", self.message);
        let message = percent_encoding::utf8_percent_encode(&message, GRPC_MESSAGE_SET).to_string();
        let mut response = Response::new(B::default());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(GRPC_STATUS, HeaderValue::from(code));
        if let Ok(message) = HeaderValue::from_str(&message) {
            headers.insert(GRPC_MESSAGE, message);
        }
        headers.insert(ERROR_HEADER, HeaderValue::from_static(self.code));
        response
    }
}

// === impl TcpConnectError ===

impl TcpConnectError {
    pub(crate) fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }
}

// The wrapped error's text, and the wrapped error as source: `chain` drops the repeat,
// and searches for an io::Error kind still reach into it.
impl fmt::Display for TcpConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for TcpConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
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

/// What an operator can do about a TLS error.
fn tls_remedy(error: &rustls::Error) -> &'static str {
    use rustls::CertificateError as Cert;
    match error {
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => {
            "its certificate is not signed by a trusted CA; if it uses a private CA, pass it with --ca-file"
        }
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => {
            "its certificate is not valid for that name; check that --resolve/--upstream point at the right server"
        }
        rustls::Error::InvalidCertificate(
            Cert::Expired
            | Cert::ExpiredContext { .. }
            | Cert::NotValidYet
            | Cert::NotValidYetContext { .. },
        ) => {
            "its certificate has expired or is not yet valid; renew it, or check this host's clock"
        }
        rustls::Error::InvalidCertificate(_) => {
            "its certificate was rejected; if it uses a private CA, pass it with --ca-file"
        }
        _ => {
            "check that it serves TLS on that port (and that --resolve points at the right address)"
        }
    }
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
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
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
    fn grpc_clients_get_the_error_as_grpc_status() {
        let cases = [
            (Synthetic::upstream_timeout("orders:443"), "14"),
            (Synthetic::host_not_allowed("example.com"), "7"),
            (
                Synthetic::bad_request("missing-host", "100% wrong\u{e9}"),
                "13",
            ),
            (
                Synthetic::new(StatusCode::MISDIRECTED_REQUEST, "misdirected-request", "x"),
                "2",
            ),
        ];
        for (synthetic, code) in cases {
            let expected = format!("lattice-sidecar: {}", synthetic.message);
            let error_code = synthetic.code;
            let response: Response<Bytes> = synthetic.into_grpc_response();
            // Trailers-only: gRPC clients read the status from these headers.
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response.body().is_empty());
            let headers = response.headers();
            assert_eq!(headers[CONTENT_TYPE], "application/grpc");
            assert_eq!(headers["grpc-status"], code, "{error_code}");
            assert_eq!(headers[ERROR_HEADER], error_code);
            let message = headers["grpc-message"].to_str().unwrap();
            let decoded = percent_encoding::percent_decode_str(message)
                .decode_utf8()
                .unwrap();
            assert_eq!(decoded, expected);
        }
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
    fn tls_errors_carry_a_remedy_for_their_cause() {
        use rustls::CertificateError as Cert;
        let cases = [
            (Cert::UnknownIssuer, "--ca-file"),
            (Cert::NotValidForName, "--resolve/--upstream"),
            (Cert::Expired, "renew it"),
            (Cert::NotValidYet, "clock"),
        ];
        for (cert, remedy) in cases {
            // As hyper-rustls reports it: an io::Error around the rustls error.
            let err: BoxError = Box::new(io::Error::other(io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(cert.clone()),
            )));
            let synthetic = Synthetic::from_upstream_error(&err, "u");
            assert_eq!(synthetic.status, StatusCode::BAD_GATEWAY, "{cert:?}");
            assert_eq!(synthetic.code, "upstream-tls-failed", "{cert:?}");
            assert!(
                synthetic.message.contains(remedy),
                "{cert:?}: {}",
                synthetic.message
            );
        }
    }

    #[test]
    fn tcp_connect_errors_stay_transparent() {
        let inner = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let err = TcpConnectError::new(io::Error::other(inner));
        assert_eq!(err.to_string(), "refused");
        let err: BoxError = Box::new(err);
        assert!(find::<TcpConnectError>(&*err).is_some());
        assert!(find_io_kind(&*err, io::ErrorKind::ConnectionRefused));
        assert_eq!(chain(&*err), "refused");
    }

    #[test]
    fn printable_strips_control_characters() {
        assert_eq!(printable("a\r\nb"), "a??b");
    }
}
