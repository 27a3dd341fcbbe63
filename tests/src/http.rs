//! A small blocking HTTP/1.1 client for tests, over [`std::net::TcpStream`].
//!
//! It exists so that tests control every byte on the wire:
//!
//! - the method, the request target and the header names and values are sent **exactly as
//!   given**: `/%2e%2e/admin`, `//evil.example`, `/a;b`, a bare `*` or an absolute URL reach the
//!   server unnormalised, and header values may hold any bytes (even invalid ones);
//! - by default it adds `Host` (the server's address), `Connection: close` and, when there is a
//!   body (or the method is `POST`, `PUT` or `PATCH`), `Content-Length`, each only if the
//!   request does not set it already; [`Request::without_default_headers`] turns that off, and
//!   [`send_raw`] sends hand-written bytes;
//! - it reads the response head (status, reason, headers in order, repeated headers kept
//!   apart; parsed by `httparse`) and the body however it is framed: `Content-Length`, chunked
//!   `Transfer-Encoding`, or until the server closes the connection. Interim `1xx` responses
//!   (other than `101`) are skipped; `HEAD` requests and `204`/`304` answers have no body.
//!
//! One request per connection; every call is bounded by a timeout (default
//! [`DEFAULT_TIMEOUT`]) covering connect, write and the whole response.
//!
//! [`Client`] adds a cookie jar on top, for flows such as "log in, then open a page".
//! Nothing follows redirects: tests look at `Location` themselves.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    fmt,
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use actix_web::cookie::{Cookie, time::Duration as CookieDuration};

/// How long a request may take, from connecting to the end of the response, unless told
/// otherwise: 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest response head (status line and headers) accepted: 64 KiB.
pub const MAX_HEAD_LEN: usize = 64 * 1024;

/// The longest response body accepted: 16 MiB.
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// A request to send, byte for byte.
///
/// ```
/// use imia_tests::http::Request;
///
/// let req = Request::get("/static/%2e%2e/admin?x=1")
///     .header("X-Api-Key", "k1")
///     .header("X-Api-Key", "k2"); // sent twice
/// let bytes = req.to_bytes("127.0.0.1:8000");
/// assert!(bytes.starts_with(b"GET /static/%2e%2e/admin?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    default_headers: bool,
}

impl Request {
    /// A request with this method and request target, both sent as given.
    pub fn new(method: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
            default_headers: true,
        }
    }

    /// A `GET` request.
    pub fn get(target: impl Into<String>) -> Self {
        Self::new("GET", target)
    }

    /// A `HEAD` request (its response has no body).
    pub fn head(target: impl Into<String>) -> Self {
        Self::new("HEAD", target)
    }

    /// A `POST` request.
    pub fn post(target: impl Into<String>) -> Self {
        Self::new("POST", target)
    }

    /// Appends a header, sent as given after `name: `. Call again with the same name to send
    /// it several times.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.into(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body (sent as given).
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets an `application/x-www-form-urlencoded` body from `fields`, and that content type.
    #[must_use]
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, fields: &[(K, V)]) -> Self {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            body.append_pair(k.as_ref(), v.as_ref());
        }
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.finish())
    }

    /// Sets a JSON body and the `application/json` content type.
    #[must_use]
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("Content-Type", "application/json").body(value.to_string())
    }

    /// Sends only the headers given: no `Host`, `Connection` or `Content-Length` is added.
    #[must_use]
    pub fn without_default_headers(mut self) -> Self {
        self.default_headers = false;
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether a header with this name (compared case-insensitively) was set.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request as sent to `host` (the value of an added `Host` header).
    pub fn to_bytes(&self, host: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if self.default_headers && !self.has_header("host") {
            push_header(&mut out, "Host", host.as_bytes());
        }
        for (name, value) in &self.headers {
            push_header(&mut out, name, value);
        }
        if self.default_headers {
            if !self.has_header("connection") {
                push_header(&mut out, "Connection", b"close");
            }
            let expects_body = !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
            if expects_body && !self.has_header("content-length") && !self.has_header("transfer-encoding") {
                push_header(&mut out, "Content-Length", self.body.len().to_string().as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v)))
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish_non_exhaustive()
    }
}

