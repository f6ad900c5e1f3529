//! A thin convenience layer over `ureq` for the tests and the load generator: one agent (a
//! keep-alive connection pool) per [`Client`], every status returned as a [`Response`] rather
//! than an error, bodies exactly as sent (no decompression, no redirects followed).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A response: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, exactly as sent (not decompressed).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `error.code` of a JSON error body.
    pub fn error_code(&self) -> Option<String> {
        self.json()
            .get("error")
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str())
            .map(str::to_owned)
    }
}

/// Keep-alive connections to one server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `addr` (connects lazily), with a 30 s timeout per request.
    pub fn new(addr: SocketAddr) -> Self {
        let agent = ureq::Agent::config_builder()
            // The tests assert on every status, so a 4xx/5xx is a response, not an error.
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            // The server names its own methods; tests also send bodies with any method.
            .allow_non_standard_methods(true)
            .build()
            .into();
        Self {
            base: format!("http://{addr}"),
            agent,
        }
    }

    /// Sends a request and reads the whole response.
    ///
    /// # Errors
    ///
    /// Connection and protocol errors, as `io::Error` (an I/O error keeps its kind).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let request = request.body(body.to_vec()).map_err(io::Error::other)?;
        let mut response = self.agent.run(request).map_err(|e| match e {
            ureq::Error::Io(e) => e,
            other => io::Error::other(other),
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()
                .map_err(|e| match e {
                    ureq::Error::Io(e) => e,
                    other => io::Error::other(other),
                })?
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
