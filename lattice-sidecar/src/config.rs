//! Command-line flags (each with a `LATTICE_SIDECAR_*` environment fallback), an optional
//! TOML file, and their validation into typed sub-configs.
//!
//! [`Config::from_args`] checks everything up front and reports every problem at once,
//! each with its fix, so a manifest can be corrected in one go. Parsing never mutates the
//! process environment: tests build [`Args`] with `Args::try_parse_from`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_types::os_shim_internal::{Env, Fs};
use clap::Parser;
use futures_util::FutureExt;
use http::Uri;
use http::uri::{Authority, Scheme};
use lattice_client::{SigningConfig, SigningConfigBuilder};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;

use crate::probe::ProbeArgs;

/// `EX_USAGE` from sysexits.h: the exit code for a bad configuration.
pub const EX_USAGE: u8 = 64;

/// Where the admin listener listens, and so where `lattice-sidecar probe` looks, by
/// default.
pub(crate) const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9901";

/// More serving threads than this is a typo, not a tuning choice.
const MAX_WORKERS: usize = 1024;

/// The command line. Every flag can also be set through the environment variable shown
/// in `--help`; list-valued variables take comma-separated values.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "lattice-sidecar",
    disable_version_flag = true,
    about = "A localhost proxy that signs requests for Amazon VPC Lattice (SigV4/SigV4A)",
    long_about = "A localhost proxy that signs requests for Amazon VPC Lattice (SigV4/SigV4A).\n\n\
        Send it plain HTTP/1.1 or h2c (gRPC): as an HTTP proxy (HTTP_PROXY=http://127.0.0.1:8080), \
        with a Host header naming the service, or through a fixed route (--upstream, --route). \
        It forwards over HTTPS with a fresh signature. Only VPC Lattice service names \
        (*.vpc-lattice-svcs.<region>.on.aws) and --custom-domain names are signed.",
    after_help = "Exit codes: 0 after a clean shutdown, 64 for an invalid configuration, 1 otherwise.",
    args_conflicts_with_subcommands = true
)]
// These doc comments are the `--help` text, read in a terminal: URLs and `[::1]` stay
// plain text rather than Markdown links.
#[allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]
pub struct Args {
    /// Without a subcommand, the sidecar runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to accept HTTP/1.1 and h2c traffic on; repeatable, or comma-separated
    /// (e.g. 127.0.0.1:8080,[::1]:8080 for transparent mode with IPv6). Every address
    /// serves the same way, with --upstream if given.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_LISTEN_ADDR",
        value_name = "ADDR",
        value_delimiter = ',',
        default_value = "127.0.0.1:8080"
    )]
    pub listen: Vec<String>,

    /// Send everything received on --listen to this upstream (e.g.
    /// https://orders-0123.abc.vpc-lattice-svcs.us-west-2.on.aws), whatever its Host
    /// header says. Without it, the target comes from the request (proxy URI or Host).
    #[arg(long, env = "LATTICE_SIDECAR_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,

    /// An extra listener with a fixed upstream, as LISTEN_ADDR=URL
    /// (e.g. 127.0.0.1:8081=https://orders-0123.abc.vpc-lattice-svcs.us-west-2.on.aws).
    /// Repeatable.
    #[arg(
        long = "route",
        env = "LATTICE_SIDECAR_ROUTES",
        value_name = "ADDR=URL",
        value_delimiter = ','
    )]
    pub routes: Vec<String>,

    /// Allow listening on addresses other than loopback. Anyone who can reach such a
    /// listener can make requests with this process's AWS identity.
    #[arg(long, env = "LATTICE_SIDECAR_ALLOW_NON_LOOPBACK")]
    pub allow_non_loopback: bool,

    /// Scheme for upstreams taken from a request (proxy URI or Host header): `https` for
    /// Lattice HTTPS listeners, `http` for HTTP listeners. An http:// proxy URI still goes
    /// out over this scheme.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_UPSTREAM_SCHEME",
        value_name = "SCHEME",
        default_value = "https"
    )]
    pub upstream_scheme: String,

    /// Signing region for custom domains (Lattice service names carry their own region).
    #[arg(long, env = "LATTICE_SIDECAR_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// A custom domain to sign for, as NAME or NAME=REGION; `*.example.com` matches
    /// subdomains. Repeatable.
    #[arg(
        long = "custom-domain",
        env = "LATTICE_SIDECAR_CUSTOM_DOMAINS",
        value_name = "NAME[=REGION]",
        value_delimiter = ','
    )]
    pub custom_domains: Vec<String>,

    /// Sign with SigV4A (ECDSA, multi-region) instead of SigV4.
    #[arg(long, env = "LATTICE_SIDECAR_SIGV4A")]
    pub sigv4a: bool,

    /// SigV4A region set: `*`, or comma-separated regions with `*` wildcards.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_REGION_SET",
        value_name = "REGIONS",
        default_value = "*"
    )]
    pub region_set: String,

    /// AWS profile for credentials (default: the standard AWS credential chain).
    #[arg(long, env = "LATTICE_SIDECAR_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Assume this IAM role (with the chain's credentials) and sign as it.
    #[arg(long, env = "LATTICE_SIDECAR_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Option<String>,

    /// Session name when assuming --role-arn.
    #[arg(long, env = "LATTICE_SIDECAR_ROLE_SESSION_NAME", value_name = "NAME")]
    pub role_session_name: Option<String>,

    /// External id when assuming --role-arn.
    #[arg(long, env = "LATTICE_SIDECAR_EXTERNAL_ID", value_name = "ID")]
    pub external_id: Option<String>,

    /// Extra PEM CA certificates to trust for upstream TLS, on top of the system roots.
    /// Repeatable.
    #[arg(
        long = "ca-file",
        env = "LATTICE_SIDECAR_CA_FILES",
        value_name = "PEM",
        value_delimiter = ','
    )]
    pub ca_files: Vec<PathBuf>,

    /// Connect to ADDR instead of resolving HOST:PORT, in curl's HOST:PORT:ADDR syntax;
    /// ADDR may carry a port (127.0.0.1:8443, [::1]:8443). Repeatable.
    #[arg(
        long = "resolve",
        env = "LATTICE_SIDECAR_RESOLVE",
        value_name = "HOST:PORT:ADDR",
        value_delimiter = ','
    )]
    pub resolve: Vec<String>,

    /// Address of the admin listener (/livez, /readyz, /metrics). It never proxies.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_ADMIN_ADDR",
        value_name = "ADDR",
        default_value = DEFAULT_ADMIN_ADDR
    )]
    pub admin_listen: String,

    /// Time limit for connecting to an upstream (TCP).
    #[arg(
        long,
        env = "LATTICE_SIDECAR_CONNECT_TIMEOUT",
        value_name = "DURATION",
        default_value = "5s"
    )]
    pub connect_timeout: String,

    /// Time limit for a client to send a complete request head: a new connection that has
    /// sent none by then (not even a byte) is closed; also closes HTTP/1.1 connections idle
    /// this long between requests.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_HEADER_READ_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub header_read_timeout: String,

    /// How long an idle upstream connection stays in the pool.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_IDLE_TIMEOUT",
        value_name = "DURATION",
        default_value = "90s"
    )]
    pub idle_timeout: String,

    /// Time limit for the upstream's response headers; `0` for none. Bodies may stream
    /// for longer. The default bounds a stuck upstream while leaving room for long polls.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_REQUEST_TIMEOUT",
        value_name = "DURATION",
        default_value = "5m"
    )]
    pub request_timeout: Option<String>,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_SHUTDOWN_GRACE",
        value_name = "DURATION",
        default_value = "20s"
    )]
    pub shutdown_grace: String,

    /// Threads that serve connections, each with its own upstream connection pool; a
    /// connection (and every request on it) stays on one thread. `0`: one per CPU; at most
    /// 1024.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_WORKERS",
        value_name = "N",
        default_value_t = 0
    )]
    pub workers: u16,

    /// Most client connections open at once, over all proxy listeners; more are answered
    /// with 503 `too-many-connections` and closed. `0`: derived from the open-file limit,
    /// keeping a reserve so the admin listener always answers.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 0
    )]
    pub max_connections: u32,

    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "LATTICE_SIDECAR_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: String,

    /// Log filter in tracing-subscriber syntax (e.g. `info,lattice_sidecar=debug`);
    /// falls back to RUST_LOG, then `info`.
    #[arg(long, env = "LATTICE_SIDECAR_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// A TOML file with more routes, custom domains and resolve entries (added to the
    /// flags' lists), and a default region.
    #[arg(long, env = "LATTICE_SIDECAR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    // The two actions below have no environment variable: one left in a manifest would
    // stop the sidecar from ever serving.
    /// Validate the flags, the environment and the config file (like `nginx -t`), then
    /// exit: 0 if valid, 64 with every problem if not. Binds no port and fetches no
    /// credentials.
    #[arg(long)]
    pub check_config: bool,

    /// Print the version, the git revision and the TLS provider, then exit.
    #[arg(short = 'V', long)]
    pub version: bool,
}

