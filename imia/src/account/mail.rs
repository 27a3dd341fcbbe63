//! The account e-mails: what they say, and the links in them.

use std::fmt;

use lettre::{
    Message,
    message::{Body, Mailbox, MultiPart, header::ContentTransferEncoding},
};

use super::AccountError;
use crate::{csrf::Origin, error::ConfigError};

/// Who account e-mails come from, what the app is called in them, and where their links point:
/// the app's public origin and the paths of its link pages.
///
/// Each mail has a plain-text part with the link as an absolute URL, and an HTML part.
///
/// # Examples
///
/// ```
/// use imia::account::AccountMail;
///
/// let mail = AccountMail::new("Example <no-reply@example.com>", "https://app.example")
///     .unwrap()
///     .app_name("Example")
///     .reset_path("/password/reset/");
/// assert_eq!(mail.link("/password/reset/", "abc.def"), "https://app.example/password/reset/abc.def");
/// assert!(AccountMail::new("not an address", "https://app.example").is_err());
/// assert!(AccountMail::new("a@example.com", "app.example").is_err(), "an origin: scheme://host[:port]");
/// ```
#[derive(Clone)]
pub struct AccountMail {
    from: Mailbox,
    origin: String,
    app_name: String,
    reset_path: String,
    verify_path: String,
    email_path: String,
}

impl fmt::Debug for AccountMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountMail")
            .field("from", &self.from.to_string())
            .field("origin", &self.origin)
            .field("app_name", &self.app_name)
            .finish_non_exhaustive()
    }
}

impl AccountMail {
    /// Mail from `from` (`Name <address>` or an address), with links on `origin`
    /// (`https://app.example`), app name `imia`, and the link paths `/password/reset/`,
    /// `/signup/verify/` and `/account/email/confirm/` (the token follows).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] for an origin that is not `scheme://host[:port]`,
    /// [`ConfigError::InvalidMailbox`] for a sender that is not a mailbox.
    pub fn new(from: &str, origin: &str) -> Result<Self, ConfigError> {
        let from = from.parse::<Mailbox>().map_err(|_| ConfigError::InvalidMailbox {
            mailbox: from.to_owned(),
        })?;
        let origin = Origin::parse(origin)?.to_string();
        Ok(Self {
            from,
            origin,
            app_name: "imia".into(),
            reset_path: "/password/reset/".into(),
            verify_path: "/signup/verify/".into(),
            email_path: "/account/email/confirm/".into(),
        })
    }

