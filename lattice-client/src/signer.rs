//! The signing core: `(method, URI, headers, credentials, time) -> signed headers`.
//!
//! [`SigningConfig::sign`] is pure: no I/O and no clock; the time is an argument. This
//! module decides *what* is signed for Lattice: the host as sent,
//! `x-amz-content-sha256: UNSIGNED-PAYLOAD` (Lattice does not support payload signing, so
//! bodies are never read), no hop-by-hop headers. The signature itself is computed in
//! `crate::sign`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, Method, StatusCode, Uri};

use crate::clock::{SharedClock, SigningClock};
use crate::credentials::CredentialsCache;
use crate::error::{BuildError, Error};
use crate::host::{DomainPattern, is_region_name, lattice_region_of, normalized};
use crate::sign::{self, Header, Headers, SignedHost, SigningCache, Timestamp, signed_host};

/// The SigV4 signing name of VPC Lattice services.
pub const SIGNING_NAME: &str = "vpc-lattice-svcs";

/// Headers the signer sets itself; any copies already on a request are replaced.
pub const SIGNER_OWNED_HEADERS: [&str; 5] = [
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-region-set",
];

/// Headers that are never signed by default: hop-by-hop headers and headers that proxies,
/// tracers and HTTP stacks commonly add or rewrite after signing. A name ending in `*`
/// matches by prefix.
pub const DEFAULT_UNSIGNED_HEADERS: [&str; 16] = [
    "connection",
    "keep-alive",
    "te",
    "upgrade",
    "proxy-*",
    "transfer-encoding",
    "expect",
    "user-agent",
    "x-forwarded-*",
    "forwarded",
    "via",
    "traceparent",
    "tracestate",
    "baggage",
    "x-amzn-trace-id",
    "content-length",
];

/// Which SigV4 variant to sign with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// `AWS4-HMAC-SHA256`, scoped to one region.
    SigV4,
    /// `AWS4-ECDSA-P256-SHA256`, valid in every region matching the region set, e.g. `*`.
    SigV4a {
        /// Comma-separated regions, `*` wildcards allowed (`*`, `us-*`, `us-east-1,us-west-2`).
        region_set: String,
    },
}

/// How the URI path enters the canonical request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathEncoding {
    /// Standard SigV4 for non-S3 services, as botocore and the Java and Rust SDKs do:
    /// remove `.`/`..` segments, merge `//`, then URI-encode the already-encoded path again
    /// (`%2F` is signed as `%252F`).
    #[default]
    Double,
    /// Sign the path exactly as sent, encoded once and not normalized (the Go recipe in
    /// the AWS docs, and S3).
    Single,
}

/// What to do with a request for a host that is neither a Lattice name nor a custom domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownHosts {
    /// Fail with an [`ErrorKind::HostNotAllowed`](crate::ErrorKind::HostNotAllowed) error.
    #[default]
    Reject,
    /// Send the request on unsigned (any signer-owned headers are still removed).
    PassThrough,
}

/// What [`SigningConfig::sign`] did to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signed {
    /// The request carries a fresh signature.
    Signed,
    /// The host is not allowed and [`UnknownHosts::PassThrough`] is set: sent unsigned.
    PassedThrough,
}

/// What to sign for Lattice, validated. Cheap to clone.
///
/// Build one with [`SigningConfig::builder`].
///
/// # State
/// A configuration and its clones share the one cache signing keeps: the signing keys
/// derived from credentials, a SigV4 key per credentials, day, region and service and a
/// SigV4A key per credentials, each with the session token as a header value, and the
/// `x-amz-date` value of the latest second. An entry's key is everything it is derived
/// from, so entries never go stale; the eight newest are kept. Nothing is kept per thread.
#[derive(Clone)]
pub struct SigningConfig {
    inner: Arc<ConfigInner>,
}