/// What to do instead of running the sidecar.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Health check for images without a shell or curl: GET the admin listener's /readyz
    /// (or URL|PATH) and exit 0 on a 2xx, 1 otherwise with the reason on stderr, 64 for a
    /// bad URL.
    Probe(ProbeArgs),
}

/// The optional TOML file. Lists add to the flags' lists; `region` applies when the flag
/// is not given.
///
/// ```toml
/// region = "us-west-2"
/// custom_domains = ["orders.example.com"]
/// resolve = []
///
/// [[routes]]
/// listen = "127.0.0.1:8081"
/// upstream = "https://orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub custom_domains: Vec<String>,
    #[serde(default)]
    pub resolve: Vec<String>,
    #[serde(default)]
    pub routes: Vec<FileRoute>,
}

/// One `[[routes]]` entry of the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoute {
    pub listen: String,
    pub upstream: String,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The proxy listeners: each `--listen` address first, then each route.
    pub listeners: Vec<ListenerConfig>,
    pub admin: AdminConfig,
    pub upstream: UpstreamConfig,
    pub signing: SigningSettings,
    pub server: ServerConfig,
    pub log: LogConfig,
}

/// One proxy listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub addr: SocketAddr,
    pub route: Route,
}

/// How a listener picks the upstream of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// From the request: the proxy URI's authority or the Host header (`:authority`).
    FromRequest,
    /// Always this upstream.
    Fixed(Target),
}

