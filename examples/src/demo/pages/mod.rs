//! The demo's routes.

use actix_web::{
    HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError,
    http::header::{self, CacheControl, CacheDirective, HeaderValue},
    web,
};
use imia::{
    Auth, CurrentUser, UserToken,
    login::{LoginError, LoginOptions, Logins},
    protected,
    redirect::safe_next,
    two_factor::TwoFactorError,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::escape_html as escape;

use super::users::DemoUser;

mod account;
mod two_factor;

pub use self::account::{
    FORGOT_SENT, SIGNUP_SENT, email_change, email_confirm, email_page, forgot, forgot_page, reset, reset_page, signup,
    signup_page, verify,
};
pub use self::two_factor::{
    SECOND_STEP, second_step, second_step_page, two_factor_confirm, two_factor_disable, two_factor_page,
    two_factor_recovery_codes, two_factor_setup,
};

/// Where a login goes without a (safe) `next`.
pub const HOME: &str = "/app";

/// What a login with the right password of an unverified account shows.
pub const UNVERIFIED: &str = "Confirm your address first: open the link we mailed you.";

/// The one message every failed login shows.
pub const LOGIN_FAILED: &str = "Invalid e-mail or password.";

/// `{"id", "name", "username", "scopes", "state", "original_id", "mfa"}` of a token: `mfa` tells
/// whether the account has a second factor on.
pub async fn identity(token: &UserToken, logins: &Logins<DemoUser>) -> Result<Value, TwoFactorError> {
    let mfa = match (logins.two_factor(), token.id()) {
        (Some(two_factor), Some(id)) => two_factor.is_enabled(&id).await?,
        _ => false,
    };
    Ok(json!({
        "id": token.id(),
        "name": token.display_name(),
        "username": token.username(),
        "scopes": token.scopes(),
        "state": token.state().as_str(),
        "original_id": token.original_id(),
        "mfa": mfa,
    }))
}

/// The identity as a JSON answer; an opaque error when the second-factor store fails.
async fn identity_response(
    token: &UserToken,
    logins: &Logins<DemoUser>,
    wrap: impl FnOnce(Value) -> Value,
) -> HttpResponse {
    match identity(token, logins).await {
        Ok(identity) => HttpResponse::Ok().json(wrap(identity)),
        Err(err) => {
            tracing::error!(error.display = %err, "could not read the identity");
            HttpResponse::new(err.status_code())
        }
    }
}

/// The banner shown while impersonating, with the button that stops it.
pub(crate) fn banner(token: &UserToken) -> String {
    match token.original() {
        Some(real) => format!(
            "<div id=\"impersonation-banner\" style=\"background:#fde68a;padding:.5em\">You ({}) are acting as <strong>{}</strong>. \
             <form method=\"post\" action=\"/impersonate/exit\" style=\"display:inline\"><button type=\"submit\" id=\"exit-impersonation\">Stop impersonating</button></form></div>\n",
            escape(&real.display_name()),
            escape(&token.display_name())
        ),
        None => String::new(),
    }
}

/// `GET /`: who is logged in.
pub async fn home(token: UserToken) -> HttpResponse {
    let banner = banner(&token);
    let body = if token.is_authenticated() {
        format!(
            "<p>Logged in as <strong id=\"user\">{}</strong>.</p>\n<p><a href=\"/app\">Your app page</a> · <a href=\"/admin\">Admin</a></p>\n{LOGOUT_FORM}",
            escape(&token.display_name())
        )
    } else {
        "<p id=\"user\">You are not logged in.</p>\n<p><a href=\"/login\">Log in</a> · <a href=\"/signup\">Sign up</a></p>"
            .to_owned()
    };
    page(HttpResponse::Ok(), "imia demo", &format!("{banner}{body}"))
}

/// `GET /style.css`: the demo's one small stylesheet.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../style.css"))
}

/// `GET /whoami`: the identity as JSON.
pub async fn whoami(token: UserToken, logins: Logins<DemoUser>) -> HttpResponse {
    identity_response(&token, &logins, |identity| identity).await
}

/// The query of the login page.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`: the form.
pub async fn login_page(query: web::Query<NextQuery>) -> HttpResponse {
    let next = query.next.as_deref().unwrap_or("");
    no_store(page(HttpResponse::Ok(), "Log in", &login_form(next, None)))
}

/// The login form's fields; missing ones are empty.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember_me: Option<String>,
    #[serde(default)]
    next: String,
}

