//! The server side of HTTP/1.1 shared by the fakes: reading one request (`Content-Length` or
//! chunked body, `Expect: 100-continue`), writing one response, keep-alive and `Connection:
//! close`; plus the percent and base64 codecs the receivers and their tests need.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{AnswerBody, ReceivedRequest};

/// Longest request line or header line accepted.
const MAX_LINE: usize = 16 * 1024;

/// One response, written with `Content-Length` (never chunked).
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        let headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
        let body = body.into();
        Response {
            status,
            headers,
            body,
        }
    }

    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        Response::new(status, "application/json", v.to_string())
    }

    /// Replaces the `Content-Type`.
    pub fn content_type(mut self, ct: &str) -> Response {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        self.header("Content-Type", ct)
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Why a request could not be read; each is answered (then the connection closed) like a server
/// would, except `Io` (the peer went away).
pub(crate) enum ReadError {
    Io,
    Bad(&'static str),
    TooLarge,
    Unsupported(String),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Io
    }
}

impl ReadError {
    pub fn response(&self) -> Option<Response> {
        let text = |status, msg: &str| Some(Response::new(status, "text/plain", msg.to_owned()));
        match self {
            ReadError::Io => None,
            ReadError::Bad(why) => text(400, &format!("400 Bad Request\n{why}\n")),
            ReadError::TooLarge => text(413, "413 Request Entity Too Large\n"),
            ReadError::Unsupported(te) => {
                text(501, &format!("Transfer-Encoding {te} unsupported\n"))
            }
        }
    }
}

/// A request and whether the connection stays open after its response.
pub(crate) struct Incoming {
    pub req: ReceivedRequest,
    pub keep_alive: bool,
}

/// Reads one request; `Ok(None)` at a clean end of the connection (EOF before a request line).
/// `wr` is for the interim `100 Continue`.
pub(crate) async fn read_request<R, W>(
    rd: &mut R,
    wr: &mut W,
    conn: u64,
    body_limit: usize,
) -> Result<Option<Incoming>, ReadError>
where
    R: AsyncBufReadExt + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut line = String::new();
    // RFC 9112 §2.2: ignore empty lines before a request line.
    while line.trim_end().is_empty() {
        line.clear();
        if read_line(rd, &mut line).await? == 0 {
            return Ok(None);
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadError::Bad("unsupported HTTP version")),
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = ReceivedRequest {
        conn,
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        status: 0,
    };
    loop {
        line.clear();
        if read_line(rd, &mut line).await? == 0 {
            return Err(ReadError::Io);
        }
        let h = line.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (name, value) = h
            .split_once(':')
            .ok_or(ReadError::Bad("malformed header"))?;
        if name.is_empty() || name.ends_with([' ', '\t']) {
            return Err(ReadError::Bad("malformed header name"));
        }
        req.headers
            .push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let tokens = |name| {
        req.headers
            .iter()
            .filter(move |(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
    };
    let keep_alive = if http10 {
        tokens("connection").any(|t| t == "keep-alive")
    } else {
        !tokens("connection").any(|t| t == "close")
    };
    let te: Vec<String> = tokens("transfer-encoding").collect();
    let chunked = match te.as_slice() {
        [] => false,
        [t] if t == "chunked" => true,
        _ => return Err(ReadError::Unsupported(te.join(", "))),
    };
    let length = match (chunked, req.header("content-length")) {
        (false, Some(v)) => Some(
            v.parse::<usize>()
                .map_err(|_| ReadError::Bad("bad Content-Length"))?,
        ),
        _ => None,
    };
    if length.is_some_and(|n| n > body_limit) {
        return Err(ReadError::TooLarge);
    }
    if !http10
        && req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        wr.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    if chunked {
        req.body = read_chunked(rd, body_limit).await?;
    } else if let Some(n) = length {
        req.body = vec![0; n];
        rd.read_exact(&mut req.body).await?;
    }
    Ok(Some(Incoming { req, keep_alive }))
}

async fn read_line<R: AsyncBufReadExt + Unpin>(
    rd: &mut R,
    line: &mut String,
) -> Result<usize, ReadError> {
    let n = (&mut *rd).take(MAX_LINE as u64).read_line(line).await?;
    if n == MAX_LINE && !line.ends_with('\n') {
        return Err(ReadError::Bad("line too long"));
    }
    Ok(n)
}

/// A chunked body (RFC 9112 §7.1): `<hex size>[;ext]CRLF <data> CRLF` … `0 CRLF [trailers] CRLF`.
async fn read_chunked<R: AsyncBufReadExt + Unpin>(
    rd: &mut R,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if read_line(rd, &mut line).await? == 0 {
            return Err(ReadError::Io);
        }
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| ReadError::Bad("bad chunk size"))?;
        if size == 0 {
            break;
        }
        if body.len() + size > limit {
            return Err(ReadError::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        rd.read_exact(&mut body[start..]).await?;
        let mut crlf = [0; 2];
        rd.read_exact(&mut crlf).await?;
        if &crlf != b"\r\n" {
            return Err(ReadError::Bad("chunk not followed by CRLF"));
        }
    }
    loop {
        // Trailer fields, ignored, up to the empty line.
        line.clear();
        if read_line(rd, &mut line).await? == 0 || line.trim_end().is_empty() {
            return Ok(body);
        }
    }
}

/// Writes `resp` with `Content-Length`, and `Connection: close` when the server closes after it
/// (or `keep-alive` for an HTTP/1.0 client that asked for it). A HEAD response has no body.
pub(crate) async fn write_response<W: AsyncWrite + Unpin>(
    wr: &mut W,
    resp: &Response,
    head: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        out += &format!("{k}: {v}\r\n");
    }
    out += &format!("Content-Length: {}\r\n", resp.body.len());
    if !keep_alive {
        out += "Connection: close\r\n";
    }
    out += "\r\n";
    let mut bytes = out.into_bytes();
    if !head {
        bytes.extend_from_slice(&resp.body);
    }
    wr.write_all(&bytes).await?;
    wr.flush().await
}

/// Writes `resp`'s status and headers with `Transfer-Encoding: chunked`, then its body, then
/// a body that never ends ([`AnswerBody::Endless`]: 64 KiB chunks of spaces; `Drip`: one
/// space per interval). Returns only with the error that ends it (the client hung up).
pub(crate) async fn write_endless<W: AsyncWrite + Unpin>(
    wr: &mut W,
    resp: &Response,
    answer: AnswerBody,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        out += &format!("{k}: {v}\r\n");
    }
    out += "Transfer-Encoding: chunked\r\n\r\n";
    let mut bytes = out.into_bytes();
    if !resp.body.is_empty() {
        bytes.extend_from_slice(format!("{:x}\r\n", resp.body.len()).as_bytes());
        bytes.extend_from_slice(&resp.body);
        bytes.extend_from_slice(b"\r\n");
    }
    wr.write_all(&bytes).await?;
    wr.flush().await?;
    let (chunk, pause) = match answer {
        AnswerBody::Drip(every) => (1, Some(every)),
        _ => (64 << 10, None),
    };
    let mut frame = format!("{chunk:x}\r\n").into_bytes();
    frame.resize(frame.len() + chunk, b' ');
    frame.extend_from_slice(b"\r\n");
    loop {
        wr.write_all(&frame).await?;
        wr.flush().await?;
        if let Some(p) = pause {
            tokio::time::sleep(p).await;
        }
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// `%XX` escapes; `+` is a space when `plus_is_space` (form encoding). Invalid UTF-8 is replaced.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            (b'+', ..) if plus_is_space => out.push(b' '),
            (c, ..) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `application/x-www-form-urlencoded` pairs, decoded, in order.
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value of an `Authorization: Basic` header for `user:pass`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}
