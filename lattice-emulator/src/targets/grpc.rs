//! The `lattice.test.Greeter` gRPC target.

use std::{future::poll_fn, pin::Pin};

use futures_util::Stream;
use http::{Request, Response, header::CONTENT_TYPE};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tonic::{Status, Streaming, codegen::Service, metadata::MetadataMap};

pub(crate) use crate::greeter::greeter_server::GreeterServer;
use crate::greeter::{HelloReply, HelloRequest, greeter_server::Greeter};

use super::{BoxError, IDENTITY_HEADER, ResponseBody};

/// How many replies `StreamGreetings` sends.
pub(crate) const STREAM_GREETINGS_COUNT: usize = 5;

/// Answers with the caller's principal, taken from `x-amzn-lattice-identity`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GreeterTarget;

type ReplyStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

// === impl GreeterTarget ===

#[tonic::async_trait]
impl Greeter for GreeterTarget {
    async fn say_hello(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<HelloReply>, Status> {
        let principal = principal(request.metadata());
        let name = request.into_inner().name;
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {name}"),
            principal,
        }))
    }

    type StreamGreetingsStream = ReplyStream;

    async fn stream_greetings(
        &self,
        request: tonic::Request<HelloRequest>,
    ) -> Result<tonic::Response<Self::StreamGreetingsStream>, Status> {
        let principal = principal(request.metadata());
        let name = request.into_inner().name;
        let replies = (1..=STREAM_GREETINGS_COUNT).map(move |n| {
            Ok(HelloReply {
                message: format!("Hello {name} #{n}"),
                principal: principal.clone(),
            })
        });
        Ok(tonic::Response::new(Box::pin(futures_util::stream::iter(
            replies,
        ))))
    }

    async fn collect_greetings(
        &self,
        request: tonic::Request<Streaming<HelloRequest>>,
    ) -> Result<tonic::Response<HelloReply>, Status> {
        let principal = principal(request.metadata());
        let mut requests = request.into_inner();
        let mut names = Vec::new();
        while let Some(request) = requests.message().await? {
            names.push(request.name);
        }
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {}", names.join(", ")),
            principal,
        }))
    }
}

pub(super) fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

pub(super) async fn serve(
    mut server: GreeterServer<GreeterTarget>,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    if let Err(never) =
        poll_fn(|cx| Service::<Request<Incoming>>::poll_ready(&mut server, cx)).await
    {
        match never {}
    }
    match server.call(request).await {
        Ok(response) => response.map(|body| body.map_err(BoxError::from).boxed_unsync()),
        Err(never) => match never {},
    }
}

/// The `Principal=` field of the identity header, or empty when absent.
fn principal(metadata: &MetadataMap) -> String {
    metadata
        .get(IDENTITY_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|identity| {
            identity
                .split(';')
                .find_map(|field| field.trim().strip_prefix("Principal="))
        })
        .unwrap_or_default()
        .to_owned()
}
