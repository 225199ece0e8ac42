//! A team's own app behind a service (`target = "http://..."`): requests and responses
//! stream through as they arrive, never buffered, without the caller's credentials.

use http::{
    HeaderValue, Request, Response, StatusCode, Uri, Version,
    header::{AUTHORIZATION, HOST},
    uri::PathAndQuery,
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use super::{BoxError, ResponseBody, text};

/// The caller's credentials: Lattice checks them, the target learns who called from
/// `x-amzn-lattice-identity` instead.
const SECURITY_TOKEN: &str = "x-amz-security-token";

/// One connection pool to every forwarding target, shared by all requests.
pub(crate) type ForwardClient = Client<HttpConnector, Incoming>;

pub(crate) fn client() -> ForwardClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `request` (already annotated with the `x-amzn-lattice-*` headers) to the app at
/// `base` and streams its answer back; `502` if the app cannot be reached.
pub(crate) async fn forward(
    client: &ForwardClient,
    base: &Uri,
    mut request: Request<Incoming>,
) -> Response<ResponseBody> {
    // The app sees the name the caller used; HTTP/2 callers send it as `:authority` only.
    if !request.headers().contains_key(HOST)
        && let Some(authority) = request.uri().authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(HOST, host);
    }
    request.headers_mut().remove(AUTHORIZATION);
    request.headers_mut().remove(SECURITY_TOKEN);
    *request.uri_mut() = target_uri(base, request.uri());
    // The pool speaks HTTP/1.1 to apps, whatever the caller spoke to the emulator.
    *request.version_mut() = Version::HTTP_11;

    match client.request(request).await {
        Ok(response) => response.map(|body| body.map_err(BoxError::from).boxed_unsync()),
        Err(error) => {
            tracing::warn!(target = %base, %error, "forwarding target did not answer");
            text(
                StatusCode::BAD_GATEWAY,
                format!("the target {base} did not answer: {error}\n"),
            )
        }
    }
}

/// `base`'s scheme and authority with the request's path and query, as received.
fn target_uri(base: &Uri, request: &Uri) -> Uri {
    let path_and_query = request
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).unwrap_or_else(|_| base.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_uri_keeps_path_and_query_as_received() {
        let base: Uri = "http://127.0.0.1:3000".parse().unwrap();
        let request: Uri = "https://orders.example.com/a%2Fb/../c?x=1&y"
            .parse()
            .unwrap();
        assert_eq!(
            target_uri(&base, &request).to_string(),
            "http://127.0.0.1:3000/a%2Fb/../c?x=1&y"
        );
    }
}
