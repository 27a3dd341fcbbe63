//! What [`Impersonation`] does on every request: the stored or stateless impersonation applied
//! to the request's token, and the service that runs it.

use std::{fmt, rc::Rc};

use actix_session::SessionExt as _;
use actix_web::{
    Error, HttpMessage as _, HttpRequest,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
};
use futures_util::future::{LocalBoxFuture, Ready, ready};

use super::{EXIT_VALUE, Impersonation, KEY, Stored, audit_refused, stop};
use crate::{UserTokenExt as _, error::ProviderError, provider::UserProvider};

impl<P: UserProvider> Impersonation<P> {
    /// Applies stored or stateless impersonation to the request's token.
    async fn apply(&self, req: &HttpRequest) -> Result<(), ProviderError> {
        let Some(real) = req.user_token() else { return Ok(()) };
        if real.is_anonymous() {
            // Nobody to act for. The path may simply be outside this authentication's patterns
            // (another one may cover it), so a stored impersonation is left alone.
            if let Some(param) = self.inner.query_param.as_deref()
                && let Some((_, target)) =
                    form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == param)
                && target != EXIT_VALUE
            {
                audit_refused(&real, &target, "query");
            }
            return Ok(());
        }
        let session = req.get_session();
        let stored = match session.get::<Stored>(KEY) {
            Ok(stored) => stored,
            Err(_) => {
                session.remove(KEY);
                None
            }
        };
        let query = self.inner.query_param.as_deref().and_then(|param| {
            form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k == param)
                .map(|(_, v)| v.into_owned())
        });

        if query.as_deref() == Some(EXIT_VALUE) {
            stop(req);
            return Ok(());
        }
        if let Some(stored) = stored {
            let bound = real.id().is_some_and(|id| id == stored.original.as_str());
            let token = if bound && self.permitted(req, &real).await {
                self.target(&real, &stored.target).await?
            } else {
                None
            };
            match token {
                Some(token) => {
                    req.extensions_mut().insert(token);
                    return Ok(());
                }
                None => {
                    // Forged, stale, for another user, or no longer permitted: it ends now.
                    session.remove(KEY);
                    tracing::warn!(
                        target: "imia::impersonation",
                        event = "ended",
                        impersonator.id = %stored.original,
                        target.id = %stored.target,
                        bound,
                        "stored impersonation no longer valid; removed"
                    );
                }
            }
        }
        if let Some(target_id) = query {
            let token = if self.permitted(req, &real).await {
                self.target(&real, &target_id).await?
            } else {
                None
            };
            match token {
                Some(token) => {
                    tracing::info!(
                        target: "imia::impersonation",
                        event = "stateless",
                        impersonator.id = %real.id().unwrap_or_default(),
                        target.id = %token.id().unwrap_or_default(),
                        "impersonating for one request"
                    );
                    req.extensions_mut().insert(token);
                }
                None => audit_refused(&real, &target_id, "query"),
            }
        }
        Ok(())
    }
}

impl<S, B, P> Transform<S, ServiceRequest> for Impersonation<P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    P: UserProvider,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = ImpersonationMiddleware<S, P>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ImpersonationMiddleware {
            service: Rc::new(service),
            imp: self.clone(),
        }))
    }
}

/// The service behind [`Impersonation`].
#[doc(hidden)]
pub struct ImpersonationMiddleware<S, P> {
    service: Rc<S>,
    imp: Impersonation<P>,
}

impl<S, P> fmt::Debug for ImpersonationMiddleware<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImpersonationMiddleware").finish_non_exhaustive()
    }
}

impl<S, B, P> Service<ServiceRequest> for ImpersonationMiddleware<S, P>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
    P: UserProvider,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let imp = self.imp.clone();
        Box::pin(async move {
            if let Err(err) = imp.apply(req.request()).await {
                // Fail closed: no identity change on a store failure, and an opaque error.
                let err = crate::error::AuthError::from(err);
                crate::middleware::log_error(&err);
                return Err(err.into());
            }
            service.call(req).await
        })
    }
}