struct ConfigInner {
    algorithm: Algorithm,
    region: Option<String>,
    custom_domains: Vec<(DomainPattern, Option<String>)>,
    unknown_hosts: UnknownHosts,
    /// Parsed once: comparing `HeaderName`s is mostly comparing an enum tag.
    unsigned_exact: Vec<HeaderName>,
    unsigned_prefixes: Vec<String>,
    path_encoding: PathEncoding,
    signing_name: String,
    /// The signing keys derived so far and the header values built from them and the clock:
    /// all the state signing keeps.
    cache: SigningCache,
}

/// Builder for [`SigningConfig`]; `build()` reports every problem at once.
#[derive(Debug, Clone)]
pub struct SigningConfigBuilder {
    algorithm: Algorithm,
    region: Option<String>,
    custom_domains: Vec<(String, Option<String>)>,
    unknown_hosts: UnknownHosts,
    unsigned_headers: Vec<String>,
    path_encoding: PathEncoding,
    signing_name: String,
}

/// Where a request goes, once its host is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope<'a> {
    /// Lowercased into a new string when the host has capitals.
    Region(Cow<'a, str>),
    RegionSet(&'a str),
}

// === impl SigningConfig ===

impl SigningConfig {
    /// Start a configuration: SigV4, only Lattice service names allowed.
    pub fn builder() -> SigningConfigBuilder {
        SigningConfigBuilder {
            algorithm: Algorithm::SigV4,
            region: None,
            custom_domains: Vec::new(),
            unknown_hosts: UnknownHosts::Reject,
            unsigned_headers: DEFAULT_UNSIGNED_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            path_encoding: PathEncoding::Double,
            signing_name: SIGNING_NAME.to_owned(),
        }
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> &Algorithm {
        &self.inner.algorithm
    }

    /// How the path enters the canonical request.
    pub fn path_encoding(&self) -> PathEncoding {
        self.inner.path_encoding
    }

    /// Whether `host` (optionally with a port) may be signed for.
    pub fn allows_host(&self, host: &str) -> bool {
        // Not via `scope_for`: its refusal is an error that would be built to be dropped.
        self.signing_scope(host).is_some()
    }

    /// Sign in place. Removes any signer-owned headers (`authorization`, `x-amz-*`), then
    /// adds `x-amz-date`, `x-amz-content-sha256: UNSIGNED-PAYLOAD`, `x-amz-security-token`
    /// (if the credentials have one), `x-amz-region-set` (SigV4A) and `authorization`.
    ///
    /// The host signed is the `Host` header if present, else the URI's authority without a
    /// default port, which is what HTTP/1.1 clients send as `Host`. Callers sending HTTP/2
    /// should pass the URI through [`canonicalize_authority`] first, so that `:authority`
    /// carries that same value.
    ///
    /// # Errors
    /// - [`ErrorKind::HostNotAllowed`](crate::ErrorKind::HostNotAllowed) for a host that is
    ///   not allowed, unless [`UnknownHosts::PassThrough`] is set;
    /// - [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) for a request without
    ///   a host, with a signed header value that is not visible ASCII, or whose target is in
    ///   asterisk-form (`OPTIONS *`) or authority-form (`CONNECT host:port`), which have no
    ///   path to sign;
    /// - [`ErrorKind::Signing`](crate::ErrorKind::Signing) for a `time` outside the years 1970
    ///   to 9999, or credentials that cannot be sent in headers.
    pub fn sign(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        credentials: &Credentials,
        time: SystemTime,
    ) -> Result<Signed, Error> {
        // Requests rarely carry these; a scan is cheaper than five hashed removes.
        if headers.keys().any(|name| sign::SIGNER_OWNED.contains(name)) {
            for name in &sign::SIGNER_OWNED {
                headers.remove(name);
            }
        }
        // Computed while `headers` is borrowed for signing, inserted once the borrow ends.
        let signed = {
            let SignedHost { host, from_header } = signed_host(uri, headers)?;
            let Some(scope) = self.scope_for(host)? else {
                tracing::debug!(%host, "host not allowed; passing request through unsigned");
                return Ok(Signed::PassedThrough);
            };
            let time = Timestamp::new(time).ok_or_else(Error::clock_out_of_range)?;
            let mut signable = Headers::new();
            if !from_header {
                signable.push(Header::trimmed("host", host));
            }
            for (name, value) in headers.iter() {
                if self.is_unsigned(name) {
                    continue;
                }
                let value = value
                    .to_str()
                    .map_err(|_| Error::invalid_header_value(name.as_str()))?;
                signable.push(Header::trimmed(name.as_str(), value));
            }
            let mut request = sign::Request {
                method: method.as_str(),
                uri,
                path_encoding: self.inner.path_encoding,
                headers: signable,
            };
            let params = sign::Params {
                credentials,
                service: &self.inner.signing_name,
                scope: scope.for_signing(),
                time: &time,
            };
            let signed = sign::sign(&mut request, params, &self.inner.cache)?;
            tracing::trace!(%host, ?scope, "signed request");
            signed
        };
        signed.insert_into(headers);
        Ok(Signed::Signed)
    }

    fn is_unsigned(&self, name: &HeaderName) -> bool {
        self.inner.unsigned_exact.contains(name)
            || self
                .inner
                .unsigned_prefixes
                .iter()
                .any(|p| name.as_str().starts_with(p.as_str()))
    }

    /// `Ok(None)`: not allowed but pass-through is configured.
    fn scope_for<'a>(&'a self, host: &'a str) -> Result<Option<Scope<'a>>, Error> {
        match self.signing_scope(host) {
            Some(scope) => Ok(Some(scope)),
            None if self.inner.unknown_hosts == UnknownHosts::PassThrough => Ok(None),
            None => Err(Error::host_not_allowed(host)),
        }
    }

    /// Where signatures for `host` are valid, if it is a host this config signs for.
    ///
    /// Runs on every request, so it borrows rather than allocates when the host is
    /// already lowercase.
    fn signing_scope<'a>(&'a self, host: &'a str) -> Option<Scope<'a>> {
        let region = normalized(host).and_then(|name| {
            let lattice = match &name {
                Cow::Borrowed(name) => lattice_region_of(name).map(Cow::Borrowed),
                Cow::Owned(name) => lattice_region_of(name).map(|r| Cow::Owned(r.to_owned())),
            };
            lattice.or_else(|| self.custom_domain_region(&name))
        })?;
        Some(match &self.inner.algorithm {
            Algorithm::SigV4a { region_set } => Scope::RegionSet(region_set),
            Algorithm::SigV4 => Scope::Region(region),
        })
    }

    /// The signing region of a normalized custom-domain name, if one is configured.
    fn custom_domain_region(&self, name: &str) -> Option<Cow<'_, str>> {
        let (_, region) = self
            .inner
            .custom_domains
            .iter()
            .find(|(pattern, _)| pattern.matches(name))?;
        // build() guarantees a region for custom domains under SigV4.
        let region = region.as_deref().or(self.inner.region.as_deref());
        Some(Cow::Borrowed(region.unwrap_or("")))
    }
}

// === impl Scope ===

impl Scope<'_> {
    fn for_signing(&self) -> sign::Scope<'_> {
        match self {
            Scope::Region(region) => sign::Scope::Region(region),
            Scope::RegionSet(region_set) => sign::Scope::RegionSet(region_set),
        }
    }
}