/// An upstream: scheme plus authority without a default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    pub authority: Authority,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub addr: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Scheme for upstreams taken from requests.
    pub scheme: Scheme,
    /// Extra trusted roots from `--ca-file`.
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub resolve: Vec<ResolveEntry>,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Option<Duration>,
}

/// `--resolve HOST:PORT:ADDR`: connections to `host:port` go to `addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    /// Lower case, without a trailing dot.
    pub host: String,
    pub port: u16,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct SigningSettings {
    pub config: SigningConfig,
    pub credentials: CredentialsConfig,
    /// The `--custom-domain` names (and the config file's), without their regions.
    pub custom_domains: Vec<String>,
}

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub struct CredentialsConfig {
    pub profile: Option<String>,
    /// Region for STS when assuming a role (default: the AWS config chain's).
    pub region: Option<String>,
    pub assume_role: Option<AssumeRole>,
}

#[derive(Debug, Clone)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Connection-serving threads, at least 1 (`--workers 0` resolved to the CPU count).
    pub workers: usize,
    /// `--max-connections`; `None`: derived from the open-file limit at start-up
    /// (see the `limits` module).
    pub max_connections: Option<usize>,
    pub allow_non_loopback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `--log`; `None` means RUST_LOG, then `info`.
    pub filter: Option<String>,
}

/// Every problem found in a configuration, each with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    problems: Vec<String>,
}

const DEFAULT_SESSION_NAME: &str = "lattice-sidecar";

// === impl Config ===

impl Config {
    /// Hosts named in the configuration (fixed routes, exact custom domains): each keeps its
    /// own metrics label.
    pub fn configured_hosts(&self) -> Vec<String> {
        let routes = self.listeners.iter().filter_map(|l| match &l.route {
            Route::Fixed(target) => Some(target.host().to_owned()),
            Route::FromRequest => None,
        });
        let domains = (self.signing.custom_domains.iter())
            .filter(|d| !d.starts_with("*."))
            .cloned();
        routes.chain(domains).collect()
    }

    /// Validate flags (and the config file they name), reporting every problem at once:
    /// each part is parsed even when another has failed.
    pub fn from_args(args: Args) -> Result<Self, ConfigError> {
        Self::from_args_in(args, &Env::real())
    }

