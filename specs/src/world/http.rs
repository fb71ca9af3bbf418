//! Requests and answers: [`Req`], [`Resp`], and sending one to the site, in process or
//! over HTTP (a client, or one raw HTTP/1.1 exchange).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::{AuthWorld, REQUEST_TIMEOUT};
use crate::matching::Window;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub window: Window,
}

impl Resp {
    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {:?}", self.body))
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub method: Method,
    pub target: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Send the jar's cookies (unless the request has its own `Cookie` header).
    pub with_jar: bool,
    /// Over HTTP, write the request on a bare TCP connection and read the answer while
    /// the body is still going out (a server may answer a huge upload early and close).
    pub raw: bool,
    /// The client's address as the embedded app is told it (`handle_from`).
    pub client_ip: Option<std::net::IpAddr>,
}

impl Req {
    pub(crate) fn new(method: Method, target: &str) -> Self {
        Self {
            method,
            target: target.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            with_jar: true,
            raw: false,
            client_ip: None,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: HeaderValue) -> Self {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value,
        ));
        self
    }

    pub(crate) fn form(self, body: String) -> Self {
        let mut req = self.header(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        req.body = Bytes::from(body);
        req
    }
}

impl AuthWorld {
    /// Sends a request to the site (embedded call or real HTTP), updates the jar from the
    /// answer and keeps it as `last`.
    pub(crate) async fn send(&mut self, mut req: Req) -> Resp {
        let app = self.app().await;
        if req.with_jar
            && !self.jar.is_empty()
            && !req.headers.iter().any(|(n, _)| n == http::header::COOKIE)
        {
            let header = HeaderValue::from_str(&self.jar.header()).expect("jar cookies are ASCII");
            req.headers.push((http::header::COOKIE, header));
        }
        let start = self.now();
        let (status, headers, body) = match &self.running.as_ref().expect("running").server {
            None => {
                let mut request = http::Request::new(req.body.clone());
                *request.method_mut() = req.method.clone();
                *request.uri_mut() = req.target.parse().expect("a request target");
                for (name, value) in &req.headers {
                    request.headers_mut().append(name.clone(), value.clone());
                }
                // The engine's log lines go to this scenario's buffer only.
                let handled = tracing::instrument::WithSubscriber::with_subscriber(
                    app.handle_from(request, req.client_ip),
                    self.logs.dispatch(),
                );
                let response = tokio::time::timeout(REQUEST_TIMEOUT, handled)
                    .await
                    .unwrap_or_else(|_| panic!("{} {} hung", req.method, req.target));
                let (parts, body) = response.into_parts();
                (parts.status.as_u16(), parts.headers, body)
            }
            Some(_) if req.client_ip.is_some() => {
                panic!("a client address is told to the embedded engine only: tag the scenario @embedded")
            }
            Some(server) if req.raw && !server.prefix().is_empty() => {
                panic!("raw requests go to `portcullis serve` only")
            }
            Some(server) if req.raw => {
                let addr = server.addr();
                tokio::time::timeout(REQUEST_TIMEOUT, raw_http(addr, &req))
                    .await
                    .unwrap_or_else(|_| panic!("{} {} hung", req.method, req.target))
            }
            Some(server) => {
                let url = format!("http://{}{}{}", server.addr(), server.prefix(), req.target);
                let mut request = self.client.request(req.method.clone(), &url);
                for (name, value) in &req.headers {
                    request = request.header(name.clone(), value.clone());
                }
                let response = request
                    .body(req.body.clone())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{} {url}: {e:?}", req.method));
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response
                    .bytes()
                    .await
                    .unwrap_or_else(|e| panic!("{} {url}: reading the body: {e:?}", req.method));
                (status, headers, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let end = self.now();
        let resp = Resp {
            status,
            headers,
            body,
            window: Window { start, end },
        };
        for line in resp.set_cookies() {
            self.jar.apply(&line, end);
            if let Some((name, _)) = line.split_once('=') {
                self.cookie_windows
                    .insert(name.trim().to_owned(), resp.window);
            }
        }
        if let Some(token) = crate::steps::csrf_in(&resp) {
            self.csrf = Some(token);
        }
        self.last = Some(resp.clone());
        resp
    }
}

/// One HTTP/1.1 request on a fresh TCP connection: the body is written while the answer is
/// read, so an early answer (413 before the upload ends) is seen even if the server then
/// closes the connection.
async fn raw_http(addr: SocketAddr, req: &Req) -> (u16, HeaderMap, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        req.method,
        req.target,
        req.body.len()
    )
    .into_bytes();
    for (name, value) in &req.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let body = req.body.clone();
    let upload = tokio::spawn(async move {
        // The server may stop reading and close: a failed write is not an error here.
        if writer.write_all(&head).await.is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if writer.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
        if let Some(done) = complete_response(&answer) {
            answer.truncate(done);
            break;
        }
    }
    upload.abort();
    parse_response(&answer)
}

/// The length of a complete response at the start of `bytes` (head + content-length body).
fn complete_response(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())?;
    (bytes.len() >= head_end + length).then_some(head_end + length)
}

fn parse_response(bytes: &[u8]) -> (u16, HeaderMap, String) {
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(bytes)))
        + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
            HeaderValue::from_str(value.trim()).expect("a header value"),
        );
    }
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes[head_end..]).into_owned(),
    )
}