impl fmt::Debug for SigningConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("SigningConfig")
            .field("algorithm", &inner.algorithm)
            .field("region", &inner.region)
            .field("custom_domains", &inner.custom_domains)
            .field("unknown_hosts", &inner.unknown_hosts)
            .field("path_encoding", &inner.path_encoding)
            .finish_non_exhaustive()
    }
}

/// Drop a default port (`:443` for https, `:80` for http) from the URI's authority, so
/// that HTTP/2's `:authority` equals the HTTP/1.1 `Host` a client would send and the
/// signer signs.
pub fn canonicalize_authority(uri: &mut Uri) {
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return;
    };
    let default_port = if *scheme == Scheme::HTTPS {
        443
    } else if *scheme == Scheme::HTTP {
        80
    } else {
        return;
    };
    if authority.port_u16() != Some(default_port) {
        return;
    }
    let Ok(host_only) = Authority::try_from(authority.host()) else {
        return;
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.authority = Some(host_only);
    if let Ok(rebuilt) = Uri::from_parts(parts) {
        *uri = rebuilt;
    }
}

// === impl SigningConfigBuilder ===

impl SigningConfigBuilder {
    /// Sign with SigV4A for the region set (`*` for every region, or e.g.
    /// `us-east-1,us-west-2`). Use it for custom domains that fail over across regions.
    pub fn sigv4a(mut self, region_set: impl Into<String>) -> Self {
        self.algorithm = Algorithm::SigV4a {
            region_set: region_set.into(),
        };
        self
    }

