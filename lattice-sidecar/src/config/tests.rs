use aws_types::os_shim_internal::Env;

use super::*;

const ORDERS: &str = "orders-0123456789abcdef0.7d67968.vpc-lattice-svcs.us-west-2.on.aws";

fn args(extra: &[&str]) -> Args {
    let mut argv = vec!["lattice-sidecar"];
    argv.extend_from_slice(extra);
    Args::try_parse_from(argv).unwrap()
}

fn problems(extra: &[&str]) -> Vec<String> {
    Config::from_args(args(extra))
        .unwrap_err()
        .problems()
        .to_vec()
}

#[test]
fn defaults_are_loopback_and_route_from_the_request() {
    let config = Config::from_args(args(&[])).unwrap();
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.listeners[0].addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.listeners[0].route, Route::FromRequest);
    assert_eq!(config.admin.addr, "127.0.0.1:9901".parse().unwrap());
    assert_eq!(config.upstream.scheme, Scheme::HTTPS);
    assert_eq!(config.upstream.connect_timeout, Duration::from_secs(5));
    // A stuck upstream never hangs a request forever by default.
    assert_eq!(
        config.upstream.request_timeout,
        Some(Duration::from_secs(300))
    );
    assert_eq!(config.server.shutdown_grace, Duration::from_secs(20));
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(config.signing.config.allows_host(ORDERS));
    assert!(!config.signing.config.allows_host("example.com"));
}

#[test]
fn workers_default_to_one_per_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let config = Config::from_args(args(&[])).unwrap();
    assert_eq!(config.server.workers, cpus);
    let config = Config::from_args(args(&["--workers", "0"])).unwrap();
    assert_eq!(config.server.workers, cpus);
    let config = Config::from_args(args(&["--workers", "3"])).unwrap();
    assert_eq!(config.server.workers, 3);
    assert_eq!(
        problems(&["--workers", "5000"]),
        ["--workers 5000: at most 1024 (0 means one per CPU, usually right)"]
    );
    for bad in ["-1", "two", "70000"] {
        let argv = ["lattice-sidecar", "--workers", bad];
        assert!(Args::try_parse_from(argv).is_err(), "--workers {bad}");
    }
}

#[test]
fn a_zero_request_timeout_means_none() {
    let config = Config::from_args(args(&["--request-timeout", "0"])).unwrap();
    assert_eq!(config.upstream.request_timeout, None);
    let config = Config::from_args(args(&["--request-timeout", "750ms"])).unwrap();
    assert_eq!(
        config.upstream.request_timeout,
        Some(Duration::from_millis(750))
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = problems(&[
        "--listen",
        "0.0.0.0:80",
        "--admin-listen",
        "localhost:9901",
        "--upstream",
        "https://example.com/path",
        "--route",
        "nonsense",
        "--route",
        "127.0.0.1:8081=ftp://x",
        "--upstream-scheme",
        "gopher",
        "--region",
        "uswest",
        "--custom-domain",
        "https://bad",
        "--region-set",
        "us-west-2",
        "--resolve",
        "host:notaport:1.2.3.4",
        "--connect-timeout",
        "0s",
        "--header-read-timeout",
        "soon",
        "--request-timeout",
        "10 lightyears",
        "--log-format",
        "yaml",
        "--log",
        "lattice=loud",
        "--external-id",
        "x",
    ]);
    let expected = [
        "--listen `0.0.0.0:80` is not a loopback address",
        "--admin-listen `localhost:9901` is not IP:PORT",
        "--upstream `https://example.com/path` has a path",
        "route `nonsense` is not ADDR=URL",
        "scheme `ftp` is not https or http",
        "--upstream-scheme `gopher`",
        "region `uswest` is not a region name",
        "custom domain `https://bad` is not a DNS name",
        "--region-set only applies with --sigv4a",
        "--resolve `host:notaport:1.2.3.4`",
        "--connect-timeout must be more than zero",
        "--header-read-timeout `soon` is not a duration",
        "--request-timeout `10 lightyears` is not a duration",
        "--log-format `yaml`",
        "--log `lattice=loud` is not a valid log filter",
        "--external-id needs --role-arn",
    ];
    for needle in expected {
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "missing {needle:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn non_loopback_needs_the_flag() {
    let config =
        Config::from_args(args(&["--listen", "0.0.0.0:8080", "--allow-non-loopback"])).unwrap();
    assert!(config.server.allow_non_loopback);
    assert!(config.listeners[0].addr.ip().is_unspecified());
    assert_eq!(problems(&["--listen", "[::]:8080"]).len(), 1);
    assert!(Config::from_args(args(&["--listen", "[::1]:8080"])).is_ok());
}

#[test]
fn several_listen_addresses_each_serve_the_same_route() {
    let upstream = format!("https://{ORDERS}");
    let config = Config::from_args(args(&[
        "--listen",
        "127.0.0.1:8080,[::1]:8080",
        "--listen",
        "127.0.0.1:8090",
        "--upstream",
        &upstream,
    ]))
    .unwrap();
    let addrs: Vec<SocketAddr> = config.listeners.iter().map(|l| l.addr).collect();
    let want = ["127.0.0.1:8080", "[::1]:8080", "127.0.0.1:8090"].map(|a| a.parse().unwrap());
    assert_eq!(addrs, want);
    assert!(
        (config.listeners.iter())
            .all(|l| matches!(&l.route, Route::Fixed(t) if t.host() == ORDERS))
    );
}

#[test]
fn every_listen_address_is_checked_and_every_problem_reported() {
    let found = problems(&["--listen", "0.0.0.0:8080,[::1]:8080,nope,[::]:8080"]);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].contains("`0.0.0.0:8080` is not a loopback address"),
        "{found:?}"
    );
    assert!(found[1].contains("`nope` is not IP:PORT"), "{found:?}");
    assert!(
        found[2].contains("`[::]:8080` is not a loopback address"),
        "{found:?}"
    );
    let found = problems(&["--listen", "127.0.0.1:8080,127.0.0.1:8080"]);
    assert!(found[0].contains("more than one listener"), "{found:?}");
}

