//! Account recovery pages: asking for a reset link (`/password/forgot`) and setting a new
//! password through it (`/password/reset/{token}`).

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError as _, web};
use imia::{FreshUser, account::AccountError};
use serde::Deserialize;

use super::{no_store, page, see_other};
use crate::{
    demo::{DemoAccounts, users::DemoUser},
    escape_html as escape,
};

/// What `POST /password/forgot` answers, whatever the address.
pub const FORGOT_SENT: &str = "If an account uses that address, we have sent it a link to set a new password. \
                               The link works once, within the hour.";

/// The forgot-password form.
#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// The new-password form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    new_password: String,
}

/// `GET /password/forgot`: the form.
pub async fn forgot_page() -> HttpResponse {
    no_store(page(HttpResponse::Ok(), "Forgot your password?", &forgot_form()))
}

/// `POST /password/forgot`: the same page for every address, known, unknown or malformed; a
/// known one gets a link by mail.
pub async fn forgot(req: HttpRequest, accounts: web::Data<DemoAccounts>, form: web::Form<ForgotForm>) -> HttpResponse {
    if let Err(err) = accounts.request_password_reset(&req, &form.email).await {
        return failed(&err);
    }
    no_store(page(
        HttpResponse::Ok(),
        "Forgot your password?",
        &format!(
            "<p id=\"sent\">{}</p>\n<p><a href=\"/login\">Back to the login page</a></p>",
            escape(FORGOT_SENT)
        ),
    ))
}

/// `GET /password/reset/{token}`: the new-password form for a link that works; 400 otherwise.
pub async fn reset_page(accounts: web::Data<DemoAccounts>, token: web::Path<String>) -> HttpResponse {
    match accounts.check_reset_link(&token).await {
        Ok(()) => no_store(page(
            HttpResponse::Ok(),
            "Choose a new password",
            &reset_form(&token, None),
        )),
        Err(AccountError::InvalidLink) => invalid_link(),
        Err(err) => failed(&err),
    }
}

/// `POST /password/reset/{token}`: a new password through a link that works (303 to the login
/// page; every session of the user ends); 400 for a link that does not, nothing changed.
pub async fn reset(
    req: HttpRequest,
    accounts: web::Data<DemoAccounts>,
    token: web::Path<String>,
    form: web::Form<ResetForm>,
) -> HttpResponse {
    match accounts.reset_password(&req, &token, &form.new_password).await {
        Ok(()) => no_store(see_other("/login")),
        Err(AccountError::InvalidLink) => invalid_link(),
        Err(AccountError::WeakPassword(why)) => no_store(page(
            HttpResponse::BadRequest(),
            "Choose a new password",
            &reset_form(&token, Some(&format!("{why}."))),
        )),
        Err(err) => failed(&err),
    }
}

fn forgot_form() -> String {
    "<p>Enter the address of your account: we will send it a link to set a new password.</p>\n\
     <form method=\"post\" action=\"/password/forgot\">\n\
     <label>E-mail <input type=\"email\" name=\"email\" id=\"email\" autocomplete=\"email\" required></label>\n\
     <button type=\"submit\" id=\"send-link\">Send the link</button>\n</form>\n\
     <p><a href=\"/login\">Back to the login page</a></p>"
        .to_owned()
}

fn reset_form(token: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "{error}<form method=\"post\" action=\"/password/reset/{}\">\n\
         <label>New password (8 characters or more) <input type=\"password\" name=\"new_password\" id=\"new_password\" \
         autocomplete=\"new-password\" minlength=\"8\" required></label>\n\
         <button type=\"submit\" id=\"set-password\">Set the password</button>\n</form>",
        escape(token)
    )
}

fn invalid_link() -> HttpResponse {
    no_store(page(
        HttpResponse::BadRequest(),
        "This link does not work",
        "<p class=\"error\" id=\"error\">This link is unknown, used, expired or replaced by a newer one.</p>\n\
         <p><a href=\"/password/forgot\">Ask for a new link</a></p>",
    ))
}

fn failed(err: &AccountError) -> HttpResponse {
    tracing::error!(error.display = %err, "an account step failed");
    no_store(page(
        HttpResponseBuilder::new(err.status_code()),
        "Something went wrong",
        "<p>Please try again later.</p>",
    ))
}

/// What `POST /signup` answers, for a new address and a taken one alike.
pub const SIGNUP_SENT: &str = "Check your mail: we have sent a link to confirm your address. \
                               Open it within 24 hours, then log in.";

/// The sign-up form.
#[derive(Debug, Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// `GET /signup`: the form.
pub async fn signup_page() -> HttpResponse {
    no_store(page(HttpResponse::Ok(), "Sign up", &signup_form(None)))
}

