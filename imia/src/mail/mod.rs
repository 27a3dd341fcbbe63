//! Mail for account e-mails (password resets, address verification): a [`Mailer`] trait, a
//! [`FileMailer`] that writes `.eml` files, an [`SmtpMailer`] on lettre (feature `smtp`), and an
//! [`Outbox`] that sends off the request path (feature `mail`).
//!
//! Messages are [lettre](https://lettre.rs)'s [`Message`], built with its builder: a text part,
//! and an HTML part if you like.
//!
//! Send account e-mails through an [`Outbox`]: the request only hands the message over, and a
//! task of its own delivers it, so that a slow or unreachable mail server changes neither the
//! response time nor the answer (which must not tell whether an address has an account). Failed
//! deliveries are logged (the recipient's address is not).
//!
//! # Examples
//!
//! ```
//! # actix_rt::System::new().block_on(async {
//! use imia::mail::{FileMailer, Mailer, Message, Outbox};
//!
//! let dir = std::env::temp_dir().join(format!("imia-mail-doc-{}", std::process::id()));
//! let mailer = FileMailer::new(&dir);
//! let message = Message::builder()
//!     .from("Example <no-reply@example.com>".parse().unwrap())
//!     .to("ann@example.com".parse().unwrap())
//!     .subject("Reset your password")
//!     .body("https://app.example/password/reset/...".to_owned())
//!     .unwrap();
//! mailer.send(message.clone()).await.unwrap();
//! assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
//!
//! // In a handler: hand it over and answer at once.
//! let outbox = Outbox::new(mailer);
//! outbox.send(message).unwrap();
//! # let _ = std::fs::remove_dir_all(&dir);
//! # });
//! ```

use std::{
    fmt,
    future::Future,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use futures_util::future::LocalBoxFuture;
pub use lettre::{
    Message,
    message::{Mailbox, MultiPart, SinglePart, header::ContentType},
};

use crate::{crypto::random_b64url, error::BoxError};

#[cfg(feature = "smtp")]
mod smtp;

#[cfg(feature = "smtp")]
pub use self::smtp::{DEFAULT_SMTP_TIMEOUT, SmtpMailer};

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The mailer's configuration cannot be used (an SMTP URL that does not parse).
    #[error("the mailer is misconfigured: {0}")]
    Config(String),
    /// The message could not be delivered (the server refused it, could not be reached, a file
    /// could not be written).
    #[error("the message could not be delivered")]
    Delivery(#[source] BoxError),
    /// The [`Outbox`] holds as many messages as it may: this one was dropped.
    #[error("the outbox is full")]
    Full,
}

/// Delivers messages.
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
/// use imia::mail::{MailError, Mailer, Message};
///
/// /// Keeps messages in memory, for tests.
/// #[derive(Default)]
/// struct Recorder(Mutex<Vec<Message>>);
///
/// impl Mailer for Recorder {
///     async fn send(&self, message: Message) -> Result<(), MailError> {
///         self.0.lock().unwrap().push(message);
///         Ok(())
///     }
/// }
/// ```
pub trait Mailer: Send + Sync + 'static {
    /// Delivers `message`.
    fn send(&self, message: Message) -> impl Future<Output = Result<(), MailError>>;
}

impl<M: Mailer> Mailer for Arc<M> {
    fn send(&self, message: Message) -> impl Future<Output = Result<(), MailError>> {
        M::send(self, message)
    }
}

/// The object-safe form of [`Mailer`].
trait DynMailer: Send + Sync + 'static {
    fn send_dyn(&self, message: Message) -> LocalBoxFuture<'_, Result<(), MailError>>;
}

impl<M: Mailer> DynMailer for M {
    fn send_dyn(&self, message: Message) -> LocalBoxFuture<'_, Result<(), MailError>> {
        Box::pin(self.send(message))
    }
}

/// Writes each message as an `.eml` file (RFC 5322, as it would go over the wire) into a
/// directory, created when missing: for development and tests. The file names sort by the time
/// they were written.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    /// Writes into `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_owned(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Mailer for FileMailer {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        let name = format!(
            "{:020}-{}.eml",
            crate::crypto::unix_now_ms(),
            random_b64url(6).map_err(|e| MailError::Delivery(Box::new(e)))?
        );
        let (dir, bytes) = (self.dir.clone(), message.formatted());
        actix_web::web::block(move || {
            std::fs::create_dir_all(&dir)?;
            // Written aside and renamed: a reader never sees half a message.
            let partial = dir.join(format!(".{name}.part"));
            std::fs::write(&partial, bytes)?;
            std::fs::rename(partial, dir.join(name))
        })
        .await
        .map_err(|e| MailError::Delivery(Box::new(e)))?
        .map_err(|e| MailError::Delivery(Box::new(e)))
    }
}

