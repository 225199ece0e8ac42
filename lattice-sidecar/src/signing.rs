//! Wires lattice-client into the proxy: credentials from the AWS chain kept in a
//! [`CredentialsCache`], a [`Signer`], and [`SigV4Layer`] around the upstream client. The
//! sidecar never signs anything itself.
//!
//! It also explains Lattice's 403s: the response passes through unchanged, and a warning
//! names the likely cause (clock skew, region or service mismatch, token, policy deny).
//! At debug level the canonical request is logged as well, rebuilt from the signed request
//! by lattice-client's [`CanonicalRequest`], with credentials and sensitive header values
//! redacted.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use lattice_client::{CanonicalRequest, CredentialsCache, PathEncoding, SigV4, SigV4Layer, Signer};
use tower::ServiceBuilder;
use tower::util::MapRequest;

use crate::body::{DIAGNOSIS_CAPTURE, RequestBody};
use crate::config::{CredentialsConfig, SigningSettings};
use crate::upstream::HttpClient;

/// The upstream client behind [`SigV4`]. The `MapRequest` step records the signed request
/// head when a diagnosis may need it.
pub type SignedClient =
    SigV4<MapRequest<HttpClient, fn(Request<RequestBody>) -> Request<RequestBody>>>;

/// Failed credential refreshes are retried this soon, doubling up to the maximum.
const CREDENTIALS_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(5));

/// Put in a request's extensions to have the signed head recorded (debug logging only).
#[derive(Clone, Default)]
pub struct SignedHeadSlot(Arc<OnceLock<SignedHead>>);

/// A signed request head. Holds the signature and token: never printed as is.
struct SignedHead {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

/// A Lattice 403 on its way to the client, captured for the diagnosis log.
pub struct Forbidden {
    error_type: Option<String>,
    body: Vec<u8>,
    head: Option<SignedHeadSlot>,
    /// How the signer encoded the path, to rebuild the canonical request it signed.
    path_encoding: PathEncoding,
    /// Scrubbed from anything logged, in case a message echoes them.
    secrets: Vec<String>,
}

/// Stands in when the AWS chain has no provider at all.
#[derive(Debug)]
struct NoProvider;

// === credentials and the stack ===

/// The credentials cache over the full aws-config chain (env, profile, SSO,
/// `credential_process`, web identity, ECS, EKS Pod Identity, IMDS), optionally assuming a
/// role. Nothing is fetched here: the caller warms the cache.
pub async fn credentials(config: &CredentialsConfig) -> CredentialsCache {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &config.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let provider = match (&config.assume_role, sdk.credentials_provider()) {
        (_, None) => SharedCredentialsProvider::new(NoProvider),
        (None, Some(provider)) => provider,
        (Some(role), Some(_)) => {
            let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
                .session_name(role.session_name.clone())
                .configure(&sdk);
            if let Some(external_id) = &role.external_id {
                builder = builder.external_id(external_id.clone());
            }
            SharedCredentialsProvider::new(builder.build().await)
        }
    };
    let (min, max) = CREDENTIALS_BACKOFF;
    CredentialsCache::builder(provider)
        .backoff(min, max)
        .build()
}

pub fn signer(settings: &SigningSettings, credentials: CredentialsCache) -> Signer {
    Signer::new(settings.config.clone(), credentials)
}

/// `SigV4Layer` around the client.
pub fn stack(signer: &Signer, client: HttpClient) -> SignedClient {
    let record: fn(Request<RequestBody>) -> Request<RequestBody> = record_signed_head;
    ServiceBuilder::new()
        .layer(SigV4Layer::new(signer.clone()))
        .map_request(record)
        .service(client)
}

fn record_signed_head(request: Request<RequestBody>) -> Request<RequestBody> {
    if let Some(slot) = request.extensions().get::<SignedHeadSlot>() {
        let _ = slot.0.set(SignedHead {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        });
    }
    request
}

impl ProvideCredentials for NoProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "the AWS credential chain found no credentials: set AWS_PROFILE or --profile, \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is available",
        )))
    }
}

