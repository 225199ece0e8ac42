//! The signing core: `(method, URI, headers, credentials, time) -> signed headers`.
//!
//! [`SigningConfig::sign`] is pure: no I/O and no clock; the time is an argument. This
//! module decides *what* is signed for Lattice: the host as sent,
//! `x-amz-content-sha256: UNSIGNED-PAYLOAD` (Lattice does not support payload signing, so
//! bodies are never read), no hop-by-hop headers. The arithmetic runs in `crate::fast`,
//! which is checked byte for byte against `aws-sigv4`; aws-sigv4 still signs the rare
//! requests the fast path does not cover.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::{v4, v4a};
use aws_smithy_runtime_api::client::identity::Identity;
use http::header::{AUTHORIZATION, HOST};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use smallvec::SmallVec;

use crate::clock::{SharedClock, SigningClock};
use crate::credentials::CredentialsCache;
use crate::error::{BuildError, Error};
use crate::fast;
use crate::host::{DomainPattern, is_region_name, lattice_region_of, normalized};

use self::host_memo::{Origin, RegionAt, Resolved};

mod host_memo;

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

/// The `(name, value)` pairs to sign, on the stack for up to this many headers (which
/// saves an allocation per signature); requests with more spill to the heap.
type SignableHeaders<'a> = SmallVec<[(&'a str, &'a str); 16]>;

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
#[derive(Clone)]
pub struct SigningConfig {
    inner: Arc<ConfigInner>,
}

struct ConfigInner {
    /// Process-unique, so per-thread memos never mix configs (see `host_memo`).
    id: u64,
    algorithm: Algorithm,
    region: Option<String>,
    custom_domains: Vec<(DomainPattern, Option<String>)>,
    unknown_hosts: UnknownHosts,
    /// Parsed once: comparing `HeaderName`s is mostly comparing an enum tag.
    unsigned_exact: Vec<HeaderName>,
    unsigned_prefixes: Vec<String>,
    path_encoding: PathEncoding,
    signing_name: String,
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

/// The host a request is signed for, and whether it came from a `Host` header (else from
/// the URI, and the canonical request needs it added).
struct HostScope<'a> {
    host: &'a str,
    /// `None`: not allowed, passed through unsigned.
    scope: Option<Scope<'a>>,
    from_host_header: bool,
}

