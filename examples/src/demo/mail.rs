//! Where the demo's account e-mails go, and where their links point.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use imia::{
    account::{AccountMail, Accounts},
    diesel::DieselLinkStore,
    login::{InMemoryThrottle, LoginManager},
    mail::{FileMailer, Outbox, SmtpMailer},
    password::Argon2Hasher,
};

use super::{
    DemoAccounts,
    users::{DemoPool, DemoUsers},
};

/// The directory mail goes to when `MAIL_DIR` is not set, in the working directory.
pub const DEFAULT_MAIL_DIR: &str = "imia-demo-mail";
/// Who the demo's mail comes from.
pub const MAIL_FROM: &str = "imia demo <no-reply@example.com>";

/// How mail leaves the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailTransport {
    /// Every message is an `.eml` file in this directory.
    Dir(PathBuf),
    /// Through the SMTP server at this URL (`smtp://127.0.0.1:2525`).
    Smtp(String),
}

/// Where the demo's mail goes, and the origin of the links in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoMail {
    /// How mail leaves.
    pub transport: MailTransport,
    /// The origin links point to (`http://127.0.0.1:8000`): the public origin when there is
    /// one, else the demo's own address. Never taken from a request's `Host`, which an attacker
    /// could set to their own site and receive someone else's reset link.
    pub origin: String,
}

impl DemoMail {
    /// From the environment: `SMTP_URL` (SMTP), else `MAIL_DIR` (default `imia-demo-mail`);
    /// links on `public_origin`, else `http://<addr>` (the demo's listening address), else
    /// `http://127.0.0.1:$PORT` (8000).
    ///
    /// # Errors
    ///
    /// None today; kept fallible for configurations that can be wrong.
    ///
    /// ```
    /// use imia_examples::demo::mail::DemoMail;
    ///
    /// let mail = DemoMail::from_env(Some("127.0.0.1:4321".parse().unwrap()), None).unwrap();
    /// assert_eq!(mail.origin, "http://127.0.0.1:4321");
    /// let mail = DemoMail::from_env(None, Some("https://app.example")).unwrap();
    /// assert_eq!(mail.origin, "https://app.example");
    /// ```
    pub fn from_env(
        addr: Option<SocketAddr>,
        public_origin: Option<&str>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let transport = match var("SMTP_URL") {
            Some(url) => MailTransport::Smtp(url),
            None => MailTransport::Dir(var("MAIL_DIR").unwrap_or_else(|| DEFAULT_MAIL_DIR.to_owned()).into()),
        };
        let origin = match (public_origin, addr) {
            (Some(origin), _) => origin.to_owned(),
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => {
                let port = var("PORT")
                    .and_then(|p| p.parse::<u16>().ok())
                    .filter(|p| *p != 0)
                    .unwrap_or(8000);
                format!("http://127.0.0.1:{port}")
            }
        };
        Ok(Self { transport, origin })
    }

    /// Files in `dir`, links on `origin`: for tests.
    pub fn to_dir(dir: impl Into<PathBuf>, origin: &str) -> Self {
        Self {
            transport: MailTransport::Dir(dir.into()),
            origin: origin.to_owned(),
        }
    }

    /// The demo's accounts: links in the demo's database, mail through this transport, reset
    /// requests and sign-ups throttled to 5 per address in 15 minutes.
    pub(super) fn accounts(
        &self,
        logins: &LoginManager<DemoUsers, Argon2Hasher>,
        pool: &DemoPool,
    ) -> Result<DemoAccounts, Box<dyn std::error::Error + Send + Sync>> {
        let outbox = match &self.transport {
            MailTransport::Dir(dir) => Outbox::new(FileMailer::new(dir)),
            MailTransport::Smtp(url) => Outbox::new(SmtpMailer::from_url(url)?),
        };
        let mail = AccountMail::new(MAIL_FROM, &self.origin)?.app_name("imia demo");
        // Per address only: the demo's traffic all comes from loopback.
        let throttle = InMemoryThrottle::new().per_username(5, Duration::from_secs(15 * 60));
        let builder = match pool {
            DemoPool::Sqlite(pool) => Accounts::builder(
                logins.clone(),
                DieselLinkStore::<imia::diesel::SqliteConnection>::new(pool.clone()),
                outbox,
                mail,
            ),
            #[cfg(feature = "postgres")]
            DemoPool::Postgres(pool) => Accounts::builder(
                logins.clone(),
                DieselLinkStore::<diesel_async::AsyncPgConnection>::new(pool.clone()),
                outbox,
                mail,
            ),
            #[cfg(feature = "mysql")]
            DemoPool::Mysql(pool) => Accounts::builder(
                logins.clone(),
                DieselLinkStore::<diesel_async::AsyncMysqlConnection>::new(pool.clone()),
                outbox,
                mail,
            ),
        };
        Ok(builder.throttle(throttle).build())
    }
}