/// A response as received.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// The protocol version of the status line, e.g. `HTTP/1.1`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// The headers in the order received, names as sent, values trimmed (bytes that are not
    /// UTF-8 are replaced). A repeated header appears once per occurrence.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked framing removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of the header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (bytes that are not UTF-8 are replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    ///
    /// When the body is not JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }

    /// The cookies of this response's `Set-Cookie` headers, in order, parsed by
    /// [`Cookie::parse`] (values as sent, surrounding quotes removed); unparsable headers are
    /// left out. Removals are included: see [`is_removal`].
    pub fn set_cookies(&self) -> Vec<Cookie<'_>> {
        self.header_all("set-cookie")
            .into_iter()
            .filter_map(|header| Cookie::parse(header).ok())
            .collect()
    }

    /// The value of the cookie `name` that this response sets, if any (the last one wins).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header_all("set-cookie")
            .into_iter()
            .filter_map(|header| Cookie::parse(header).ok())
            .filter(|c| c.name() == name)
            .map(|c| c.value_raw().unwrap_or_default())
            .next_back()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 2048;
        let text = self.text();
        let body = match text.char_indices().nth(SHOWN) {
            Some((i, _)) => Cow::Owned(format!("{}… ({} bytes)", &text[..i], self.body.len())),
            None => text,
        };
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers)
            .field("body", &body)
            .finish_non_exhaustive()
    }
}

/// Sends `req` to `addr` and reads the response, within [`DEFAULT_TIMEOUT`].
///
/// # Errors
///
/// Connection failures, timeouts, and responses that are not HTTP/1.x or are framed
/// inconsistently (say, two different `Content-Length` values).
pub fn send(addr: SocketAddr, req: &Request) -> io::Result<Response> {
    send_with_timeout(addr, req, DEFAULT_TIMEOUT)
}

/// Like [`send`], with a timeout for the whole exchange.
///
/// # Errors
///
/// As for [`send`].
pub fn send_with_timeout(addr: SocketAddr, req: &Request, timeout: Duration) -> io::Result<Response> {
    let head = req.method.eq_ignore_ascii_case("HEAD");
    exchange(addr, &req.to_bytes(&addr.to_string()), head, timeout)
}

/// Sends hand-written bytes to `addr` and reads one response, within `timeout`. The response
/// is read as the answer to a `HEAD` request (no body) when `raw` starts with `HEAD `.
///
/// Remember `Connection: close` or a framing the server can use, as the bytes are sent as
/// they are.
///
/// # Errors
///
/// As for [`send`].
pub fn send_raw(addr: SocketAddr, raw: &[u8], timeout: Duration) -> io::Result<Response> {
    exchange(addr, raw, raw.starts_with(b"HEAD "), timeout)
}

fn exchange(addr: SocketAddr, bytes: &[u8], head: bool, timeout: Duration) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    let written = (&stream).write_all(bytes).and_then(|()| (&stream).flush());
    let reader = DeadlineStream { stream, deadline };
    match written {
        Ok(()) => read_response(reader, head),
        // A server may answer and close before reading everything (say, a 413 or a 400 for a
        // request it refuses early): its answer is then still worth reading.
        Err(err) if matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
            read_response(reader, head).map_err(|_| err)
        }
        Err(err) => Err(err),
    }
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the HTTP exchange did not finish in time",
        ))
    } else {
        Ok(left)
    }
}

/// A stream whose reads all end by one deadline.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(remaining(self.deadline)?))?;
        self.stream.read(buf)
    }
}

/// Reads one response from `reader`. `head_request` says whether it answers a `HEAD` request
/// (whose response has no body whatever its headers say).
///
/// Interim `1xx` responses other than `101 Switching Protocols` are skipped.
///
/// # Errors
///
/// When the bytes are not an HTTP/1.x response, are framed inconsistently, exceed
/// [`MAX_HEAD_LEN`] or [`MAX_BODY_LEN`], or end early.
///
/// ```
/// use imia_tests::http::read_response;
///
/// let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
/// let resp = read_response(&raw[..], false).unwrap();
/// assert_eq!(resp.status, 200);
/// assert_eq!(resp.body, b"abc");
/// ```
pub fn read_response(reader: impl Read, head_request: bool) -> io::Result<Response> {
    let mut reader = BufReader::new(reader);
    loop {
        let (version, status, reason, headers) = read_head(&mut reader)?;
        let interim = (100..200).contains(&status);
        if interim && status != 101 {
            continue;
        }
        let body = if head_request || interim || status == 204 || status == 304 {
            Vec::new()
        } else {
            read_body(&mut reader, &headers)?
        };
        return Ok(Response {
            version,
            status,
            reason,
            headers,
            body,
        });
    }
}

