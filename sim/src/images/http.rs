//! A small HTTP/1.1 server for the image programs, answering the way Go's `net/http` does
//! (title-case header names, `Date`, `Content-Length`), with graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Response bodies: whole, or streamed from another server (traefik).
pub type Body = BoxBody<Bytes, hyper::Error>;

/// A complete body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A response with a body and a content type.
pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut b = Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if !content_type.is_empty() {
        b = b.header("content-type", content_type);
    }
    b.body(full(body)).expect("valid response")
}

/// Go's `http.NotFound`: 404, `404 page not found\n`, `text/plain; charset=utf-8` and
/// `X-Content-Type-Options: nosniff` (net/http `Error`).
pub fn go_not_found() -> Response<Body> {
    go_error(404, "404 page not found")
}

/// Go's `http.Error(w, msg, code)`: the message plus a newline, as plain text.
pub fn go_error(status: u16, msg: &str) -> Response<Body> {
    let mut r = respond(status, "text/plain; charset=utf-8", format!("{msg}\n"));
    r.headers_mut().insert(
        "x-content-type-options",
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    r
}

/// `Date` then `Content-Length` at the end of the header block, as Go's `net/http` writes them.
fn go_headers(mut r: Response<Body>) -> Response<Body> {
    use hyper::body::Body as _;
    use hyper::header::{CONTENT_LENGTH, DATE, HeaderValue};
    if !r.headers().contains_key(DATE)
        && let Ok(v) = HeaderValue::from_str(&http_date(jiff::Timestamp::now()))
    {
        r.headers_mut().insert(DATE, v);
    }
    if let Some(n) = r.body().size_hint().exact()
        && !r.headers().contains_key(CONTENT_LENGTH)
        && r.status() != StatusCode::NO_CONTENT
        && !r.status().is_informational()
    {
        r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    r
}

/// An HTTP date (`Sat, 28 Nov 2026 06:33:37 GMT`).
pub fn http_date(ts: jiff::Timestamp) -> String {
    ts.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A running server.
#[derive(Debug)]
pub struct HttpServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` and serves every connection with `handler` (given the request and the
    /// peer's address).
    ///
    /// # Errors
    /// The bind error (address in use, not available).
    pub async fn bind<H, F>(addr: SocketAddr, handler: H) -> std::io::Result<HttpServer>
    where
        H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        let handler = Arc::new(handler);
        let task = tokio::spawn(accept_loop(listener, handler, rx));
        Ok(HttpServer {
            addr,
            shutdown: tx,
            task,
        })
    }

    /// Stops accepting, lets open connections finish their requests (up to `grace`), then closes
    /// them.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

async fn accept_loop<H, F>(listener: TcpListener, handler: Arc<H>, mut stop: watch::Receiver<bool>)
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let handler = handler.clone();
                let mut stop = stop.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let fut = handler(req, peer);
                        async move { Ok::<_, Infallible>(go_headers(fut.await)) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .title_case_headers(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Waits for SIGTERM or SIGINT and says which (`"terminated"` or `"interrupt"`).
///
/// # Panics
/// When signal handlers cannot be installed (no Tokio runtime with signals).
pub async fn termination() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "terminated",
        _ = int.recv() => "interrupt",
    }
}

/// A current-thread Tokio runtime for one image program.
///
/// # Panics
/// When the runtime cannot be built.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
