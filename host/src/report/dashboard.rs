//! `art-host dashboard`: the report page served live on loopback. Every request re-reads the
//! store, and the page polls a cheap stamp of the store so a running project can be watched.
//!
//! A plain `std::net` server: one thread per connection, GET and HEAD only, small bounded
//! requests. It binds 127.0.0.1 unless `--bind` asks for more.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::html::{self, esc};

/// Requests larger than this (headers) are refused.
const MAX_REQUEST: usize = 16 * 1024;

/// A bound dashboard, not yet serving.
pub struct Dashboard {
    listener: TcpListener,
    dir: PathBuf,
}

impl Dashboard {
    /// Binds `addr` for the project in `dir`.
    pub fn bind(dir: &Path, addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr)?,
            dir: dir.to_owned(),
        })
    }

    /// The address to open in a browser.
    pub fn url(&self) -> String {
        match self.listener.local_addr() {
            Ok(a) => format!("http://{a}/"),
            Err(_) => "(unknown address)".into(),
        }
    }

    /// Serves until the process ends.
    pub fn serve(self) {
        for conn in self.listener.incoming() {
            let Ok(stream) = conn else { continue };
            let dir = self.dir.clone();
            std::thread::spawn(move || {
                if let Err(e) = handle(stream, &dir) {
                    tracing::debug!("dashboard connection: {e}");
                }
            });
        }
    }
}

/// Changes whenever a run record is added: the number of records and the newest mtime.
pub fn stamp(dir: &Path) -> String {
    let root = dir.join(".art");
    let mut count = 0u64;
    let mut newest = 0u128;
    let mut visit = |d: &Path| {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if let Ok(m) = e.metadata() {
                count += 1;
                if let Ok(t) = m.modified() {
                    newest = newest.max(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
                }
            }
        }
    };
    visit(&root.join("runs"));
    let steps: Vec<PathBuf> = std::fs::read_dir(root.join("steps"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    for s in &steps {
        visit(s);
    }
    format!("{count}-{newest}")
}

fn respond(
    stream: &mut TcpStream,
    code: u16,
    reason: &str,
    ctype: &str,
    body: &[u8],
    head: bool,
) -> std::io::Result<()> {
    let header = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if !head {
        stream.write_all(body)?;
    }
    stream.flush()
}

fn handle(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?.take(MAX_REQUEST as u64));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // Drain the headers; a request that never ends them is dropped at the size limit.
    let mut header = String::new();
    loop {
        header.clear();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let head = method == "HEAD";
    if method != "GET" && !head {
        return respond(
            &mut stream,
            405,
            "Method Not Allowed",
            "text/plain",
            b"GET only\n",
            false,
        );
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/" | "/index.html" | "/report.html" => {
            let live = path != "/report.html";
            let page = match super::collect(dir) {
                Ok(data) => html::render(&data, &html::Options { live }),
                Err(e) => format!(
                    "<!doctype html><meta charset=\"utf-8\"><title>art dashboard</title><p>{}</p>",
                    esc(&e.to_string())
                ),
            };
            respond(
                &mut stream,
                200,
                "OK",
                "text/html; charset=utf-8",
                page.as_bytes(),
                head,
            )
        }
        "/api/stamp" => respond(
            &mut stream,
            200,
            "OK",
            "text/plain",
            stamp(dir).as_bytes(),
            head,
        ),
        _ => respond(
            &mut stream,
            404,
            "Not Found",
            "text/plain",
            b"not found\n",
            head,
        ),
    }
}
