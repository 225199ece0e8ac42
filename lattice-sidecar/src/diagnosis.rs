//! Why VPC Lattice refused a request. The 403 passes through unchanged; a warning names the
//! likely cause (clock skew, region or service mismatch, token, policy deny). At debug
//! level the canonical request is logged as well, rebuilt from the signed request head by
//! lattice-client's [`CanonicalRequest`] (the signer's own canonicalization), with
//! credentials and sensitive header values redacted.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use lattice_client::{CanonicalRequest, PathEncoding, Signer};

/// The `tracing` target of the diagnosis log.
pub(crate) const TARGET: &str = "lattice_sidecar::diagnosis";
/// How much of a Lattice 403 body is kept for the diagnosis log.
pub(crate) const CAPTURE: usize = 2048;

/// Put in a request's extensions to have the signed head recorded (debug logging only).
#[derive(Clone, Default)]
pub(crate) struct SignedHeadSlot(Arc<OnceLock<SignedHead>>);

/// A signed request head. Holds the signature and token: never printed as is.
struct SignedHead {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

/// A Lattice 403 on its way to the client, captured for the diagnosis log.
pub(crate) struct Forbidden {
    error_type: Option<String>,
    body: Vec<u8>,
    head: Option<SignedHeadSlot>,
    /// How the signer encoded the path, to rebuild the canonical request it signed.
    path_encoding: PathEncoding,
    /// Scrubbed from anything logged, in case a message echoes them.
    secrets: Vec<String>,
}

/// Record the signed head of `request` if it carries a [`SignedHeadSlot`]: the step after
/// signing in the upstream stack.
pub(crate) fn record_signed_head<B>(request: Request<B>) -> Request<B> {
    if let Some(slot) = request.extensions().get::<SignedHeadSlot>() {
        let _ = slot.0.set(SignedHead {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        });
    }
    request
}

// === impl SignedHeadSlot ===

impl SignedHeadSlot {
    /// A slot while the diagnosis log is at debug level, where the canonical request is
    /// logged; recording the head costs a copy of it, so only then.
    pub(crate) fn when_logged() -> Option<Self> {
        tracing::enabled!(target: TARGET, tracing::Level::DEBUG).then(Self::default)
    }
}

impl fmt::Debug for SignedHeadSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeadSlot")
            .field("recorded", &self.0.get().is_some())
            .finish()
    }
}

// === impl Forbidden ===

