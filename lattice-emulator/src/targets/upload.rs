//! `POST|PUT /upload`: counts and hashes the body without keeping it.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::{ResponseBody, digest_body, json, text};

pub(super) async fn upload(request: Request<Incoming>) -> Response<ResponseBody> {
    match digest_body(request.into_body()).await {
        Ok(digest) => json(
            StatusCode::OK,
            &json!({ "bytes": digest.len, "sha256": digest.sha256 }),
        ),
        Err(error) => text(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {error}\n"),
        ),
    }
}
