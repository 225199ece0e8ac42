//! `lattice-emulator policy check`: decide one request against auth policies without a
//! server, print the decision as JSON, exit 0 (allow), 1 (deny) or 64 (bad input).

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, process::ExitCode, time::SystemTime};

use clap::{Args, Subcommand};
use lattice_emulator::{
    Config, Service, default_services,
    policy::{Caller, Policies, Policy, PolicyKind, RequestContext, evaluate},
};

/// BSD `EX_USAGE`: bad input (a policy, a flag, a URL).
const EX_USAGE: u8 = 64;
/// The account of a service the emulator does not know.
const UNKNOWN_ACCOUNT: &str = "000000000000";

/// Work with Lattice auth policies offline.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Decide one request against auth and identity-based policies, and explain why.
    ///
    /// Prints {"decision", "policy", "statement", "reason"} as JSON. A policy file left
    /// out does not apply (auth type NONE at that level).
    #[command(
        after_help = "Exit codes: 0 allow, 1 deny (explicit or implicit), 64 bad input \
        (a policy, a flag or the URL; the reason is on stderr)."
    )]
    Check(CheckArgs),
}

/// The `policy check` flags.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The service network's auth policy (its auth type is NONE without it).
    #[arg(long, value_name = "FILE")]
    network_policy: Option<PathBuf>,
    /// The service's auth policy (its auth type is NONE without it).
    #[arg(long, value_name = "FILE")]
    service_policy: Option<PathBuf>,
    /// The caller's identity-based policy (none without it).
    #[arg(long, value_name = "FILE")]
    identity_policy: Option<PathBuf>,

    /// The caller, e.g. arn:aws:sts::111122223333:assumed-role/app/s1.
    #[arg(
        long,
        value_name = "ARN",
        required_unless_present = "anonymous",
        value_parser = parse_principal
    )]
    principal: Option<String>,
    /// An unsigned request: the anonymous principal.
    #[arg(long, conflicts_with_all = ["principal", "principal_org_id", "principal_org_path", "principal_tag"])]
    anonymous: bool,
    /// aws:PrincipalOrgID.
    #[arg(long, value_name = "ID")]
    principal_org_id: Option<String>,
    /// aws:PrincipalOrgPaths (repeat for several).
    #[arg(long, value_name = "PATH")]
    principal_org_path: Vec<String>,
    /// aws:PrincipalTag/KEY (repeat for several).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_tag)]
    principal_tag: Vec<(String, String)>,

    /// The request method, e.g. GET.
    #[arg(long)]
    method: String,
    /// https://<service host>[:port]/path?query
    #[arg(long)]
    url: String,
    /// A request header (repeat for several).
    #[arg(long, value_name = "NAME:VALUE", value_parser = parse_header)]
    header: Vec<(String, String)>,

    /// The emulator's --config file: the URL's host is looked up among its services (for
    /// the service ARN and network) instead of the built-in ones. Its policies are not
    /// read: pass the ones to check with the flags above.
    #[arg(long, env = "LATTICE_EMULATOR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// The service ARN [default: from the URL's host].
    #[arg(long, value_name = "ARN")]
    service_arn: Option<String>,
    /// vpc-lattice-svcs:ServiceNetworkArn [default: the known service's network].
    #[arg(long, value_name = "ARN")]
    service_network_arn: Option<String>,
    /// vpc-lattice-svcs:SourceVpc, e.g. vpc-0123456789abcdef0.
    #[arg(long, value_name = "VPC_ID")]
    source_vpc: Option<String>,
    /// vpc-lattice-svcs:SourceVpcOwnerAccount.
    #[arg(long, value_name = "ACCOUNT")]
    source_vpc_owner: Option<String>,
    /// aws:SourceIp.
    #[arg(long, value_name = "IP")]
    source_ip: Option<IpAddr>,
}

/// Runs a `policy` subcommand against the services of `--config`, or the built-in ones.
pub(crate) fn run(command: PolicyCommand) -> ExitCode {
    let PolicyCommand::Check(args) = &command;
    let services = match &args.config {
        None => default_services(),
        Some(path) => match Config::load(path) {
            Ok(config) => config.services(),
            Err(error) => {
                eprintln!("lattice-emulator: {error}");
                return ExitCode::from(EX_USAGE);
            }
        },
    };
    run_with_services(command, &services)
}

