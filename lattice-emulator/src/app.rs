//! The request path, one step per call in [`App::handle`]: route by host, authenticate
//! (the signature, on `AWS_IAM` services), annotate with the `x-amzn-lattice-*` headers,
//! hand to a target. A refusal ends the request at its step and is logged.

use std::{
    fmt,
    net::SocketAddr,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use http::{
    HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode,
    header::{DATE, HOST},
    uri::Authority,
};
use hyper::body::Incoming;

use crate::{
    Clock, KeyStore, RequestRecord, SIGNING_NAME, Service, Target, Verdict,
    log::RequestLog,
    policy::{Decision, RequestContext},
    routes::{Route, Routes},
    targets::{
        self, Caller, IDENTITY_HEADER, ResponseBody,
        forward::{self, ForwardClient},
        grpc::{GreeterServer, GreeterTarget},
        text,
    },
    verifier::{self, Rejection, RequestView, Verified, VerifyOptions},
};

const NETWORK_HEADER: &str = "x-amzn-lattice-network";
const TARGET_HEADER: &str = "x-amzn-lattice-target";
const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";
/// Why the emulator allowed or denied a request: the policy decision as compact JSON.
pub(crate) const DECISION_HEADER: &str = "x-lattice-emulator-decision";
/// The `tracing` target of the decision log: one event per policy decision.
pub(crate) const DECISION_TARGET: &str = "lattice_emulator::decision";

/// Shared state behind every connection of one emulator.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) routes: ArcSwap<Routes>,
    pub(crate) keys: KeyStore,
    pub(crate) clock: ClockCell,
    pub(crate) log: RequestLog,
    pub(crate) max_skew: Duration,
    pub(crate) greeter: GreeterServer<GreeterTarget>,
    pub(crate) forward: ForwardClient,
}

/// The connection a request came in on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Connection {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) tls: bool,
}

/// The emulator's replaceable notion of "now".
#[derive(Clone)]
pub(crate) struct ClockCell(Arc<RwLock<Clock>>);

// === impl App ===

impl App {
    pub(crate) async fn handle(
        self: Arc<Self>,
        connection: Connection,
        mut request: Request<Incoming>,
    ) -> Response<ResponseBody> {
        let now = self.clock.now();
        let host = routing_host(&request);
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        // One snapshot per request: a reload in between changes nothing for it.
        let routes = self.routes.load_full();

        let Some(route) = host.as_deref().and_then(|host| routes.hosts.get(host)) else {
            tracing::info!(?host, %method, %path, "unknown host");
            let body = format!(
                "No Lattice service is configured for host {}",
                host.as_deref().unwrap_or("<none>")
            );
            self.record(host, method, path, Verdict::UnknownHost);
            return with_date(text(StatusCode::NOT_FOUND, body), now);
        };
        let service = &route.service;

        let verified = match self.authenticate(&request, route, now) {
            Ok(verified) => verified,
            Err(rejection) => {
                tracing::info!(?host, %method, %path, code = rejection.code(), "rejected");
                let response = rejected(&rejection, service, &path);
                let code = rejection.code();
                self.record(host, method, path, Verdict::Rejected { code });
                return with_date(response, now);
            }
        };

        let access_key_id = verified.as_ref().map(|v| v.access_key_id.clone());
        if route.access.has_policies() {
            let ctx = request_context(&request, route, &routes, verified.as_ref(), connection, now);
            let decision = route.access.decide(&routes, access_key_id.as_deref(), &ctx);
            log_decision(&decision, &ctx, host.as_deref(), &method);
            if !decision.is_allowed() {
                let response = denied(&decision, &ctx);
                self.record(host, method, path, Verdict::Denied { decision });
                return with_date(response, now);
            }
        }

        tracing::info!(
            ?host, %method, %path,
            access_key_id = access_key_id.as_deref(),
            "forwarded"
        );
        add_lattice_headers(request.headers_mut(), service, verified.as_ref());
        self.record(host, method, path, Verdict::Forwarded { access_key_id });
        if let Some(verified) = verified {
            request.extensions_mut().insert(Caller::from(verified));
        }
        let response = match service.target() {
            Target::Forward(base, protocol) => {
                forward::forward(&self.forward, base, *protocol, request).await
            }
            Target::Builtin => targets::dispatch(request, self.greeter.clone()).await,
        };
        with_date(response, now)
    }

