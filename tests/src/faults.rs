//! Faults to inject from tests: a TCP proxy that can be cut or silenced, a private
//! `redis-server` to stop and restart, and blocking connections (the `redis` crate's) to
//! inspect or corrupt what a Redis server holds.
//!
//! Everything here is blocking std I/O on threads of its own, so a test can change a fault while
//! a server (in-process or not) talks through it.
//!
//! ```no_run
//! use imia_tests::faults::{ProxyMode, TcpProxy};
//!
//! let upstream = "127.0.0.1:5432".parse().unwrap();
//! let proxy = TcpProxy::start(upstream).expect("the proxy starts");
//! // Point the application at `proxy.addr()` instead of the database, then:
//! proxy.cut(); // open connections are reset, new ones are closed at once
//! proxy.restore(); // connections go through again
//! proxy.blackhole(); // connections are accepted and read, but nothing is ever answered
//! assert_eq!(proxy.mode(), ProxyMode::Blackhole);
//! ```

use std::{
    fmt,
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// What a [`TcpProxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Connections go through to the upstream server.
    Forward,
    /// New connections are closed as soon as they are accepted (a dead server); open ones were
    /// reset when the mode was set.
    Refuse,
    /// Connections are accepted and read, but nothing is forwarded and nothing is answered (a
    /// server that hangs, a network partition that drops packets).
    Blackhole,
}

struct Shared {
    upstream: SocketAddr,
    mode: Mutex<ProxyMode>,
    /// Every open socket on either side, to shut down when the proxy is cut.
    open: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
    accepted: AtomicUsize,
}

impl Shared {
    fn mode(&self) -> ProxyMode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn track(&self, stream: &TcpStream) {
        if let Ok(clone) = stream.try_clone() {
            self.open.lock().unwrap_or_else(PoisonError::into_inner).push(clone);
        }
    }

    fn reset_all(&self) {
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(PoisonError::into_inner));
        for stream in open {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// A TCP proxy on a free loopback port in front of one upstream server, whose traffic a test
/// can cut, silence and restore; see the [module documentation](self).
pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding a free loopback port to `upstream`.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            mode: Mutex::new(ProxyMode::Forward),
            open: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("tcp-proxy".into())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream server.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        self.shared.mode()
    }

    /// How many client connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    fn set_mode(&self, mode: ProxyMode) {
        *self.shared.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Resets every open connection and closes new ones at once: the server is gone.
    pub fn cut(&self) {
        self.set_mode(ProxyMode::Refuse);
        self.shared.reset_all();
    }

    /// Keeps connections open but forwards and answers nothing, on open connections too.
    pub fn blackhole(&self) {
        self.set_mode(ProxyMode::Blackhole);
    }

    /// Forwards again. Connections opened or silenced during a blackhole lost bytes, so they are
    /// reset first (clients reconnect).
    pub fn restore(&self) {
        if self.mode() == ProxyMode::Blackhole {
            self.set_mode(ProxyMode::Refuse);
            self.shared.reset_all();
        }
        self.set_mode(ProxyMode::Forward);
    }
}

impl fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("mode", &self.mode())
            .finish()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.reset_all();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nonblocking(false);
        let _ = client.set_nodelay(true);
        match shared.mode() {
            ProxyMode::Refuse => {
                let _ = client.shutdown(Shutdown::Both);
            }
            ProxyMode::Blackhole => {
                shared.track(&client);
                let shared = Arc::clone(shared);
                let _ = thread::Builder::new()
                    .name("tcp-proxy-sink".into())
                    .spawn(move || sink(client, &shared));
            }
            ProxyMode::Forward => {
                let Ok(server) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(2)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = server.set_nodelay(true);
                shared.track(&client);
                shared.track(&server);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        let _ = client.shutdown(Shutdown::Both);
                        let _ = server.shutdown(Shutdown::Both);
                        break;
                    };
                    let shared = Arc::clone(shared);
                    let _ = thread::Builder::new()
                        .name("tcp-proxy-pump".into())
                        .spawn(move || pump(from, to, &shared));
                }
            }
        }
    }
}

/// Copies `from` to `to` while the proxy forwards; drops the bytes while it is a blackhole.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match shared.mode() {
            ProxyMode::Forward => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            ProxyMode::Blackhole => {}
            ProxyMode::Refuse => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Reads and forgets everything a client sends.