// === impl SignedHeadSlot ===

impl fmt::Debug for SignedHeadSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeadSlot")
            .field("recorded", &self.0.get().is_some())
            .finish()
    }
}

// === impl Forbidden ===

impl Forbidden {
    pub fn new(error_type: Option<String>, head: Option<SignedHeadSlot>, signer: &Signer) -> Self {
        let secrets = signer
            .credentials()
            .cached()
            .map(|c| {
                [Some(c.secret_access_key()), c.session_token()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            error_type,
            body: Vec::new(),
            head,
            path_encoding: signer.config().path_encoding(),
            secrets,
        }
    }

    pub fn capture(&mut self, data: &Bytes) {
        let room = DIAGNOSIS_CAPTURE.saturating_sub(self.body.len());
        self.body.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Log the diagnosis (warn) and the canonical request (debug).
    pub fn log(self, upstream: &str) {
        let text = String::from_utf8_lossy(&self.body);
        let (code, message) = parse_error_body(self.error_type.as_deref(), &text);
        let message = self.scrub(&message);
        let likely_cause = diagnose(&code, &message);
        tracing::warn!(
            target: "lattice_sidecar::diagnosis",
            upstream,
            code = %code,
            message = %message,
            likely_cause,
            "VPC Lattice refused the request with 403; passed through unchanged"
        );
        if tracing::enabled!(target: "lattice_sidecar::diagnosis", tracing::Level::DEBUG)
            && let Some(head) = self.head.as_ref().and_then(|slot| slot.0.get())
            && let Some(creq) = canonical_request(head, self.path_encoding)
        {
            let creq = self.scrub(&creq);
            tracing::debug!(target: "lattice_sidecar::diagnosis", upstream, canonical_request = %creq, "canonical request as signed (recomputed for this log)");
        }
    }

    fn scrub(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "<redacted>")
        })
    }
}

impl fmt::Debug for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forbidden")
            .field("error_type", &self.error_type)
            .field("captured", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// `(code, message)` from a Lattice error: `x-amzn-errortype` and a `Code: message` body.
/// Only the first line is kept: AWS sometimes appends the expected canonical request.
fn parse_error_body(error_type: Option<&str>, body: &str) -> (String, String) {
    let first_line = body
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim();
    let (body_code, message) = match first_line.split_once(": ") {
        Some((code, message))
            if !code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (Some(code), message)
        }
        _ => (None, first_line),
    };
    // `x-amzn-errortype` may carry a `:`-suffix (e.g. a URL); keep the code itself.
    let code = error_type
        .map(|t| t.split(':').next().unwrap_or(t).trim())
        .filter(|t| !t.is_empty())
        .or(body_code)
        .unwrap_or("unknown");
    let message: String = message.chars().take(512).collect();
    (code.to_owned(), message)
}

/// The likely cause of a Lattice 403, from its code and message.
pub fn diagnose(code: &str, message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    let code = code.to_ascii_lowercase();
    if m.contains("expired") && m.contains("signature")
        || m.contains("not yet current")
        || m.contains("skew")
    {
        "clock skew: this host's clock is too far from AWS time; check NTP"
    } else if m.contains("security token")
        || m.contains("session token")
        || m.contains("x-amz-security-token")
    {
        "session token missing, expired or invalid: check the credential source (temporary credentials need their token)"
    } else if m.contains("region")
        && (m.contains("scope") || m.contains("mismatch") || m.contains("region set"))
    {
        "region mismatch: the signing region (from the service name, or --region for custom domains) is not the service's; \
         use --sigv4a for services reached in several regions"
    } else if m.contains("service") && (m.contains("scope") || m.contains("mismatch")) {
        "service mismatch: the signature is not for `vpc-lattice-svcs`"
    } else if code.contains("unrecognizedclient") {
        "unknown access key: the credentials are not valid for this account or partition"
    } else if code.contains("incompletesignature") {
        "incomplete signature: a required header is missing or unsigned (was the request changed after signing?)"
    } else if m.contains("signature") && (m.contains("does not match") || m.contains("mismatch")) {
        "signature mismatch: the secret key is wrong, or something between the sidecar and Lattice changed the path, query or a signed header"
    } else if m.contains("anonymous") {
        "the request reached Lattice unsigned: is the service's auth type AWS_IAM and is anything stripping the Authorization header?"
    } else if m.contains("not authorized")
        || m.contains("explicit deny")
        || code.contains("accessdenied")
    {
        "policy deny: the service's auth policy (or an IAM policy) does not allow vpc-lattice-svcs:Invoke for this principal and resource"
    } else {
        "unknown: see the message"
    }
}

