//! A real SMTP server for the tests: aiosmtpd (Python), started on a free port with its
//! `Mailbox` handler, which stores every message it accepts in a maildir the tests read.
//!
//! `.ci/run` installs aiosmtpd from `tests/smtp/requirements.txt` (pinned, with hashes) into
//! `target/smtp-venv`; [`python`] finds that interpreter, or the one named by
//! `IMIA_TEST_SMTP_PYTHON`. Without it, tests skip (and fail under `CI=true`, see [`require`]).
//!
//! ```no_run
//! use imia_tests::smtp::SmtpSink;
//!
//! let Some(sink) = SmtpSink::start() else { return };
//! // Send to sink.url() (`smtp://127.0.0.1:<port>`), then:
//! let message = sink.wait_for_message(|m| m.contains("To: ann@example.com")).unwrap();
//! ```
//!
//! [`require`]: crate::require

use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::require;

/// The variable naming the Python interpreter that has aiosmtpd: `IMIA_TEST_SMTP_PYTHON`.
pub const SMTP_PYTHON_ENV: &str = "IMIA_TEST_SMTP_PYTHON";
/// How long [`SmtpSink::start`] waits for the server to accept connections, and
/// [`SmtpSink::wait_for_message`] for a message.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The Python interpreter with aiosmtpd: `IMIA_TEST_SMTP_PYTHON`, else the virtual environment
/// `.ci/run` makes (`target/smtp-venv`), when it can import aiosmtpd.
pub fn python() -> Option<PathBuf> {
    let candidate = match std::env::var_os(SMTP_PYTHON_ENV) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/smtp-venv/bin/python"),
    };
    let imports = Command::new(&candidate)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    imports.then_some(candidate)
}

/// A running aiosmtpd, killed (and its maildir removed) when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free loopback port and waits until it accepts connections. `None`
    /// (a skip, or a failure under `CI=true`) when aiosmtpd is not installed.
    ///
    /// # Panics
    ///
    /// When it is installed but does not start.
    pub fn start() -> Option<Self> {
        let Some(python) = python() else {
            return require::missing(
                "aiosmtpd is not installed: python3 -m venv target/smtp-venv && \
                 target/smtp-venv/bin/pip install --require-hashes -r tests/smtp/requirements.txt",
            );
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let maildir = std::env::temp_dir().join(format!("imia-smtp-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&maildir);
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let sink = Self { child, port, maildir };
        let deadline = Instant::now() + SMTP_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept connections on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(sink)
    }

    /// The server's URL: `smtp://127.0.0.1:<port>` (plain, no TLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far, as raw RFC 5322 text, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| {
                let modified = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                (modified, e.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// Waits (polling the maildir) for a delivered message for which `wanted` holds.
    ///
    /// # Errors
    ///
    /// When none arrives within [`SMTP_TIMEOUT`]: what did arrive.
    pub fn wait_for_message(&self, wanted: impl Fn(&str) -> bool) -> Result<String, Vec<String>> {
        let deadline = Instant::now() + SMTP_TIMEOUT;
        loop {
            let messages = self.messages();
            if let Some(found) = messages.iter().find(|m| wanted(m)) {
                return Ok(found.clone());
            }
            if Instant::now() >= deadline {
                return Err(messages);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