type Head = (String, u16, String, Vec<(String, String)>);

/// Reads the status line and the headers, up to the empty line, and parses them with `httparse`
/// (obsolete line folding allowed: a folded value is joined with single spaces).
fn read_head(reader: &mut impl BufRead) -> io::Result<Head> {
    let mut budget = MAX_HEAD_LEN;
    let mut raw = Vec::new();
    loop {
        let line = read_raw_line(reader, &mut budget)?;
        raw.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut capacity = 64;
    loop {
        let mut headers = vec![httparse::EMPTY_HEADER; capacity];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = httparse::ParserConfig::default()
            .allow_obsolete_multiline_headers_in_responses(true)
            .parse_response(&mut response, &raw);
        match parsed {
            Ok(httparse::Status::Complete(_)) => {
                let status = response.code.unwrap_or_default();
                if !(100..1000).contains(&status) {
                    return Err(invalid(format!("bad status code {status}")));
                }
                let version = format!("HTTP/1.{}", response.version.unwrap_or_default());
                let reason = response.reason.unwrap_or_default().to_owned();
                let headers = response
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value);
                        let value: Vec<&str> = value.split('\n').map(str::trim).collect();
                        (h.name.to_owned(), value.join(" "))
                    })
                    .collect();
                return Ok((version, status, reason, headers));
            }
            Err(httparse::Error::TooManyHeaders) if capacity < raw.len() => capacity *= 2,
            Ok(httparse::Status::Partial) => {
                return Err(invalid(format!(
                    "incomplete response head {:?}",
                    String::from_utf8_lossy(&raw)
                )));
            }
            Err(err) => {
                return Err(invalid(format!(
                    "bad response head ({err}): {:?}",
                    String::from_utf8_lossy(&raw)
                )));
            }
        }
    }
}

/// One line with its `\n` (or `\r\n`), charged against `budget`.
fn read_raw_line(reader: &mut impl BufRead, budget: &mut usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let limit = u64::try_from(*budget).unwrap_or(u64::MAX);
    reader.by_ref().take(limit).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() >= *budget {
            invalid("response head too long".into())
        } else {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the response head",
            )
        });
    }
    *budget -= line.len();
    Ok(line)
}

fn read_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> io::Result<Vec<u8>> {
    // The comma-separated elements of every `name` header.
    fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; a response whose final coding
    // is not chunked is delimited by the connection closing.
    if let Some(last) = values(headers, "transfer-encoding").last() {
        return if last.eq_ignore_ascii_case("chunked") {
            read_chunked(reader)
        } else {
            read_to_close(reader)
        };
    }
    let mut length = None;
    for value in values(headers, "content-length") {
        let n: u64 = value
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(invalid("conflicting Content-Length values".into()));
        }
        length = Some(n);
    }
    match length {
        Some(n) => read_exact_body(reader, n),
        None => read_to_close(reader),
    }
}

