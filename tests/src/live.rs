//! An actix-web application served in-process on a real loopback socket.
//!
//! [`LiveServer`] runs `HttpServer` (one worker) on `127.0.0.1:0` in a thread of its own, with
//! its own actix system, so plain blocking `#[test]` functions can talk to it with the raw
//! client in [`crate::http`]: the request target and headers reach actix's HTTP/1 decoder and
//! router exactly as written, as they would from an attacker. Because the application lives in
//! the test process, tests can share state with it (counting hashers, switchable providers) and
//! inject faults.
//!
//! The server stops (gracefully, then the thread is joined) when the [`LiveServer`] is dropped.
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use imia_tests::{http::Request, live::LiveServer};
//!
//! let server = LiveServer::start(|| App::new().route("/", web::get().to(|| async { HttpResponse::Ok().body("hi") })))
//!     .expect("the server starts");
//! let resp = server.send(&Request::get("/")).unwrap();
//! assert_eq!(resp.status, 200);
//! assert_eq!(resp.text(), "hi");
//! ```

use std::{
    fmt, io,
    net::SocketAddr,
    sync::mpsc,
    thread::{self, JoinHandle},
    time::Duration,
};

use actix_web::{
    Error, HttpServer,
    body::MessageBody,
    dev::{AppConfig, ServerHandle, ServiceFactory},
};

use crate::http::{self, Request, Response};

/// How long [`LiveServer::start`] waits for the server to bind: 10 seconds.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running in-process server; see the [module documentation](self).
pub struct LiveServer {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl LiveServer {
    /// Serves the application built by `factory` on a free loopback port, with one worker.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or the server thread does not report its address within
    /// [`START_TIMEOUT`].
    pub fn start<F, I, S, B>(factory: F) -> io::Result<Self>
    where
        F: Fn() -> I + Send + Clone + 'static,
        I: actix_service::IntoServiceFactory<S, actix_http::Request>,
        S: ServiceFactory<actix_http::Request, Config = AppConfig> + 'static,
        S::Error: Into<Error> + 'static,
        S::InitError: fmt::Debug,
        S::Response: Into<actix_http::Response<B>> + 'static,
        <S::Service as actix_service::Service<actix_http::Request>>::Future: 'static,
        S::Service: 'static,
        B: MessageBody + 'static,
    {
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = thread::Builder::new().name("live-server".into()).spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = match HttpServer::new(factory)
                    .workers(1)
                    .shutdown_timeout(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))
                {
                    Ok(server) => server,
                    Err(e) => {
                        let message = e.to_string();
                        let _ = ready_tx.send(Err(e));
                        return Err(io::Error::other(message));
                    }
                };
                let addr = server.addrs()[0];
                let server = server.run();
                let _ = ready_tx.send(Ok((addr, server.handle())));
                server.await
            })
        })?;
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok((addr, handle))) => Ok(Self {
                addr,
                handle,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server did not start in time",
            )),
        }
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `req` with [`http::send`].
    ///
    /// # Errors
    ///
    /// As for [`http::send`].
    pub fn send(&self, req: &Request) -> io::Result<Response> {
        http::send(self.addr, req)
    }

    /// Sends `GET target`.
    ///
    /// # Errors
    ///
    /// As for [`http::send`].
    pub fn get(&self, target: &str) -> io::Result<Response> {
        self.send(&Request::get(target))
    }

    /// Sends hand-written bytes with [`http::send_raw`] and the default timeout.
    ///
    /// # Errors
    ///
    /// As for [`http::send_raw`].
    pub fn send_raw(&self, raw: &[u8]) -> io::Result<Response> {
        http::send_raw(self.addr, raw, http::DEFAULT_TIMEOUT)
    }
}

impl fmt::Debug for LiveServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        // `stop` returns a future that finishes when the server has stopped; the server's own
        // thread drives it, so it is enough to ask and then wait for that thread.
        drop(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
