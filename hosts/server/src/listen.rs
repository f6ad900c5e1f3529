//! The accept loop: connection cap, header and body read timeouts, and the drain.
//!
//! `axum::serve` offers none of the limits a server facing hostile clients needs, so the
//! server accepts connections itself and runs each on hyper's HTTP/1 connection with:
//!
//! - a **connection cap** ([`Config::max_connections`]): a connection over it is answered
//!   `503 too_many_connections` (when the client can still read it) and closed at once, so
//!   stalled clients cannot take every file descriptor;
//! - hyper's **header read timeout** ([`Config::header_read_timeout_ms`]): a connection that
//!   does not send a complete request head in time — a half-sent header line, or an idle
//!   keep-alive connection — is closed;
//! - a **body read deadline** ([`Config::body_read_timeout_ms`]), started when a handler first
//!   reads the body: a stalled body ends in `408 body_timeout` and the connection closes.
//!
//! **Shutdown.** When the shutdown future completes the server drains: it keeps accepting,
//! answers every new request except `/healthz` and `/metrics` with `503 shutting_down` and
//! `Retry-After` (health says `draining`), and lets requests already being handled finish.
//! Idle keep-alive connections are closed. The drain ends when no request is being handled,
//! or when [`Config::shutdown_grace_ms`] has passed; then the listener is closed (new
//! connections are refused), calls still running are interrupted at their next fuel slice
//! and their clients answered, and the process can exit.
//!
//! [`Config::max_connections`]: crate::Config::max_connections
//! [`Config::header_read_timeout_ms`]: crate::Config::header_read_timeout_ms
//! [`Config::body_read_timeout_ms`]: crate::Config::body_read_timeout_ms
//! [`Config::shutdown_grace_ms`]: crate::Config::shutdown_grace_ms

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};

use crate::error::ApiError;
use crate::server::Server;

/// How often the drain checks whether every request has been answered.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// After the grace time, how long interrupted calls get to send their answers before the
/// remaining connections are closed: 1 s (an interrupted call stops within one fuel slice).
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// The marker error of a request body that did not arrive within the body read timeout.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive within the body read timeout")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `e` (or an error it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.is::<BodyTimeout>() {
            return true;
        }
        cur = c.source();
    }
    false
}

/// A request body that fails with [`BodyTimeout`] once `timeout` has passed since it was
/// first polled.
struct DeadlineBody {
    inner: Body,
    timeout: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// What the per-request middleware needs.
struct Gate {
    server: Arc<Server>,
    /// Requests being handled (not counting the drain's own 503s).
    busy: Arc<AtomicUsize>,
}

/// Counts a request as being handled until dropped.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Refuses new work while draining, counts requests being handled, and puts the body read
/// deadline on every request body.
async fn gate(State(g): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if g.server.is_draining() && path != "/healthz" && path != "/metrics" {
        let mut r = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down; retry on another replica",
        )
        .retry_after(Duration::from_secs(1))
        .into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    let _busy = Busy::new(&g.busy);
    let timeout = g.server.config().body_read_timeout();
    let request = request.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            timeout,
            deadline: None,
        })
    });
    next.run(request).await
}

/// What a connection over the cap is told before it is closed.
fn over_cap_response() -> Vec<u8> {
    let body = serde_json::json!({"error": {
        "code": "too_many_connections",
        "message": "the server is at its connection cap; retry later",
    }})
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `server` on `listener` until `shutdown` completes, then drains (see the module
/// docs).
///
/// # Errors
///
/// Never for a failed `accept` (it is logged and retried); the result is for future use.
pub async fn serve(
    server: Arc<Server>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = server.config().clone();
    let busy = Arc::new(AtomicUsize::new(0));
    let app = crate::http::router(server.clone()).layer(axum::middleware::from_fn_with_state(
        Arc::new(Gate {
            server: server.clone(),
            busy: busy.clone(),
        }),
        gate,
    ));
    let connections = Arc::new(Semaphore::new(config.max_connections));
    // `drain`: existing connections finish their request and close. `close`: drop them now.
    let (drain_tx, drain_rx) = watch::channel(false);
    let (close_tx, close_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut grace_end: Option<tokio::time::Instant> = None;
    let mut poll = tokio::time::interval(DRAIN_POLL);
    loop {
        tokio::select! {
            () = &mut shutdown, if grace_end.is_none() => {
                tracing::info!(in_flight = server.in_flight(), "shutting down: draining");
                server.begin_drain();
                let _ = drain_tx.send(true);
                grace_end = Some(tokio::time::Instant::now() + config.shutdown_grace());
            }
            _ = poll.tick(), if grace_end.is_some() => {
                if busy.load(Ordering::SeqCst) == 0 {
                    break;
                }
                if grace_end.is_some_and(|end| tokio::time::Instant::now() >= end) {
                    tracing::warn!(
                        in_flight = server.in_flight(),
                        "grace period over; interrupting the calls still running"
                    );
                    break;
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = connections.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "connection over the cap refused");
                    // Best effort and never blocking: a fresh socket's send buffer takes it.
                    let _ = stream.try_write(&over_cap_response());
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(config.header_read_timeout());
                let (mut drain, mut close) = (drain_rx.clone(), close_rx.clone());
                // A connection opened during the drain is served (with 503s), not closed.
                let mut drained = *drain.borrow();
                tokio::spawn(async move {
                    let _permit = permit;
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let mut conn = std::pin::pin!(conn);
                    loop {
                        tokio::select! {
                            _ = conn.as_mut() => break,
                            _ = drain.wait_for(|d| *d), if !drained => {
                                drained = true;
                                conn.as_mut().graceful_shutdown();
                            }
                            _ = close.wait_for(|c| *c) => break,
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    // Calls still running (grace over) stop at their next fuel slice; their clients get
    // their answers (`503 interrupted`) while the remaining connections are given a moment.
    server.interrupt_all();
    let answered = tokio::time::Instant::now() + INTERRUPT_GRACE;
    while busy.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < answered {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let _ = close_tx.send(true);
    let workers = server.clone();
    let _ = tokio::task::spawn_blocking(move || workers.shutdown_workers()).await;
    tracing::info!("stopped");
    Ok(())
}