/// Where a request goes, once its host is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope<'a> {
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
    pub fn sign(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        credentials: &Credentials,
        time: SystemTime,
    ) -> Result<Signed, Error> {
        // Requests rarely carry these; a scan is cheaper than five hashed removes.
        if headers.keys().any(|name| fast::SIGNER_OWNED.contains(name)) {
            for name in &fast::SIGNER_OWNED {
                headers.remove(name);
            }
        }
        // Filled while `headers` is borrowed for signing, inserted once the borrow ends.
        let mut fast_headers = None;
        let mut reference_headers = Vec::new();
        {
            let HostScope {
                host,
                scope,
                from_host_header,
            } = self.host_and_scope(uri, headers)?;
            let Some(scope) = scope else {
                tracing::debug!(%host, "host not allowed; passing request through unsigned");
                return Ok(Signed::PassedThrough);
            };

            let mut signable = SignableHeaders::new();
            if !from_host_header {
                signable.push(("host", host));
            }
            for (name, value) in headers.iter() {
                if self.is_unsigned(name) {
                    continue;
                }
                let value = value
                    .to_str()
                    .map_err(|_| Error::invalid_header_value(name))?;
                signable.push((name.as_str(), value));
            }
            let signable_headers = signable.as_mut_slice();
            // The fast path covers origin-form paths in years 1970..=9999; anything else
            // (`*`, authority-form, odd clocks) goes through aws-sigv4 as before.
            let timestamp = uri
                .path()
                .starts_with('/')
                .then(|| fast::Timestamp::new(time))
                .flatten();
            match timestamp {
                Some(timestamp) => {
                    let request = fast::Request {
                        method: method.as_str(),
                        path: uri.path(),
                        query: uri.query(),
                        double_encode_path: self.inner.path_encoding == PathEncoding::Double,
                        headers: signable_headers,
                    };
                    let fast_scope = match &scope {
                        Scope::Region(region) => fast::Scope::Region(region),
                        Scope::RegionSet(region_set) => fast::Scope::RegionSet(region_set),
                    };
                    let signed = fast_headers.insert(fast::SignedHeaders::default());
                    fast::sign(
                        request,
                        credentials,
                        &self.inner.signing_name,
                        fast_scope,
                        timestamp,
                        signed,
                    )
                    .map_err(Error::signing)?;
                }
                None => {
                    reference_headers = self.sign_with_aws_sigv4(
                        method,
                        uri,
                        signable_headers.to_vec(),
                        credentials,
                        &scope,
                        time,
                    )?;
                }
            }
            tracing::trace!(%host, ?scope, "signed request");
        }
        if let Some(signed) = fast_headers {
            signed.insert_into(headers);
        }
        for (name, value) in reference_headers {
            headers.insert(name, value);
        }
        Ok(Signed::Signed)
    }

    /// The reference path: the same signature computed by aws-sigv4.
    fn sign_with_aws_sigv4(
        &self,
        method: &Method,
        uri: &Uri,
        signable_headers: Vec<(&str, &str)>,
        credentials: &Credentials,
        scope: &Scope<'_>,
        time: SystemTime,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
        // The host is always supplied as a header, so only path and query are needed here.
        let path_and_query = signable_path_and_query(uri);
        let request = SignableRequest::new(
            method.as_str(),
            path_and_query,
            signable_headers.into_iter(),
            SignableBody::UnsignedPayload,
        )
        .map_err(Error::signing)?;

        let identity = Identity::from(credentials.clone());
        let settings = self.settings();
        let params = match scope {
            Scope::Region(region) => v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name(&self.inner.signing_name)
                .time(time)
                .settings(settings)
                .build()
                .map_err(Error::signing)?
                .into(),
            Scope::RegionSet(region_set) => v4a::SigningParams::builder()
                .identity(&identity)
                .region_set(region_set)
                .name(&self.inner.signing_name)
                .time(time)
                .settings(settings)
                .build()
                .map_err(Error::signing)?
                .into(),
        };
        let (instructions, _signature) =
            sign(request, &params).map_err(Error::signing)?.into_parts();
        let mut new_headers = Vec::new();
        for header in instructions.into_parts().0 {
            let mut value = HeaderValue::from_str(header.value())
                .map_err(|_| Error::invalid_uri("signature produced an invalid header value"))?;
            value.set_sensitive(header.sensitive() || header.name() == AUTHORIZATION);
            let name = HeaderName::from_bytes(header.name().as_bytes())
                .map_err(|_| Error::invalid_uri("signature produced an invalid header name"))?;
            new_headers.push((name, value));
        }
        Ok(new_headers)
    }

    fn settings(&self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.signature_location = SignatureLocation::Headers;
        settings.session_token_mode = SessionTokenMode::Include;
        // We filter unsigned headers before aws-sigv4 sees them, with prefix support.
        settings.excluded_headers = Some(vec![Cow::Borrowed("authorization")]);
        let (encoding, normalization) = match self.inner.path_encoding {
            PathEncoding::Double => (
                PercentEncodingMode::Double,
                UriPathNormalizationMode::Enabled,
            ),
            PathEncoding::Single => (
                PercentEncodingMode::Single,
                UriPathNormalizationMode::Disabled,
            ),
        };
        settings.percent_encoding_mode = encoding;
        settings.uri_path_normalization_mode = normalization;
        settings
    }

    fn is_unsigned(&self, name: &HeaderName) -> bool {
        self.inner.unsigned_exact.contains(name)
            || self
                .inner
                .unsigned_prefixes
                .iter()
                .any(|p| name.as_str().starts_with(p.as_str()))
    }

    /// The host to sign and where it is signed for; the scope is `None` when the host is
    /// not allowed but pass-through is configured. Memoized per thread (`host_memo`).
    fn host_and_scope<'a>(
        &'a self,
        uri: &'a Uri,
        headers: &'a HeaderMap,
    ) -> Result<HostScope<'a>, Error> {
        let (origin, source) = host_source(uri, headers)?;
        let from_host_header = origin == Origin::HostHeader;
        let id = self.inner.id;
        if let Some((host, scope)) = host_memo::lookup(id, origin, source)
            .and_then(|resolved| self.scope_from_memo(source, resolved))
        {
            return Ok(HostScope {
                host,
                scope: Some(scope),
                from_host_header,
            });
        }
        let host = host_in_source(origin, source, uri);
        let scope = self.scope_for(host)?;
        if let Some(resolved) = scope
            .as_ref()
            .and_then(|s| self.memo_entry(source, host, s))
        {
            host_memo::remember(id, origin, source, resolved);
        }
        Ok(HostScope {
            host,
            scope,
            from_host_header,
        })
    }

    /// How to find `scope` again from `source` alone, if it can be (a region made lowercase
    /// into a fresh string cannot).
    fn memo_entry(&self, source: &str, host: &str, scope: &Scope<'_>) -> Option<Resolved> {
        let host = host_memo::range_within(source, host)?;
        let region = match scope {
            Scope::RegionSet(_) => RegionAt::RegionSet,
            Scope::Region(Cow::Owned(_)) => return None,
            Scope::Region(Cow::Borrowed(region)) => {
                let is = |candidate: Option<&String>| {
                    candidate.is_some_and(|c| std::ptr::eq(c.as_ptr(), region.as_ptr()))
                };
                if let Some(range) = host_memo::range_within(source, region) {
                    RegionAt::Source(range)
                } else if is(self.inner.region.as_ref()) {
                    RegionAt::Default
                } else {
                    let domains = &self.inner.custom_domains;
                    RegionAt::Domain(domains.iter().position(|(_, r)| is(r.as_ref()))?)
                }
            }
        };
        Some(Resolved { host, region })
    }

    fn scope_from_memo<'a>(
        &'a self,
        source: &'a str,
        resolved: Resolved,
    ) -> Option<(&'a str, Scope<'a>)> {
        let host = source.get(resolved.host)?;
        let scope = match (&self.inner.algorithm, resolved.region) {
            (Algorithm::SigV4a { region_set }, RegionAt::RegionSet) => Scope::RegionSet(region_set),
            (Algorithm::SigV4, RegionAt::Source(range)) => Scope::Region(source.get(range)?.into()),
            (Algorithm::SigV4, RegionAt::Default) => {
                Scope::Region(self.inner.region.as_deref()?.into())
            }
            (Algorithm::SigV4, RegionAt::Domain(index)) => {
                let (_, region) = self.inner.custom_domains.get(index)?;
                Scope::Region(region.as_deref()?.into())
            }
            _ => return None,
        };
        Some((host, scope))
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

/// The path and query as aws-sigv4 should see them.
///
/// aws-sigv4 decodes the query as a form, so a literal `+` would be signed as a space
/// (`%20`), while AWS services canonicalize it as `%2B` (smithy-rs#4227). Handing it `%2B`
/// instead makes both sides agree; the request itself is sent unchanged.
fn signable_path_and_query(uri: &Uri) -> Cow<'_, str> {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    match uri.query() {
        Some(query) if query.contains('+') => {
            let path = &path_and_query[..path_and_query.len() - query.len()];
            Cow::Owned(format!("{path}{}", query.replace('+', "%2B")))
        }
        _ => Cow::Borrowed(path_and_query),
    }
}