    /// Sign with the given algorithm.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The region for custom domains that do not name their own. Lattice service names
    /// always use the region in the name.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Allow signing for a custom domain (`api.example.com`, or `*.example.com`), in the
    /// default [`region`](Self::region).
    pub fn custom_domain(mut self, domain: impl Into<String>) -> Self {
        self.custom_domains.push((domain.into(), None));
        self
    }

    /// Allow signing for a custom domain whose service lives in `region`.
    pub fn custom_domain_in(
        mut self,
        domain: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        self.custom_domains
            .push((domain.into(), Some(region.into())));
        self
    }

    /// What to do for hosts that are not allowed (default: reject).
    pub fn unknown_hosts(mut self, policy: UnknownHosts) -> Self {
        self.unknown_hosts = policy;
        self
    }

    /// Replace the set of headers that are never signed (default
    /// [`DEFAULT_UNSIGNED_HEADERS`]). A trailing `*` matches a prefix.
    pub fn unsigned_headers<I, H>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: Into<String>,
    {
        self.unsigned_headers = headers.into_iter().map(Into::into).collect();
        self
    }

    /// Add one header (or `prefix-*`) to the set that is never signed.
    pub fn unsigned_header(mut self, header: impl Into<String>) -> Self {
        self.unsigned_headers.push(header.into());
        self
    }

    /// How the path is canonicalized (default [`PathEncoding::Double`]).
    pub fn path_encoding(mut self, encoding: PathEncoding) -> Self {
        self.path_encoding = encoding;
        self
    }

    /// Override the signing name. Only for testing against services other than Lattice.
    #[doc(hidden)]
    pub fn signing_name(mut self, name: impl Into<String>) -> Self {
        self.signing_name = name.into();
        self
    }