fn sink(mut client: TcpStream, shared: &Shared) {
    let mut buf = [0u8; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// A free loopback port (bound, then released: a small race other processes could win).
///
/// # Errors
///
/// When no port can be bound.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `redis-server` of the test's own, on a free loopback port, to stop and restart at will.
///
/// With [`RedisServer::start_persistent`] it keeps an RDB file in a private directory, written
/// when it is [stopped gracefully](RedisServer::shutdown), so its data survives a restart;
/// [`RedisServer::kill`] always loses what it held since then.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    persistent: bool,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk.
    ///
    /// # Errors
    ///
    /// When `redis-server` is missing or does not answer within 10 seconds.
    pub fn start() -> io::Result<Self> {
        Self::launch(false)
    }

    /// Starts a server that saves its data on a graceful shutdown and loads it on restart.
    ///
    /// # Errors
    ///
    /// As for [`RedisServer::start`].
    pub fn start_persistent() -> io::Result<Self> {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> io::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imia-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            child: None,
            port: free_port()?,
            dir,
            persistent,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "no",
            ])
            .args(["--save", "", "--dbfilename", "dump.rdb"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self
                .query::<String>(&redis::cmd("PING"))
                .is_ok_and(|pong| pong == "PONG")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis-server did not answer PING within 10 seconds",
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the process at once (SIGKILL): data not saved is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server gracefully; a persistent server saves its data first.
    pub fn shutdown(&mut self) {
        let how = if self.persistent { "SAVE" } else { "NOSAVE" };
        // The server closes the connection instead of answering: an error is expected.
        let _ = self.query::<redis::Value>(redis::cmd("SHUTDOWN").arg(how));
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill) or
    /// [`shutdown`](Self::shutdown)).
    ///
    /// # Errors
    ///
    /// As for [`RedisServer::start`].
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// Runs one command on a fresh [connection](redis_connection) and reads its reply as `T`.
    ///
    /// ```no_run
    /// use imia_tests::faults::RedisServer;
    ///
    /// let server = RedisServer::start().expect("redis-server starts");
    /// let keys: Vec<String> = server.query(redis::cmd("KEYS").arg("*")).unwrap();
    /// assert!(keys.is_empty());
    /// ```
    ///
    /// # Errors
    ///
    /// When the server cannot be reached, answers with an error, or its reply is not a `T`.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        cmd.query(&mut redis_connection(&self.url())?)
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("persistent", &self.persistent)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How long [`redis_connection`] waits to connect, and then for each read and write: 5 seconds.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// A blocking connection to the Redis server of `url` (selecting the database it names, if
/// any), whose connect, reads and writes each end within [`REDIS_TIMEOUT`].
///
/// ```no_run
/// use imia_tests::faults::redis_connection;
///
/// let mut redis = redis_connection("redis://127.0.0.1:6379").expect("Redis answers");
/// let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut redis).unwrap();
/// # let _ = keys;
/// ```
///
/// # Errors
///
/// When the URL is not a Redis URL or the server cannot be reached in time.
pub fn redis_connection(url: &str) -> redis::RedisResult<redis::Connection> {
    let connection = redis::Client::open(url)?.get_connection_with_timeout(REDIS_TIMEOUT)?;
    connection.set_read_timeout(Some(REDIS_TIMEOUT))?;
    connection.set_write_timeout(Some(REDIS_TIMEOUT))?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_forwards_cuts_silences_and_restores() {
        // An echo server upstream.
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        thread::spawn(move || {
            for stream in upstream.incoming().flatten() {
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = TcpProxy::start(upstream_addr).unwrap();
        let echo = |expect_answer: bool| {
            let mut s = TcpStream::connect(proxy.addr()).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            let _ = s.write_all(b"ping");
            let mut buf = [0u8; 4];
            let answered = s.read_exact(&mut buf).is_ok() && &buf == b"ping";
            assert_eq!(answered, expect_answer, "mode {:?}", proxy.mode());
        };
        echo(true);
        proxy.cut();
        echo(false);
        proxy.blackhole();
        echo(false);
        proxy.restore();
        echo(true);
        assert!(proxy.accepted() >= 4);
    }
}