    /// [`Self::from_args`] with the environment that locates the AWS shared config files
    /// (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `HOME`).
    pub(crate) fn from_args_in(args: Args, env: &Env) -> Result<Self, ConfigError> {
        let mut problems = Problems::default();
        let file = match &args.config {
            Some(path) => problems.check(read_file_config(path)).unwrap_or_default(),
            None => FileConfig::default(),
        };
        // Signing first: fixed upstreams are checked against its allow-list.
        let signing = parse_signing(&args, &file, env, &mut problems);
        let allow_list = signing
            .as_ref()
            .map(|s| s.config.clone())
            .or_else(|| lenient_allow_list(&custom_domains(&args, &file)));
        let listeners = parse_listeners(&args, &file, allow_list.as_ref(), &mut problems);
        let admin = problems.check(parse_listen_addr(
            "--admin-listen",
            &args.admin_listen,
            args.allow_non_loopback,
        ));
        if let Some(admin) = admin {
            check_distinct_addresses(admin, &listeners, &mut problems);
        }
        let upstream = parse_upstream(&args, &file, &mut problems);
        let server = parse_server(&args, &mut problems);
        let log = parse_log(&args, &mut problems);
        problems.finish()?;
        match (signing, admin, upstream, server, log) {
            (Some(signing), Some(addr), Some(upstream), Some(server), Some(log)) => Ok(Config {
                listeners,
                admin: AdminConfig { addr },
                upstream,
                signing,
                server,
                log,
            }),
            // Every `None` above pushed a problem, so this arm is not reached.
            _ => Err(ConfigError {
                problems: vec!["invalid configuration".to_owned()],
            }),
        }
    }
}

/// The custom domains of the flags and the file, as written (`NAME` or `NAME=REGION`).
fn custom_domains(args: &Args, file: &FileConfig) -> Vec<String> {
    args.custom_domains
        .iter()
        .chain(&file.custom_domains)
        .cloned()
        .collect()
}

/// `--region`, `--sigv4a`, `--region-set`, `--custom-domain` and the credential source.
fn parse_signing(
    args: &Args,
    file: &FileConfig,
    env: &Env,
    problems: &mut Problems,
) -> Option<SigningSettings> {
    let region = args.region.clone().or(file.region.clone());
    let mut builder = SigningConfig::builder();
    if let Some(region) = &region {
        builder = builder.region(region.clone());
    }
    if args.sigv4a {
        builder = builder.sigv4a(args.region_set.clone());
    } else if args.region_set != "*" {
        problems.push("--region-set only applies with --sigv4a: add --sigv4a or drop --region-set");
    }
    let domains = custom_domains(args, file);
    for domain in &domains {
        builder = add_custom_domain(builder, domain);
    }
    let config = match builder.build() {
        Ok(config) => Some(config),
        Err(error) => {
            for problem in error.problems() {
                // lattice-client speaks builder methods; say which flags to use.
                problems.push(problem.replace(
                    "set `region(..)`, use `custom_domain_in(domain, region)`, or sign with SigV4A",
                    "pass --region REGION, write --custom-domain NAME=REGION, or use --sigv4a",
                ));
            }
            None
        }
    };
    let credentials = parse_credentials(args, region, env, problems);
    Some(SigningSettings {
        config: config?,
        credentials,
        custom_domains: domains
            .iter()
            .map(|d| d.split('=').next().unwrap_or_default().trim().to_owned())
            .collect(),
    })
}

/// `--profile`, `--role-arn`, `--role-session-name`, `--external-id`.
fn parse_credentials(
    args: &Args,
    region: Option<String>,
    env: &Env,
    problems: &mut Problems,
) -> CredentialsConfig {
    if let Some(profile) = &args.profile {
        problems.check(check_profile(profile, env));
    }
    let assume_role = match (&args.role_arn, &args.role_session_name, &args.external_id) {
        (Some(arn), session_name, external_id) => {
            if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
                problems.push(format!("--role-arn `{arn}` is not an IAM role ARN like arn:aws:iam::123456789012:role/name"));
            }
            let session_name = session_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned());
            if !is_session_name(&session_name) {
                problems.push(format!("--role-session-name `{session_name}` must be 2-64 characters of letters, digits and =,.@-_"));
            }
            Some(AssumeRole {
                role_arn: arn.clone(),
                session_name,
                external_id: external_id.clone(),
            })
        }
        (None, session_name, external_id) => {
            if session_name.is_some() {
                problems.push("--role-session-name needs --role-arn");
            }
            if external_id.is_some() {
                problems.push("--external-id needs --role-arn");
            }
            None
        }
    };
    CredentialsConfig {
        profile: args.profile.clone(),
        region,
        assume_role,
    }
}

