//! Starts the example binaries of `imia-examples` for end-to-end tests.
//!
//! [`ExampleServer::start`] runs one example on a free port, waits until it answers, and kills
//! it when dropped (also when the test panics).
//!
//! # Finding the binaries
//!
//! Cargo sets `CARGO_BIN_EXE_<name>` only for the binaries of the package under test, and the
//! examples live in another package. So the first start in a test process runs
//!
//! ```text
//! $CARGO build --package imia-examples --bins --all-features --message-format=json-render-diagnostics
//! ```
//!
//! (with `--release` when the tests themselves are built without debug assertions) and takes
//! each binary's path from the `compiler-artifact` messages. This is the robust route:
//!
//! - it is the cargo that runs the tests (`$CARGO`), in the same workspace, with the same
//!   environment, so it uses the same target directory (`CARGO_TARGET_DIR` or the
//!   configuration) and profile, and does nothing when the examples are up to date;
//! - paths are never guessed: target directories, target triples and `.exe` suffixes are
//!   whatever cargo reports;
//! - a test never runs a stale binary built from older sources.
//!
//! A `--target-dir` given to the outer cargo on its command line is not seen (its environment
//! and configuration are): prefer `CARGO_TARGET_DIR`, or the examples get built a second time
//! in the default target directory. Cargo's lock on the build directory serialises the builds
//! of test processes that run at the same time. To skip the build (say, in CI after `cargo build -p imia-examples`), set
//! [`BIN_DIR_ENV`] (`IMIA_EXAMPLES_BIN_DIR`) to the directory holding the binaries.
//!
//! # Ports
//!
//! Examples are started with `PORT=0`: the operating system picks a free port when the
//! example binds, and the example prints it in its `listening on http://127.0.0.1:<port>` line,
//! which is read from its stdout. There is no window between choosing a port and binding it,
//! so tests running in parallel never collide and nothing needs retrying.
//!
//! # Timeouts
//!
//! Building is bounded by [`BUILD_TIMEOUT`], starting (the "listening on" line, then a first
//! answer to `GET /`) by [`START_TIMEOUT`].

use std::{
    collections::HashMap,
    env, fmt,
    io::{self, BufRead, BufReader, Read},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock, PoisonError, mpsc},
    thread,
    time::{Duration, Instant},
};

use crate::http::{self, Client, Request, Response};

/// What an example prints, followed by its address, once it is bound (see `imia-examples`).
pub const LISTENING_PREFIX: &str = "listening on http://";

/// The environment variable naming a directory of prebuilt example binaries:
/// `IMIA_EXAMPLES_BIN_DIR`. When set, nothing is built. Give an absolute path: tests run in
/// the `tests/` package directory.
pub const BIN_DIR_ENV: &str = "IMIA_EXAMPLES_BIN_DIR";

/// How long building the examples may take: 20 minutes (a cold build on a small machine).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// How long an example may take to print its address and answer a first request: 60 seconds.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Example name → binary path, built once per test process.
static BINARIES: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();

/// The path of the example binary `name` (e.g. `"quickstart"`), built if needed.
///
/// See the [module documentation](self) for how it is found.
///
/// # Errors
///
/// When the build fails or times out, or there is no such binary.
pub fn example_binary(name: &str) -> io::Result<PathBuf> {
    if let Some(dir) = env::var_os(BIN_DIR_ENV) {
        let path = Path::new(&dir).join(format!("{name}{}", env::consts::EXE_SUFFIX));
        return if path.is_file() {
            Ok(path)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{BIN_DIR_ENV} is set, but {} is not a file", path.display()),
            ))
        };
    }
    match BINARIES.get_or_init(build_examples) {
        Ok(binaries) => binaries.get(name).cloned().ok_or_else(|| {
            let mut known: Vec<_> = binaries.keys().collect();
            known.sort();
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("imia-examples has no binary {name:?}; it has {known:?}"),
            )
        }),
        Err(msg) => Err(io::Error::other(msg.clone())),
    }
}

/// Builds every example binary and reads their paths from cargo's JSON messages.
fn build_examples() -> Result<HashMap<String, PathBuf>, String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--package",
        "imia-examples",
        "--bins",
        // Every backend (PostgreSQL, MySQL, Redis sessions), as the workspace's own
        // `--all-features` test run builds them: the same artifacts, and the demo can be
        // pointed at any of them.
        "--all-features",
        "--message-format=json-render-diagnostics",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let (status, stdout, stderr) =
        run_to_end(cmd, BUILD_TIMEOUT).map_err(|e| format!("could not run {}: {e}", cargo.display()))?;
    let stderr = String::from_utf8_lossy(&stderr);
    if !status.success() {
        return Err(format!("building imia-examples failed ({status}):\n{stderr}"));
    }
    let mut binaries = HashMap::new();
    for line in String::from_utf8_lossy(&stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_bin = msg["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if msg["reason"] != "compiler-artifact" || !is_bin {
            continue;
        }
        if let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str()) {
            binaries.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    if binaries.is_empty() {
        return Err(format!("cargo built imia-examples but reported no binary:\n{stderr}"));
    }
    Ok(binaries)
}

