//! Just enough HTTP/1.1 for a read-only endpoint: one request per connection, GET and HEAD.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Request head bytes read at most (request line and headers).
const MAX_HEAD: u64 = 16 * 1024;

/// A parsed request line.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// Query parameters in order, percent-decoded (`+` is a space).
    pub query: Vec<(String, String)>,
}

impl Request {
    /// Every value of query parameter `name`.
    pub fn params<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to send back.
pub struct Response {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Static assets may be cached; everything else is live.
    pub cacheable: bool,
    pub allow: bool,
}

impl Response {
    pub fn new(status: &'static str, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            cacheable: false,
            allow: false,
        }
    }

    pub fn text(status: &'static str, body: impl Into<String>) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    pub fn json(value: &serde_json::Value) -> Self {
        Response::new(
            "200 OK",
            "application/json",
            serde_json::to_vec(value).expect("a JSON value serializes"),
        )
    }
}

/// Reads the request head: the request line parsed, the headers read and ignored (so that
/// closing the connection does not reset it before the client has the answer).
pub fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut header = String::new();
    loop {
        header.clear();
        match reader.read_line(&mut header) {
            Ok(0) => break,
            Ok(_) if header.trim_end().is_empty() => break,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    parse_request_line(&line)
}

/// `GET /api/series?key=symbol%3AA HTTP/1.1` into its parts; `None` if it is not one.
pub fn parse_request_line(line: &str) -> Option<Request> {
    let mut words = line.split_whitespace();
    let (method, target, version) = (words.next()?, words.next()?, words.next()?);
    if !version.starts_with("HTTP/") || words.next().is_some() || !target.starts_with('/') {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    Some(Request {
        method: method.to_string(),
        path: decode(path, false),
        query,
    })
}

/// Percent-decodes `s` (and `+` as a space in queries); malformed escapes stay as they are.
fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `response` (without its body for `HEAD`) and closes the connection.
pub fn write_response(mut stream: &TcpStream, response: &Response, head_only: bool) {
    let cache = if response.cacheable {
        "public, max-age=3600"
    } else {
        "no-store"
    };
    let allow = if response.allow {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: {cache}\r\n{allow}X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if !head_only {
        let _ = stream.write_all(&response.body);
    }
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r =
            parse_request_line("GET /api/series?key=symbol%3AA+B&key=category:C&x HTTP/1.1\r\n")
                .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/api/series");
        assert_eq!(
            r.params("key").collect::<Vec<_>>(),
            ["symbol:A B", "category:C"]
        );
        assert_eq!(r.params("x").collect::<Vec<_>>(), [""]);
        assert_eq!(parse_request_line("GET /a%2"), None);
        assert_eq!(
            parse_request_line("GET nope HTTP/1.1").map(|r| r.path),
            None
        );
        assert_eq!(
            parse_request_line("GET /a%2 HTTP/1.1").unwrap().path,
            "/a%2"
        );
        assert_eq!(parse_request_line(""), None);
    }
}
