//! Start-to-ready: polls `GET /readyz` over plain TCP every millisecond (no process spawned per
//! probe, so the figure is the server's, not the prober's).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub fn wait_ready(addr: &str, since_ns: u128, timeout: Duration) -> anyhow::Result<Value> {
    let addr: SocketAddr = addr.parse().with_context(|| format!("not an address: {addr:?}"))?;
    let started = Instant::now();
    let mut probes = 0u64;
    loop {
        probes += 1;
        if probe(addr).unwrap_or(false) {
            let now_ns = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
            let ms = now_ns.saturating_sub(since_ns) as f64 / 1e6;
            return Ok(json!({ "ready_ms": ms, "probes": probes }));
        }
        if started.elapsed() > timeout {
            bail!("{addr} not ready after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether one `GET /readyz` answered 200.
fn probe(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
}