/// The host that is signed: the `Host` header if present, else the URI's authority
/// without a default port.
#[cfg(test)]
fn signed_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Result<Cow<'a, str>, Error> {
    let (origin, source) = host_source(uri, headers)?;
    Ok(Cow::Borrowed(host_in_source(origin, source, uri)))
}

/// The text the signed host is taken from, and where it came from.
fn host_source<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Result<(Origin, &'a str), Error> {
    let mut hosts = headers.get_all(HOST).iter();
    if let Some(host) = hosts.next() {
        if hosts.next().is_some() {
            return Err(Error::invalid_uri("request has more than one Host header"));
        }
        return host
            .to_str()
            .map(|host| (Origin::HostHeader, host))
            .map_err(|_| Error::invalid_header_value(&HOST));
    }
    let authority = uri.authority().ok_or_else(Error::missing_authority)?;
    let default_port = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => Some(443),
        Some(s) if *s == Scheme::HTTP => Some(80),
        _ => None,
    };
    Ok((Origin::Authority { default_port }, authority.as_str()))
}

/// The signed host within `source` (from [`host_source`]).
fn host_in_source<'a>(origin: Origin, source: &'a str, uri: &'a Uri) -> &'a str {
    let (Origin::Authority { default_port }, Some(authority)) = (origin, uri.authority()) else {
        return source;
    };
    let port = authority.port_u16();
    if port.is_some() && port == default_port {
        authority.host()
    } else {
        source
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
                id: host_memo::next_config_id(),
                algorithm: self.algorithm,
                region: self.region,
                custom_domains,
                unknown_hosts: self.unknown_hosts,
                unsigned_exact,
                unsigned_prefixes,
                path_encoding: self.path_encoding,
                signing_name: self.signing_name,
            }),
        })
    }
}

/// A [`SigningConfig`] with credentials and a clock: signs whole requests.
///
/// Cheap to clone; clones share the credentials cache and the learned clock offset.
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
        Ok(self.config.host_and_scope(uri, headers)?.scope.is_some())
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
