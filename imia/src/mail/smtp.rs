//! An SMTP mailer on lettre.

use std::{fmt, time::Duration};

use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use super::{MailError, Mailer};

/// How long an SMTP exchange may take by default: 10 seconds.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Delivers messages to an SMTP server (lettre's tokio transport; TLS through rustls).
///
/// The server comes as a URL, as lettre reads them:
///
/// | URL | connection |
/// |---|---|
/// | `smtp://127.0.0.1:2525` | plain, no TLS: a local relay or a test server only |
/// | `smtp://user:pass@smtp.example.com:587?tls=required` | STARTTLS, required, then authentication |
/// | `smtp://smtp.example.com:587?tls=opportunistic` | STARTTLS when offered |
/// | `smtps://user:pass@smtp.example.com` | TLS from the start (port 465) |
///
/// Credentials in the URL are percent-encoded. Its `Debug` shows neither the URL nor them.
///
/// # Examples
///
/// ```
/// use imia::mail::{Outbox, SmtpMailer};
///
/// let smtp = SmtpMailer::from_url("smtp://127.0.0.1:2525").unwrap();
/// let outbox = Outbox::new(smtp);
/// # let _ = outbox;
/// assert!(SmtpMailer::from_url("not a url").is_err());
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the server at `url` (see the table above), each exchange limited to
    /// [`DEFAULT_SMTP_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// [`MailError::Config`] when the URL cannot be used (the message does not quote it: it may
    /// hold a password).
    pub fn from_url(url: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| MailError::Config("the SMTP URL cannot be used".into()))?
            .timeout(Some(DEFAULT_SMTP_TIMEOUT))
            .build();
        Ok(Self { transport })
    }

    /// A mailer over a transport you built with lettre's own builder.
    pub fn from_transport(transport: AsyncSmtpTransport<Tokio1Executor>) -> Self {
        Self { transport }
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, message: Message) -> Result<(), MailError> {
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| MailError::Delivery(Box::new(e)))
    }
}
