//! `bench-upstream`: the fast local upstream for `bench/sidecar.sh`.
//!
//! A minimal hyper server (HTTP/1.1 and h2 by ALPN over TLS; HTTP/1.1 and h2c on the
//! optional plain listener) with a run-time self-signed certificate. It verifies nothing,
//! so the benchmark measures the sidecar, not the emulator's verifier.
//!
//! Routes: `/` (200, 1 KiB body), `/stream?secs=N` (chunks over N seconds, the first at
//! once), `/download?bytes=N` (N bytes), `/upload` (drains the body, answers the count).

use std::{
    convert::Infallible, net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc,
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
use lattice_tests::cli::{loopback_addr, wait_for_signal};
use lattice_tests::emulator::Certificates;
use tokio::net::TcpListener;
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

    /// Tokio worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-upstream: cannot start the Tokio runtime: {error}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-upstream: {error}");
            ExitCode::from(EX_SOFTWARE)
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
        tokio::spawn(accept_plain(plain));
    }
    println!("ready");

    tokio::select! {
        () = accept_tls(tls, acceptor) => {}
        result = wait_for_signal() => result?,
    }
    Ok(())
}

async fn accept_tls(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Some(tcp) = accept(&listener).await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                serve(TokioIo::new(tls)).await;
            }
        });
    }
}

async fn accept_plain(listener: TcpListener) {
    loop {
        let Some(tcp) = accept(&listener).await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve(TokioIo::new(tcp)));
    }
}

/// One accepted connection; on an error (e.g. out of file descriptors) pause briefly
/// instead of spinning.
async fn accept(listener: &TcpListener) -> Option<tokio::net::TcpStream> {
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
