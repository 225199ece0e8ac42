//! What the three example binaries share: command-line flags, the signer, TLS and
//! curl-style `--resolve` overrides.
//!
//! See `examples/README.md` for how to run them against `lattice-emulator`.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use clap::Args;
use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use lattice_client::integrations::tls::TlsConfig;
use lattice_client::{CredentialsCache, Signer, SigningConfig};
use tower::Service;

/// The README's code blocks, checked by `cargo test --doc`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The repository README's code blocks: every Rust snippet a user reads there compiles.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct RepositoryReadmeDoctests;

/// A boxed error, as the binaries report them.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Flags every example takes.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// The URL to call (for gRPC: the origin, e.g. `https://host:8443`).
    #[arg(long)]
    pub url: Uri,

    /// Send requests for HOST:PORT to ADDR instead of resolving HOST, like curl's
    /// `--resolve` (repeatable; wrap IPv6 addresses in brackets).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<ResolveEntry>,

    /// Also trust the CA certificates in this PEM file (e.g. the emulator's, written
    /// with `--write-ca`).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Sign with SigV4A instead of SigV4.
    #[arg(long)]
    pub sigv4a: bool,

    /// The SigV4A region set.
    #[arg(long, default_value = "*", requires = "sigv4a")]
    pub region_set: String,

    /// The region custom domains are signed for (SigV4). Lattice service names carry
    /// their own region.
    #[arg(long)]
    pub region: Option<String>,

    /// A custom domain name that may be signed for (repeatable; `*.example.com` allowed).
    #[arg(long, value_name = "DOMAIN")]
    pub custom_domain: Vec<String>,
}

/// One `--resolve HOST:PORT:ADDR` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    /// The host name, lower case.
    pub host: String,
    /// The port the override applies to.
    pub port: u16,
    /// Where to connect instead.
    pub addr: IpAddr,
}

/// Why a `--resolve` value was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveParseError {
    /// Not three colon-separated parts.
    #[error("expected HOST:PORT:ADDR, e.g. orders.example.com:443:127.0.0.1")]
    Shape,
    /// The port is not a number.
    #[error("`{0}` is not a port number")]
    Port(String),
    /// The address is not an IP address.
    #[error("`{0}` is not an IP address (wrap IPv6 in brackets: [::1])")]
    Addr(String),
}

/// What the examples may fail with before sending anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The URL has no host.
    #[error("--url `{0}` must be absolute, like https://host[:port]/path")]
    RelativeUrl(Uri),
    /// The CA file could not be read.
    #[error("cannot read --ca-file {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// curl-style overrides for the host and port of one URL, as a resolver.
///
/// Names without an override go to the system resolver.
#[derive(Clone, Debug)]
pub struct Overrides {
    addrs: Arc<HashMap<String, IpAddr>>,
    system: GaiResolver,
}

// === impl ResolveEntry ===

impl FromStr for ResolveEntry {
    type Err = ResolveParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (host, rest) = value.split_once(':').ok_or(ResolveParseError::Shape)?;
        let (port, addr) = rest.split_once(':').ok_or(ResolveParseError::Shape)?;
        if host.is_empty() {
            return Err(ResolveParseError::Shape);
        }
        let port = port
            .parse()
            .map_err(|_| ResolveParseError::Port(port.to_owned()))?;
        let bare = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr = bare
            .parse()
            .map_err(|_| ResolveParseError::Addr(addr.to_owned()))?;
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

// === impl CommonArgs ===

impl CommonArgs {
    /// The signing configuration these flags describe.
    pub fn signing_config(&self) -> Result<SigningConfig, BoxError> {
        let mut builder = SigningConfig::builder();
        if self.sigv4a {
            builder = builder.sigv4a(self.region_set.clone());
        }
        if let Some(region) = &self.region {
            builder = builder.region(region.clone());
        }
        for domain in &self.custom_domain {
            builder = builder.custom_domain(domain.clone());
        }
        Ok(builder.build()?)
    }

