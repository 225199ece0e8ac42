//! A team's own app behind a service (`target = "http://..."`): requests and responses
//! stream through as they arrive, never buffered, without the caller's credentials; over
//! HTTP/1.1, or h2c for `HTTP2` and `GRPC` targets, with trailers.

use http::{
    HeaderName, HeaderValue, Request, Response, StatusCode, Uri, Version, header::HOST,
    uri::PathAndQuery,
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use super::{BoxError, ResponseBody, is_secret_header, text};
use crate::ProtocolVersion;

type Pool = Client<HttpConnector, Incoming>;

/// The connection pools to every forwarding target, shared by all requests: one per
/// protocol, since a hyper pool speaks either HTTP/1.1 or HTTP/2 with prior knowledge.
#[derive(Clone, Debug)]
pub(crate) struct ForwardClient {
    http1: Pool,
    h2c: Pool,
}

pub(crate) fn client() -> ForwardClient {
    ForwardClient {
        http1: Client::builder(TokioExecutor::new()).build_http(),
        h2c: Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http(),
    }
}

/// Sends `request` (already annotated with the `x-amzn-lattice-*` headers) to the app at
/// `base` in `protocol` and streams its answer back; `502` if the app cannot be reached.
pub(crate) async fn forward(
    client: &ForwardClient,
    base: &Uri,
    protocol: ProtocolVersion,
    mut request: Request<Incoming>,
) -> Response<ResponseBody> {
    // The app sees the name the caller used; HTTP/2 callers send it as `:authority` only.
    if !request.headers().contains_key(HOST)
        && let Some(authority) = request.uri().authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(HOST, host);
    }
    let credentials: Vec<HeaderName> = (request.headers().keys())
        .filter(|name| is_secret_header(name))
        .cloned()
        .collect();
    for name in credentials {
        request.headers_mut().remove(name);
    }
    *request.uri_mut() = target_uri(base, request.uri());
    // The target group's protocol version, whatever the caller spoke to the emulator.
    let (pool, version) = match protocol {
        ProtocolVersion::Http1 => (&client.http1, Version::HTTP_11),
        ProtocolVersion::Http2 | ProtocolVersion::Grpc => (&client.h2c, Version::HTTP_2),
    };
    *request.version_mut() = version;

    match pool.request(request).await {
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