/// `POST /signup`: "check your mail", the same for a new address and a taken one; a new one
/// gets a verification link, a taken one a notice. An address that is none, or a password that
/// is too short: 400 and the form again.
pub async fn signup(req: HttpRequest, accounts: web::Data<DemoAccounts>, form: web::Form<SignupForm>) -> HttpResponse {
    match accounts.sign_up(&req, &form.email, &form.name, &form.password).await {
        Ok(()) => no_store(page(
            HttpResponse::Ok(),
            "Sign up",
            &format!(
                "<p id=\"sent\">{}</p>\n<p><a href=\"/login\">Log in</a></p>",
                escape(SIGNUP_SENT)
            ),
        )),
        Err(AccountError::InvalidAddress) => no_store(page(
            HttpResponse::BadRequest(),
            "Sign up",
            &signup_form(Some("That is not an e-mail address.")),
        )),
        Err(AccountError::WeakPassword(why)) => no_store(page(
            HttpResponse::BadRequest(),
            "Sign up",
            &signup_form(Some(&format!("{why}."))),
        )),
        Err(err) => failed(&err),
    }
}

/// `GET /signup/verify/{token}`: confirms the address (303 to the login page); 400 for a link
/// that does not work.
pub async fn verify(accounts: web::Data<DemoAccounts>, token: web::Path<String>) -> HttpResponse {
    match accounts.verify_email(&token).await {
        Ok(()) => no_store(see_other("/login")),
        Err(AccountError::InvalidLink) => invalid_link(),
        Err(err) => failed(&err),
    }
}

/// The address-change form.
#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `GET /account/email`: the form that changes the address (a fresh login).
pub async fn email_page(user: FreshUser<DemoUser>) -> HttpResponse {
    no_store(page(
        HttpResponse::Ok(),
        "Change your e-mail address",
        &email_form(&user.email, None),
    ))
}

/// `POST /account/email`: with the right password, a link to the new address and a notice to
/// the old one; the address changes when the link is used.
pub async fn email_change(
    req: HttpRequest,
    user: FreshUser<DemoUser>,
    accounts: web::Data<DemoAccounts>,
    form: web::Form<EmailForm>,
) -> HttpResponse {
    match accounts
        .request_email_change(&req, &user, &form.email, &form.password)
        .await
    {
        Ok(()) => no_store(page(
            HttpResponse::Ok(),
            "Change your e-mail address",
            "<p id=\"sent\">Check the new address: the change happens when you open the link we sent there.</p>\n\
             <p><a href=\"/app\">Back</a></p>",
        )),
        Err(AccountError::InvalidAddress) => no_store(page(
            HttpResponse::BadRequest(),
            "Change your e-mail address",
            &email_form(&user.email, Some("That is not an e-mail address.")),
        )),
        Err(AccountError::InvalidPassword) => no_store(page(
            HttpResponse::Forbidden(),
            "Change your e-mail address",
            &email_form(&user.email, Some("The password is wrong.")),
        )),
        Err(err) => failed(&err),
    }
}

/// `GET /account/email/confirm/{token}`: the new address takes effect (303 to `/app`); 400 for a
/// link that does not work, 409 when another account took the address meanwhile.
pub async fn email_confirm(accounts: web::Data<DemoAccounts>, token: web::Path<String>) -> HttpResponse {
    match accounts.confirm_email_change(&token).await {
        Ok(()) => no_store(see_other("/app")),
        Err(AccountError::InvalidLink) => invalid_link(),
        Err(AccountError::AddressTaken) => no_store(page(
            HttpResponse::Conflict(),
            "Change your e-mail address",
            "<p class=\"error\" id=\"error\">Another account uses that address now.</p>",
        )),
        Err(err) => failed(&err),
    }
}

fn signup_form(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "{error}<form method=\"post\" action=\"/signup\">\n\
         <label>E-mail <input type=\"email\" name=\"email\" id=\"email\" autocomplete=\"email\" required></label>\n\
         <label>Name <input name=\"name\" id=\"name\" autocomplete=\"name\" maxlength=\"100\"></label>\n\
         <label>Password (8 characters or more) <input type=\"password\" name=\"password\" id=\"password\" \
         autocomplete=\"new-password\" minlength=\"8\" required></label>\n\
         <button type=\"submit\" id=\"signup\">Sign up</button>\n</form>\n\
         <p>Have an account? <a href=\"/login\">Log in</a></p>"
    )
}

fn email_form(current: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "{error}<p>Your address now: <strong>{}</strong></p>\n<form method=\"post\" action=\"/account/email\">\n\
         <label>New address <input type=\"email\" name=\"email\" id=\"new-email\" autocomplete=\"email\" required></label>\n\
         <label>Password <input type=\"password\" name=\"password\" id=\"email-password\" autocomplete=\"current-password\" required></label>\n\
         <button type=\"submit\" id=\"change-email\">Send the link</button>\n</form>\n<p><a href=\"/app\">Back</a></p>",
        escape(current)
    )
}
