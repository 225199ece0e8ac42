//! `--config FILE`: the TOML file that declares everything the emulator serves (callers,
//! service networks, services, their auth policies and targets), validated as a whole.
//!
//! Policy file paths are relative to the configuration file's directory. A file with any
//! problem is refused with every problem listed, each naming what to fix.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use http::{Uri, uri::Authority};
use serde::Deserialize;

use crate::{
    AuthType, ProtocolVersion, Secret, Service, Target,
    policy::{Caller, Policy, PolicyKind},
    routes::{Access, Identity, Level, Route, Routes},
};

/// A validated configuration: what [`EmulatorBuilder::config`](crate::EmulatorBuilder::config)
/// serves and [`Emulator::reload`](crate::Emulator::reload) swaps in.
///
/// ```
/// use lattice_emulator::Config;
///
/// let config = Config::parse(
///     r#"
///     [[service]]
///     name = "open"
///     host = "open.example.com"
///     arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123456789abcdef0"
///     auth_type = "NONE"
///     "#,
///     std::path::Path::new("."),
/// )?;
/// assert_eq!(config.services()[0].host(), "open.example.com");
/// # Ok::<(), lattice_emulator::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Config {
    pub(crate) routes: Routes,
    pub(crate) secrets: Vec<Secret>,
}

/// Why a configuration was refused: every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<String>,
}

// The file as written. No Debug: identities hold secrets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    identity: Vec<IdentityEntry>,
    #[serde(default)]
    service_network: Vec<NetworkEntry>,
    #[serde(default)]
    service: Vec<ServiceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityEntry {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    principal_arn: String,
    org_id: Option<String>,
    #[serde(default)]
    org_paths: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    identity_policy: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkEntry {
    name: String,
    arn: String,
    auth_type: AuthTypeName,
    auth_policy: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceEntry {
    name: String,
    host: String,
    custom_domain: Option<String>,
    arn: String,
    network: Option<String>,
    auth_type: AuthTypeName,
    auth_policy: Option<PathBuf>,
    #[serde(default = "echo")]
    target: String,
    target_protocol_version: Option<ProtocolVersion>,
    source_vpc: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
enum AuthTypeName {
    #[serde(rename = "AWS_IAM")]
    AwsIam,
    #[serde(rename = "NONE")]
    None,
}

/// Collects problems while the file is checked, and loads each policy file once.
struct Checker<'a> {
    base_dir: &'a Path,
    problems: Vec<String>,
    policies: HashMap<PathBuf, Arc<Policy>>,
}

fn echo() -> String {
    "echo".to_owned()
}

// === impl Config ===

impl Config {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::one(format!("cannot read {}: {error}", path.display()))
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base_dir).map_err(|error| error.in_file(path))
    }

    /// Validates a configuration given as TOML text; policy paths are relative to
    /// `base_dir`.
    pub fn parse(toml_text: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        let file: File =
            toml::from_str(toml_text).map_err(|error| ConfigError::one(error.to_string()))?;
        let mut checker = Checker {
            base_dir,
            problems: Vec::new(),
            policies: HashMap::new(),
        };
        let (secrets, identities) = checker.identities(file.identity);
        let networks = checker.networks(file.service_network);
        let hosts = checker.services(file.service, &networks);
        if !checker.problems.is_empty() {
            return Err(ConfigError {
                problems: checker.problems,
            });
        }
        Ok(Self {
            routes: Routes { hosts, identities },
            secrets,
        })
    }

    /// The services (one per host name), sorted by host.
    pub fn services(&self) -> Vec<Service> {
        self.routes.services()
    }

    /// The access key ids of the `[[identity]]` entries, sorted.
    pub fn access_key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .secrets
            .iter()
            .map(|s| s.access_key_id.clone())
            .collect();
        ids.sort();
        ids
    }
}

// === impl ConfigError ===

impl ConfigError {
    fn one(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }

    /// Prefixes every problem with the file it is in.
    fn in_file(mut self, path: &Path) -> Self {
        for problem in &mut self.problems {
            if !problem.starts_with(&path.display().to_string()) {
                *problem = format!("{}: {problem}", path.display());
            }
        }
        self
    }

    /// Each problem, with what to fix.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

// === impl Checker ===

impl Checker<'_> {
    fn identities(
        &mut self,
        entries: Vec<IdentityEntry>,
    ) -> (Vec<Secret>, HashMap<String, Identity>) {
        let mut secrets = Vec::new();
        let mut identities = HashMap::new();
        for entry in entries {
            let id = entry.access_key_id;
            let what = format!("identity {id:?}");
            if id.is_empty() || entry.secret_access_key.is_empty() {
                self.problem(format!(
                    "{what}: access_key_id and secret_access_key must not be empty"
                ));
            }
            if !entry.principal_arn.starts_with("arn:") {
                self.problem(format!(
                    "{what}: principal_arn {:?} is not an ARN (e.g. \
                     arn:aws:sts::111122223333:assumed-role/app/s1)",
                    entry.principal_arn
                ));
            }
            if identities.contains_key(&id) {
                self.problem(format!("{what}: access_key_id declared twice"));
                continue;
            }
            for path in &entry.org_paths {
                self.org_path(&what, entry.org_id.as_deref(), path);
            }
            let identity_policy = entry
                .identity_policy
                .and_then(|path| self.policy(&what, &path, PolicyKind::Identity));
            secrets.push(Secret {
                access_key_id: id.clone(),
                secret_access_key: entry.secret_access_key,
                session_token: entry.session_token,
                session_name: session_name(&entry.principal_arn),
                principal: entry.principal_arn.clone(),
            });
            let caller = Caller {
                principal_arn: entry.principal_arn,
                org_id: entry.org_id,
                org_paths: entry.org_paths,
                tags: entry.tags,
            };
            identities.insert(
                id,
                Identity {
                    caller,
                    identity_policy,
                },
            );
        }
        (secrets, identities)
    }

    /// An `aws:PrincipalOrgPaths` entry is `o-<org>/r-<root>/[ou-.../]`, ending in `/`
    /// ("aws:PrincipalOrgPaths", IAM User Guide), and in the identity's own organization.
    fn org_path(&mut self, what: &str, org_id: Option<&str>, path: &str) {
        let org = path.split('/').next().unwrap_or_default();
        if !org.starts_with("o-")
            || !path.ends_with('/')
            || path
                .split('/')
                .nth(1)
                .is_none_or(|root| !root.starts_with("r-"))
        {
            self.problem(format!(
                "{what}: org_paths entry {path:?} is not an organization path \
                 (e.g. \"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/\")"
            ));
        } else if org_id.is_some_and(|id| id != org) {
            self.problem(format!(
                "{what}: org_paths entry {path:?} is not in org_id {:?}",
                org_id.unwrap_or_default()
            ));
        }
    }

    fn networks(&mut self, entries: Vec<NetworkEntry>) -> HashMap<String, (String, Level)> {
        let mut networks = HashMap::new();
        for entry in entries {
            let what = format!("service_network {:?}", entry.name);
            if !is_network_arn(&entry.arn) {
                self.problem(format!(
                    "{what}: arn {:?} is not a service network ARN \
                     (arn:aws:vpc-lattice:<region>:<account>:servicenetwork/sn-...)",
                    entry.arn
                ));
            }
            let level = self.level(
                &what,
                PolicyKind::Network,
                entry.auth_type,
                entry.auth_policy.as_deref(),
            );
            if networks
                .insert(entry.name.clone(), (entry.arn, level))
                .is_some()
            {
                self.problem(format!("{what}: declared twice"));
            }
        }
        networks
    }