    /// Validate and build.
    pub fn build(self) -> Result<SigningConfig, BuildError> {
        let mut problems = Vec::new();
        if let Some(region) = self.region.as_ref().filter(|r| !is_region_name(r)) {
            problems.push(format!(
                "region `{region}` is not a region name like `us-west-2`"
            ));
        }
        if let Algorithm::SigV4a { region_set } = &self.algorithm {
            let valid = !region_set.is_empty()
                && region_set.split(',').all(|r| {
                    let r = r.trim();
                    !r.is_empty()
                        && r.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*'
                        })
                });
            if !valid {
                problems.push(format!(
                    "region set `{region_set}` is invalid: use `*` or comma-separated regions such as `us-east-1,us-west-2` (`*` wildcards allowed)"
                ));
            }
        }
        let mut custom_domains = Vec::new();
        for (domain, region) in &self.custom_domains {
            match DomainPattern::parse(domain) {
                Ok(pattern) => custom_domains.push((pattern, region.clone())),
                Err(problem) => problems.push(problem),
            }
            if let Some(region) = region.as_ref().filter(|r| !is_region_name(r)) {
                problems.push(format!("region `{region}` for custom domain `{domain}` is not a region name like `us-west-2`"));
            }
            if self.algorithm == Algorithm::SigV4 && region.is_none() && self.region.is_none() {
                problems.push(format!(
                    "custom domain `{domain}` needs a region for SigV4: set `region(..)`, use `custom_domain_in(domain, region)`, or sign with SigV4A"
                ));
            }
        }
        let mut unsigned_exact = Vec::new();
        let mut unsigned_prefixes = Vec::new();
        for header in &self.unsigned_headers {
            let header = header.to_ascii_lowercase();
            if header == "host" || SIGNER_OWNED_HEADERS.contains(&header.as_str()) {
                problems.push(format!(
                    "header `{header}` must always be signed and cannot be listed as unsigned"
                ));
            } else if let Some(prefix) = header.strip_suffix('*') {
                unsigned_prefixes.push(prefix.to_owned());
            } else if let Ok(name) = HeaderName::from_bytes(header.as_bytes()) {
                unsigned_exact.push(name);
            }
            // A name that does not parse can never be on a request: nothing to skip.
        }
        if !problems.is_empty() {
            return Err(BuildError::new(problems));
        }
        Ok(SigningConfig {
            inner: Arc::new(ConfigInner {
                algorithm: self.algorithm,
                region: self.region,
                custom_domains,
                unknown_hosts: self.unknown_hosts,
                unsigned_exact,
                unsigned_prefixes,
                path_encoding: self.path_encoding,
                signing_name: self.signing_name,
                cache: SigningCache::new(),
            }),
        })
    }
}

/// A [`SigningConfig`] with credentials and a clock: signs whole requests.
///
/// Cheap to clone; clones share the credentials cache, the learned clock offset and the
/// configuration's cache of signing keys.
///
/// # Clock skew
/// Like the AWS SDKs, a signer corrects for a wrong local clock: when a signed request is
/// refused with 403 and a `Date` more than a minute from the local clock (and less than a
/// day), later requests are signed with the server's time. The refused request itself is
/// not retried, because its body may already be streamed. [`SigV4`](crate::SigV4) and the
/// reqwest middleware report responses automatically; other integrations call
/// [`Signer::observe_response`]. Turn it off with
/// [`with_clock_skew_correction(false)`](Signer::with_clock_skew_correction).
#[derive(Clone, Debug)]
pub struct Signer {
    config: SigningConfig,
    credentials: CredentialsCache,
    clock: Arc<SigningClock>,
}

// === impl Signer ===

impl Signer {
    /// A signer over a configuration and a credentials cache. Time comes from the cache's
    /// clock (the system clock unless the cache was built with another).
    pub fn new(config: SigningConfig, credentials: impl Into<CredentialsCache>) -> Self {
        let credentials = credentials.into();
        let clock = Arc::new(SigningClock::new(credentials.clock().clone(), true));
        Self {
            config,
            credentials,
            clock,
        }
    }

