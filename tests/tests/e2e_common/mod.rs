//! Helpers shared by `e2e_reqwest.rs`, `e2e_hyper.rs` and `e2e_tonic.rs`: signers for
//! every algorithm/credential variant, emulator set-up, streaming bodies and memory probes.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use lattice_client::clock::ManualClock;
use lattice_client::integrations::tls::TlsConfig;
use lattice_client::{Credentials, CredentialsCache, Signer, SigningConfig, SigningConfigBuilder};
use lattice_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_PRINCIPAL, DEFAULT_SECRET_ACCESS_KEY, Emulator,
    ORDERS_CUSTOM_DOMAIN, ORDERS_REGION, Secret,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The session identity added to every emulator: temporary credentials with a token.
pub const SESSION_ACCESS_KEY_ID: &str = "ASIAE2ESESSION";
pub const SESSION_SECRET: &str = "e2e/session/secret+key=EXAMPLE";
pub const SESSION_TOKEN: &str = "FwoGZXIvYXdzEE2E//session/token+value==";
pub const SESSION_PRINCIPAL: &str = "arn:aws:sts::123456789012:assumed-role/e2e-role/e2e-session";

/// Size of the large streaming tests: a little over 100 MiB, a whole number of chunks.
pub const CHUNK_LEN: usize = 251 * 256;
pub const CHUNKS: usize = (100usize * 1024 * 1024).div_ceil(CHUNK_LEN);
pub const LARGE_LEN: u64 = (CHUNK_LEN * CHUNKS) as u64;
/// How much the test process's resident memory may grow while streaming `LARGE_LEN`.
pub const MAX_RSS_GROWTH_KB: u64 = 64 * 1024;

/// Signing algorithm and credential kind: every e2e scenario runs for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub sigv4a: bool,
    pub session_token: bool,
}

pub const SIGV4: Variant = Variant {
    sigv4a: false,
    session_token: false,
};
pub const SIGV4_SESSION: Variant = Variant {
    sigv4a: false,
    session_token: true,
};
pub const SIGV4A: Variant = Variant {
    sigv4a: true,
    session_token: false,
};
pub const SIGV4A_SESSION: Variant = Variant {
    sigv4a: true,
    session_token: true,
};
pub const VARIANTS: [Variant; 4] = [SIGV4, SIGV4_SESSION, SIGV4A, SIGV4A_SESSION];

impl Variant {
    pub fn algorithm(self) -> &'static str {
        if self.sigv4a {
            "AWS4-ECDSA-P256-SHA256"
        } else {
            "AWS4-HMAC-SHA256"
        }
    }

    pub fn access_key_id(self) -> &'static str {
        if self.session_token {
            SESSION_ACCESS_KEY_ID
        } else {
            DEFAULT_ACCESS_KEY_ID
        }
    }

    pub fn principal(self) -> &'static str {
        if self.session_token {
            SESSION_PRINCIPAL
        } else {
            DEFAULT_PRINCIPAL
        }
    }

    pub fn credentials(self) -> Credentials {
        if self.session_token {
            Credentials::new(
                SESSION_ACCESS_KEY_ID,
                SESSION_SECRET,
                Some(SESSION_TOKEN.to_owned()),
                None,
                "e2e",
            )
        } else {
            Credentials::new(
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_SECRET_ACCESS_KEY,
                None,
                None,
                "e2e",
            )
        }
    }

    /// Lattice names plus `orders.example.com` in its region; SigV4A for every region.
    pub fn config(self) -> SigningConfigBuilder {
        let builder =
            SigningConfig::builder().custom_domain_in(ORDERS_CUSTOM_DOMAIN, ORDERS_REGION);
        if self.sigv4a {
            builder.sigv4a("*")
        } else {
            builder
        }
    }

    /// A signer with warm credentials.
    pub async fn signer(self) -> Signer {
        signer_with(self.config().build().unwrap(), self.credentials()).await
    }
}