    fn services(
        &mut self,
        entries: Vec<ServiceEntry>,
        networks: &HashMap<String, (String, Level)>,
    ) -> HashMap<String, Route> {
        let mut hosts: HashMap<String, Route> = HashMap::new();
        let mut owners: HashMap<String, String> = HashMap::new();
        for entry in entries {
            let what = format!("service {:?}", entry.name);
            let network = match &entry.network {
                None => None,
                Some(name) => match networks.get(name) {
                    Some(network) => Some(network.clone()),
                    None => {
                        let mut declared: Vec<&str> = networks.keys().map(String::as_str).collect();
                        declared.sort_unstable();
                        self.problem(format!(
                            "{what}: network {name:?} is not declared in a [[service_network]] \
                             (declared: {})",
                            if declared.is_empty() {
                                "none".to_owned()
                            } else {
                                declared.join(", ")
                            }
                        ));
                        continue;
                    }
                },
            };
            let service_level = self.level(
                &what,
                PolicyKind::Service,
                entry.auth_type,
                entry.auth_policy.as_deref(),
            );
            let Some(target) = self.target(&what, &entry.target, entry.target_protocol_version)
            else {
                continue;
            };
            let auth = match entry.auth_type {
                AuthTypeName::AwsIam => AuthType::AwsIam,
                AuthTypeName::None => AuthType::None,
            };
            let names = std::iter::once(&entry.host).chain(entry.custom_domain.as_ref());
            for name in names {
                let Some(host) = self.host(&what, name) else {
                    continue;
                };
                if let Some(owner) = owners.get(&host) {
                    self.problem(format!(
                        "{what}: host {host:?} is already served by service {owner:?}"
                    ));
                    continue;
                }
                let Some(mut service) = Service::new(host.clone(), "", auth).with_arn(&entry.arn)
                else {
                    self.problem(format!(
                        "{what}: arn {:?} is not a service ARN \
                         (arn:aws:vpc-lattice:<region>:<account>:service/svc-...)",
                        entry.arn
                    ));
                    break;
                };
                service = service.with_target(target.clone());
                if let Some((arn, _)) = &network {
                    service = service.with_network_arn(arn.clone());
                }
                if let Some(vpc) = &entry.source_vpc {
                    service = service.with_source_vpc(vpc.clone());
                }
                let access = Access::Policies {
                    network: network.as_ref().map(|(_, level)| level.clone()),
                    service: service_level.clone(),
                };
                owners.insert(host.clone(), entry.name.clone());
                hosts.insert(host, Route { service, access });
            }
        }
        hosts
    }

    fn level(
        &mut self,
        what: &str,
        kind: PolicyKind,
        auth_type: AuthTypeName,
        policy: Option<&Path>,
    ) -> Level {
        match (auth_type, policy) {
            (AuthTypeName::None, None) => Level::None,
            (AuthTypeName::None, Some(path)) => {
                self.problem(format!(
                    "{what}: auth_policy {} needs auth_type = \"AWS_IAM\" (Lattice ignores \
                     auth policies when the auth type is NONE)",
                    path.display()
                ));
                Level::None
            }
            (AuthTypeName::AwsIam, policy) => {
                Level::AwsIam(policy.and_then(|path| self.policy(what, path, kind)))
            }
        }
    }

    /// The policy at `path`, read once however many entries name it, and checked for the
    /// level it is used at (principals in auth policies, none in identity policies), as
    /// `policy check` checks it.
    fn policy(&mut self, what: &str, path: &Path, kind: PolicyKind) -> Option<Arc<Policy>> {
        let path = self.base_dir.join(path);
        let policy = match self.policies.get(&path) {
            Some(policy) => policy.clone(),
            None => match Policy::from_file(&path) {
                Ok(policy) => {
                    let policy = Arc::new(policy);
                    self.policies.insert(path.clone(), policy.clone());
                    policy
                }
                Err(error) => {
                    self.problem(format!("{what}: {error}"));
                    return None;
                }
            },
        };
        match policy.check_kind(kind) {
            Ok(()) => Some(policy),
            Err(error) => {
                self.problem(format!("{what}: {}: {error}", path.display()));
                None
            }
        }
    }