    /// A signer with credentials from the default AWS chain, already loaded.
    pub async fn signer(&self) -> Result<Signer, BoxError> {
        let config = self.signing_config()?;
        let credentials = CredentialsCache::from_default_chain().await;
        credentials.warm().await?;
        Ok(Signer::new(config, credentials))
    }

    /// The `--ca-file` contents, if given.
    pub fn ca_pem(&self) -> Result<Option<Vec<u8>>, SetupError> {
        self.ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|source| SetupError::CaFile {
                    path: path.clone(),
                    source,
                })
            })
            .transpose()
    }

    /// A rustls configuration trusting the platform roots and `--ca-file`.
    pub fn tls(&self) -> Result<rustls::ClientConfig, BoxError> {
        let mut tls = TlsConfig::new();
        if let Some(pem) = self.ca_pem()? {
            tls = tls.ca_pem(pem);
        }
        Ok(tls.build()?)
    }

    /// The host and effective port of `--url`.
    pub fn host_and_port(&self) -> Result<(String, u16), SetupError> {
        let host = self
            .url
            .host()
            .ok_or_else(|| SetupError::RelativeUrl(self.url.clone()))?;
        let default = if self.url.scheme() == Some(&http::uri::Scheme::HTTP) {
            80
        } else {
            443
        };
        Ok((
            host.to_ascii_lowercase(),
            self.url.port_u16().unwrap_or(default),
        ))
    }

    /// The `--resolve` entries that apply to `--url` (curl ignores the others too).
    pub fn overrides(&self) -> Result<Overrides, SetupError> {
        let (host, port) = self.host_and_port()?;
        let addrs = self
            .resolve
            .iter()
            .filter(|entry| entry.host == host && entry.port == port)
            .map(|entry| (entry.host.clone(), entry.addr))
            .collect();
        Ok(Overrides {
            addrs: Arc::new(addrs),
            system: GaiResolver::new(),
        })
    }

    /// An [`HttpConnector`] that honours `--resolve`.
    pub fn http_connector(&self) -> Result<HttpConnector<Overrides>, SetupError> {
        let mut http = HttpConnector::new_with_resolver(self.overrides()?);
        http.enforce_http(false);
        Ok(http)
    }
}

// === impl Overrides ===

impl Overrides {
    /// The overridden address for `host`, if any.
    pub fn get(&self, host: &str) -> Option<IpAddr> {
        self.addrs.get(&host.to_ascii_lowercase()).copied()
    }
}

impl Service<Name> for Overrides {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.system.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some(addr) = self.get(name.as_str()) {
            // The connector fills in the port from the URI.
            return Box::pin(std::future::ready(Ok(
                vec![SocketAddr::new(addr, 0)].into_iter()
            )));
        }
        let lookup = self.system.call(name);
        Box::pin(async move { Ok(lookup.await?.collect::<Vec<_>>().into_iter()) })
    }
}

/// Write `text` and a newline to stdout. A closed pipe (`| head`) is not an error.
pub fn print(text: impl std::fmt::Display) -> Result<(), std::io::Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Print an error and its causes to stderr; the exit code for a failed run.
pub fn report(error: &(dyn StdError + 'static)) -> ExitCode {
    let mut shown = error.to_string();
    eprintln!("error: {shown}");
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some errors already include their cause in their message.
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        shown = text;
        source = cause.source();
    }
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_curl_resolve_syntax() {
        let entry: ResolveEntry = "Orders.Example.com:443:127.0.0.1".parse().unwrap();
        assert_eq!(
            entry,
            ResolveEntry {
                host: "orders.example.com".into(),
                port: 443,
                addr: [127, 0, 0, 1].into()
            }
        );
        let entry: ResolveEntry = "h:8443:[::1]".parse().unwrap();
        assert_eq!(entry.addr, "::1".parse::<IpAddr>().unwrap());
        assert!("h:443".parse::<ResolveEntry>().is_err());
        assert!("h:x:127.0.0.1".parse::<ResolveEntry>().is_err());
        assert!("h:443:nope".parse::<ResolveEntry>().is_err());
    }
}