    /// The caller behind a valid signature where signatures are checked; `None` where they
    /// are not, and for unsigned requests to services whose policies decide about them.
    fn authenticate(
        &self,
        request: &Request<Incoming>,
        route: &Route,
        now: SystemTime,
    ) -> Result<Option<Verified>, Rejection> {
        if !route.access.is_authenticated(&route.service) {
            return Ok(None);
        }
        let view = RequestView {
            method: request.method().as_str(),
            raw_path: request.uri().path(),
            raw_query: request.uri().query(),
            headers: request.headers(),
            authority: request.uri().authority().map(Authority::as_str),
        };
        let options = VerifyOptions {
            max_skew: self.max_skew,
            ..VerifyOptions::new(route.service.region())
        };
        match verifier::verify(&view, &self.keys, &options, now) {
            Ok(verified) => Ok(Some(verified)),
            // No signature: an anonymous caller, for the auth policies to judge.
            Err(Rejection::AccessDenied(_)) if route.access.has_policies() => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }

    fn record(&self, host: Option<String>, method: String, path: String, verdict: Verdict) {
        self.log.push(RequestRecord {
            host,
            method,
            path,
            verdict,
        });
    }
}

/// Everything the policies may look at, from the request as received.
fn request_context<B>(
    request: &Request<B>,
    route: &Route,
    routes: &Routes,
    verified: Option<&Verified>,
    connection: Connection,
    now: SystemTime,
) -> RequestContext {
    let service = &route.service;
    let headers = request
        .headers()
        .iter()
        .filter(|(name, _)| !targets::is_secret_header(name))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    RequestContext {
        caller: verified.map(|v| routes.caller(&v.access_key_id, &v.principal)),
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        query: RequestContext::query_pairs(request.uri().query()),
        headers,
        port: connection.local.port(),
        service_arn: service.arn(),
        service_network_arn: route.network_arn(),
        source_vpc: service.source_vpc().map(str::to_owned),
        source_vpc_owner_account: service.source_vpc().map(|_| service.account().to_owned()),
        source_ip: Some(connection.peer.ip()),
        now,
        secure_transport: connection.tls,
    }
}

fn log_decision(decision: &Decision, ctx: &RequestContext, host: Option<&str>, method: &str) {
    let principal = ctx
        .caller
        .as_ref()
        .map_or("anonymous", |caller| caller.principal_arn.as_str());
    tracing::info!(
        target: DECISION_TARGET,
        host,
        method,
        principal,
        resource = %ctx.resource_arn(),
        decision = %decision_json(decision),
        "policy decision"
    );
}

/// A decision as compact JSON, the shape `policy check` prints.
fn decision_json(decision: &Decision) -> String {
    serde_json::to_string(decision).unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

/// Lattice's answer to a request its auth policies deny, with the emulator's explanation.
fn denied(decision: &Decision, ctx: &RequestContext) -> Response<ResponseBody> {
    let code = "AccessDeniedException";
    let message = decision.lattice_message(ctx);
    let mut response = text(StatusCode::FORBIDDEN, format!("{code}: {message}\n"));
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static(ERROR_TYPE_HEADER),
        HeaderValue::from_static(code),
    );
    match HeaderValue::from_bytes(decision_json(decision).as_bytes()) {
        Ok(value) => {
            headers.insert(HeaderName::from_static(DECISION_HEADER), value);
        }
        Err(error) => tracing::warn!(%error, "cannot send the decision header"),
    }
    response
}

// === impl ClockCell ===

impl ClockCell {
    pub(crate) fn new(clock: Clock) -> Self {
        Self(Arc::new(RwLock::new(clock)))
    }

    pub(crate) fn now(&self) -> SystemTime {
        let clock = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        clock()
    }

    pub(crate) fn set(&self, clock: Clock) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = clock;
    }
}

impl fmt::Debug for ClockCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClockCell").field(&self.now()).finish()
    }
}

/// `:authority` (HTTP/2, absolute-form) wins over `host`, as RFC 9112 §3.2.2 asks.
fn routing_host<B>(request: &Request<B>) -> Option<String> {
    let host = match request.uri().authority() {
        Some(authority) => authority.host().to_owned(),
        None => {
            let value = request.headers().get(HOST)?.to_str().ok()?;
            value.parse::<Authority>().ok()?.host().to_owned()
        }
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

fn rejected(rejection: &Rejection, service: &Service, path: &str) -> Response<ResponseBody> {
    let code = rejection.code();
    let message = match rejection {
        // Only the emulator knows the resource ARN Lattice puts in this message.
        Rejection::AccessDenied(_) => format!(
            "User: anonymous is not authorized to perform: {SIGNING_NAME}:Invoke \
             on resource: {}{path}",
            service.arn()
        ),
        other => other.message().to_owned(),
    };
    let mut response = text(StatusCode::FORBIDDEN, format!("{code}: {message}\n"));
    response.headers_mut().insert(
        HeaderName::from_static(ERROR_TYPE_HEADER),
        HeaderValue::from_static(code),
    );
    response
}

fn add_lattice_headers(headers: &mut HeaderMap, service: &Service, verified: Option<&Verified>) {
    // Targets trust these headers, so a client must not be able to supply them.
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-amzn-lattice-"))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }

    let identity = match verified {
        Some(verified) => format!(
            "Principal={}; SessionName={}; Type=AWS_IAM",
            verified.principal,
            verified.session_name.as_deref().unwrap_or_default()
        ),
        None => "Type=Anonymous".to_owned(),
    };
    let target = format!(
        "ServiceArn={}; ServiceNetworkArn={}; TargetGroupArn={}",
        service.arn(),
        service.service_network_arn(),
        service.target_group_arn()
    );
    let network = format!("SourceVpcArn={}", service.source_vpc_arn());
    for (name, value) in [
        (IDENTITY_HEADER, identity),
        (TARGET_HEADER, target),
        (NETWORK_HEADER, network),
    ] {
        match HeaderValue::try_from(value) {
            Ok(value) => {
                headers.insert(HeaderName::from_static(name), value);
            }
            Err(error) => tracing::warn!(%name, %error, "cannot build Lattice header"),
        }
    }
}

fn with_date(mut response: Response<ResponseBody>, now: SystemTime) -> Response<ResponseBody> {
    // Clients correct clock skew from this header, so it follows the emulator's clock.
    if let Ok(date) = HeaderValue::try_from(httpdate::fmt_http_date(now)) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, host: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn routing_host_strips_port_and_case() {
        let host = routing_host(&request("/", Some("Orders.Example.com:8443")));
        assert_eq!(host.as_deref(), Some("orders.example.com"));
    }

    #[test]
    fn authority_beats_host_header() {
        let host = routing_host(&request("https://a.example:1/x", Some("b.example")));
        assert_eq!(host.as_deref(), Some("a.example"));
        assert_eq!(routing_host(&request("/", None)), None);
    }
}