    /// The app's name, as the mails call it.
    #[must_use]
    pub fn app_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.app_name);
        self
    }

    /// The path reset links start with (the token follows).
    #[must_use]
    pub fn reset_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.reset_path);
        self
    }

    /// The path verification links start with.
    #[must_use]
    pub fn verify_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.verify_path);
        self
    }

    /// The path address-change links start with.
    #[must_use]
    pub fn email_path(mut self, path: &str) -> Self {
        path.clone_into(&mut self.email_path);
        self
    }

    /// The absolute URL of `path` followed by `token`.
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}{token}", self.origin)
    }

    fn message(&self, to: &str, subject: &str, text: String) -> Result<Message, AccountError> {
        let to: Mailbox = to.parse().map_err(|_| AccountError::InvalidAddress)?;
        let html = format!(
            "<!doctype html>\n<html><body>\n<pre style=\"font: inherit; white-space: pre-wrap\">\n{}</pre>\n</body></html>\n",
            escape(&text)
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(verbatim(text), verbatim(html)))
            .map_err(|e| AccountError::Internal(Box::new(e)))
    }

    pub(crate) fn reset(&self, to: &str, token: &str) -> Result<Message, AccountError> {
        let link = self.link(&self.reset_path, token);
        self.message(
            to,
            &format!("Reset your {} password", self.app_name),
            format!(
                "Someone asked to reset the password of your {app} account.\n\n\
                 To choose a new password, open this link within the hour:\n{link}\n\n\
                 If it was not you, ignore this message: your password stays as it is.\n",
                app = self.app_name
            ),
        )
    }

    pub(crate) fn unknown_account(&self, to: &str) -> Result<Message, AccountError> {
        self.message(
            to,
            &format!("Password reset at {}", self.app_name),
            format!(
                "Someone asked to reset the password of a {app} account for this address, but no \
                 account uses it.\n\nIf it was not you, ignore this message.\n",
                app = self.app_name
            ),
        )
    }

    pub(crate) fn verify(&self, to: &str, token: &str) -> Result<Message, AccountError> {
        let link = self.link(&self.verify_path, token);
        self.message(
            to,
            &format!("Confirm your {} account", self.app_name),
            format!(
                "Welcome to {app}.\n\nTo confirm your address and log in, open this link within \
                 24 hours:\n{link}\n\nIf you did not sign up, ignore this message.\n",
                app = self.app_name
            ),
        )
    }

    pub(crate) fn taken(&self, to: &str) -> Result<Message, AccountError> {
        let link = self.link(&self.reset_path, "");
        let forgot = link
            .trim_end_matches('/')
            .rsplit_once('/')
            .map_or(link.clone(), |(base, _)| format!("{base}/forgot"));
        self.message(
            to,
            &format!("Someone tried to sign up at {} with your address", self.app_name),
            format!(
                "Someone tried to create a {app} account with this address, which already has \
                 one.\n\nIf it was you, log in instead; if you forgot your password, reset it \
                 here:\n{forgot}\n\nIf it was not you, ignore this message: nothing changed.\n",
                app = self.app_name
            ),
        )
    }

    pub(crate) fn change_email(&self, to: &str, token: &str) -> Result<Message, AccountError> {
        let link = self.link(&self.email_path, token);
        self.message(
            to,
            &format!("Confirm your new {} address", self.app_name),
            format!(
                "To make this the address of your {app} account, open this link within 24 \
                 hours:\n{link}\n\nIf you did not ask for it, ignore this message.\n",
                app = self.app_name
            ),
        )
    }

    pub(crate) fn change_notice(&self, to: &str, new_address: &str) -> Result<Message, AccountError> {
        self.message(
            to,
            &format!("Your {} address is about to change", self.app_name),
            format!(
                "Someone asked to change the address of your {app} account to {new_address}. It \
                 changes only when the link sent there is used.\n\nIf it was not you, change your \
                 password now.\n",
                app = self.app_name
            ),
        )
    }
}

/// `text` as a body sent as it is (8bit): links stay whole on their line, never wrapped by
/// quoted-printable, so that a reader (or a test) finds them as written. Lines longer than SMTP
/// allows fall back to the encoding lettre picks.
fn verbatim(text: String) -> Body {
    let fits = !text.contains('\0') && text.lines().all(|line| line.len() <= 998);
    if !fits {
        return Body::new(text);
    }
    let encoding = if text.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    let crlf: String = text.lines().flat_map(|line| [line, "\r\n"]).collect();
    Body::dangerous_pre_encoded(crlf.into_bytes(), encoding)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mails_carry_absolute_links_in_their_text_part() {
        let mail = AccountMail::new("Demo <no-reply@example.com>", "http://127.0.0.1:8000")
            .unwrap()
            .app_name("imia demo");
        let message = mail.reset("ann@example.com", "abc.def").unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("To: ann@example.com"), "{raw}");
        assert!(raw.contains("Content-Type: text/plain"), "{raw}");
        assert!(
            raw.contains("\r\nhttp://127.0.0.1:8000/password/reset/abc.def\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
        let long = mail.reset("ann@example.com", &"t".repeat(200)).unwrap();
        let raw = String::from_utf8(long.formatted()).unwrap();
        assert!(
            raw.contains(&format!("/password/reset/{}\r\n", "t".repeat(200))),
            "never wrapped: {raw}"
        );
        let taken = String::from_utf8(mail.taken("ann@example.com").unwrap().formatted()).unwrap();
        assert!(taken.contains("http://127.0.0.1:8000/password/forgot"), "{taken}");
        assert!(mail.reset("not an address", "x").is_err());
    }
}
