//! What the emulator serves right now: the services by host, how each is authorized, and
//! who the configured callers are. Replaced whole when a new configuration is loaded.

use std::{collections::HashMap, sync::Arc};

use crate::{
    Service,
    policy::{Caller, Decision, Outcome, Policies, Policy, PolicyKind, RequestContext, evaluate},
};

/// The served set, looked up once per request.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    pub(crate) hosts: HashMap<String, Route>,
    /// What `[[identity]]` says about each access key id.
    pub(crate) identities: HashMap<String, Identity>,
}

/// One host and the service behind it.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) service: Service,
    pub(crate) access: Access,
}

/// How requests to a service are authorized.
#[derive(Debug)]
pub(crate) enum Access {
    /// Services given to the builder: [`Service::auth`] alone decides (`AWS_IAM` = any
    /// valid signature), as the emulator always did.
    Signature,
    /// Services from a configuration file: Lattice's auth types and auth policies, at the
    /// service network (if the service is in one) and at the service.
    Policies {
        network: Option<Level>,
        service: Level,
    },
}

/// The auth type of a service network or service, with its auth policy.
#[derive(Debug, Clone)]
pub(crate) enum Level {
    None,
    /// `AWS_IAM`; no policy means every request is denied, as on Lattice.
    AwsIam(Option<Arc<Policy>>),
}

/// A configured caller: who an access key id is.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) caller: Caller,
    pub(crate) identity_policy: Option<Arc<Policy>>,
}

// === impl Routes ===

impl Routes {
    /// Builder services: every host authorized by its signature alone.
    pub(crate) fn signature_only(services: &[Service]) -> Self {
        let hosts = services
            .iter()
            .map(|service| {
                let route = Route {
                    service: service.clone(),
                    access: Access::Signature,
                };
                (service.host().to_owned(), route)
            })
            .collect();
        Self {
            hosts,
            identities: HashMap::new(),
        }
    }

    /// The services, sorted by host.
    pub(crate) fn services(&self) -> Vec<Service> {
        let mut services: Vec<Service> = self
            .hosts
            .values()
            .map(|route| route.service.clone())
            .collect();
        services.sort_by(|a, b| a.host().cmp(b.host()));
        services
    }

    /// Who signed with `access_key_id` and `principal` (the verifier's), as policies see it.
    pub(crate) fn caller(&self, access_key_id: &str, principal: &str) -> Caller {
        match self.identities.get(access_key_id) {
            Some(identity) => identity.caller.clone(),
            None => Caller {
                principal_arn: principal.to_owned(),
                ..Caller::default()
            },
        }
    }

    fn identity_policy(&self, access_key_id: Option<&str>) -> Option<&Policy> {
        let identity = self.identities.get(access_key_id?)?;
        identity.identity_policy.as_deref()
    }
}

// === impl Route ===

impl Route {
    /// The service network's ARN, if the service is in one.
    pub(crate) fn network_arn(&self) -> Option<String> {
        match &self.access {
            Access::Policies {
                network: Some(_), ..
            } => Some(self.service.service_network_arn()),
            _ => None,
        }
    }
}

// === impl Access ===

impl Access {
    /// Whether signatures are checked at all: some level is `AWS_IAM`.
    pub(crate) fn is_authenticated(&self, service: &Service) -> bool {
        match self {
            Self::Signature => service.auth() == crate::AuthType::AwsIam,
            Self::Policies { network, service } => {
                matches!(service, Level::AwsIam(_)) || matches!(network, Some(Level::AwsIam(_)))
            }
        }
    }

    /// Whether auth types and policies decide ([`Access::Policies`]).
    pub(crate) fn has_policies(&self) -> bool {
        matches!(self, Self::Policies { .. })
    }

    /// The decision for `ctx`, signed by `access_key_id` (`None`: anonymous). Under
    /// [`Access::Signature`] no policy applies and every request is allowed.
    pub(crate) fn decide(
        &self,
        routes: &Routes,
        access_key_id: Option<&str>,
        ctx: &RequestContext,
    ) -> Decision {
        let Self::Policies { network, service } = self else {
            return Decision {
                outcome: Outcome::Allow,
                policy: None,
                statement: None,
                reason: "the service is authorized by its signature alone".to_owned(),
            };
        };
        let levels = [
            (network.as_ref(), PolicyKind::Network, "service network"),
            (Some(service), PolicyKind::Service, "service"),
        ];
        for (level, kind, what) in levels {
            if let Some(Level::AwsIam(None)) = level {
                return Decision {
                    outcome: Outcome::ImplicitDeny,
                    policy: Some(kind),
                    statement: None,
                    reason: format!(
                        "the {what} has auth type AWS_IAM and no auth policy, \
                         so Lattice denies every request"
                    ),
                };
            }
        }
        let policies = Policies {
            network: network.as_ref().and_then(Level::policy),
            service: service.policy(),
            identity: routes.identity_policy(access_key_id),
        };
        evaluate(&policies, ctx)
    }
}

// === impl Level ===

impl Level {
    fn policy(&self) -> Option<&Policy> {
        match self {
            Self::None => None,
            Self::AwsIam(policy) => policy.as_deref(),
        }
    }
}