/// Each `--listen` address with `--upstream`, then each `--route` (and the file's routes).
fn parse_listeners(
    args: &Args,
    file: &FileConfig,
    allow_list: Option<&SigningConfig>,
    problems: &mut Problems,
) -> Vec<ListenerConfig> {
    let allow_non_loopback = args.allow_non_loopback;
    let mut listeners = Vec::new();
    let listen: Vec<SocketAddr> = (args.listen.iter())
        .filter_map(|addr| {
            problems.check(parse_listen_addr(
                "--listen",
                addr.trim(),
                allow_non_loopback,
            ))
        })
        .collect();
    let route = match &args.upstream {
        None => Some(Route::FromRequest),
        Some(url) => problems
            .check(parse_target("--upstream", url, allow_list))
            .map(Route::Fixed),
    };
    if let Some(route) = route {
        listeners.extend(listen.into_iter().map(|addr| ListenerConfig {
            addr,
            route: route.clone(),
        }));
    }
    let file_routes = file
        .routes
        .iter()
        .map(|r| format!("{}={}", r.listen, r.upstream));
    for route in args.routes.iter().cloned().chain(file_routes) {
        let Some((addr, url)) = route.split_once('=') else {
            problems.push(format!("route `{route}` is not ADDR=URL, e.g. 127.0.0.1:8081=https://svc-0123.abc.vpc-lattice-svcs.us-west-2.on.aws"));
            continue;
        };
        let addr = problems.check(parse_listen_addr("route", addr.trim(), allow_non_loopback));
        let target = problems.check(parse_target("route", url.trim(), allow_list));
        if let (Some(addr), Some(target)) = (addr, target) {
            listeners.push(ListenerConfig {
                addr,
                route: Route::Fixed(target),
            });
        }
    }
    listeners
}

/// Each listener needs an address of its own (port 0 asks the system for one).
fn check_distinct_addresses(
    admin: SocketAddr,
    listeners: &[ListenerConfig],
    problems: &mut Problems,
) {
    let mut seen = vec![admin];
    for listener in listeners {
        if seen.contains(&listener.addr) && listener.addr.port() != 0 {
            problems.push(format!(
                "address {} is used by more than one listener: give each route its own port",
                listener.addr
            ));
        }
        seen.push(listener.addr);
    }
}

/// `--upstream-scheme`, `--ca-file`, `--resolve` and the upstream timeouts.
fn parse_upstream(
    args: &Args,
    file: &FileConfig,
    problems: &mut Problems,
) -> Option<UpstreamConfig> {
    let scheme = problems.check(parse_scheme(&args.upstream_scheme));
    let mut extra_roots = Vec::new();
    for path in &args.ca_files {
        if let Some(certs) = problems.check(read_ca_file(path)) {
            extra_roots.extend(certs);
        }
    }
    let resolve: Vec<ResolveEntry> = args
        .resolve
        .iter()
        .chain(&file.resolve)
        .filter_map(|entry| problems.check(parse_resolve(entry)))
        .collect();
    let connect_timeout = problems.check(parse_duration(
        "--connect-timeout",
        &args.connect_timeout,
        false,
    ));
    let idle_timeout = problems.check(parse_duration("--idle-timeout", &args.idle_timeout, true));
    let request_timeout = match &args.request_timeout {
        Some(value) => problems
            .check(parse_duration("--request-timeout", value, true))
            .map(|timeout| (!timeout.is_zero()).then_some(timeout)),
        None => Some(None),
    };
    Some(UpstreamConfig {
        scheme: scheme?,
        extra_roots,
        resolve,
        connect_timeout: connect_timeout?,
        idle_timeout: idle_timeout?,
        request_timeout: request_timeout?,
    })
}

