//! The second factor's pages: setting it up and removing it (`/account/2fa`), and the second
//! step of a login (`/login/2fa`).

use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError as _, web};
use imia::{
    Auth, FreshUser,
    two_factor::{Enrolment, RecoveryCodes, TwoFactorError, Verified},
};
use serde::Deserialize;

use super::{HOME, banner, no_store, page, redirect_to, see_other};
use crate::{demo::users::DemoUser, escape_html as escape};

/// The second step of a login.
pub const SECOND_STEP: &str = "/login/2fa";
/// The second factor's account page.
const ACCOUNT_PAGE: &str = "/account/2fa";

/// A form with a `code`.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// A form with the current `password`.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// `GET /account/2fa`: set up a second factor, or remove it. A fresh login is required:
/// anonymous visitors and remembered sessions go to the login page.
pub async fn two_factor_page(user: FreshUser<DemoUser>, auth: Auth<DemoUser>) -> HttpResponse {
    let enabled = match auth.has_two_factor().await {
        Ok(enabled) => enabled,
        Err(err) => return failed(&err),
    };
    let status = if enabled {
        let left = match (auth.logins().two_factor(), auth.token().id()) {
            (Some(two_factor), Some(id)) => two_factor.recovery_codes_left(&id).await.ok().flatten(),
            _ => None,
        };
        let left = left.map_or_else(String::new, |n| {
            format!(" You have <strong id=\"recovery-codes-left\">{n}</strong> unused recovery codes.")
        });
        format!(
            "<p id=\"two-factor-status\" data-enabled=\"true\">Two-factor authentication is <strong>on</strong>.{left}</p>\n\
             <h2>Turn it off</h2>\n<form method=\"post\" action=\"/account/2fa/disable\">\n\
             <label>Password <input type=\"password\" name=\"password\" id=\"disable-password\" autocomplete=\"current-password\" required></label>\n\
             <button type=\"submit\" id=\"disable-2fa\">Turn off two-factor authentication</button>\n</form>\n\
             <h2>New recovery codes</h2>\n<p>Replaces every recovery code you have.</p>\n\
             <form method=\"post\" action=\"/account/2fa/recovery-codes\">\n\
             <label>Password <input type=\"password\" name=\"password\" id=\"codes-password\" autocomplete=\"current-password\" required></label>\n\
             <button type=\"submit\" id=\"new-recovery-codes\">Make new recovery codes</button>\n</form>\n"
        )
    } else {
        "<p id=\"two-factor-status\" data-enabled=\"false\">Two-factor authentication is <strong>off</strong>. \
         With it on, logging in takes your password and a code from an authenticator app.</p>\n\
         <form method=\"post\" action=\"/account/2fa/setup\">\
         <button type=\"submit\" id=\"setup-2fa\">Set up two-factor authentication</button></form>\n"
            .to_owned()
    };
    account_page(HttpResponse::Ok(), &user, &status)
}

/// `POST /account/2fa/setup`: a new secret, as a QR code, in base32 and as a URI, and the form
/// that confirms it with a first code. Again before confirming: a new secret replaces it.
pub async fn two_factor_setup(user: FreshUser<DemoUser>, auth: Auth<DemoUser>) -> HttpResponse {
    match auth.begin_two_factor().await {
        Ok(enrolment) => account_page(HttpResponse::Ok(), &user, &enrolment_body(&enrolment)),
        Err(TwoFactorError::AlreadyEnabled) => account_page(
            HttpResponse::Conflict(),
            &user,
            "<p class=\"error\" id=\"error\">Two-factor authentication is on already.</p>\n",
        ),
        Err(err) => failed(&err),
    }
}

/// `POST /account/2fa/confirm`: a first code turns the second factor on, and the recovery codes
/// are shown, once. A wrong code: 400 and the form again.
pub async fn two_factor_confirm(
    user: FreshUser<DemoUser>,
    mut auth: Auth<DemoUser>,
    form: web::Form<CodeForm>,
) -> HttpResponse {
    match auth.confirm_two_factor(&form.code).await {
        Ok(codes) => account_page(
            HttpResponse::Ok(),
            &user,
            &format!(
                "<p id=\"two-factor-status\" data-enabled=\"true\">Two-factor authentication is <strong>on</strong>. \
                 Your other sessions have ended.</p>\n{}",
                recovery_codes(&codes)
            ),
        ),
        Err(TwoFactorError::InvalidCode) => account_page(
            HttpResponse::BadRequest(),
            &user,
            &format!(
                "<p class=\"error\" id=\"error\">That code is not right. Enter the code your app shows now.</p>\n{}",
                confirm_form()
            ),
        ),
        Err(TwoFactorError::NoEnrolment | TwoFactorError::AlreadyEnabled) => account_page(
            HttpResponse::BadRequest(),
            &user,
            "<p class=\"error\" id=\"error\">There is no set-up to confirm: start again.</p>\n\
             <p><a href=\"/account/2fa\">Two-factor authentication</a></p>\n",
        ),
        Err(err) => failed(&err),
    }
}

/// `POST /account/2fa/disable`: the right password removes the second factor (303 back to the
/// page); a wrong one: 403, nothing changed.
pub async fn two_factor_disable(
    user: FreshUser<DemoUser>,
    auth: Auth<DemoUser>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    match auth.disable_two_factor(&form.password).await {
        Ok(()) | Err(TwoFactorError::NotEnabled) => no_store(see_other(ACCOUNT_PAGE)),
        Err(TwoFactorError::InvalidPassword) => wrong_password(&user),
        Err(err) => failed(&err),
    }
}

