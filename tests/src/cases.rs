//! Request shapes that stress canonicalization, shared by the cross-check tests:
//! hand-picked edge cases plus a seeded pseudo-random batch (reproducible, bounded).

use lattice_emulator::ORDERS_HOST;

/// One request to sign: method, absolute URL, headers in order.
#[derive(Debug, Clone)]
pub struct RequestCase {
    /// A short name for failure messages.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Absolute URL, already percent-encoded as it goes on the wire.
    pub url: String,
    /// Extra headers, in order (repeats allowed).
    pub headers: Vec<(String, String)>,
}

fn case(name: &str, method: &str, url: String, headers: &[(&str, &str)]) -> RequestCase {
    RequestCase {
        name: name.to_owned(),
        method: method.to_owned(),
        url,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Hand-picked edge cases: query order and encoding, awkward paths, methods, headers.
pub fn edge_cases() -> Vec<RequestCase> {
    let base = format!("https://{ORDERS_HOST}");
    vec![
        case(
            "unsorted-query",
            "GET",
            format!("{base}/orders?zeta=1&alpha=2&mid=3"),
            &[],
        ),
        case(
            "repeated-keys",
            "GET",
            format!("{base}/orders?k=2&k=1&K=0"),
            &[],
        ),
        case(
            "encoded-query",
            "GET",
            format!("{base}/search?q=a%20b&tag=%E2%9C%93&empty=&flag&slash=%2F&tilde=~"),
            &[],
        ),
        case(
            "literal-plus-query",
            "GET",
            format!("{base}/search?q=a+b&op=%2B"),
            &[],
        ),
        case(
            "space-path",
            "GET",
            format!("{base}/path%20with%20spaces/"),
            &[],
        ),
        case(
            "utf8-path",
            "GET",
            format!("{base}/caf%C3%A9/%E2%82%AC"),
            &[],
        ),
        case("encoded-slash", "GET", format!("{base}/a%2Fb/c"), &[]),
        case("dot-segments", "GET", format!("{base}/a/./b/../c//d"), &[]),
        case(
            "reserved-chars",
            "GET",
            format!("{base}/r/$&'()*+,;=:@!"),
            &[],
        ),
        case("head", "HEAD", format!("{base}/"), &[]),
        case("delete", "DELETE", format!("{base}/orders/1"), &[]),
        case(
            "patch",
            "PATCH",
            format!("{base}/orders/1"),
            &[("content-type", "application/json")],
        ),
        case(
            "header-whitespace",
            "POST",
            format!("{base}/h"),
            &[
                ("X-Spaced", "  a   b  "),
                ("X-Dup", "1"),
                ("x-dup", "2"),
                ("Accept", "*/*"),
            ],
        ),
        case(
            "non-default-port",
            "GET",
            format!("https://{ORDERS_HOST}:8443/p"),
            &[],
        ),
        case(
            "custom-domain",
            "GET",
            "https://orders.example.com/orders?id=7".to_owned(),
            &[],
        ),
        case("root-empty-path", "GET", base, &[]),
    ]
}

/// `count` reproducible pseudo-random requests (no external RNG: a fixed LCG seed keeps
/// failures reproducible from the case name).
pub fn random_cases(seed: u64, count: usize) -> Vec<RequestCase> {
    let mut rng = Lcg(seed);
    let segments = [
        "a",
        "B",
        "x-y_z.~",
        "%20",
        "%2F",
        "caf%C3%A9",
        "v1",
        "..",
        ".",
        "",
        "%25",
        "%7E",
    ];
    let keys = ["a", "b", "Z", "x-y", "k%20k", "%E2%9C%93", "empty"];
    let values = ["", "1", "two", "%20", "%2B", "a%3Db", "~._-", "%C3%A9"];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    let header_names = [
        "x-trace",
        "content-type",
        "accept",
        "x-custom",
        "x-custom",
        "if-match",
    ];
    let header_values = [
        "v",
        "  padded  ",
        "a  b   c",
        "application/json",
        "\"etag\"",
        "*/*",
    ];
    (0..count)
        .map(|i| {
            let depth = 1 + rng.below(5);
            let mut path = String::new();
            for _ in 0..depth {
                path.push('/');
                path.push_str(segments[rng.below(segments.len())]);
            }
            // Dot segments that climb above the root are not canonicalized alike by all
            // signers; real clients never send them, so keep the path below the root.
            if path.split('/').filter(|s| *s == "..").count() * 2 >= depth {
                path = path.replace("..", "up");
            }
            // A trailing dot segment (`/b/.`) is canonicalized as `/b/` by RFC 3986 and
            // aws-sigv4 but as `/b` by botocore; the suite does not settle it and clients
            // resolve dot segments before sending, so keep it out of the shared set.
            if path.ends_with("/.") || path.ends_with("/..") {
                path.push_str("/end");
            }
            let mut query = Vec::new();
            for _ in 0..rng.below(5) {
                let key = keys[rng.below(keys.len())];
                let value = values[rng.below(values.len())];
                query.push(format!("{key}={value}"));
            }
            let url = if query.is_empty() {
                format!("https://{ORDERS_HOST}{path}")
            } else {
                format!("https://{ORDERS_HOST}{path}?{}", query.join("&"))
            };
            let headers = (0..rng.below(4))
                .map(|_| {
                    let name = header_names[rng.below(header_names.len())];
                    let value = header_values[rng.below(header_values.len())];
                    (name.to_owned(), value.to_owned())
                })
                .collect();
            RequestCase {
                name: format!("random-{seed}-{i}"),
                method: methods[rng.below(methods.len())].to_owned(),
                url,
                headers,
            }
        })
        .collect()
}

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}