/// `--header-read-timeout`, `--shutdown-grace`, `--workers`, `--max-connections`.
fn parse_server(args: &Args, problems: &mut Problems) -> Option<ServerConfig> {
    let header_read_timeout = problems.check(parse_duration(
        "--header-read-timeout",
        &args.header_read_timeout,
        false,
    ));
    let shutdown_grace = problems.check(parse_duration(
        "--shutdown-grace",
        &args.shutdown_grace,
        true,
    ));
    let workers = match usize::from(args.workers) {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n if n > MAX_WORKERS => {
            problems.push(format!(
                "--workers {n}: at most {MAX_WORKERS} (0 means one per CPU, usually right)"
            ));
            n
        }
        n => n,
    };
    Some(ServerConfig {
        header_read_timeout: header_read_timeout?,
        shutdown_grace: shutdown_grace?,
        workers,
        max_connections: (args.max_connections > 0).then_some(args.max_connections as usize),
        allow_non_loopback: args.allow_non_loopback,
    })
}

/// `--log-format` and `--log`.
fn parse_log(args: &Args, problems: &mut Problems) -> Option<LogConfig> {
    let format = match args.log_format.as_str() {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        other => {
            problems.push(format!("--log-format `{other}` is not `text` or `json`"));
            None
        }
    };
    if let Some(filter) = &args.log
        && let Err(error) = tracing_subscriber::EnvFilter::try_new(filter)
    {
        problems.push(format!("--log `{filter}` is not a valid log filter ({error}); try `info` or `info,lattice_sidecar=debug`"));
    }
    Some(LogConfig {
        format: format?,
        filter: args.log.clone(),
    })
}

// === impl Target ===

impl Target {
    /// The host (without port), for logs and metric labels.
    pub fn host(&self) -> &str {
        self.authority.host()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

// === impl ConfigError ===

impl ConfigError {
    /// Every problem, each with its fix.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem{}):",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// Collects problems while validation goes on.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    fn check<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|problem| self.push(problem)).ok()
    }

    fn finish(self) -> Result<(), ConfigError> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err(ConfigError { problems: self.0 }),
        }
    }
}

fn add_custom_domain(builder: SigningConfigBuilder, domain: &str) -> SigningConfigBuilder {
    match domain.split_once('=') {
        Some((name, region)) => builder.custom_domain_in(name.trim(), region.trim()),
        None => builder.custom_domain(domain.trim()),
    }
}

/// Lattice names plus the custom domains that parse, ignoring regions: enough to judge
/// fixed upstreams while other signing settings are invalid.
fn lenient_allow_list(domains: &[String]) -> Option<SigningConfig> {
    let mut builder = SigningConfig::builder().sigv4a("*");
    for domain in domains {
        let name = domain.split('=').next().unwrap_or_default().trim();
        if SigningConfig::builder()
            .sigv4a("*")
            .custom_domain(name)
            .build()
            .is_ok()
        {
            builder = builder.custom_domain(name);
        }
    }
    builder.build().ok()
}

fn read_file_config(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--config {}: cannot read it ({e})", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| format!("--config {}: invalid TOML: {}", path.display(), e.message()))
}

pub(crate) fn parse_listen_addr(
    flag: &str,
    value: &str,
    allow_non_loopback: bool,
) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value.parse().map_err(|_| {
        format!("{flag} `{value}` is not IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
    })?;
    if !addr.ip().is_loopback() && !allow_non_loopback {
        return Err(format!(
            "{flag} `{value}` is not a loopback address: anyone who can reach it could sign requests \
             as this AWS identity; use 127.0.0.1, or pass --allow-non-loopback if that is intended"
        ));
    }
    Ok(addr)
}

fn parse_scheme(value: &str) -> Result<Scheme, String> {
    match value {
        "https" => Ok(Scheme::HTTPS),
        "http" => Ok(Scheme::HTTP),
        other => Err(format!(
            "--upstream-scheme `{other}` is not `https` or `http`"
        )),
    }
}

