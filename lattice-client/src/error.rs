//! Opaque errors: callers branch on [`ErrorKind`], never on message text.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error, as tower middleware passes them around.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Why signing a request failed.
///
/// Messages say what to fix; they never contain secrets or header values.
pub struct Error {
    kind: Kind,
}

/// The broad class of an [`Error`], for mapping to a status code or retry decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request cannot be signed as it is (no authority, a header value that is not
    /// visible ASCII, an asterisk- or authority-form URI), or a canonical request cannot be
    /// rebuilt from it (it was not signed). Retrying the same request will not help.
    InvalidRequest,
    /// The target host is not a Lattice name and not a configured custom domain.
    HostNotAllowed,
    /// No valid credentials could be obtained. Retrying later may help.
    Credentials,
    /// The signature could not be computed: the clock reads a time outside 1970 to 9999,
    /// or the credentials cannot be used (e.g. a session token that is not a header value).
    Signing,
}

enum Kind {
    MissingAuthority,
    InvalidHeaderValue { name: String },
    InvalidUri { reason: String },
    NotSigned,
    HostNotAllowed { host: String },
    CredentialsUnavailable { source: Option<BoxError> },
    CredentialsTimedOut,
    ClockOutOfRange,
    Signing { source: BoxError },
}

// === impl Error ===

impl Error {
    pub(crate) fn missing_authority() -> Self {
        Self {
            kind: Kind::MissingAuthority,
        }
    }

    pub(crate) fn invalid_header_value(name: &str) -> Self {
        Self {
            kind: Kind::InvalidHeaderValue {
                name: name.to_owned(),
            },
        }
    }

    pub(crate) fn invalid_uri(reason: impl Into<String>) -> Self {
        Self {
            kind: Kind::InvalidUri {
                reason: reason.into(),
            },
        }
    }

    pub(crate) fn not_signed() -> Self {
        Self {
            kind: Kind::NotSigned,
        }
    }

    pub(crate) fn clock_out_of_range() -> Self {
        Self {
            kind: Kind::ClockOutOfRange,
        }
    }

    pub(crate) fn host_not_allowed(host: &str) -> Self {
        Self {
            kind: Kind::HostNotAllowed {
                host: host.to_owned(),
            },
        }
    }

    pub(crate) fn credentials_unavailable(source: Option<BoxError>) -> Self {
        Self {
            kind: Kind::CredentialsUnavailable { source },
        }
    }

    pub(crate) fn credentials_timed_out() -> Self {
        Self {
            kind: Kind::CredentialsTimedOut,
        }
    }

    pub(crate) fn signing(source: impl Into<BoxError>) -> Self {
        Self {
            kind: Kind::Signing {
                source: source.into(),
            },
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self.kind {
            Kind::MissingAuthority
            | Kind::InvalidHeaderValue { .. }
            | Kind::InvalidUri { .. }
            | Kind::NotSigned => ErrorKind::InvalidRequest,
            Kind::HostNotAllowed { .. } => ErrorKind::HostNotAllowed,
            Kind::CredentialsUnavailable { .. } | Kind::CredentialsTimedOut => {
                ErrorKind::Credentials
            }
            Kind::ClockOutOfRange | Kind::Signing { .. } => ErrorKind::Signing,
        }
    }

    /// Find a lattice-client [`Error`] anywhere in an error's source chain, e.g. inside the
    /// [`BoxError`] a tower stack returns or a `reqwest_middleware::Error`.
    pub fn find_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Error> {
        let mut current = Some(error);
        while let Some(err) = current {
            if let Some(found) = err.downcast_ref::<Error>() {
                return Some(found);
            }
            current = err.source();
        }
        None
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::MissingAuthority => f.write_str(
                "request has no host: use an absolute URI (https://host/path) or set a Host header",
            ),
            Kind::InvalidHeaderValue { name } => write!(
                f,
                "header `{name}` has a value that is not visible ASCII; SigV4 can only sign \
                 visible ASCII header values, so percent- or base64-encode it"
            ),
            Kind::InvalidUri { reason } => write!(f, "request URI cannot be signed: {reason}"),
            Kind::NotSigned => f.write_str(
                "request has no `Authorization` header with a `SignedHeaders` list, so there \
                 is no canonical request to rebuild",
            ),
            Kind::HostNotAllowed { host } => write!(
                f,
                "refusing to sign for host `{host}`: it is not a VPC Lattice service name \
                 (*.vpc-lattice-svcs.<region>.on.aws) and not a configured custom domain; \
                 add it with `custom_domain(..)`"
            ),
            Kind::CredentialsUnavailable {
                source: Some(source),
            } => {
                write!(f, "no valid AWS credentials: {source}")
            }
            Kind::CredentialsUnavailable { source: None } => f.write_str(
                "no valid AWS credentials yet: the credential cache has not loaded any \
                 (call `warm()` at start-up)",
            ),
            Kind::CredentialsTimedOut => {
                f.write_str("no valid AWS credentials: the credentials provider timed out")
            }
            Kind::ClockOutOfRange => f.write_str(
                "the clock reads a time outside the years 1970 to 9999, which SigV4 dates \
                 cannot express: check the clock (or the time given to `sign`)",
            ),
            Kind::Signing { source } => write!(f, "signing failed: {source}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("message", &self.to_string())
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::CredentialsUnavailable {
                source: Some(source),
            }
            | Kind::Signing { source } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// A configuration error from a builder's `build()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    problems: Vec<String>,
}

// === impl BuildError ===

impl BuildError {
    pub(crate) fn new(problems: Vec<String>) -> Self {
        Self { problems }
    }

    /// Every problem found, each with its fix.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid signing configuration: ")?;
        f.write_str(&self.problems.join("; "))
    }
}

impl StdError for BuildError {}