    fn target(
        &mut self,
        what: &str,
        target: &str,
        protocol: Option<ProtocolVersion>,
    ) -> Option<Target> {
        if target == "echo" {
            if protocol.is_some() {
                self.problem(format!(
                    "{what}: target_protocol_version applies to an http:// target only; \
                     \"echo\" serves HTTP/1.1, HTTP/2 and gRPC already"
                ));
                return None;
            }
            return Some(Target::Builtin);
        }
        let problem = match target.parse::<Uri>() {
            Err(error) => error.to_string(),
            Ok(uri) if uri.scheme_str() != Some("http") => {
                "only http:// URLs are supported".to_owned()
            }
            Ok(uri) if uri.host().is_none_or(str::is_empty) => "the URL has no host".to_owned(),
            Ok(uri) if uri.path_and_query().is_some_and(|p| p.as_str() != "/") => {
                "the URL must not have a path or query".to_owned()
            }
            Ok(uri) => return Some(Target::Forward(uri, protocol.unwrap_or_default())),
        };
        self.problem(format!(
            "{what}: target {target:?}: {problem} (use \"echo\" or e.g. \"http://127.0.0.1:3000\")"
        ));
        None
    }

    fn host(&mut self, what: &str, name: &str) -> Option<String> {
        match name.parse::<Authority>() {
            Ok(authority) if authority.port().is_none() && !name.is_empty() => {
                Some(name.trim_end_matches('.').to_ascii_lowercase())
            }
            _ => {
                self.problem(format!(
                    "{what}: {name:?} is not a host name (no scheme, port or path)"
                ));
                None
            }
        }
    }

    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }
}

/// The session name of an assumed-role ARN (`.../assumed-role/<role>/<session>`).
fn session_name(principal_arn: &str) -> Option<String> {
    let (_, resource) = principal_arn.split_once(":assumed-role/")?;
    let (_role, session) = resource.split_once('/')?;
    Some(session.to_owned())
}

