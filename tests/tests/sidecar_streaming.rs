//! Bodies stream through the sidecar with bounded memory: a 1 GiB upload and a 1 GiB
//! download keep its peak RSS (VmHWM) under 64 MiB, and a slowly generated response
//! reaches the client chunk by chunk, not at the end.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lattice_emulator::{Emulator, ORDERS_HOST};
use lattice_tests::sidecar::{BoxError, IO_TIMEOUT, Sidecar, read_response};

const GIB: u64 = 1 << 30;
const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;
const PATTERN_PERIOD: usize = 251;
const BLOCK: usize = 256 * 1024;

/// Byte `i` of the emulator's `/download` is `i % 251`; this repeats it so any block can
/// be compared with one slice.
fn pattern(len: usize) -> Vec<u8> {
    (0..len + PATTERN_PERIOD)
        .map(|i| (i % PATTERN_PERIOD) as u8)
        .collect()
}

fn connect(addr: SocketAddr) -> Result<TcpStream, BoxError> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Read a response head; returns the status, `content-length`, and body bytes already read.
fn read_head(stream: &mut TcpStream) -> Result<(u16, Option<u64>, Vec<u8>), BoxError> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let status = head.split_whitespace().nth(1).ok_or("no status")?.parse()?;
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse())
                .transpose()?;
            return Ok((status, length, buffer[end + 4..].to_vec()));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err("closed before the response head".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_up_and_down_with_bounded_memory() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let pattern = pattern(BLOCK);
    let baseline = sidecar.memory_kib("VmRSS")?;

    // Upload: 1 GiB with a content-length, generated as it is written.
    let started = Instant::now();
    let mut stream = connect(sidecar.addr())?;
    write!(
        stream,
        "POST /upload HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nContent-Length: {GIB}\r\n\r\n"
    )?;
    let mut sent = 0u64;
    while sent < GIB {
        let offset = (sent % PATTERN_PERIOD as u64) as usize;
        let len = BLOCK.min((GIB - sent) as usize);
        stream.write_all(&pattern[offset..offset + len])?;
        sent += len as u64;
    }
    let response = read_response(&mut stream)?;
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.text(),
        sidecar.logs()
    );
    assert_eq!(response.json()?["bytes"], GIB, "{}", response.text());
    let upload_time = started.elapsed();

    // Download: 1 GiB, every byte checked against the pattern.
    let started = Instant::now();
    let mut stream = connect(sidecar.addr())?;
    write!(
        stream,
        "GET /download?bytes={GIB}&chunk=262144 HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n"
    )?;
    let (status, length, mut pending) = read_head(&mut stream)?;
    assert_eq!(status, 200, "{}", sidecar.logs());
    assert_eq!(length, Some(GIB));
    let mut received = 0u64;
    let mut buffer = vec![0u8; BLOCK];
    loop {
        let data: &[u8] = if pending.is_empty() {
            let n = stream.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            &buffer[..n]
        } else {
            &pending
        };
        let offset = (received % PATTERN_PERIOD as u64) as usize;
        assert!(data.len() <= BLOCK);
        assert_eq!(
            data,
            &pattern[offset..offset + data.len()],
            "download corrupted near byte {received}"
        );
        received += data.len() as u64;
        pending.clear();
    }
    assert_eq!(received, GIB);
    let download_time = started.elapsed();

    let peak = sidecar.memory_kib("VmHWM")?;
    eprintln!(
        "sidecar RSS: baseline {} KiB, peak {peak} KiB; 1 GiB upload {upload_time:.1?}, download {download_time:.1?}",
        baseline
    );
    assert!(
        peak < PEAK_RSS_LIMIT_KIB,
        "peak RSS {peak} KiB >= {PEAK_RSS_LIMIT_KIB} KiB: bodies are being buffered"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responses_arrive_incrementally() -> Result<(), BoxError> {
    let emulator = Emulator::builder().start().await?;
    let sidecar = Sidecar::builder().emulator(&emulator).spawn()?;
    let mut stream = connect(sidecar.addr())?;
    let started = Instant::now();
    // Five 1000-byte chunks, 400 ms apart: 1.6 s in all.
    write!(
        stream,
        "GET /download?bytes=5000&chunk=1000&delay_ms=400 HTTP/1.1\r\nHost: {ORDERS_HOST}\r\nConnection: close\r\n\r\n"
    )?;
    let (status, _, early) = read_head(&mut stream)?;
    assert_eq!(status, 200, "{}", sidecar.logs());
    let mut received = early.len();
    let mut first_data = (received > 0).then(|| started.elapsed());
    let mut buffer = [0u8; 8192];
    loop {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        received += n;
        first_data.get_or_insert_with(|| started.elapsed());
    }
    let finished = started.elapsed();
    let first_data = first_data.ok_or("no body")?;
    assert_eq!(received, 5000);
    // Generous: the 1 GiB test may run alongside on two cores.
    assert!(
        first_data < Duration::from_millis(1300),
        "first bytes only after {first_data:?}"
    );
    assert!(
        finished - first_data >= Duration::from_millis(1200),
        "first {first_data:?}, last {finished:?}: buffered?"
    );
    Ok(())
}