pub async fn signer_with(config: SigningConfig, credentials: Credentials) -> Signer {
    let signer = Signer::new(config, CredentialsCache::from_static(credentials));
    signer.credentials().warm().await.unwrap();
    signer
}

/// A signer whose clock runs `behind` the emulator's.
pub async fn stale_signer(variant: Variant, emulator: &Emulator, behind: Duration) -> Signer {
    let clock = ManualClock::new(emulator.now() - behind);
    signer_with(variant.config().build().unwrap(), variant.credentials())
        .await
        .with_clock(Arc::new(clock))
}

/// The default identity with the wrong secret.
pub fn wrong_secret() -> Credentials {
    Credentials::new(
        DEFAULT_ACCESS_KEY_ID,
        "not/the/right/secret",
        None,
        None,
        "e2e",
    )
}

/// Signs `orders.example.com` for a region the service is not in.
pub fn wrong_region_config(sigv4a: bool) -> SigningConfig {
    let builder = SigningConfig::builder();
    let builder = if sigv4a {
        builder.custom_domain(ORDERS_CUSTOM_DOMAIN).sigv4a("eu-*")
    } else {
        builder.custom_domain_in(ORDERS_CUSTOM_DOMAIN, "us-east-1")
    };
    builder.build().unwrap()
}

/// An emulator with the default services and both identities.
pub async fn start() -> Emulator {
    let emulator = Emulator::builder().start().await.expect("emulator starts");
    emulator.key_store().insert(Secret {
        access_key_id: SESSION_ACCESS_KEY_ID.to_owned(),
        secret_access_key: SESSION_SECRET.to_owned(),
        session_token: Some(SESSION_TOKEN.to_owned()),
        principal: SESSION_PRINCIPAL.to_owned(),
        session_name: Some("e2e-session".to_owned()),
    });
    emulator
}

/// rustls trusting only the emulator's CA, ALPN `h2` + `http/1.1`.
pub fn tls(emulator: &Emulator) -> TlsConfig {
    TlsConfig::new()
        .native_roots(false)
        .ca_pem(emulator.ca_pem())
}

/// An HTTP connector that sends every name to the emulator's TLS listener.
pub fn connector(emulator: &Emulator) -> HttpConnector<impl ResolveToEmulator> {
    let ip = emulator.https_addr().ip();
    let resolver = tower::service_fn(move |_name: Name| async move {
        Ok::<_, std::io::Error>(std::iter::once(SocketAddr::new(ip, 0)))
    });
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http
}

/// What [`connector`]'s resolver is (named so callers can spell the connector type).
pub trait ResolveToEmulator:
    tower::Service<
        Name,
        Response = std::iter::Once<SocketAddr>,
        Error = std::io::Error,
        Future: Send,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> ResolveToEmulator for T where
    T: tower::Service<
            Name,
            Response = std::iter::Once<SocketAddr>,
            Error = std::io::Error,
            Future: Send,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The echo target's JSON, checked to be verified for `variant`.
pub fn assert_verified(echo: &Value, variant: Variant) {
    let verified = &echo["verified"];
    assert_eq!(verified["algorithm"], variant.algorithm(), "{echo:#}");
    assert_eq!(
        verified["access_key_id"],
        variant.access_key_id(),
        "{echo:#}"
    );
    let signed: Vec<&str> = verified["signed_headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no signed headers: {echo:#}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in ["host", "x-amz-content-sha256", "x-amz-date"] {
        assert!(signed.contains(&name), "{name} not signed: {echo:#}");
    }
    assert_eq!(
        signed.contains(&"x-amz-security-token"),
        variant.session_token,
        "{echo:#}"
    );
    assert_eq!(
        signed.contains(&"x-amz-region-set"),
        variant.sigv4a,
        "{echo:#}"
    );
    assert_eq!(
        echo["headers"]["x-amz-content-sha256"][0], "UNSIGNED-PAYLOAD",
        "{echo:#}"
    );
}

