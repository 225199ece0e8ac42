//! The virtual hosts the emulator answers for, their Lattice identifiers, and the
//! default ones.

use std::fmt;

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

/// One host name the emulator routes, and the Lattice service behind it.
///
/// Several hosts may share a service (a custom domain and the generated
/// name): give them the same [`Service::with_service_id`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    host: String,
    region: String,
    auth: AuthType,
    service_id: String,
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
            auth,
            service_id,
        }
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

    /// `arn:aws:vpc-lattice:<region>:<account>:service/<id>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:vpc-lattice:{}:{ACCOUNT_ID}:service/{}",
            self.region, self.service_id
        )
    }

    /// The service network the emulator pretends every service belongs to.
    pub fn service_network_arn(&self) -> String {
        format!(
            "arn:aws:vpc-lattice:{}:{ACCOUNT_ID}:servicenetwork/sn-0123456789abcdef0",
            self.region
        )
    }

    /// The target group requests are forwarded to, derived from the service id.
    pub fn target_group_arn(&self) -> String {
        let suffix = self.service_id.trim_start_matches("svc-");
        format!(
            "arn:aws:vpc-lattice:{}:{ACCOUNT_ID}:targetgroup/tg-{suffix}",
            self.region
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
    fn other_names_get_a_stable_derived_id() {
        let a = Service::new("Api.Example.com", "us-east-1", AuthType::None);
        let b = Service::new("api.example.com", "us-east-1", AuthType::None);
        assert_eq!(a.host(), "api.example.com");
        assert_eq!(a.service_id(), b.service_id());
        assert_eq!(a.service_id().len(), "svc-".len() + 17);
    }
}