fn is_network_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("vpc-lattice"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("servicenetwork/sn-")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_come_from_assumed_role_arns() {
        let arn = "arn:aws:sts::111122223333:assumed-role/app/s1";
        assert_eq!(session_name(arn).as_deref(), Some("s1"));
        assert_eq!(session_name("arn:aws:iam::111122223333:user/ci"), None);
        assert_eq!(session_name("arn:aws:sts::1:assumed-role/app"), None);
    }

    #[test]
    fn network_arns_are_checked() {
        assert!(is_network_arn(
            "arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0123"
        ));
        for bad in [
            "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123",
            "arn:aws:vpc-lattice:us-west-2:1111:servicenetwork/sn-0123",
            "arn:aws:vpc-lattice::111122223333:servicenetwork/sn-0123",
            "arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-",
            "sn-0123",
        ] {
            assert!(!is_network_arn(bad), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            [[identity]]
            access_key_id = "AKID"
            secret_access_key = "s"
            principal_arn = "app"

            [[identity]]
            access_key_id = "AKID"
            secret_access_key = "s"
            principal_arn = "arn:aws:iam::111122223333:user/a"

            [[service_network]]
            name = "prod"
            arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0"
            auth_type = "NONE"

            [[service]]
            name = "a"
            host = "a.example.com:443"
            arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0a"
            auth_type = "NONE"
            auth_policy = "a.json"

            [[service]]
            name = "b"
            host = "b.example.com"
            arn = "arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0"
            auth_type = "NONE"
        "#;
        let error = Config::parse(text, Path::new(".")).unwrap_err();
        let problems = error.problems();
        let expected = [
            "identity \"AKID\": principal_arn \"app\" is not an ARN",
            "identity \"AKID\": access_key_id declared twice",
            "service_network \"prod\": arn",
            "service \"a\": auth_policy a.json needs auth_type = \"AWS_IAM\"",
            "service \"a\": \"a.example.com:443\" is not a host name",
            "service \"b\": arn \"arn:aws:vpc-lattice:us-west-2:111122223333:servicenetwork/sn-0\" \
             is not a service ARN",
        ];
        assert_eq!(problems.len(), expected.len(), "{error}");
        for (problem, start) in problems.iter().zip(expected) {
            assert!(problem.starts_with(start), "{problem:?} vs {start:?}");
        }
        // Secrets never appear in the error.
        assert!(!error.to_string().contains("\"s\""), "{error}");
    }

    #[test]
    fn hosts_are_lower_case_and_custom_domains_share_the_service() {
        let text = r#"
            [[service]]
            name = "orders"
            host = "Orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"
            custom_domain = "orders.example.com."
            arn = "arn:aws:vpc-lattice:eu-west-1:111122223333:service/svc-0123456789abcdef0"
            auth_type = "AWS_IAM"
        "#;
        let config = Config::parse(text, Path::new(".")).unwrap();
        let services = config.services();
        let hosts: Vec<&str> = services.iter().map(Service::host).collect();
        assert_eq!(
            hosts,
            [
                "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws",
                "orders.example.com"
            ]
        );
        assert!(services.iter().all(|s| s.arn() == services[0].arn()));
        assert_eq!(services[0].region(), "eu-west-1");
        assert!(config.access_key_ids().is_empty());
    }

    #[test]
    fn org_paths_reach_the_caller_and_bad_ones_are_refused() {
        let identity = |org_paths: &str| {
            format!(
                r#"
                [[identity]]
                access_key_id = "AKIDORDERSAPP"
                secret_access_key = "orders/app/secret+key"
                principal_arn = "arn:aws:sts::111122223333:assumed-role/orders-app/s1"
                org_id = "o-abc123"
                org_paths = {org_paths}
                "#
            )
        };
        let paths = ["o-abc123/r-ab12/ou-ab12-11111111/", "o-abc123/r-ab12/"];
        let text = identity(&format!("[{:?}, {:?}]", paths[0], paths[1]));
        let config = Config::parse(&text, Path::new(".")).unwrap();
        let caller = config.routes.caller("AKIDORDERSAPP", "unused");
        assert_eq!(caller.org_paths, paths);

        let problems = Config::parse(
            &identity(r#"["o-abc123/r-ab12/ou-ab12-11111111", "r-ab12/", "o-other/r-ab12/"]"#),
            Path::new("."),
        )
        .unwrap_err();
        let problems = problems.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("is not an organization path"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("\"r-ab12/\" is not an organization path"),
            "{problems:?}"
        );
        assert!(
            problems[2].contains("is not in org_id \"o-abc123\""),
            "{problems:?}"
        );
    }

    #[test]
    fn target_protocol_version_is_for_forwarding_targets() {
        let service = |fields: &str| {
            format!(
                r#"
                [[service]]
                name = "greeter"
                host = "greeter.example.com"
                arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123456789abcdef0"
                auth_type = "NONE"
                {fields}
                "#
            )
        };
        let target = |fields: &str| {
            Config::parse(&service(fields), Path::new("."))
                .map(|config| config.services()[0].target().clone())
        };
        let app: Uri = "http://127.0.0.1:50051".parse().unwrap();
        let forward = "target = \"http://127.0.0.1:50051\"";
        assert_eq!(
            target(forward).unwrap(),
            Target::Forward(app.clone(), ProtocolVersion::Http1)
        );
        for (name, version) in [
            ("HTTP1", ProtocolVersion::Http1),
            ("HTTP2", ProtocolVersion::Http2),
            ("GRPC", ProtocolVersion::Grpc),
        ] {
            let fields = format!("{forward}\ntarget_protocol_version = \"{name}\"");
            assert_eq!(
                target(&fields).unwrap(),
                Target::Forward(app.clone(), version)
            );
        }
        let error = target("target_protocol_version = \"GRPC\"").unwrap_err();
        assert!(
            error.problems()[0].contains("applies to an http:// target only"),
            "{error}"
        );
        let error = target(&format!("{forward}\ntarget_protocol_version = \"h2\"")).unwrap_err();
        assert!(error.to_string().contains("HTTP1"), "{error}");
    }
}