fn read_exact_body(reader: &mut impl BufRead, n: u64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_BODY_LEN)
        .ok_or_else(|| invalid(format!("body of {n} bytes is too long")))?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn read_to_close(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    reader.by_ref().take(MAX_BODY_LEN as u64 + 1).read_to_end(&mut body)?;
    if body.len() > MAX_BODY_LEN {
        return Err(invalid("body too long".into()));
    }
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD_LEN;
    let is_empty_line = |line: &[u8]| line == b"\r\n" || line == b"\n";
    loop {
        let line = read_raw_line(reader, &mut budget)?;
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => size,
            _ => return Err(invalid(format!("bad chunk size {:?}", String::from_utf8_lossy(&line)))),
        };
        if size == 0 {
            // Trailers, up to the empty line.
            while !is_empty_line(&read_raw_line(reader, &mut budget)?) {}
            return Ok(body);
        }
        let room = (MAX_BODY_LEN - body.len()) as u64;
        if size > room {
            return Err(invalid("body too long".into()));
        }
        body.extend(read_exact_body(reader, size)?);
        if !is_empty_line(&read_raw_line(reader, &mut budget)?) {
            return Err(invalid("chunk not followed by CRLF".into()));
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Whether a cookie from a `Set-Cookie` header removes the cookie rather than setting it: an
/// empty value, or a `Max-Age` of zero or less (`Expires` dates are not read).
pub fn is_removal(cookie: &Cookie<'_>) -> bool {
    cookie.value().is_empty() || cookie.max_age().is_some_and(|age| age <= CookieDuration::ZERO)
}

/// Cookies kept between requests to one test server.
///
/// Deliberately simple: one host, so `Domain`, `Path` and `Secure` are ignored; a cookie is
/// removed by an empty value or `Max-Age` of zero or less (`Expires` dates are not read): see
/// [`is_removal`]. `Set-Cookie` headers are parsed by [`Cookie::parse`].
///
/// ```
/// use imia_tests::http::{CookieJar, read_response};
///
/// let raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: id=abc; HttpOnly; Path=/\r\nContent-Length: 0\r\n\r\n";
/// let mut jar = CookieJar::new();
/// jar.store(&read_response(&raw[..], false).unwrap());
/// assert_eq!(jar.header_value().as_deref(), Some("id=abc"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: BTreeMap<String, String>,
}

impl CookieJar {
    /// An empty jar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or removes) the cookies that `resp` sets.
    pub fn store(&mut self, resp: &Response) {
        for cookie in resp.set_cookies() {
            if is_removal(&cookie) {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies.insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
    }

    /// The value of the cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Sets a cookie by hand.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.cookies.insert(name.into(), value.into());
    }

    /// Removes a cookie.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.cookies.remove(name)
    }

    /// Whether the jar holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// The `Cookie` header value for the next request, or `None` when the jar is empty.
    pub fn header_value(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        let pairs: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        Some(pairs.join("; "))
    }
}

/// A client for one server that keeps cookies between requests, like a browser session.
///
/// It adds a `Cookie` header from its [`CookieJar`] (unless the request sets one) and stores
/// the cookies of every response. It does not follow redirects.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    timeout: Duration,
    jar: CookieJar,
}