/// `POST /account/2fa/recovery-codes`: with the right password, new recovery codes replace the
/// old ones; a wrong one: 403.
pub async fn two_factor_recovery_codes(
    user: FreshUser<DemoUser>,
    auth: Auth<DemoUser>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    match auth.regenerate_recovery_codes(&form.password).await {
        Ok(codes) => account_page(HttpResponse::Ok(), &user, &recovery_codes(&codes)),
        Err(TwoFactorError::NotEnabled) => no_store(see_other(ACCOUNT_PAGE)),
        Err(TwoFactorError::InvalidPassword) => wrong_password(&user),
        Err(err) => failed(&err),
    }
}

/// `GET /login/2fa`: the code form while a login waits for its second factor; the login page
/// otherwise.
pub async fn second_step_page(auth: Auth<DemoUser>) -> HttpResponse {
    if !auth.has_pending_login() {
        return no_store(see_other("/login"));
    }
    no_store(page(
        HttpResponse::Ok(),
        "Two-factor authentication",
        &second_step_form(None),
    ))
}

/// `POST /login/2fa`: a right TOTP or recovery code logs the user in (303 to where the first
/// step was going); a wrong one: 400 and the form again; after five wrong codes, or without a
/// waiting login, back to the login page.
pub async fn second_step(mut auth: Auth<DemoUser>, form: web::Form<CodeForm>) -> HttpResponse {
    match auth.complete_login(&form.code).await {
        Ok(completed) => {
            if let Verified::RecoveryCode { remaining } = completed.method {
                tracing::info!(remaining, "logged in with a recovery code");
            }
            no_store(redirect_to(completed.next.as_deref().unwrap_or(HOME)))
        }
        Err(TwoFactorError::InvalidCode) => no_store(page(
            HttpResponse::BadRequest(),
            "Two-factor authentication",
            &second_step_form(Some("That code is not right.")),
        )),
        Err(TwoFactorError::TooManyAttempts) => no_store(page(
            HttpResponse::BadRequest(),
            "Two-factor authentication",
            "<p class=\"error\" id=\"error\">Too many wrong codes. Log in again.</p>\n<p><a href=\"/login\">Log in</a></p>",
        )),
        Err(TwoFactorError::NoPendingLogin) => no_store(see_other("/login")),
        Err(err) => failed(&err),
    }
}

fn second_step_form(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "{error}<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>\n\
         <form method=\"post\" action=\"{SECOND_STEP}\">\n\
         <label>Code <input name=\"code\" id=\"code\" autocomplete=\"one-time-code\" inputmode=\"text\" required autofocus></label>\n\
         <button type=\"submit\" id=\"submit-code\">Continue</button>\n</form>\n\
         <p><a href=\"/login\">Start over</a></p>"
    )
}

fn enrolment_body(enrolment: &Enrolment) -> String {
    format!(
        "<p>Scan this QR code with your authenticator app, or type the secret in by hand, then enter the code it shows.</p>\n\
         <figure class=\"qr\" id=\"totp-qr\">{}</figure>\n\
         <p>Secret: <code id=\"totp-secret\">{}</code></p>\n\
         <p class=\"uri\">URI: <code id=\"totp-uri\">{}</code></p>\n{}",
        // The SVG is made by the library from the URI: no user input.
        enrolment.qr_svg(),
        escape(&enrolment.secret_base32()),
        uri_text(enrolment.uri()),
        confirm_form()
    )
}

/// The URI as the text of an element: as it is, so that the page's source holds it verbatim (its
/// `&`s are followed by names no HTML character reference has, so browsers read them as `&`);
/// escaped when it holds anything but the characters of a percent-encoded `otpauth` URI.
fn uri_text(uri: &str) -> String {
    let plain = uri
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"%-._~:/?=&".contains(&b));
    if plain { uri.to_owned() } else { escape(uri) }
}

fn confirm_form() -> &'static str {
    "<form method=\"post\" action=\"/account/2fa/confirm\">\n\
     <label>Code <input name=\"code\" id=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" required></label>\n\
     <button type=\"submit\" id=\"confirm-2fa\">Turn on</button>\n</form>\n"
}

fn recovery_codes(codes: &RecoveryCodes) -> String {
    let items: String = codes
        .as_slice()
        .iter()
        .map(|code| format!("<li><code class=\"recovery-code\">{}</code></li>\n", escape(code)))
        .collect();
    format!(
        "<h2>Your recovery codes</h2>\n<p>Each works once, in place of a code from your app. \
         Keep them somewhere safe: they are shown only now.</p>\n<ul id=\"recovery-codes\">\n{items}</ul>\n"
    )
}

/// A page of the account's second factor, for `user` (a fresh login), with the impersonation
/// banner when there is one.
fn account_page(builder: HttpResponseBuilder, user: &FreshUser<DemoUser>, body: &str) -> HttpResponse {
    no_store(page(
        builder,
        "Two-factor authentication",
        &format!(
            "{}<p>Account: <strong id=\"user\">{}</strong></p>\n{body}<p><a href=\"/app\">Back</a></p>\n",
            banner(user.token()),
            escape(&user.email)
        ),
    ))
}

fn wrong_password(user: &FreshUser<DemoUser>) -> HttpResponse {
    account_page(
        HttpResponse::Forbidden(),
        user,
        "<p class=\"error\" id=\"error\">The password is wrong.</p>\n<p><a href=\"/account/2fa\">Try again</a></p>\n",
    )
}

fn failed(err: &TwoFactorError) -> HttpResponse {
    tracing::error!(error.display = %err, "a second-factor step failed");
    no_store(HttpResponse::new(err.status_code()))
}
