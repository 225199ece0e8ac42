//! Wires lattice-client into the proxy: credentials from the AWS chain kept in a
//! [`CredentialsCache`], and [`SigV4Layer`] around the upstream clients. The sidecar never
//! signs anything itself.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use http::Request;
use lattice_client::{CredentialsCache, SigV4, SigV4Layer, Signer};
use tower::ServiceBuilder;
use tower::util::MapRequest;

use crate::body::RequestBody;
use crate::client::{Clients, HttpClient};
use crate::config::CredentialsConfig;
use crate::diagnosis::record_signed_head;

/// The upstream client behind [`SigV4`]. The `MapRequest` step records the signed request
/// head when a diagnosis may need it ([`crate::diagnosis`]).
pub(crate) type SignedClient =
    SigV4<MapRequest<HttpClient, fn(Request<RequestBody>) -> Request<RequestBody>>>;

/// Both upstream clients of [`Clients`], signed.
#[derive(Clone, Debug)]
pub(crate) struct SignedClients {
    /// HTTPS with ALPN, or HTTP/1.1.
    pub negotiated: SignedClient,
    /// Plain-HTTP upstreams for HTTP/2 clients (gRPC).
    pub h2c: SignedClient,
}

/// Failed credential refreshes are retried this soon, doubling up to the maximum.
const CREDENTIALS_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(5));

#[derive(Debug)]
struct NoProvider;

/// The credentials cache over the full aws-config chain (env, profile, SSO,
/// `credential_process`, web identity, ECS, EKS Pod Identity, IMDS), or over the one
/// `--profile` names; optionally assuming a role. Nothing is fetched here: the caller
/// warms the cache.
pub(crate) async fn credentials(config: &CredentialsConfig) -> CredentialsCache {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &config.profile {
        // Only that profile, as the AWS CLI does with --profile: in the default chain,
        // environment credentials would come first and silently win.
        let provider = ProfileFileCredentialsProvider::builder()
            .profile_name(profile)
            .build();
        loader = loader.profile_name(profile).credentials_provider(provider);
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

/// `SigV4Layer` around both clients.
pub(crate) fn sign_clients(signer: &Signer, clients: Clients) -> SignedClients {
    SignedClients {
        negotiated: stack(signer, clients.negotiated),
        h2c: stack(signer, clients.h2c),
    }
}

/// `SigV4Layer` around the client.
fn stack(signer: &Signer, client: HttpClient) -> SignedClient {
    let record: fn(Request<RequestBody>) -> Request<RequestBody> = record_signed_head;
    ServiceBuilder::new()
        .layer(SigV4Layer::new(signer.clone()))
        .map_request(record)
        .service(client)
}

// === impl NoProvider ===

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