    /// Use a different clock for the signature time. Resets the learned offset.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Arc::new(SigningClock::new(clock, self.clock.corrects_skew()));
        self
    }

    /// Whether to learn the server's clock offset from refused requests (on by default;
    /// see [Clock skew](Signer#clock-skew)). Resets the learned offset.
    pub fn with_clock_skew_correction(mut self, enabled: bool) -> Self {
        self.clock = Arc::new(SigningClock::new(self.clock.clock().clone(), enabled));
        self
    }

    /// Report the response to a request this signer signed, so that a 403 caused by a
    /// wrong local clock corrects the time of the following signatures.
    pub fn observe_response(&self, status: StatusCode, headers: &HeaderMap) {
        self.clock.observe(status, headers);
    }

    /// Server time minus local time in milliseconds, as learned from refused requests
    /// (0 until a skew is seen).
    pub fn clock_offset_millis(&self) -> i64 {
        self.clock.offset_millis()
    }

    pub(crate) fn signing_clock(&self) -> &Arc<SigningClock> {
        &self.clock
    }

    /// A signer for Lattice service names with credentials from the default AWS chain.
    #[cfg(feature = "aws-config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
    pub async fn from_default_chain() -> Self {
        let config = SigningConfig::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("defaults are valid"));
        Self::new(config, CredentialsCache::from_default_chain().await)
    }

    /// The configuration.
    pub fn config(&self) -> &SigningConfig {
        &self.config
    }

    /// The credentials cache.
    pub fn credentials(&self) -> &CredentialsCache {
        &self.credentials
    }

    /// Sign a request, waiting for credentials only if none are cached yet.
    pub async fn sign<B>(&self, request: &mut http::Request<B>) -> Result<Signed, Error> {
        if let Some(signed) =
            self.with_parts(request, |m, u, h| self.sign_parts_if_warm(m, u, h))?
        {
            return Ok(signed);
        }
        let credentials = self.credentials.get().await?;
        self.with_parts(request, |m, u, h| {
            self.sign_parts(m, u, h, Some(&credentials))
        })
    }

    /// Sign with cached credentials only, never waiting; fails with
    /// [`ErrorKind::Credentials`](crate::ErrorKind::Credentials) if none are valid.
    pub fn sign_cached<B>(&self, request: &mut http::Request<B>) -> Result<Signed, Error> {
        if let Some(signed) =
            self.with_parts(request, |m, u, h| self.sign_parts_if_warm(m, u, h))?
        {
            return Ok(signed);
        }
        let credentials = self.credentials.try_cached()?;
        self.with_parts(request, |m, u, h| {
            self.sign_parts(m, u, h, Some(&credentials))
        })
    }

    /// Sign with cached credentials if any are valid, never waiting. `Ok(None)` means the
    /// host needs credentials and none are cached; the request is then left unchanged.
    pub fn sign_parts_if_warm(
        &self,
        method: &Method,
        uri: &mut Uri,
        headers: &mut HeaderMap,
    ) -> Result<Option<Signed>, Error> {
        // Warm cache first, so the host is parsed and matched once, inside the signer.
        let warm = self
            .credentials
            .with_cached(|credentials| self.sign_parts(method, uri, headers, Some(credentials)));
        if let Some(signed) = warm {
            return signed.map(Some);
        }
        if self.needs_credentials(uri, headers)? {
            return Ok(None);
        }
        self.sign_parts(method, uri, headers, None).map(Some)
    }

    /// Run `f` on the pieces of `request`. `http::Request` lends out one `&mut` at a time,
    /// so the URI is lifted out and put back.
    fn with_parts<B, T>(
        &self,
        request: &mut http::Request<B>,
        f: impl FnOnce(&Method, &mut Uri, &mut HeaderMap) -> T,
    ) -> T {
        let method = request.method().clone();
        let mut uri = std::mem::take(request.uri_mut());
        let result = f(&method, &mut uri, request.headers_mut());
        *request.uri_mut() = uri;
        result
    }

    /// Whether signing this request needs credentials (false when it will pass through).
    fn needs_credentials(&self, uri: &Uri, headers: &HeaderMap) -> Result<bool, Error> {
        let host = signed_host(uri, headers)?.host;
        Ok(self.config.scope_for(host)?.is_some())
    }

    /// Sign the pieces of a request with the given credentials (or pass it through).
    pub fn sign_parts(
        &self,
        method: &Method,
        uri: &mut Uri,
        headers: &mut HeaderMap,
        credentials: Option<&Credentials>,
    ) -> Result<Signed, Error> {
        canonicalize_authority(uri);
        match credentials {
            Some(credentials) => {
                self.config
                    .sign(method, uri, headers, credentials, self.clock.now())
            }
            None => {
                for name in SIGNER_OWNED_HEADERS {
                    headers.remove(name);
                }
                Ok(Signed::PassedThrough)
            }
        }
    }
}

#[cfg(test)]
mod tests;