#[test]
fn fixed_upstreams_must_be_allowed_and_drop_default_ports() {
    let config = Config::from_args(args(&[
        "--upstream",
        &format!("https://{ORDERS}:443"),
        "--route",
        &format!("127.0.0.1:8081=http://{ORDERS}:8080"),
        "--route",
        "127.0.0.1:8082=https://api.example.com",
        "--custom-domain",
        "*.example.com=eu-west-1",
    ]))
    .unwrap();
    let targets: Vec<String> = config
        .listeners
        .iter()
        .map(|l| match &l.route {
            Route::Fixed(target) => target.to_string(),
            Route::FromRequest => "request".to_owned(),
        })
        .collect();
    assert_eq!(
        targets,
        [
            format!("https://{ORDERS}"),
            format!("http://{ORDERS}:8080"),
            "https://api.example.com".to_owned()
        ]
    );
    let found = problems(&["--upstream", "https://api.example.com"]);
    assert!(
        found[0].contains("add it with --custom-domain"),
        "{found:?}"
    );
}

#[test]
fn custom_domains_need_a_region_unless_sigv4a() {
    assert!(problems(&["--custom-domain", "orders.example.com"])[0].contains("needs a region"));
    assert!(
        Config::from_args(args(&[
            "--custom-domain",
            "orders.example.com",
            "--region",
            "us-west-2"
        ]))
        .is_ok()
    );
    assert!(
        Config::from_args(args(&["--custom-domain", "orders.example.com", "--sigv4a"])).is_ok()
    );
    let config = Config::from_args(args(&[
        "--custom-domain",
        "a.example.com,b.example.com=us-east-1",
        "--region",
        "us-west-2",
    ]))
    .unwrap();
    assert!(
        config.signing.config.allows_host("a.example.com")
            && config.signing.config.allows_host("b.example.com")
    );
}

#[test]
fn duplicate_listen_addresses_are_refused() {
    let found = problems(&["--route", &format!("127.0.0.1:8080=https://{ORDERS}")]);
    assert!(found[0].contains("more than one listener"), "{found:?}");
}