/// Runs a `policy` subcommand; `services` are the ones the emulator serves (the built-in
/// ones, or those of a configuration), used to derive the service ARN from the URL.
pub(crate) fn run_with_services(command: PolicyCommand, services: &[Service]) -> ExitCode {
    let PolicyCommand::Check(args) = command;
    match check(&args, services) {
        Ok(decision) => {
            match serde_json::to_string(&decision) {
                Ok(json) => println!("{json}"),
                Err(error) => {
                    eprintln!("lattice-emulator: cannot print the decision: {error}");
                    return ExitCode::from(EX_USAGE);
                }
            }
            if decision.is_allowed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(problem) => {
            eprintln!("lattice-emulator: {problem}");
            ExitCode::from(EX_USAGE)
        }
    }
}

fn check(
    args: &CheckArgs,
    services: &[Service],
) -> Result<lattice_emulator::policy::Decision, String> {
    let load = |path: &Option<PathBuf>, kind: PolicyKind| -> Result<Option<Policy>, String> {
        let Some(path) = path else { return Ok(None) };
        let policy = Policy::from_file(path).map_err(|error| error.to_string())?;
        policy
            .check_kind(kind)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        Ok(Some(policy))
    };
    let network = load(&args.network_policy, PolicyKind::Network)?;
    let service = load(&args.service_policy, PolicyKind::Service)?;
    let identity = load(&args.identity_policy, PolicyKind::Identity)?;
    let ctx = request_context(args, services, SystemTime::now())?;
    let policies = Policies {
        network: network.as_ref(),
        service: service.as_ref(),
        identity: identity.as_ref(),
    };
    Ok(evaluate(&policies, &ctx))
}

fn request_context(
    args: &CheckArgs,
    services: &[Service],
    now: SystemTime,
) -> Result<RequestContext, String> {
    let url = RequestUrl::parse(&args.url)?;
    let known = services.iter().find(|service| service.host() == url.host);
    let service_arn = match (&args.service_arn, known) {
        (Some(arn), _) => check_service_arn(arn)?,
        (None, Some(service)) => service.arn(),
        (None, None) => match lattice_region(&url.host) {
            Some(region) => {
                format!("arn:aws:vpc-lattice:{region}:{UNKNOWN_ACCOUNT}:service/svc-emulated")
            }
            None => {
                return Err(format!(
                    "--url: cannot tell the service of {}: it is not a service the emulator \
                     serves nor a Lattice name (<name>.<hash>.vpc-lattice-svcs.<region>.on.aws); \
                     pass --service-arn",
                    url.host
                ));
            }
        },
    };
    let caller = args.principal.as_ref().map(|arn| Caller {
        principal_arn: arn.clone(),
        org_id: args.principal_org_id.clone(),
        org_paths: args.principal_org_path.clone(),
        tags: args
            .principal_tag
            .iter()
            .cloned()
            .collect::<BTreeMap<_, _>>(),
    });
    Ok(RequestContext {
        caller,
        method: args.method.clone(),
        path: url.path,
        query: url.query,
        headers: args.header.clone(),
        port: url.port,
        service_arn,
        service_network_arn: args
            .service_network_arn
            .clone()
            .or_else(|| known.map(Service::service_network_arn)),
        source_vpc: args.source_vpc.clone(),
        source_vpc_owner_account: args.source_vpc_owner.clone(),
        source_ip: args.source_ip,
        now,
        secure_transport: url.secure,
    })
}

/// The parts of `--url` a decision needs.
#[derive(Debug, PartialEq, Eq)]
struct RequestUrl {
    secure: bool,
    /// Lower case, without the port.
    host: String,
    port: u16,
    /// As written (not decoded), `/` when empty.
    path: String,
    /// Percent-decoded pairs; `+` stays a `+` (RFC 3986, not HTML forms).
    query: Vec<(String, String)>,
}

impl RequestUrl {
    fn parse(url: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("--url {url:?}: {why} (expected https://<service host>[:port]/path?query)")
        };
        let uri: http::Uri = url.parse().map_err(|error| bad(&format!("{error}")))?;
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be https or http")),
        };
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let path = match uri.path() {
            "" => "/".to_owned(),
            path => path.to_owned(),
        };
        let query = RequestContext::query_pairs(uri.query());
        Ok(Self {
            secure,
            host: host.to_ascii_lowercase(),
            port,
            path,
            query,
        })
    }
}

