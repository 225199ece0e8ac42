//! The virtual hosts the emulator answers for, their Lattice identifiers, and the
//! default ones.

use std::fmt;

use http::Uri;
use sha2::{Digest, Sha256};

/// The account every emulated ARN lives in.
pub const ACCOUNT_ID: &str = "123456789012";
/// The generated DNS name of the default `orders` service (`AWS_IAM`).
pub const ORDERS_HOST: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";
/// A custom domain name for the `orders` service.
pub const ORDERS_CUSTOM_DOMAIN: &str = "orders.example.com";
/// The region of the `orders` service.
pub const ORDERS_REGION: &str = "us-west-2";
/// The generated DNS name of the second service (`AWS_IAM`), in another region.
pub const INVENTORY_HOST: &str =
    "inventory-0fedcba9876543210.7d67968.vpc-lattice-svcs.eu-west-1.on.aws";
/// The region of the `inventory` service.
pub const INVENTORY_REGION: &str = "eu-west-1";
/// The VPC every request appears to come from (`x-amzn-lattice-network`).
pub const SOURCE_VPC_ARN: &str = "arn:aws:ec2:us-west-2:123456789012:vpc/vpc-0123456789abcdef0";
/// The service id shared by [`ORDERS_HOST`] and [`ORDERS_CUSTOM_DOMAIN`].
const ORDERS_SERVICE_ID: &str = "svc-0123456789abcdef0";

/// The auth type of a Lattice service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthType {
    /// Every request must carry a valid SigV4 or SigV4A signature.
    AwsIam,
    /// Requests are forwarded without any check.
    None,
}

/// Where a service hands the requests it lets through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// The built-in targets: echo, `/download`, `/upload`, `/slow-headers` and gRPC.
    #[default]
    Builtin,
    /// A team's own app at this `http://` base URL, spoken to in the given protocol
    /// version; requests and responses stream through.
    Forward(Uri, ProtocolVersion),
}

/// How the emulator speaks to a forwarding target: a Lattice target group's
/// `protocolVersion` ("The protocol version. The default is HTTP1", valid values `HTTP1 |
/// HTTP2 | GRPC`: VPC Lattice API Reference, `TargetGroupConfig`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// HTTP/1.1, whatever the caller spoke to the emulator.
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (h2c), to an `http://` target.
    Http2,
    /// gRPC: HTTP/2 as for [`Self::Http2`]; trailers such as `grpc-status` pass through.
    Grpc,
}

/// One host name the emulator routes, and the Lattice service behind it.
///
/// Several hosts may share a service (a custom domain and the generated
/// name): give them the same [`Service::with_service_id`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    host: String,
    region: String,
    account: String,
    auth: AuthType,
    service_id: String,
    network_arn: Option<String>,
    source_vpc: Option<String>,
    target: Target,
}

// === impl AuthType ===

impl AuthType {
    /// The name Lattice uses: `AWS_IAM` or `NONE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsIam => "AWS_IAM",
            Self::None => "NONE",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl Service ===

impl Service {
    /// A service reachable as `host` (no port) in `region`.
    ///
    /// The service id is taken from a generated Lattice name
    /// (`name-0123456789abcdef0.…` gives `svc-0123456789abcdef0`), or derived
    /// from a hash of the host otherwise.
    pub fn new(host: impl Into<String>, region: impl Into<String>, auth: AuthType) -> Self {
        let host = host.into().to_ascii_lowercase();
        let service_id = service_id_for(&host);
        Self {
            host,
            region: region.into(),
            account: ACCOUNT_ID.to_owned(),
            auth,
            service_id,
            network_arn: None,
            source_vpc: None,
            target: Target::Builtin,
        }
    }

    /// Takes the region, account and service id from a service ARN,
    /// `arn:aws:vpc-lattice:<region>:<account>:service/<id>`; `None` if it is not one.
    pub fn with_arn(mut self, arn: &str) -> Option<Self> {
        let (region, account, service_id) = parse_service_arn(arn)?;
        self.region = region.to_owned();
        self.account = account.to_owned();
        self.service_id = service_id.to_owned();
        Some(self)
    }

    /// Puts the service in the service network with this ARN (reported to targets in
    /// `x-amzn-lattice-target`).
    pub fn with_network_arn(mut self, arn: impl Into<String>) -> Self {
        self.network_arn = Some(arn.into());
        self
    }

    /// The VPC requests appear to come from, e.g. `vpc-0abc` (default
    /// [`SOURCE_VPC_ARN`]'s VPC).
    pub fn with_source_vpc(mut self, vpc_id: impl Into<String>) -> Self {
        self.source_vpc = Some(vpc_id.into());
        self
    }

    /// Hands accepted requests to `target` instead of the built-in targets.
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Uses `service_id` (e.g. `svc-0123456789abcdef0`) instead of the derived one.
    pub fn with_service_id(mut self, service_id: impl Into<String>) -> Self {
        self.service_id = service_id.into();
        self
    }