/// The canonical request of a signed head, for logs, with sensitive header values redacted.
/// `None` if the head was not signed.
fn canonical_request(head: &SignedHead, path_encoding: PathEncoding) -> Option<String> {
    let canonical = CanonicalRequest::from_signed_parts(
        &head.method,
        &head.uri,
        &head.headers,
        path_encoding,
        is_sensitive_header,
    );
    canonical
        .ok()
        .map(|canonical| canonical.as_str().to_owned())
}

fn is_sensitive_header(name: &str) -> bool {
    [
        "token",
        "secret",
        "auth",
        "cookie",
        "password",
        "key",
        "credential",
    ]
    .iter()
    .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lattice_error_bodies() {
        let (code, message) = parse_error_body(
            Some("AccessDeniedException"),
            "AccessDeniedException: User: arn:aws:iam::1:user/x is not authorized to perform: vpc-lattice-svcs:Invoke\n",
        );
        assert_eq!(code, "AccessDeniedException");
        assert!(message.starts_with("User: arn"), "{message}");
        assert!(diagnose(&code, &message).starts_with("policy deny"));

        let (code, message) = parse_error_body(
            None,
            "InvalidSignatureException: Signature expired: 20200101T000000Z is now earlier than 20240101\nmore",
        );
        assert_eq!(code, "InvalidSignatureException");
        assert!(!message.contains("more"));
        assert!(diagnose(&code, &message).starts_with("clock skew"));
    }

    #[test]
    fn diagnoses_common_causes() {
        let cases = [
            (
                "InvalidSignatureException",
                "Credential should be scoped to a valid region, not 'us-east-1'",
                "region mismatch",
            ),
            (
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'vpc-lattice-svcs'",
                "service mismatch",
            ),
            (
                "InvalidSignatureException",
                "The security token included in the request is invalid",
                "session token",
            ),
            (
                "UnrecognizedClientException",
                "The access key id is unknown",
                "unknown access key",
            ),
            (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided",
                "signature mismatch",
            ),
            (
                "AccessDeniedException",
                "User: anonymous is not authorized to perform: vpc-lattice-svcs:Invoke",
                "the request reached Lattice unsigned",
            ),
            (
                "IncompleteSignatureException",
                "Authorization header requires 'SignedHeaders'",
                "incomplete signature",
            ),
        ];
        for (code, message, cause) in cases {
            assert!(
                diagnose(code, message).starts_with(cause),
                "{code}: {message} -> {}",
                diagnose(code, message)
            );
        }
    }

    #[test]
    fn canonical_request_redacts_and_sorts() {
        use http::header::AUTHORIZATION;

        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-west-2/vpc-lattice-svcs/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=abc".parse().unwrap());
        headers.insert("x-amz-date", "20240101T000000Z".parse().unwrap());
        headers.insert("x-amz-security-token", "SECRET-TOKEN".parse().unwrap());
        let head = SignedHead {
            method: Method::GET,
            uri: "https://svc.example.com/a/./b%2Fc?z=1&a=%7E&a=0"
                .parse()
                .unwrap(),
            headers,
        };
        let creq = canonical_request(&head, PathEncoding::Double).unwrap();
        assert_eq!(
            creq,
            "GET\n/a/b%252Fc\na=0&a=~&z=1\nhost:svc.example.com\nx-amz-date:20240101T000000Z\n\
             x-amz-security-token:<redacted>\n\nhost;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD"
        );
        assert!(!creq.contains("SECRET-TOKEN") && !creq.contains("Signature"));
    }
}