/// `POST /login`. A user with a second factor goes on to `/login/2fa`, anonymous until then;
/// "remember me" and `next` wait for the second step.
pub async fn login(mut auth: Auth<DemoUser>, form: web::Form<LoginForm>) -> HttpResponse {
    let form = form.into_inner();
    let options = LoginOptions::new()
        .remember(form.remember_me.is_some())
        .next(&form.next);
    match auth.login_with(&form.username, &form.password, options).await {
        Ok(_) => no_store(redirect_to(safe_next(&form.next).unwrap_or(HOME))),
        Err(LoginError::SecondFactorRequired) => no_store(see_other(SECOND_STEP)),
        // Only after the right password: the address still waits for its link.
        Err(LoginError::Unverified) => no_store(page(
            HttpResponse::Forbidden(),
            "Log in",
            &login_form(&form.next, Some(UNVERIFIED)),
        )),
        // The same page, status and body for every credential problem.
        Err(LoginError::InvalidCredentials) => no_store(page(
            HttpResponse::Ok(),
            "Log in",
            &login_form(&form.next, Some(LOGIN_FAILED)),
        )),
        Err(other) => {
            tracing::error!(error.display = %other, "login failed on the server side");
            no_store(page(
                HttpResponseBuilder::new(other.status_code()),
                "Log in",
                "<p>Logging in is not possible right now. Please try again later.</p>",
            ))
        }
    }
}

/// The logout form: `everywhere=1` ends every session of the user.
#[derive(Debug, Default, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    everywhere: Option<String>,
}

/// `POST /logout`: ends the session and revokes the remember-me token; with `everywhere=1`,
/// ends every session and remember-me token of the user.
pub async fn logout(mut auth: Auth<DemoUser>, form: Option<web::Form<LogoutForm>>) -> HttpResponse {
    let everywhere = form.is_some_and(|f| f.everywhere.as_deref() == Some("1"));
    // Failures are logged by the library; this session is gone either way.
    let _ = if everywhere {
        auth.logout_everywhere().await
    } else {
        auth.logout().await
    };
    no_store(
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish(),
    )
}

/// `GET /logout` and other methods: 405.
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .finish()
}

/// `GET /app`: for logged-in users.
pub async fn app(user: CurrentUser<DemoUser>) -> HttpResponse {
    let impersonate =
        if user.token().real().has_scope(imia::impersonation::DEFAULT_SCOPE) && !user.token().is_impersonated() {
            "<h2>Act as another user</h2>\n<form method=\"post\" action=\"/impersonate\">\n\
         <label>User id <input name=\"user_id\" id=\"user_id\"></label>\n\
         <button type=\"submit\" id=\"impersonate\">Impersonate</button>\n</form>\n"
        } else {
            ""
        };
    let body = format!(
        "{}<p>Hello, <strong id=\"user\">{}</strong>!</p>\n<p>Your e-mail: {}</p>\n\
         <h2>Change your password</h2>\n<form method=\"post\" action=\"/account/password\">\n\
         <label>Current password <input type=\"password\" name=\"current_password\" autocomplete=\"current-password\"></label>\n\
         <label>New password <input type=\"password\" name=\"new_password\" autocomplete=\"new-password\"></label>\n\
         <button type=\"submit\">Change</button>\n</form>\n<p><a href=\"/account/sessions\" id=\"sessions-link\">Your sessions</a> · <a href=\"/account/2fa\" id=\"two-factor-link\">Two-factor authentication</a> · <a href=\"/account/email\" id=\"email-link\">Change your e-mail address</a></p>\n{impersonate}{LOGOUT_FORM}",
        banner(user.token()),
        escape(&user.name()),
        escape(&user.email)
    );
    no_store(page(HttpResponse::Ok(), "App", &body))
}

