//! `bench-upstream`: the fast local upstream for `bench/sidecar.sh`.
//!
//! A minimal hyper server (HTTP/1.1 and h2 by ALPN over TLS; HTTP/1.1 and h2c on the
//! optional plain listener) with a run-time self-signed certificate. It verifies nothing,
//! so the benchmark measures the sidecar, not the emulator's verifier.
//!
//! Routes: `/` (200, 1 KiB body), `/stream?secs=N` (chunks over N seconds, the first at
//! once), `/download?bytes=N` (N bytes), `/upload` (drains the body, answers the count).
//!
//! Connections are served thread-per-core, each on one thread with all its h2 streams, as
//! Envoy (and so, presumably, Lattice's data plane) and the sidecar do. On a work-stealing
//! runtime (`--work-stealing`) hyper's h2 server spawns each stream as a task that another
//! thread may steal, so an h2 request can cross threads where an HTTP/1.1 one does not, and
//! the sidecar's h2 upstream leg was charged for the fixture: 25 µs of added p50 at 200 req/s
//! (median of six alternating rounds of `bench/upstream_protocol.sh`; `bench/README.md`).

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use bytes::Bytes;
use clap::Parser;
use futures_util::stream;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::{body::Frame, body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use lattice_emulator::Certificates;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const EX_SOFTWARE: u8 = 70;
/// Size of the `/` response body.
const SMALL_BODY: usize = 1024;
/// Chunk size for `/download`.
const CHUNK: usize = 64 * 1024;
/// Interval between `/stream` chunks.
const STREAM_TICK: Duration = Duration::from_millis(100);

type Body = BoxBody<Bytes, Infallible>;

/// Minimal TLS + h2 upstream for the sidecar benchmark (loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TLS listener (ALPN h2 and http/1.1).
    #[arg(long, default_value = "127.0.0.1:0", value_parser = loopback_addr)]
    listen: SocketAddr,

    /// Optional plain listener (HTTP/1.1 and h2c prior knowledge), for the h2c baseline.
    #[arg(long, value_parser = loopback_addr)]
    http_listen: Option<SocketAddr>,

    /// Extra DNS names for the certificate (`localhost` and `127.0.0.1` are always in it).
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,

    /// Write the CA certificate (PEM) here, for `--ca-file` / `curl --cacert`.
    #[arg(long, value_name = "PATH")]
    write_ca: PathBuf,

    /// Offer only http/1.1 in TLS ALPN (no h2), to compare upstream protocols.
    #[arg(long)]
    http1_only: bool,

    /// Serving threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,

    /// Serve on one work-stealing Tokio runtime, as this fixture did before 2026-11-23,
    /// instead of one single-threaded runtime per thread. A work-stealing runtime runs an
    /// h2 connection's streams on any thread, so each request can cross threads twice.
    #[arg(long)]
    work_stealing: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // The accept loops' runtime; with --work-stealing it serves the connections too.
    let mut builder = match args.work_stealing {
        true => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
        false => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-upstream: cannot start the Tokio runtime: {error}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    let serving = match args.work_stealing {
        true => Ok(Serving::Shared),
        false => Serving::per_thread(threads),
    };
    let result = match serving {
        Ok(serving) => runtime.block_on(run(args, serving)),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-upstream: {error}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

async fn run(args: Args, serving: Serving) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let certificates = Certificates::generate(&args.hosts)?;
    let ca_pem = certificates.ca_pem;
    let mut config = Arc::unwrap_or_clone(certificates.server_config);
    if args.http1_only {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    std::fs::write(&args.write_ca, ca_pem)
        .map_err(|error| format!("cannot write {}: {error}", args.write_ca.display()))?;
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let tls = TcpListener::bind(args.listen).await?;
    // The script reads these lines to learn the ports.
    println!("https {}", tls.local_addr()?);
    if let Some(addr) = args.http_listen {
        let plain = TcpListener::bind(addr).await?;
        println!("http {}", plain.local_addr()?);
        tokio::spawn(accept_loop(plain, None, serving.clone()));
    }
    println!("ready");

    tokio::select! {
        () = accept_loop(tls, Some(acceptor), serving) => {}
        result = wait_for_signal() => result?,
    }
    Ok(())
}

/// Where accepted connections are served.
#[derive(Clone)]
enum Serving {
    /// On the work-stealing runtime that accepted them (`--work-stealing`).
    Shared,
    /// Dealt in turn to threads that each run a single-threaded runtime.
    PerThread {
        queues: Arc<[mpsc::UnboundedSender<Accepted>]>,
        next: Arc<AtomicUsize>,
    },
}

/// A connection on its way to a serving thread.
struct Accepted {
    tcp: std::net::TcpStream,
    tls: Option<TlsAcceptor>,
}

impl Serving {
    fn per_thread(threads: usize) -> Result<Self, std::io::Error> {
        let mut queues = Vec::with_capacity(threads);
        for index in 0..threads {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (queue, mut accepted) = mpsc::unbounded_channel::<Accepted>();
            std::thread::Builder::new()
                .name(format!("upstream-{index}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(Accepted { tcp, tls }) = accepted.recv().await {
                            if let Ok(tcp) = TcpStream::from_std(tcp) {
                                tokio::spawn(serve_accepted(tcp, tls));
                            }
                        }
                    });
                })?;
            queues.push(queue);
        }
        Ok(Serving::PerThread {
            queues: queues.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn serve(&self, tcp: TcpStream, tls: Option<TlsAcceptor>) {
        match self {
            Serving::Shared => drop(tokio::spawn(serve_accepted(tcp, tls))),
            Serving::PerThread { queues, next } => {
                // Leaves this runtime's reactor; the serving thread registers it with its own.
                let Ok(tcp) = tcp.into_std() else { return };
                let index = next.fetch_add(1, Ordering::Relaxed) % queues.len();
                // A send fails only once that thread is gone, i.e. at exit.
                let _ = queues[index].send(Accepted { tcp, tls });
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, serving: Serving) {
    loop {
        let Some(tcp) = accept(&listener).await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        serving.serve(tcp, tls.clone());
    }
}

async fn serve_accepted(tcp: TcpStream, tls: Option<TlsAcceptor>) {
    match tls {
        Some(acceptor) => {
            if let Ok(tls) = acceptor.accept(tcp).await {
                serve(TokioIo::new(tls)).await;
            }
        }
        None => serve(TokioIo::new(tcp)).await,
    }
}

/// One accepted connection; on an error (e.g. out of file descriptors) pause briefly
/// instead of spinning.
async fn accept(listener: &TcpListener) -> Option<TcpStream> {
    match listener.accept().await {
        Ok((tcp, _)) => Some(tcp),
        Err(error) => {
            eprintln!("bench-upstream: accept: {error}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

async fn serve<I>(io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    // Errors here are clients hanging up at the end of a load run.
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service_fn(handle))
        .await;
}

async fn handle(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let query = request.uri().query().unwrap_or("");
    let response = match request.uri().path() {
        "/" => {
            static SMALL: [u8; SMALL_BODY] = [b'x'; SMALL_BODY];
            ok(full(Bytes::from_static(&SMALL)))
        }
        "/stream" => {
            let secs = param(query, "secs").unwrap_or(3);
            ok(stream_over(Duration::from_secs(secs)))
        }
        "/download" => ok(download(param(query, "bytes").unwrap_or(0))),
        "/upload" => {
            let mut body = request.into_body();
            let mut total: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => {
                        if let Some(data) = frame.data_ref() {
                            total += data.len() as u64;
                        }
                    }
                    Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
                }
            }
            ok(full(Bytes::from(total.to_string())))
        }
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

fn ok(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    response
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = code;
    response
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// One small chunk now, then one every [`STREAM_TICK`] until `total` has passed.
fn stream_over(total: Duration) -> Body {
    let ticks = (total.as_millis() / STREAM_TICK.as_millis()).max(1) as u64;
    let chunks = stream::unfold(0u64, move |tick| async move {
        if tick > ticks {
            return None;
        }
        if tick > 0 {
            tokio::time::sleep(STREAM_TICK).await;
        }
        let chunk = Bytes::from(format!("chunk {tick}\n"));
        Some((Ok::<_, Infallible>(Frame::data(chunk)), tick + 1))
    });
    BodyExt::boxed(StreamBody::new(chunks))
}

/// `total` bytes in [`CHUNK`]-sized frames cut from one shared buffer.
fn download(total: u64) -> Body {
    let block = Bytes::from(vec![b'd'; CHUNK]);
    let chunks = stream::unfold(total, move |left| {
        let block = block.clone();
        async move {
            if left == 0 {
                return None;
            }
            let n = left.min(CHUNK as u64) as usize;
            Some((
                Ok::<_, Infallible>(Frame::data(block.slice(..n))),
                left - n as u64,
            ))
        }
    });
    BodyExt::boxed(StreamBody::new(chunks))
}

fn param(query: &str, name: &str) -> Option<u64> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.parse().ok()).flatten()
    })
}

/// Wait for Ctrl-C or SIGTERM.
async fn wait_for_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

/// A clap value parser for listen addresses: loopback only, since this server exists for
/// benchmarks on this machine.
fn loopback_addr(value: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value
        .parse()
        .map_err(|error| format!("{error} (expected IP:PORT, e.g. 127.0.0.1:8443)"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not a loopback address; this server only listens on 127.0.0.0/8 or [::1]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_parse() {
        assert!(loopback_addr("127.0.0.1:0").is_ok());
        assert!(loopback_addr("127.3.2.1:80").is_ok());
        assert!(loopback_addr("[::1]:1").is_ok());
        for refused in ["0.0.0.0:8443", "[::]:1", "10.0.0.1:80", "localhost:80"] {
            assert!(loopback_addr(refused).is_err(), "{refused}");
        }
    }
}
