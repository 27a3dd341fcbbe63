//! Cookies that authenticators and login code set on the response.
//!
//! Authenticators see only the request; when one must set or clear a cookie (remember-me
//! rotates its token), it queues the cookie on the request and the
//! [`Authentication`](crate::Authentication) middleware adds it to whatever response comes back.

use actix_web::{HttpMessage as _, HttpRequest, cookie::Cookie, dev::Extensions};

#[derive(Default)]
struct Pending(Vec<Cookie<'static>>);

/// Queues `cookie` for the response to `req` (set by the `Authentication` middleware; a later
/// cookie of the same name replaces an earlier one).
#[cfg_attr(not(feature = "session"), allow(dead_code))]
pub(crate) fn queue(req: &HttpRequest, cookie: Cookie<'static>) {
    let mut ext = req.extensions_mut();
    if ext.get::<Pending>().is_none() {
        ext.insert(Pending::default());
    }
    if let Some(pending) = ext.get_mut::<Pending>() {
        pending.0.retain(|c| c.name() != cookie.name());
        pending.0.push(cookie);
    }
}

/// Takes the queued cookies.
pub(crate) fn take(ext: &mut Extensions) -> Vec<Cookie<'static>> {
    ext.remove::<Pending>().map(|p| p.0).unwrap_or_default()
}
