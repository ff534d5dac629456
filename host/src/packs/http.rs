//! The smallest HTTP client that serves a registry: `GET` over plain `http://`, one request
//! per connection, a size limit and timeouts. A registry is static files, so this is all it
//! needs; `https://` is refused with a clear message rather than half-supported.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Fetches `url`; `Ok(None)` on 404, `Err` on anything but 200.
pub fn get(url: &str, limit: usize) -> Result<Option<Vec<u8>>, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url}: only http:// registries are supported; mirror it to a folder or serve it over http://")
    })?;
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, "/".to_owned()),
    };
    let addr = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:80")
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: {addr} has no address"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(10))
        .map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: art-host\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("{url}: {e}"))?;
    let mut raw = Vec::new();
    s.take(limit as u64 + 64 * 1024)
        .read_to_end(&mut raw)
        .map_err(|e| format!("{url}: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let code: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{url}: malformed status line"))?;
    match code {
        200 => {}
        404 => return Ok(None),
        c => return Err(format!("{url}: HTTP {c}")),
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(format!(
            "{url}: chunked responses are not supported by this client"
        ));
    }
    let body = raw[split + 4..].to_vec();
    if body.len() > limit {
        return Err(format!("{url}: response larger than {limit} bytes"));
    }
    Ok(Some(body))
}