/// A rejection body: `<Code>: <message>`.
pub fn assert_rejected(status: u16, error_type: Option<&str>, body: &str, code: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_type, Some(code), "{body}");
    assert!(body.starts_with(&format!("{code}:")), "{body}");
}

/// Requests every client sends for each variant: (method, path and query, host is custom domain).
pub const EDGE_REQUESTS: [(&str, &str); 10] = [
    ("GET", "/orders?zeta=1&alpha=2&mid=3&alpha=1"),
    (
        "GET",
        "/search?q=a%20b&tag=%E2%9C%93&empty=&slash=%2F&tilde=~&plus=%2B",
    ),
    ("GET", "/path%20with%20spaces/file%20name"),
    ("GET", "/caf%C3%A9/%E2%82%AC"),
    ("GET", "/a%2Fb/c"),
    ("GET", "/x/./y/../z"),
    ("DELETE", "/orders/42"),
    ("PATCH", "/orders/42?fields=status"),
    ("POST", "/orders"),
    ("PUT", "/orders/42"),
];

/// The chunk every large body repeats: bytes `i % 251`, so chunks line up with the
/// emulator's `/download` pattern.
pub fn chunk() -> Bytes {
    static CHUNK: OnceLock<Bytes> = OnceLock::new();
    CHUNK
        .get_or_init(|| {
            (0..CHUNK_LEN)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into()
        })
        .clone()
}

/// A `LARGE_LEN`-byte stream, one chunk at a time.
pub fn large_stream() -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::iter((0..CHUNKS).map(|_| Ok(chunk())))
}

/// SHA-256 of the `LARGE_LEN` pattern, computed once.
pub fn large_sha256() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| {
        let chunk = chunk();
        let mut hasher = Sha256::new();
        for _ in 0..CHUNKS {
            hasher.update(&chunk);
        }
        hex::encode(hasher.finalize())
    })
}

/// Length and SHA-256 of a body, hashed as it streams.
#[derive(Default)]
pub struct StreamDigest {
    hasher: Sha256,
    pub len: u64,
    first_mismatch: Option<u64>,
}

impl StreamDigest {
    pub fn update(&mut self, data: &[u8]) {
        if self.first_mismatch.is_none() {
            // Check the pattern on chunk boundaries; the hash covers the rest.
            if let Some(&byte) = data.first()
                && u64::from(byte) != self.len % 251
            {
                self.first_mismatch = Some(self.len);
            }
        }
        self.hasher.update(data);
        self.len += data.len() as u64;
    }

    pub fn assert_large_pattern(self) {
        assert_eq!(self.first_mismatch, None, "pattern broken at this offset");
        assert_eq!(self.len, LARGE_LEN);
        assert_eq!(hex::encode(self.hasher.finalize()), large_sha256());
    }
}

/// Serializes the large transfers in one test binary, so each one's memory probe sees
/// only its own growth.
pub async fn heavy_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Peak resident memory growth of this process since [`MemoryProbe::start`].
pub struct MemoryProbe {
    start_rss_kb: u64,
}

impl MemoryProbe {
    /// Resets the peak (`VmHWM`) to the current RSS and records it.
    pub fn start() -> Self {
        // "5" resets the peak RSS of this process (Linux >= 4.0).
        std::fs::write("/proc/self/clear_refs", "5").expect("can reset VmHWM");
        Self {
            start_rss_kb: status_kb("VmRSS"),
        }
    }

    pub fn assert_bounded(&self, what: &str) {
        let peak = status_kb("VmHWM");
        let growth = peak.saturating_sub(self.start_rss_kb);
        eprintln!(
            "{what}: RSS {} kB -> peak {peak} kB (+{growth} kB)",
            self.start_rss_kb
        );
        assert!(
            growth < MAX_RSS_GROWTH_KB,
            "{what}: resident memory grew by {growth} kB while streaming {LARGE_LEN} bytes"
        );
    }
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"))
}