/// Runs `cmd` to completion (killing it after `timeout`), collecting stdout and stderr.
fn run_to_end(mut cmd: Command, timeout: Duration) -> io::Result<(ExitStatus, Vec<u8>, Vec<u8>)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            // Best effort: the child may have exited in the meantime.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("still running after {timeout:?}"),
            ));
        }
        thread::sleep(Duration::from_millis(100));
    };
    let join = |h: thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
    Ok((status, join(stdout), join(stderr)))
}

/// Reads a pipe to its end on a thread, so that the child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error only truncates the diagnostics.
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

/// A running example binary, killed on drop.
///
/// ```no_run
/// use imia_tests::{http::Request, server::ExampleServer};
///
/// let server = ExampleServer::start("basic_auth").unwrap();
/// let resp = server.send(&Request::get("/")).unwrap();
/// assert_eq!(resp.status, 401);
/// ```
pub struct ExampleServer {
    name: String,
    addr: SocketAddr,
    child: Child,
    /// Everything the example printed, stdout and stderr, line by line.
    output: Arc<Mutex<String>>,
}

impl ExampleServer {
    /// Starts the example binary `name` on a free port and waits until it answers `GET /`
    /// (whatever the status), within [`START_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// When the binary cannot be built or started, or exits, or does not answer in time; the
    /// error includes what it printed.
    pub fn start(name: &str) -> io::Result<Self> {
        Self::start_with_env(name, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables (`PORT` is always `0`).
    ///
    /// # Errors
    ///
    /// As for [`start`](Self::start).
    pub fn start_with_env(name: &str, vars: &[(&str, &str)]) -> io::Result<Self> {
        let binary = example_binary(name)?;
        let mut child = Command::new(&binary)
            .envs(vars.iter().copied())
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("could not start {}: {e}", binary.display())))?;
        let output = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let output = Arc::clone(&output);
            thread::spawn(move || {
                let mut address_tx = Some(address_tx);
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.strip_prefix(LISTENING_PREFIX)
                        && let Some(tx) = address_tx.take()
                    {
                        // The receiver may have given up already.
                        let _ = tx.send(rest.trim().parse::<SocketAddr>().map_err(|_| line.clone()));
                    }
                    append_line(&output, &line);
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            let output = Arc::clone(&output);
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    append_line(&output, &line);
                }
            });
        }

        // From here on, dropping `server` kills the child, whatever goes wrong.
        let mut server = Self {
            name: name.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            output,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        server.addr = match address_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(addr)) => addr,
            Ok(Err(line)) => return Err(server.failure(&format!("printed an unreadable address: {line:?}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(server.failure(&format!(
                    "printed no {LISTENING_PREFIX:?} line within {START_TIMEOUT:?}"
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(server.failure(&format!("closed stdout without a {LISTENING_PREFIX:?} line")));
            }
        };
        server.wait_until_ready(deadline)?;
        Ok(server)
    }

    /// Polls `GET /` until any response arrives.
    fn wait_until_ready(&mut self, deadline: Instant) -> io::Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(self.failure(&format!("exited ({status}) before answering")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let attempt = left.min(Duration::from_secs(2));
            match http::send_with_timeout(self.addr, &Request::get("/"), attempt) {
                Ok(_) => return Ok(()),
                Err(err) if left <= attempt => {
                    return Err(self.failure(&format!("did not answer within {START_TIMEOUT:?}: {err}")));
                }
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// An error about this example, with what it printed.
    fn failure(&mut self, what: &str) -> io::Error {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => format!(" (exited: {status})"),
            _ => String::new(),
        };
        io::Error::other(format!(
            "example {:?} {what}{status}; its output:\n{}",
            self.name,
            self.output()
        ))
    }

    /// The example's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operating system's id of the example's process, e.g. to read its
    /// `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address the example listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><target>`, for messages and other clients.
    pub fn url(&self, target: &str) -> String {
        format!("http://{}{target}", self.addr)
    }

    /// Everything the example printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sends `req` (see [`http::send`]).
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

    /// Sends hand-written bytes (see [`http::send_raw`]), within [`http::DEFAULT_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// As for [`http::send`].
    pub fn send_raw(&self, raw: &[u8]) -> io::Result<Response> {
        http::send_raw(self.addr, raw, http::DEFAULT_TIMEOUT)
    }

    /// A client with an empty cookie jar for this example.
    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }
}

fn append_line(output: &Mutex<String>, line: &str) {
    let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
    output.push_str(line);
    output.push('\n');
}

impl fmt::Debug for ExampleServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExampleServer")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        // Errors mean the process is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
