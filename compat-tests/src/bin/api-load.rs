//! `api-load`: a tiny HTTP/1.1 load generator for the API benchmarks (bench/api.sh).
//!
//! `api-load --host unix:///run/x.sock --path /images/json [-c 8] [--seconds 5]` keeps `-c`
//! keep-alive connections busy with `GET PATH` for the given time and prints
//! `requests=N seconds=S rps=R errors=E` (an error is any status other than 200, or a
//! broken connection). Unix sockets are what the engines listen on, and tools like `ab` or
//! `wrk` cannot speak them; this needs nothing but std.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use compat::http::{Endpoint, Stream};

struct Args {
    host: Endpoint,
    path: String,
    connections: usize,
    seconds: f64,
}

fn parse_args() -> Result<Args> {
    let mut host = None;
    let mut path = None;
    let mut connections = 8;
    let mut seconds = 5.0;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--host" | "-H" => host = Some(Endpoint::parse(&val()?)?),
            "--path" | "-p" => path = Some(val()?),
            "-c" | "--connections" => connections = val()?.parse().context("-c")?,
            "--seconds" | "-s" => seconds = val()?.parse().context("--seconds")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let (Some(host), Some(path)) = (host, path) else {
        bail!("usage: api-load --host unix:///path.sock --path /_ping [-c 8] [--seconds 5]");
    };
    if connections == 0 {
        bail!("-c must be at least 1");
    }
    Ok(Args {
        host,
        path,
        connections,
        seconds,
    })
}

/// Reads one response; `Ok(false)` when the server asked to close the connection.
fn read_response(r: &mut BufReader<Stream>) -> Result<(u16, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        bail!("connection closed before the response");
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("connection closed in the response head");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse::<u64>().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => keep = !v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            std::io::copy(&mut r.by_ref().take(size), &mut std::io::sink())?;
            line.clear();
            r.read_line(&mut line)?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        std::io::copy(&mut r.by_ref().take(n), &mut std::io::sink())?;
    }
    Ok((status, keep))
}

fn worker(args: &Args, stop: &AtomicBool, done: &AtomicU64, errors: &AtomicU64) {
    let request = format!("GET {} HTTP/1.1\r\nHost: api\r\n\r\n", args.path);
    'connect: while !stop.load(Ordering::Relaxed) {
        let Ok(conn) = args.host.connect(Duration::from_secs(30)) else {
            errors.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Ok(mut w) = conn.try_clone() else {
            errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut r = BufReader::new(conn);
        while !stop.load(Ordering::Relaxed) {
            if w.write_all(request.as_bytes()).is_err() {
                errors.fetch_add(1, Ordering::Relaxed);
                continue 'connect;
            }
            match read_response(&mut r) {
                Ok((status, keep)) => {
                    if status == 200 {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if !keep {
                        continue 'connect;
                    }
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue 'connect;
                }
            }
        }
    }
}

fn main() -> Result<()> {
    let args = Arc::new(parse_args()?);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..args.connections)
        .map(|_| {
            let (args, stop, done, errors) =
                (args.clone(), stop.clone(), done.clone(), errors.clone());
            std::thread::spawn(move || worker(&args, &stop, &done, &errors))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    stop.store(true, Ordering::Relaxed);
    // Requests completed after the deadline still count, over the time they took.
    for t in threads {
        let _ = t.join();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "requests={n} seconds={secs:.3} rps={:.1} errors={}",
        n as f64 / secs,
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}