/// `GET /admin`: for users with the `admin` scope.
#[protected(scopes = "admin")]
pub async fn admin(user: CurrentUser<DemoUser>) -> HttpResponse {
    let body = format!(
        "<p>Welcome to the admin area, <strong id=\"user\">{}</strong>.</p>\n{LOGOUT_FORM}",
        escape(&user.name())
    );
    no_store(page(HttpResponse::Ok(), "Admin", &body))
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /account/password`.
pub async fn change_password(
    _user: CurrentUser<DemoUser>, // anonymous visitors: the login page, or 401 for API clients
    auth: Auth<DemoUser>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    match auth.change_password(&form.current_password, &form.new_password).await {
        Ok(()) => no_store(
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, HOME))
                .finish(),
        ),
        Err(LoginError::InvalidCredentials) => no_store(page(
            HttpResponse::BadRequest(),
            "Change your password",
            "<p>The current password is wrong.</p><p><a href=\"/app\">Back</a></p>",
        )),
        Err(LoginError::InvalidNewPassword) => no_store(page(
            HttpResponse::BadRequest(),
            "Change your password",
            "<p>That new password cannot be used.</p><p><a href=\"/app\">Back</a></p>",
        )),
        Err(LoginError::Impersonating) => no_store(page(
            HttpResponse::Forbidden(),
            "Change your password",
            "<p>Passwords cannot be changed while impersonating.</p><p><a href=\"/app\">Back</a></p>",
        )),
        Err(other) => {
            tracing::error!(error.display = %other, "password change failed on the server side");
            HttpResponse::new(other.status_code())
        }
    }
}

/// `GET /account/sessions`: the user's sessions, newest first (HTML, or JSON for
/// `Accept: application/json`), each with a button that ends it, and one that ends every other.
pub async fn sessions(req: HttpRequest, user: CurrentUser<DemoUser>, auth: Auth<DemoUser>) -> HttpResponse {
    let listed = match auth.sessions().await {
        Ok(sessions) => Some(sessions),
        // The Redis and cookie stores keep no index: nothing to list, "end others" still works.
        Err(LoginError::SessionsUnavailable) => None,
        Err(other) => {
            tracing::error!(error.display = %other, "could not list the sessions");
            return no_store(HttpResponse::new(other.status_code()));
        }
    };
    if wants_json(&req) {
        let sessions: Vec<Value> = listed
            .iter()
            .flatten()
            .map(|s| {
                json!({
                    "id": s.id,
                    "created_at": s.created_at_rfc3339(),
                    "last_seen_at": s.last_seen_at_rfc3339(),
                    "ip": s.ip.as_deref().unwrap_or(""),
                    "user_agent": s.user_agent.as_deref().unwrap_or(""),
                    "current": s.current,
                })
            })
            .collect();
        return no_store(HttpResponse::Ok().json(json!({ "sessions": sessions, "listed": listed.is_some() })));
    }
    let rows = match &listed {
        None => {
            "<p>This session store keeps no list of sessions; you can still end every other session.</p>\n".to_owned()
        }
        Some(sessions) => {
            let rows: String = sessions
                .iter()
                .map(|s| {
                    let action = if s.current {
                        "<strong>this session</strong>".to_owned()
                    } else {
                        format!(
                            "<form method=\"post\" action=\"/account/sessions/{id}/end\"><button type=\"submit\" class=\"end-session\" data-session=\"{id}\">End</button></form>",
                            id = escape(&s.id)
                        )
                    };
                    format!(
                        "<tr class=\"session\" data-session=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>\n",
                        escape(&s.id),
                        time(&s.created_at_rfc3339()),
                        time(&s.last_seen_at_rfc3339()),
                        escape(s.ip.as_deref().unwrap_or("")),
                        escape(s.user_agent.as_deref().unwrap_or("")),
                    )
                })
                .collect();
            format!(
                "<table id=\"sessions\">\n<tr><th>Logged in</th><th>Last seen</th><th>Address</th><th>Browser</th><th></th></tr>\n{rows}</table>\n"
            )
        }
    };
    let body = format!(
        "{}<p>Your sessions, {}.</p>\n{rows}<form method=\"post\" action=\"/account/sessions/end-others\">\
         <button type=\"submit\" id=\"end-others\">End all other sessions</button></form>\n<p><a href=\"/app\">Back</a></p>\n",
        banner(user.token()),
        escape(&user.name()),
    );
    no_store(page(HttpResponse::Ok(), "Your sessions", &body))
}

/// `POST /account/sessions/{id}/end`: ends one of the user's other sessions (303 to the list);
/// 404, nothing ended, for another user's, an unknown or a malformed id.
pub async fn end_session(_user: CurrentUser<DemoUser>, auth: Auth<DemoUser>, id: web::Path<String>) -> HttpResponse {
    match auth.end_session(&id).await {
        Ok(true) => no_store(see_other("/account/sessions")),
        Ok(false) | Err(LoginError::SessionsUnavailable) => no_store(page(
            HttpResponse::NotFound(),
            "Your sessions",
            "<p>No such session.</p><p><a href=\"/account/sessions\">Back</a></p>",
        )),
        Err(other) => {
            tracing::error!(error.display = %other, "could not end a session");
            no_store(HttpResponse::new(other.status_code()))
        }
    }
}

/// `POST /account/sessions/end-others`: ends every other session and remember-me token of the
/// user; this one stays (303 to the list).
pub async fn end_other_sessions(_user: CurrentUser<DemoUser>, auth: Auth<DemoUser>) -> HttpResponse {
    match auth.end_other_sessions().await {
        Ok(_) => no_store(see_other("/account/sessions")),
        Err(err) => {
            tracing::error!(error.display = %err, "could not end the other sessions");
            no_store(HttpResponse::new(err.status_code()))
        }
    }
}

/// An RFC 3339 instant as a `<time>` element that reads `2024-05-01 12:00 UTC`.
fn time(rfc3339: &str) -> String {
    let shown = rfc3339.get(..16).map_or_else(
        || rfc3339.to_owned(),
        |minute| format!("{} UTC", minute.replace('T', " ")),
    );
    format!("<time datetime=\"{}\">{}</time>", escape(rfc3339), escape(&shown))
}

/// Whether the client asked for JSON.
fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

/// 303 to a local path already checked to be safe.
pub(crate) fn redirect_to(target: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            HeaderValue::from_str(target).unwrap_or(HeaderValue::from_static(HOME)),
        ))
        .finish()
}

pub(crate) fn see_other(location: &'static str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The impersonation form.
#[derive(Debug, Deserialize)]
pub struct ImpersonateForm {
    user_id: Option<String>,
}

/// `POST /impersonate`: act as `user_id` (303 to `/app`); 403 when refused, 400 without the field.
pub async fn impersonate(
    req: HttpRequest,
    _user: CurrentUser<DemoUser>,
    imp: web::Data<super::DemoImpersonation>,
    form: web::Form<ImpersonateForm>,
) -> HttpResponse {
    let Some(target) = form.user_id.as_deref() else {
        return HttpResponse::BadRequest().finish();
    };
    match imp.start(&req, target.trim()).await {
        Ok(_) => no_store(
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, HOME))
                .finish(),
        ),
        Err(err) => err.error_response(),
    }
}

/// `POST /impersonate/exit`: back to being oneself.
pub async fn stop_impersonating(req: HttpRequest) -> HttpResponse {
    imia::impersonation::stop(&req);
    no_store(
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, HOME))
            .finish(),
    )
}

/// `GET /api/me`.
#[protected]
pub async fn api_me(token: UserToken, logins: Logins<DemoUser>) -> HttpResponse {
    identity_response(&token, &logins, |identity| identity).await
}

/// `GET /api/admin`.
#[protected(scopes = "admin")]
pub async fn api_admin(token: UserToken, logins: Logins<DemoUser>) -> HttpResponse {
    identity_response(&token, &logins, |identity| json!({ "admin": true, "user": identity })).await
}

const LOGOUT_FORM: &str = "<form method=\"post\" action=\"/logout\"><button type=\"submit\" id=\"logout\">Log out</button></form>\n\
     <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"everywhere\" value=\"1\">\
     <button type=\"submit\" id=\"logout-everywhere\">Log out everywhere</button></form>";

fn login_form(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "{error}<form method=\"post\" action=\"/login\">\n\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\n\
         <label>E-mail <input type=\"email\" name=\"username\" id=\"username\" autocomplete=\"username\" required></label>\n\
         <label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required></label>\n\
         <label><input type=\"checkbox\" name=\"remember_me\" id=\"remember_me\" value=\"1\"> Remember me</label>\n\
         <button type=\"submit\" id=\"submit\">Log in</button>\n</form>\n\
         <p><a href=\"/password/forgot\" id=\"forgot-link\">Forgot your password?</a> · \
         <a href=\"/signup\" id=\"signup-link\">Sign up</a></p>",
        escape(next)
    )
}

pub(crate) fn page(mut builder: HttpResponseBuilder, title: &str, body: &str) -> HttpResponse {
    builder.content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html>\n<html lang=\"en\">\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{0}</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n<h1>{0}</h1>\n{body}\n</html>\n",
        escape(title)
    ))
}

pub(crate) fn no_store(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        CacheControl(vec![CacheDirective::NoStore])
            .to_string()
            .parse()
            .unwrap_or(HeaderValue::from_static("no-store")),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