/// Parse a fixed upstream URL: scheme, host and optional port; nothing else.
pub(crate) fn parse_target(
    flag: &str,
    value: &str,
    signing: Option<&SigningConfig>,
) -> Result<Target, String> {
    let example = "e.g. https://orders-0123.abc.vpc-lattice-svcs.us-west-2.on.aws";
    let uri: Uri = value
        .parse()
        .map_err(|_| format!("{flag} `{value}` is not a URL ({example})"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(format!(
            "{flag} `{value}` needs a scheme and host ({example})"
        ));
    };
    let scheme = match scheme.as_str() {
        "https" => Scheme::HTTPS,
        "http" => Scheme::HTTP,
        other => {
            return Err(format!(
                "{flag} `{value}`: scheme `{other}` is not https or http"
            ));
        }
    };
    if authority.as_str().contains('@') {
        return Err(format!("{flag} `{value}` must not contain user info"));
    }
    if uri
        .path_and_query()
        .is_some_and(|pq| pq.as_str() != "/" && !pq.as_str().is_empty())
    {
        return Err(format!(
            "{flag} `{value}` has a path or query: the path and query of each request are sent as \
             received, so give only scheme://host[:port]"
        ));
    }
    if let Some(signing) = signing
        && !signing.allows_host(authority.as_str())
    {
        return Err(format!(
            "{flag} `{value}`: `{}` is not a VPC Lattice service name (*.vpc-lattice-svcs.<region>.on.aws); \
             add it with --custom-domain (and --region) if it is a custom domain",
            authority.host()
        ));
    }
    Ok(Target {
        authority: without_default_port(&scheme, authority),
        scheme,
    })
}

/// `host:443` for https (`:80` for http) becomes `host`, as clients send in `Host`.
pub(crate) fn without_default_port(scheme: &Scheme, authority: &Authority) -> Authority {
    let default = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    match authority.port_u16() {
        Some(port) if port == default => {
            Authority::try_from(authority.host()).unwrap_or_else(|_| authority.clone())
        }
        _ => authority.clone(),
    }
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("--ca-file {}: cannot read it ({e})", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--ca-file {}: not valid PEM ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-file {}: no `BEGIN CERTIFICATE` block found",
            path.display()
        ));
    }
    Ok(certs)
}

/// `HOST:PORT:ADDR` with ADDR = `IP`, `[IPv6]`, `IP:PORT` or `[IPv6]:PORT`.
pub(crate) fn parse_resolve(entry: &str) -> Result<ResolveEntry, String> {
    let bad = || {
        format!(
            "--resolve `{entry}` is not HOST:PORT:ADDR, e.g. orders.example.com:443:127.0.0.1 or ...:443:127.0.0.1:8443"
        )
    };
    let mut parts = entry.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    let addr = if let Ok(addr) = addr.parse::<SocketAddr>() {
        addr
    } else {
        let ip = addr.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        SocketAddr::new(ip, port)
    };
    Ok(ResolveEntry { host, port, addr })
}

fn parse_duration(flag: &str, value: &str, zero_ok: bool) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value)
        .map_err(|e| format!("{flag} `{value}` is not a duration like 500ms, 30s or 2m ({e})"))?;
    if duration.is_zero() && !zero_ok {
        return Err(format!("{flag} must be more than zero"));
    }
    Ok(duration)
}

/// `--profile NAME` must name a profile of the shared config or credentials file, as
/// the AWS CLI insists; otherwise the credential chain would skip it and sign with
/// whatever else it finds, or retry for ever. Read with aws-config's own loader, so a
/// profile is found exactly when the credential provider would find it.
fn check_profile(name: &str, env: &Env) -> Result<(), String> {
    let (fs, files) = (Fs::real(), Default::default());
    let loading = aws_config::profile::load(&fs, env, &files, None);
    // The loader reads the files synchronously: it is ready at the first poll.
    let Some(loaded) = loading.now_or_never() else {
        return Ok(());
    };
    let profiles = loaded
        .map_err(|e| format!("--profile {name}: cannot read the AWS shared config files: {e}"))?;
    if profiles.get_profile(name).is_some() {
        return Ok(());
    }
    let path = |var: &str, default: &str| env.get(var).unwrap_or_else(|_| default.to_owned());
    Err(format!(
        "--profile: The config profile ({name}) could not be found in {} or {}: add it there, \
         point AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE at the files that have it, or drop \
         --profile to use the default credential chain",
        path("AWS_CONFIG_FILE", "~/.aws/config"),
        path("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ))
}

fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=,.@-_".contains(&b))
}

#[cfg(test)]
mod tests;