impl Forbidden {
    pub(crate) fn new(
        error_type: Option<String>,
        head: Option<SignedHeadSlot>,
        signer: &Signer,
    ) -> Self {
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

    pub(crate) fn capture(&mut self, data: &Bytes) {
        let room = CAPTURE.saturating_sub(self.body.len());
        self.body.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Log the diagnosis (warn) and the canonical request (debug).
    pub(crate) fn log(self, upstream: &str) {
        let text = String::from_utf8_lossy(&self.body);
        let (code, message) = parse_error_body(self.error_type.as_deref(), &text);
        let message = self.scrub(&message);
        let likely_cause = diagnose(&code, &message);
        if let Some(denied) = PolicyDeny::parse(&message) {
            tracing::warn!(
                target: TARGET,
                upstream,
                code = %code,
                principal = denied.principal,
                resource = denied.resource,
                reason = denied.reason,
                likely_cause,
                "policy deny: {} may not invoke {}; passed through unchanged",
                denied.principal,
                denied.resource,
            );
        } else {
            tracing::warn!(
                target: TARGET,
                upstream,
                code = %code,
                message = %message,
                likely_cause,
                "VPC Lattice refused the request with 403; passed through unchanged"
            );
        }
        if tracing::enabled!(target: TARGET, tracing::Level::DEBUG)
            && let Some(head) = self.head.as_ref().and_then(|slot| slot.0.get())
            && let Some(creq) = canonical_request(head, self.path_encoding)
        {
            let creq = self.scrub(&creq);
            tracing::debug!(target: TARGET, upstream, canonical_request = %creq, "canonical request as signed (recomputed for this log)");
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

/// Who was refused what, from Lattice's access-denied message: "User: <principal> is not
/// authorized to perform: vpc-lattice-svcs:Invoke on resource: <arn> because <reason>".
#[derive(Debug, PartialEq, Eq)]
struct PolicyDeny<'a> {
    principal: &'a str,
    resource: &'a str,
    /// What follows the resource: "because no service-based policy allows the ... action"
    /// or "with an explicit deny in a service-based policy".
    reason: Option<&'a str>,
}

impl<'a> PolicyDeny<'a> {
    fn parse(message: &'a str) -> Option<Self> {
        let rest = message.trim().strip_prefix("User: ")?;
        let (principal, rest) = rest.split_once(" is not authorized to perform: ")?;
        let (_action, rest) = rest.split_once(" on resource: ")?;
        // ARNs hold no spaces: the resource ends at the first one.
        let (resource, reason) = match rest.trim().split_once(' ') {
            Some((resource, reason)) => (resource, Some(reason.trim())),
            None => (rest, None),
        };
        let resource = resource.trim();
        (!principal.is_empty() && !resource.is_empty()).then_some(Self {
            principal,
            resource,
            reason,
        })
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
pub(crate) fn diagnose(code: &str, message: &str) -> &'static str {
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
    fn policy_denies_name_principal_and_resource() {
        // Lattice's wording, as AWS workshop transcripts show it, and the emulator's.
        let cases = [
            (
                "AccessDeniedException: User: arn:aws:sts::12345678910:assumed-role/vpc-lattice-sigv4-client/eks-eks-cluste-demo-clust-1b575f8d is not authorized to perform: vpc-lattice-svcs:Invoke on resource: arn:aws:vpc-lattice:eu-west-1:12345678910:service/svc-002349360ddc5a463/ because no service-based policy allows the vpc-lattice-svcs:Invoke action\n",
                "arn:aws:sts::12345678910:assumed-role/vpc-lattice-sigv4-client/eks-eks-cluste-demo-clust-1b575f8d",
                "arn:aws:vpc-lattice:eu-west-1:12345678910:service/svc-002349360ddc5a463/",
                Some("because no service-based policy allows the vpc-lattice-svcs:Invoke action"),
            ),
            (
                "AccessDeniedException: User: anonymous is not authorized to perform: vpc-lattice-svcs:Invoke on resource: arn:aws:vpc-lattice:us-west-2:097381749469:service/svc-061f66f60654b5c6f/ because no network-based policy allows the vpc-lattice-svcs:Invoke action",
                "anonymous",
                "arn:aws:vpc-lattice:us-west-2:097381749469:service/svc-061f66f60654b5c6f/",
                Some("because no network-based policy allows the vpc-lattice-svcs:Invoke action"),
            ),
            (
                "AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/app/s1 is not authorized to perform: vpc-lattice-svcs:Invoke on resource: arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123456789abcdef0/admin with an explicit deny in a service-based policy\n",
                "arn:aws:sts::111122223333:assumed-role/app/s1",
                "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123456789abcdef0/admin",
                Some("with an explicit deny in a service-based policy"),
            ),
            (
                "AccessDeniedException: User: anonymous is not authorized to perform: vpc-lattice-svcs:Invoke on resource: arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0123456789abcdef0/orders/42\n",
                "anonymous",
                "arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0123456789abcdef0/orders/42",
                None,
            ),
        ];
        for (body, principal, resource, reason) in cases {
            let (code, message) = parse_error_body(Some("AccessDeniedException"), body);
            let denied = PolicyDeny::parse(&message).unwrap_or_else(|| panic!("{message}"));
            assert_eq!(
                denied,
                PolicyDeny {
                    principal,
                    resource,
                    reason
                }
            );
            assert_eq!(code, "AccessDeniedException");
        }
        for other in [
            "Signature expired: 20200101T000000Z is now earlier than 20240101",
            "User: x is not authorized",
            "User:  is not authorized to perform: a on resource: b",
        ] {
            assert_eq!(PolicyDeny::parse(other), None, "{other}");
        }
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
