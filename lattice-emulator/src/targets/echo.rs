//! Everything else: describes the request as the target received it, as JSON.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

use super::{IDENTITY_HEADER, ResponseBody, digest_body, is_secret_header, json, text};
use crate::verifier::Verified;

/// What the echo target reports about a verified signature.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) algorithm: &'static str,
    pub(crate) access_key_id: String,
    pub(crate) signed_headers: Vec<String>,
    /// Which canonical URI form matched ([`crate::verifier::UriEncoding`]).
    pub(crate) path_form: String,
    /// The canonical URI the signature covered (line 2 of the canonical request).
    pub(crate) canonical_uri: String,
}

// === impl Caller ===

impl From<Verified> for Caller {
    fn from(verified: Verified) -> Self {
        let canonical_uri = verified
            .canonical_request
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        Self {
            algorithm: verified.algorithm.name(),
            access_key_id: verified.access_key_id,
            signed_headers: verified.signed_headers,
            path_form: format!("{:?}", verified.uri_encoding),
            canonical_uri,
        }
    }
}

pub(super) async fn echo(request: Request<Incoming>) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let digest = match digest_body(body).await {
        Ok(digest) => digest,
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {error}\n"),
            );
        }
    };

    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values = parts
            .headers
            .get_all(name)
            .iter()
            .map(|value| {
                // Never reflect credentials, only that they arrived.
                if is_secret_header(name) {
                    Value::from("<present>")
                } else {
                    Value::from(String::from_utf8_lossy(value.as_bytes()))
                }
            })
            .collect();
        headers.insert(name.as_str().to_owned(), Value::Array(values));
    }

    let identity = parts
        .headers
        .get(IDENTITY_HEADER)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let verified = parts.extensions.get::<Caller>().map(|caller| {
        json!({
            "algorithm": caller.algorithm,
            "access_key_id": caller.access_key_id,
            "signed_headers": caller.signed_headers,
            "path_form": caller.path_form,
            "canonical_uri": caller.canonical_uri,
        })
    });

    json(
        StatusCode::OK,
        &json!({
            "method": parts.method.as_str(),
            "authority": parts.uri.authority().map(|authority| authority.as_str()),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "version": format!("{:?}", parts.version),
            "headers": headers,
            "body_len": digest.len,
            "body_sha256": digest.sha256,
            "identity": identity,
            "verified": verified,
        }),
    )
}