/// The region of a Lattice-generated name: `<name>.<hash>.vpc-lattice-svcs.<region>.on.aws`.
fn lattice_region(host: &str) -> Option<&str> {
    let rest = host.strip_suffix(".on.aws")?;
    let (before, region) = rest.rsplit_once('.')?;
    before.ends_with(".vpc-lattice-svcs").then_some(region)
}

/// `arn:aws:vpc-lattice:<region>:<account>:service/<id>`.
fn check_service_arn(arn: &str) -> Result<String, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "vpc-lattice", region, account, resource]
            if !region.is_empty()
                && account.len() == 12
                && resource
                    .strip_prefix("service/")
                    .is_some_and(|id| !id.is_empty() && !id.contains('/')) =>
        {
            Ok(arn.to_owned())
        }
        _ => Err(format!(
            "--service-arn {arn:?}: expected arn:aws:vpc-lattice:<region>:<account>:service/<service id>"
        )),
    }
}

/// An IAM or STS principal ARN: `arn:<partition>:iam|sts::<account>:<resource>`.
fn parse_principal(value: &str) -> Result<String, String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam" | "sts", "", account, resource]
            if !partition.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !resource.is_empty() =>
        {
            Ok(value.to_owned())
        }
        _ => Err("expected an IAM or STS principal ARN, e.g. \
             arn:aws:sts::111122223333:assumed-role/app/s1 (or pass --anonymous)"
            .to_owned()),
    }
}

fn parse_tag(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err("expected KEY=VALUE, e.g. team=payments".to_owned()),
    }
}

fn parse_header(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((name, value))
            if !name.is_empty() && http::HeaderName::from_bytes(name.as_bytes()).is_ok() =>
        {
            Ok((name.to_ascii_lowercase(), value.trim().to_owned()))
        }
        _ => Err("expected NAME:VALUE, e.g. x-team:payments".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_emulator::{INVENTORY_HOST, ORDERS_HOST};

    #[test]
    fn urls() {
        let url = RequestUrl::parse("https://Orders.Example.com:8443/a%20b/c?x=1&y=%2F&x=2&flag")
            .unwrap();
        assert_eq!(url.host, "orders.example.com");
        assert_eq!(url.port, 8443);
        assert_eq!(url.path, "/a%20b/c");
        let pairs = [("x", "1"), ("y", "/"), ("x", "2"), ("flag", "")];
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(url.query, expected);
        assert!(url.secure);

        let plain = RequestUrl::parse("http://h").unwrap();
        assert_eq!(
            (plain.port, plain.path.as_str(), plain.secure),
            (80, "/", false)
        );

        for bad in ["ftp://h/", "/just/a/path", "https://", "not a url"] {
            assert!(RequestUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lattice_regions() {
        assert_eq!(lattice_region(ORDERS_HOST), Some("us-west-2"));
        assert_eq!(lattice_region(INVENTORY_HOST), Some("eu-west-1"));
        assert_eq!(lattice_region("orders.example.com"), None);
        assert_eq!(lattice_region("x.on.aws"), None);
    }

    #[test]
    fn service_arns() {
        assert!(
            check_service_arn("arn:aws:vpc-lattice:us-east-1:111122223333:service/svc-1").is_ok()
        );
        for bad in [
            "svc-1",
            "arn:aws:vpc-lattice:us-east-1:111122223333:servicenetwork/sn-1",
            "arn:aws:vpc-lattice:us-east-1:111122223333:service/svc-1/path",
            "arn:aws:vpc-lattice::111122223333:service/svc-1",
        ] {
            assert!(check_service_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn principals() {
        for good in [
            "arn:aws:sts::111122223333:assumed-role/app/s1",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:root",
        ] {
            assert_eq!(parse_principal(good).as_deref(), Ok(good));
        }
        for bad in [
            "app",
            "111122223333",
            "arn:aws:iam::1111:user/a",
            "arn:aws:s3:::bucket",
        ] {
            assert!(parse_principal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_and_headers() {
        assert_eq!(parse_tag("team=a=b"), Ok(("team".into(), "a=b".into())));
        assert!(parse_tag("=x").is_err() && parse_tag("x").is_err());
        assert_eq!(
            parse_header("X-Team: pay"),
            Ok(("x-team".into(), "pay".into()))
        );
        assert!(parse_header("bad name:x").is_err() && parse_header("novalue").is_err());
    }
}
