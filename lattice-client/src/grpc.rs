//! gRPC facts shared by the tonic integration and the sidecar, so both report a refused
//! call with the same status.

use http::StatusCode;

/// The gRPC status code for an HTTP response that carries none (a load balancer or a
/// Lattice refusal rather than a gRPC server), per gRPC's
/// [HTTP to gRPC status mapping](https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md):
/// 400 `INTERNAL` (13), 401 `UNAUTHENTICATED` (16), 403 `PERMISSION_DENIED` (7),
/// 404 `UNIMPLEMENTED` (12), 429/502/503/504 `UNAVAILABLE` (14), else `UNKNOWN` (2).
pub fn code_for_http_status(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_as_the_grpc_spec_says() {
        for (status, code) in [
            (400, 13),
            (401, 16),
            (403, 7),
            (404, 12),
            (429, 14),
            (502, 14),
            (503, 14),
            (504, 14),
            (200, 2),
            (421, 2),
            (500, 2),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(code_for_http_status(status), code, "{status}");
        }
    }
}