impl Client {
    /// A client for the server at `addr`, with an empty jar and [`DEFAULT_TIMEOUT`].
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            timeout: DEFAULT_TIMEOUT,
            jar: CookieJar::new(),
        }
    }

    /// Sets the timeout of each exchange.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cookies kept so far.
    pub fn jar(&self) -> &CookieJar {
        &self.jar
    }

    /// The cookies, to change by hand.
    pub fn jar_mut(&mut self) -> &mut CookieJar {
        &mut self.jar
    }

    /// Sends `req` with the jar's cookies and stores the cookies of the response.
    ///
    /// # Errors
    ///
    /// As for [`send`].
    pub fn send(&mut self, req: &Request) -> io::Result<Response> {
        let resp = match self.jar.header_value() {
            Some(cookies) if !req.has_header("cookie") => {
                send_with_timeout(self.addr, &req.clone().header("Cookie", cookies), self.timeout)?
            }
            _ => send_with_timeout(self.addr, req, self.timeout)?,
        };
        self.jar.store(&resp);
        Ok(resp)
    }

    /// Sends `GET target`.
    ///
    /// # Errors
    ///
    /// As for [`send`].
    pub fn get(&mut self, target: &str) -> io::Result<Response> {
        self.send(&Request::get(target))
    }
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, thread};

    use super::*;

    fn parse(raw: &[u8]) -> io::Result<Response> {
        read_response(raw, false)
    }

    #[test]
    fn default_headers_are_added_once() {
        let bytes = Request::post("/login")
            .form(&[("a", "b c"), ("n", "/x?y")])
            .to_bytes("h:1");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /login HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Connection: close\r\nContent-Length: 16\r\n\r\na=b+c&n=%2Fx%3Fy"
        );
        let bytes = Request::get("*")
            .header("host", "x")
            .header("CONNECTION", "keep-alive")
            .to_bytes("h:1");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "GET * HTTP/1.1\r\nhost: x\r\nCONNECTION: keep-alive\r\n\r\n"
        );
        let bytes = Request::post("/").without_default_headers().to_bytes("h:1");
        assert_eq!(bytes, b"POST / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn header_values_are_raw_bytes() {
        let bytes = Request::get("/").header("X", b"\xff\x01").to_bytes("h");
        assert!(bytes.windows(5).any(|w| w == b"X: \xff\x01"));
    }

    #[test]
    fn content_length_body() {
        let r = parse(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: 1\r\nx-a:  2 \r\n\r\nhelloEXTRA").unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.version.as_str()),
            (201, "Created", "HTTP/1.1")
        );
        assert_eq!(r.body, b"hello");
        assert_eq!(r.header_all("X-A"), ["1", "2"]);
        assert_eq!(r.header("content-length"), Some("5"));
        assert_eq!(r.header("missing"), None);
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n\
                    4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(parse(raw).unwrap().text(), "Wikipedia in\r\n\r\nchunks.");
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab").is_err());
    }

    #[test]
    fn body_until_close() {
        let r = parse(b"HTTP/1.0 200 OK\r\n\r\nall of it").unwrap();
        assert_eq!(r.body, b"all of it");
    }

    #[test]
    fn bodiless_responses() {
        let r = read_response(&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"[..], true).unwrap();
        assert!(r.body.is_empty());
        let r = parse(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert!(r.body.is_empty());
        let r = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    }

    #[test]
    fn broken_responses_are_errors() {
        for raw in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
        ] {
            assert!(parse(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_LEN));
        assert_eq!(parse(huge.as_bytes()).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn many_headers_are_all_kept() {
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..500 {
            raw.push_str(&format!("X-{i}: {i}\r\n"));
        }
        raw.push_str("Content-Length: 0\r\n\r\n");
        let r = parse(raw.as_bytes()).unwrap();
        assert_eq!(r.headers.len(), 501);
        assert_eq!(r.header("x-499"), Some("499"));
    }

    #[test]
    fn folded_headers_and_empty_reason() {
        let r = parse(b"HTTP/1.1 404\r\nX: a\r\n  b\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (404, ""));
        assert_eq!(r.header("x"), Some("a b"));
    }

    #[test]
    fn cookie_jar_stores_and_removes() {
        let mut jar = CookieJar::new();
        let set = parse(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: id=\"a b\"; Path=/\r\nSet-Cookie: other=1\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(set.cookie("id"), Some("a b"));
        jar.store(&set);
        assert_eq!(jar.header_value().as_deref(), Some("id=a b; other=1"));
        let removal = parse(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: id=; Max-Age=0\r\nSet-Cookie: other=2; max-age=-1\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        jar.store(&removal);
        assert!(jar.is_empty(), "{jar:?}");
        assert_eq!(jar.header_value(), None);
    }

    /// A one-shot server that records the request bytes and answers `answer`.
    fn one_shot(answer: &'static [u8]) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut seen = Vec::new();
            let mut buf = [0; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).unwrap() {
                    0 => break,
                    n => seen.extend_from_slice(&buf[..n]),
                }
            }
            stream.write_all(answer).unwrap();
            seen
        });
        (addr, handle)
    }

    #[test]
    fn targets_are_sent_unnormalised() {
        let (addr, server) = one_shot(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let resp = send(addr, &Request::get("/static/%2e%2e//admin;x?a=/public#f")).unwrap();
        assert_eq!(resp.text(), "ok");
        let seen = server.join().unwrap();
        assert!(
            seen.starts_with(b"GET /static/%2e%2e//admin;x?a=/public#f HTTP/1.1\r\n"),
            "{}",
            String::from_utf8_lossy(&seen)
        );
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let err = send_with_timeout(addr, &Request::get("/"), Duration::from_millis(300)).unwrap_err();
        assert!(
            matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }
}