/// How many messages an [`Outbox`] holds (queued or being delivered) by default: 1024.
pub const DEFAULT_OUTBOX_CAPACITY: usize = 1024;

/// Sends messages off the request path: [`send`](Self::send) hands a message to a task of its
/// own on the current actix runtime and returns at once; the task delivers it through the
/// mailer and logs a failure. At most [`capacity`](Self::capacity) messages are held at once
/// (more are refused with [`MailError::Full`], so a flood of requests cannot grow memory
/// without bound). Cloning is cheap.
#[derive(Clone)]
pub struct Outbox {
    mailer: Arc<dyn DynMailer>,
    held: Arc<AtomicUsize>,
    capacity: usize,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("held", &self.held.load(Ordering::Relaxed))
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An outbox delivering through `mailer`, holding at most [`DEFAULT_OUTBOX_CAPACITY`]
    /// messages.
    pub fn new(mailer: impl Mailer) -> Self {
        Self {
            mailer: Arc::new(mailer),
            held: Arc::new(AtomicUsize::new(0)),
            capacity: DEFAULT_OUTBOX_CAPACITY,
        }
    }

    /// Holds at most `capacity` messages (at least 1).
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Hands `message` over for delivery and returns at once. Needs an actix (tokio) runtime,
    /// which every request handler has; elsewhere use [`send_now`](Self::send_now).
    ///
    /// # Errors
    ///
    /// [`MailError::Full`] when the outbox holds as many messages as it may, and
    /// [`MailError::Delivery`] outside a runtime; the message is dropped (and logged) either way.
    pub fn send(&self, message: Message) -> Result<(), MailError> {
        if self.held.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.held.fetch_sub(1, Ordering::AcqRel);
            tracing::error!(capacity = self.capacity, "the outbox is full: a message was dropped");
            return Err(MailError::Full);
        }
        if actix_rt::System::try_current().is_none() {
            self.held.fetch_sub(1, Ordering::AcqRel);
            tracing::error!("no runtime to deliver a message on: it was dropped");
            return Err(MailError::Delivery("no runtime to deliver the message on".into()));
        }
        let (mailer, held) = (Arc::clone(&self.mailer), Arc::clone(&self.held));
        actix_rt::spawn(async move {
            if let Err(err) = mailer.send_dyn(message).await {
                tracing::error!(error.display = %err, error.source = ?std::error::Error::source(&err).map(ToString::to_string), "a message could not be delivered");
            }
            held.fetch_sub(1, Ordering::AcqRel);
        });
        Ok(())
    }

    /// Delivers `message` and waits for the outcome (scripts, tests).
    ///
    /// # Errors
    ///
    /// The mailer's.
    pub async fn send_now(&self, message: Message) -> Result<(), MailError> {
        self.mailer.send_dyn(message).await
    }

    /// How many messages are queued or being delivered.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &str) -> Message {
        Message::builder()
            .from("Example <no-reply@example.com>".parse().unwrap())
            .to(to.parse().unwrap())
            .subject("Hello")
            .header(ContentType::TEXT_PLAIN)
            .body("line one\nhttps://app.example/x".to_owned())
            .unwrap()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("imia-mail-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[actix_rt::test]
    async fn file_mailer_writes_whole_messages() {
        let dir = temp_dir("file");
        let mailer = FileMailer::new(&dir);
        mailer.send(message("ann@example.com")).await.unwrap();
        mailer.send(message("bob@example.com")).await.unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2);
        assert!(names.iter().all(|n| n.ends_with(".eml") && !n.starts_with('.')));
        let first = std::fs::read_to_string(dir.join(&names[0])).unwrap();
        assert!(first.contains("To: ann@example.com"), "{first}");
        assert!(first.contains("https://app.example/x"), "{first}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A mailer that fails, counting its calls.
    #[derive(Default)]
    struct Failing(AtomicUsize);

    impl Mailer for Failing {
        async fn send(&self, _: Message) -> Result<(), MailError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(MailError::Delivery("refused".into()))
        }
    }

    #[actix_rt::test]
    async fn the_outbox_returns_at_once_and_is_bounded() {
        let failing = Arc::new(Failing::default());
        let outbox = Outbox::new(Arc::clone(&failing)).capacity(2);
        outbox.send(message("a@example.com")).unwrap();
        outbox.send(message("b@example.com")).unwrap();
        assert!(matches!(outbox.send(message("c@example.com")), Err(MailError::Full)));
        assert_eq!(
            failing.0.load(Ordering::SeqCst),
            0,
            "nothing delivered on the request path"
        );
        // The tasks run once this one yields; failures are logged and free their places.
        while outbox.held() > 0 {
            actix_rt::task::yield_now().await;
        }
        assert_eq!(failing.0.load(Ordering::SeqCst), 2);
        outbox.send(message("c@example.com")).unwrap();
        assert!(outbox.send_now(message("d@example.com")).await.is_err());
    }
}