    /// The host name, lower case, without a port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The region requests must be signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Whether requests are verified.
    pub fn auth(&self) -> AuthType {
        self.auth
    }

    /// The Lattice service id, e.g. `svc-0123456789abcdef0`.
    pub fn service_id(&self) -> &str {
        &self.service_id
    }

    /// The account the service belongs to ([`ACCOUNT_ID`] unless set by [`Self::with_arn`]).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// `arn:aws:vpc-lattice:<region>:<account>:service/<id>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:vpc-lattice:{}:{}:service/{}",
            self.region, self.account, self.service_id
        )
    }

    /// The service network the service belongs to: the one set with
    /// [`Self::with_network_arn`], or one the emulator pretends every service belongs to.
    pub fn service_network_arn(&self) -> String {
        match &self.network_arn {
            Some(arn) => arn.clone(),
            None => format!(
                "arn:aws:vpc-lattice:{}:{}:servicenetwork/sn-0123456789abcdef0",
                self.region, self.account
            ),
        }
    }

    /// The VPC id requests appear to come from, if set with [`Self::with_source_vpc`].
    pub fn source_vpc(&self) -> Option<&str> {
        self.source_vpc.as_deref()
    }

    /// The ARN of the VPC requests appear to come from (`x-amzn-lattice-network`).
    pub fn source_vpc_arn(&self) -> String {
        match &self.source_vpc {
            Some(vpc) => format!("arn:aws:ec2:{}:{}:vpc/{vpc}", self.region, self.account),
            None => SOURCE_VPC_ARN.to_owned(),
        }
    }

    /// Where accepted requests go.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The target group requests are forwarded to, derived from the service id.
    pub fn target_group_arn(&self) -> String {
        let suffix = self.service_id.trim_start_matches("svc-");
        format!(
            "arn:aws:vpc-lattice:{}:{}:targetgroup/tg-{suffix}",
            self.region, self.account
        )
    }
}

/// The three default services: `orders` under two names, and `inventory`.
pub fn default_services() -> Vec<Service> {
    vec![
        Service::new(ORDERS_HOST, ORDERS_REGION, AuthType::AwsIam),
        Service::new(ORDERS_CUSTOM_DOMAIN, ORDERS_REGION, AuthType::AwsIam)
            .with_service_id(ORDERS_SERVICE_ID),
        Service::new(INVENTORY_HOST, INVENTORY_REGION, AuthType::AwsIam),
    ]
}

/// `(region, account, service id)` of `arn:aws:vpc-lattice:<region>:<account>:service/<id>`.
pub(crate) fn parse_service_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("vpc-lattice:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, resource) = rest.split_once(':')?;
    let service_id = resource.strip_prefix("service/")?;
    let well_formed = !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && service_id.starts_with("svc-")
        && !service_id.contains('/');
    well_formed.then_some((region, account, service_id))
}

/// Generated Lattice names look like `<name>-<17 hex digits>.<hash>.vpc-lattice-svcs.<region>.on.aws`.
fn service_id_for(host: &str) -> String {
    let first_label = host.split('.').next().unwrap_or(host);
    if let Some((_, id)) = first_label.rsplit_once('-')
        && id.len() == 17
        && id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return format!("svc-{id}");
    }
    let digest = hex::encode(Sha256::digest(host.as_bytes()));
    format!("svc-{}", &digest[..17])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_keep_their_service_id() {
        let service = Service::new(ORDERS_HOST, "us-west-2", AuthType::AwsIam);
        assert_eq!(service.service_id(), "svc-0123456789abcdef0");
        assert_eq!(
            service.arn(),
            "arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0123456789abcdef0"
        );
    }

    #[test]
    fn service_arns_give_region_account_and_id() {
        let arn = "arn:aws:vpc-lattice:eu-west-1:111122223333:service/svc-0abc";
        let service = Service::new("a.example", "us-west-2", AuthType::AwsIam)
            .with_arn(arn)
            .unwrap();
        assert_eq!(service.arn(), arn);
        assert_eq!(service.region(), "eu-west-1");
        assert_eq!(service.account(), "111122223333");
        for bad in [
            "arn:aws:vpc-lattice:eu-west-1:111122223333:servicenetwork/sn-1",
            "arn:aws:vpc-lattice:eu-west-1:1111:service/svc-1",
            "arn:aws:s3:::bucket",
            "svc-0abc",
        ] {
            assert_eq!(parse_service_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn other_names_get_a_stable_derived_id() {
        let a = Service::new("Api.Example.com", "us-east-1", AuthType::None);
        let b = Service::new("api.example.com", "us-east-1", AuthType::None);
        assert_eq!(a.host(), "api.example.com");
        assert_eq!(a.service_id(), b.service_id());
        assert_eq!(a.service_id().len(), "svc-".len() + 17);
    }
}
