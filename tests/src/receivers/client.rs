//! A minimal blocking HTTP/1.1 client for the receiver tests: keeps its connection open between
//! requests (reconnecting only when it has none or the server said `Connection: close`), reads
//! `Content-Length` bodies, and can send raw bytes to exercise the servers' parsers.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// Read/write timeout of [`HttpClient`].
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// One response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let mut it = self.headers.iter();
        it.find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// Every header `name`, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        let it = self.headers.iter().filter(|(k, _)| *k == name);
        it.map(|(_, v)| v.as_str()).collect()
    }

    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {:?}", self.status, self.body))
    }
}

pub struct HttpClient {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    connects: usize,
}

impl HttpClient {
    /// Connects lazily, at the first request.
    pub fn new(addr: SocketAddr) -> HttpClient {
        HttpClient {
            addr,
            conn: None,
            connects: 0,
        }
    }

    /// How many TCP connections this client has opened.
    pub fn connects(&self) -> usize {
        self.connects
    }

    /// Whether a connection is open for the next request.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// `POST path` with `Content-Length`; `headers` are added as given (`Host` is always sent).
    pub fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<HttpReply> {
        self.request("POST", path, headers, body)
    }

    pub fn get(&mut self, path: &str) -> io::Result<HttpReply> {
        self.request("GET", path, &[], b"")
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<HttpReply> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            req += &format!("{k}: {v}\r\n");
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            req += &format!("Content-Length: {}\r\n", body.len());
        }
        req += "\r\n";
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes, method == "HEAD")
    }

    /// `POST path` with the body sent as the given chunks (`Transfer-Encoding: chunked`).
    pub fn post_chunked(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        chunks: &[&[u8]],
    ) -> io::Result<HttpReply> {
        let mut req = format!("POST {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += "Transfer-Encoding: chunked\r\n\r\n";
        let mut bytes = req.into_bytes();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            bytes.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            bytes.extend_from_slice(c);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        self.send_raw(&bytes, false)
    }

    /// Writes `bytes` (one whole request) on the open connection, or a new one, and reads one
    /// response (skipping interim 1xx ones). Drops the connection after an error or a
    /// `Connection: close`; never retries.
    pub fn send_raw(&mut self, bytes: &[u8], head: bool) -> io::Result<HttpReply> {
        let result = self.exchange(bytes, head);
        match &result {
            Ok(r)
                if !r
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close")) => {}
            _ => self.conn = None,
        }
        result
    }

    fn exchange(&mut self, bytes: &[u8], head: bool) -> io::Result<HttpReply> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, CLIENT_TIMEOUT)?;
            s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
            s.set_write_timeout(Some(CLIENT_TIMEOUT))?;
            self.connects += 1;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().expect("connected");
        conn.get_mut().write_all(bytes)?;
        loop {
            let reply = read_reply(conn, head)?;
            if !(100..200).contains(&reply.status) {
                return Ok(reply);
            }
        }
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_reply(rd: &mut BufReader<TcpStream>, head: bool) -> io::Result<HttpReply> {
    let mut line = String::new();
    if rd.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        rd.read_line(&mut line)?;
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header {h:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut reply = HttpReply {
        status,
        headers,
        body: String::new(),
    };
    if head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(reply);
    }
    if reply.header("transfer-encoding").is_some() {
        return Err(bad("chunked responses are not supported".into()));
    }
    let mut body = Vec::new();
    match reply.header("content-length") {
        Some(n) => {
            let n = n
                .parse()
                .map_err(|_| bad(format!("Content-Length {n:?}")))?;
            body.resize(n, 0);
            rd.read_exact(&mut body)?;
        }
        None => {
            rd.read_to_end(&mut body)?;
        }
    }
    reply.body = String::from_utf8(body).map_err(|e| bad(format!("body not UTF-8: {e}")))?;
    Ok(reply)
}

/// Writes `bytes` on a new connection and reads until the server closes it (so the request must
/// make it close: `Connection: close`, HTTP/1.0, a malformed request; else a timeout error).
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    s.write_all(bytes)?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    Ok(String::from_utf8_lossy(&all).into_owned())
}

/// One `POST` on a new connection (closed after): `(status, body)`.
pub fn http_post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(u16, String)> {
    let mut all = headers.to_vec();
    all.push(("Connection", "close"));
    let r = HttpClient::new(addr).post(path, &all, body)?;
    Ok((r.status, r.body))
}