#[test]
fn resolve_entries_follow_curl_with_optional_port() {
    assert_eq!(
        parse_resolve("Orders.Example.com.:443:127.0.0.1").unwrap(),
        ResolveEntry {
            host: "orders.example.com".into(),
            port: 443,
            addr: "127.0.0.1:443".parse().unwrap()
        }
    );
    assert_eq!(
        parse_resolve("h:443:127.0.0.1:8443").unwrap().addr,
        "127.0.0.1:8443".parse().unwrap()
    );
    assert_eq!(
        parse_resolve("h:443:[::1]").unwrap().addr,
        "[::1]:443".parse().unwrap()
    );
    assert_eq!(
        parse_resolve("h:443:[::1]:8443").unwrap().addr,
        "[::1]:8443".parse().unwrap()
    );
    for bad in [
        "h:443",
        ":443:127.0.0.1",
        "h:x:127.0.0.1",
        "h:443:not-an-ip",
    ] {
        assert!(parse_resolve(bad).is_err(), "{bad}");
    }
}

#[test]
fn assume_role_settings() {
    let config = Config::from_args(args(&[
        "--role-arn",
        "arn:aws:iam::123456789012:role/app",
        "--external-id",
        "ext",
    ]))
    .unwrap();
    let role = config.signing.credentials.assume_role.unwrap();
    assert_eq!(role.session_name, "lattice-sidecar");
    assert_eq!(role.external_id.as_deref(), Some("ext"));
    let found = problems(&["--role-arn", "role/app", "--role-session-name", "a b"]);
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn config_file_adds_routes_and_domains() {
    let dir = std::env::temp_dir().join(format!(
        "lattice-sidecar-config-test-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sidecar.toml");
    std::fs::write(
        &file,
        format!(
            "region = \"us-west-2\"\ncustom_domains = [\"orders.example.com\"]\n\
             [[routes]]\nlisten = \"127.0.0.1:8085\"\nupstream = \"https://{ORDERS}\"\n"
        ),
    )
    .unwrap();
    let config = Config::from_args(args(&["--config", file.to_str().unwrap()])).unwrap();
    assert_eq!(config.listeners.len(), 2);
    assert!(config.signing.config.allows_host("orders.example.com"));

    std::fs::write(&file, "routes = 3\nunknown = true\n").unwrap();
    let found = problems(&["--config", file.to_str().unwrap()]);
    assert!(found[0].contains("invalid TOML"), "{found:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_profile_must_exist_in_the_shared_files() {
    let dir = std::env::temp_dir().join(format!(
        "lattice-sidecar-profile-test-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (config_file, credentials_file) = (dir.join("config"), dir.join("credentials"));
    std::fs::write(
        &config_file,
        "[default]\nregion = us-west-2\n\n[profile dev]\nregion = us-east-1\n",
    )
    .unwrap();
    std::fs::write(
        &credentials_file,
        "[prod]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n",
    )
    .unwrap();
    let (config_path, credentials_path) = (
        config_file.to_str().unwrap(),
        credentials_file.to_str().unwrap(),
    );
    let env = Env::from_slice(&[
        ("AWS_CONFIG_FILE", config_path),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials_path),
        ("HOME", "/nonexistent"),
    ]);
    let check = |extra: &[&str]| Config::from_args_in(args(extra), &env);

    for found in ["default", "dev", "prod"] {
        let config = check(&["--profile", found]).unwrap();
        assert_eq!(config.signing.credentials.profile.as_deref(), Some(found));
    }
    assert!(check(&[]).is_ok(), "no --profile: nothing to look for");

    // As the AWS CLI says it, and with every other problem.
    let found = check(&["--profile", "staging", "--log-format", "xml"])
        .unwrap_err()
        .problems()
        .to_vec();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found[0],
        format!(
            "--profile: The config profile (staging) could not be found in {config_path} or \
             {credentials_path}: add it there, point AWS_CONFIG_FILE or \
             AWS_SHARED_CREDENTIALS_FILE at the files that have it, or drop --profile to use \
             the default credential chain"
        )
    );
    // `[dev]` in the config file is not a profile (it needs `[profile dev]`), nor is a
    // credentials-file profile spelled with a prefix.
    std::fs::write(&config_file, "[dev]\nregion = us-east-1\n").unwrap();
    assert!(check(&["--profile", "dev"]).is_err());

    // No files at all.
    std::fs::remove_dir_all(&dir).unwrap();
    let error = check(&["--profile", "prod"]).unwrap_err();
    assert!(
        error.problems()[0].contains("The config profile (prod) could not be found"),
        "{error}"
    );
}
