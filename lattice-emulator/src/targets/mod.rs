//! The in-process services behind the emulator, chosen by path and content type.

pub(crate) mod download;
mod echo;
pub(crate) mod forward;
pub(crate) mod grpc;
mod upload;

use std::{pin::pin, time::Duration};

use bytes::Bytes;
use http::{
    HeaderValue, Method, Request, Response, StatusCode,
    header::{CONTENT_TYPE, HeaderName},
};
use http_body::Body;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

pub(crate) use echo::Caller;
use grpc::{GreeterServer, GreeterTarget};

/// Who called, as Lattice tells targets: `Principal=...; SessionName=...; Type=AWS_IAM`.
pub(crate) const IDENTITY_HEADER: &str = "x-amzn-lattice-identity";

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// Upper bound for every `delay_ms`, so a typo cannot hang a test run.
const MAX_DELAY_MS: u64 = 60_000;

/// Length and SHA-256 of a body, computed as it streams by.
#[derive(Debug)]
struct BodyDigest {
    len: u64,
    sha256: String,
}

pub(crate) async fn dispatch(
    request: Request<Incoming>,
    greeter: GreeterServer<GreeterTarget>,
) -> Response<ResponseBody> {
    if grpc::is_grpc(&request) {
        return grpc::serve(greeter, request).await;
    }
    let method = request.method();
    let head = method == Method::HEAD;
    let response = match request.uri().path() {
        "/download" if method == Method::GET || method == Method::HEAD => {
            download::download(&request)
        }
        "/upload" if method == Method::POST || method == Method::PUT => {
            upload::upload(request).await
        }
        "/slow-headers" => {
            let delay = match number_param(request.uri().query(), "delay_ms", 0, MAX_DELAY_MS) {
                Ok(delay) => delay,
                Err(response) => return *response,
            };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            echo::echo(request).await
        }
        _ => echo::echo(request).await,
    };
    // A HEAD response carries the headers a GET would, never a body (HTTP/2 peers reset
    // the stream if DATA follows).
    if head {
        response.map(|_| full(Bytes::new()))
    } else {
        response
    }
}

pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    with_content_type(status, body.into(), "text/plain")
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    with_content_type(status, Bytes::from(value.to_string()), "application/json")
}

fn with_content_type(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
) -> Response<ResponseBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn full(body: Bytes) -> ResponseBody {
    Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The raw value of the first `name=` pair in a query string.
fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A numeric query parameter, or a ready 400 response naming the bad value.
fn number_param(
    query: Option<&str>,
    name: &str,
    default: u64,
    max: u64,
) -> Result<u64, Box<Response<ResponseBody>>> {
    let Some(raw) = query_param(query, name) else {
        return Ok(default);
    };
    match raw.parse::<u64>() {
        Ok(value) if value <= max => Ok(value),
        _ => Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            format!("query parameter {name} must be an integer between 0 and {max}, got {raw:?}\n"),
        ))),
    }
}

async fn digest_body<B>(body: B) -> Result<BodyDigest, B::Error>
where
    B: Body<Data = Bytes>,
{
    let mut body = pin!(body);
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            hasher.update(&data);
            len += data.len() as u64;
        }
    }
    Ok(BodyDigest {
        len,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// The caller's credentials: the echo target shows them as `<present>`, forwarding targets
/// never get them (they learn who called from `x-amzn-lattice-identity`), and auth
/// policies never see them.
pub(crate) fn is_secret_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "x-amz-security-token"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_finds_first_match() {
        assert_eq!(
            query_param(Some("a=1&bytes=20&bytes=3"), "bytes"),
            Some("20")
        );
        assert_eq!(query_param(Some("chunked"), "chunked"), Some(""));
        assert_eq!(query_param(None, "bytes"), None);
    }

    #[test]
    fn number_param_rejects_garbage_and_overflow() {
        assert_eq!(number_param(Some("n=5"), "n", 1, 10).ok(), Some(5));
        assert_eq!(number_param(Some(""), "n", 1, 10).ok(), Some(1));
        let bad = number_param(Some("n=x"), "n", 1, 10).err();
        assert_eq!(bad.map(|r| r.status()), Some(StatusCode::BAD_REQUEST));
        assert!(number_param(Some("n=11"), "n", 1, 10).is_err());
    }

    #[tokio::test]
    async fn digest_body_hashes_every_frame() {
        let digest = digest_body(Full::new(Bytes::from_static(b"abc")))
            .await
            .unwrap();
        assert_eq!(digest.len, 3);
        assert_eq!(
            digest.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
