//! Procedural macros for [imia](https://docs.rs/imia): `#[derive(UserLike)]` and `#[protected]`.
//!
//! This crate is re-exported by `imia` behind its `macros` feature (on by default); depend on
//! `imia` and write `use imia::{UserLike, protected};` rather than using this crate directly.
//! The macros' documentation, with examples, lives on those re-exports.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod attr;
mod protected;
mod user_like;

/// Implements `imia::UserLike` for a struct from its fields.
///
/// Works on plain structs, generic structs, tuple structs (with field attributes) and Diesel
/// models (`#[derive(Queryable, Selectable, UserLike)]` beside `#[diesel(table_name = ...)]`).
///
/// # Field roles
///
/// Each method of `UserLike` reads the field that plays its role: the field marked with the
/// role's attribute or, when none is, a field with one of the role's names.
///
/// | role | attribute | field names taken without an attribute, first listed first | field types |
/// |---|---|---|---|
/// | id (required) | `#[imia(id)]` | `id` | anything `Display`: integers, strings, UUIDs |
/// | username | `#[imia(username)]` | `username`, `email` | `String`, `&str`, `Option<String>`, ... |
/// | password hash | `#[imia(password)]` | `password_hash`, `hashed_password`, `password` | `String` or `Option<String>` (`None`: no usable password) |
/// | scopes | `#[imia(scopes)]` | `scopes` | `Vec<String>`, a set, a space- or comma-separated `String`, or an `Option` of one |
/// | display name | `#[imia(display_name)]` | `display_name`, `name` | a string, or `Option` (falls back to the username, then the id) |
/// | active flag | `#[imia(active)]` | `is_active`, `active` | `bool`, or `Option<bool>` (`None`: inactive) |
/// | verified address | `#[imia(verified)]` | `email_verified` | `bool`, or `Option<bool>` (`None`: unverified); an unverified user cannot log in |
/// | API token | `#[imia(token)]` | `api_token`, `token` | a string or `Option` of one (empty: none) |
/// | security stamp | `#[imia(security_stamp)]` | `security_stamp` | `String`, `Option<String>` or another owned string (`None` or empty: no stamp); the derive also writes it (`set_security_stamp`) |
///
/// In full, each role is played by:
///
/// 1. the field marked with its attribute (marking two fields is an error);
/// 2. else, when a struct attribute computes it (`display_name = "..."`, `scopes_with`,
///    `active_with`, below), no field (marking one too is an error);
/// 3. else the field with the first of its names above that names a field, unless that field is
///    marked `#[imia(skip)]` or plays a role by attribute: with both `username` and `email`, the
///    username is `username`;
/// 4. else no field: the trait's default answers (no username, no password hash, no scopes, active,
///    verified, no API token, no security stamp; the display name is the username, else the id).
///
/// Only named fields are matched by name: in a tuple struct every role needs its attribute. One
/// field can play several roles by attribute (`#[imia(id, username)]`). `#[imia(skip)]` keeps a
/// field from taking a role by its name; it does not undo an attribute.
///
/// # The password hash, and fields named `password`
///
/// **A field named `password` is taken as the password hash** when no field is named
/// `password_hash` or `hashed_password` and none is marked `#[imia(password)]`. What it holds is
/// what `hashed_password()` returns and what logins check passwords against: imia never hashes
/// it. Store a hash there (a PHC string, as `PasswordHasher::hash` of `Argon2Hasher` makes). A
/// plain-text password there never matches with `Argon2Hasher` (every password login fails);
/// only `InsecurePlaintextVerifier`, for tests and examples, compares it as it is.
///
/// Rather than rely on the name, say which field is the hash, or that there is none:
///
/// - `#[imia(password)]` on the field that holds the hash: it wins over every name;
/// - `#[imia(skip)]` on a field named `password` that is not the hash: no field is then the
///   password hash (unless another one is marked or named so), and password logins fail for
///   such users.
///
/// ```
/// use imia::UserLike;
///
/// #[derive(UserLike)]
/// struct User {
///     id: u32,
///     #[imia(password)]
///     digest: String, // the hash, whatever the other fields are called
///     #[imia(skip)]
///     password: String, // not a hash: never taken as one
/// }
///
/// let user = User { id: 1, digest: "$argon2id$v=19$...".into(), password: "hunter2".into() };
/// assert_eq!(user.hashed_password(), "$argon2id$v=19$...");
///
/// #[derive(UserLike)]
/// struct ApiClient {
///     id: u32,
///     token: String,
///     #[imia(skip)]
///     password: String,
/// }
///
/// let client = ApiClient { id: 2, token: "t".into(), password: "hunter2".into() };
/// assert_eq!(client.hashed_password(), ""); // no password hash: password logins fail
/// ```
///
/// # Struct attributes
///
/// - `#[imia(display_name = "method")]`: the display name is `self.method()` (anything that
///   converts into `Cow<str>`, such as `String` or `&str`).
/// - `#[imia(scopes_with = "path::to::function")]`: the scopes are `function(&self) -> Vec<String>`.
/// - `#[imia(active_with = "path::to::function")]`: activity is `function(&self) -> bool`.
/// - `#[imia(crate = "path")]`: where imia is, for crates that re-export it.
///
/// # Examples
///
/// ```
/// use imia::UserLike;
///
/// #[derive(UserLike)]
/// struct User {
///     id: i64,
///     email: String,
///     password_hash: Option<String>,
///     scopes: String, // "admin billing:read", as a database column holds it
///     is_active: bool,
/// }
///
/// let user = User {
///     id: 7,
///     email: "ann@example.com".into(),
///     password_hash: None,
///     scopes: "admin billing:read".into(),
///     is_active: true,
/// };
/// assert_eq!(user.id(), "7");
/// assert_eq!(user.display_name(), "ann@example.com");
/// assert!(user.has_scope("billing:read"));
/// assert_eq!(user.hashed_password(), "");
/// ```
///
/// Fields with other names take their role by attribute, and struct attributes compute values:
///
/// ```
/// use imia::UserLike;
///
/// #[derive(UserLike)]
/// #[imia(display_name = "full_name", scopes_with = "Account::role_scopes", active_with = "Account::can_log_in")]
/// struct Account {
///     #[imia(id)]
///     uuid: String,
///     #[imia(username)]
///     login: String,
///     first: String,
///     last: String,
///     role: String,
///     banned: bool,
/// }
///
/// impl Account {
///     fn full_name(&self) -> String {
///         format!("{} {}", self.first, self.last)
///     }
///     fn role_scopes(&self) -> Vec<String> {
///         match self.role.as_str() {
///             "admin" => vec!["admin".into(), "billing:read".into()],
///             _ => Vec::new(),
///         }
///     }
///     fn can_log_in(&self) -> bool {
///         !self.banned
///     }
/// }
///
/// let a = Account {
///     uuid: "u-1".into(),
///     login: "ann".into(),
///     first: "Ann".into(),
///     last: "Lee".into(),
///     role: "admin".into(),
///     banned: false,
/// };
/// assert_eq!(a.id(), "u-1");
/// assert_eq!(a.username().as_deref(), Some("ann"));
/// assert_eq!(a.display_name(), "Ann Lee");
/// assert!(a.has_scope("billing:read"));
/// assert!(a.is_active());
/// ```
///
/// In a tuple struct every role is given by attribute, and one field can play several:
///
/// ```
/// use imia::UserLike;
///
/// #[derive(UserLike)]
/// struct Service(#[imia(id, username)] String, #[imia(token)] String, #[imia(scopes)] Vec<String>);
///
/// let s = Service("billing".into(), "tok".into(), vec!["invoices:write".into()]);
/// assert_eq!(s.id(), "billing");
/// assert_eq!(s.username().as_deref(), Some("billing"));
/// assert_eq!(s.api_token(), Some("tok"));
/// assert!(s.has_scope("invoices:write"));
/// ```
///
/// A crate that reaches imia through a re-export says where with `crate`:
///
/// ```
/// mod auth {
///     pub use imia::*;
/// }
///
/// #[derive(auth::UserLike)]
/// #[imia(crate = "auth")]
/// struct User {
///     id: u64,
/// }
/// # use imia::UserLike as _;
/// # assert_eq!(User { id: 3 }.id(), "3");
/// ```
///
/// # Errors
///
/// Compile errors point at the offending token: enums and unions, a missing id, a tuple struct
/// without attributes, unknown, misplaced or duplicate keys, a role both marked on a field and
/// computed by a struct attribute, and (at the field's type) types that cannot play their role.
#[proc_macro_derive(UserLike, attributes(imia))]
pub fn derive_user_like(input: TokenStream) -> TokenStream {
    debug("derive(UserLike)", user_like::derive(input.into())).into()
}

/// Requires an authenticated user, and optionally scopes, before an actix-web handler runs.
///
/// - `#[protected]`: any authenticated user;
/// - `#[protected(scopes = "admin billing:read")]`: every listed scope;
/// - `#[protected(any = "editor admin")]`: at least one listed scope;
/// - `#[protected(fresh)]`: a fresh login, not one restored from remember-me (which is asked to
///   log in again, like an anonymous request);
/// - `#[protected(second_factor)]`: a login that passed a second factor
///   (`UserToken::passed_second_factor`; 403 otherwise);
/// - all may be combined (`#[protected(scopes = "admin", second_factor)]`); `crate = "path"`
///   names a re-exported imia.
///
/// An anonymous request is answered the way the `Authentication` middleware is configured: a
/// 303 redirect to its login URL with `next` for browsers when one is set, else a 401 with the
/// `WWW-Authenticate` challenges of its authenticators. A user without the scopes gets a 403.
/// Without the middleware the answer is a 500, logged; the macro never panics.
///
/// Scope lists are checked at compile time: no empty list, no duplicates, printable ASCII
/// separated by single spaces.
///
/// The check runs before any other extractor of the handler. A refused caller never reaches
/// `web::Json`, `web::Form`, `web::Bytes`, `web::Path` or your own extractors: its body is not
/// read, extractor side effects do not happen, and a malformed body is answered with the
/// 401/redirect/403, not with the extractor's 400. Callers who pass get the handler's
/// extractors run as actix runs them: all together, in order, on the same request (so
/// app-level configs such as `web::JsonConfig` apply), and a failing one is answered as actix
/// answers it.
///
/// It works on `async fn` handlers with any extractors (any number of them, even beyond actix's
/// 16) and any return type, registered with `web::resource(..).route(..)`/`App::route` or with
/// actix's route macros, above or below them.
///
/// # Compile errors
///
/// Mistakes are reported where they are, not at the attribute:
///
/// - on anything but a function with a body (a struct, an impl block, a constant, a trait's
///   function declaration, ...): at the item's head, saying what it is;
/// - on a function that is not `async`, or is `const`, `unsafe` or `extern "..."`: at that
///   keyword; on a method taking `self`: at `self`;
/// - an unknown or repeated argument, an empty scope list, a scope listed twice, a character
///   other than printable ASCII (or a quote, a backslash, a comma), a doubled space: at the
///   argument;
/// - an argument that is no extractor: at the argument list, as rustc's "`FromRequest` is not
///   implemented".
///
/// # Expansion
///
/// The handler keeps its name and visibility, but its signature becomes
/// `async fn name(HttpRequest, web::Payload) -> Either<YourType, HttpResponse>` (just
/// `HttpRequest` when it takes no arguments): it checks the scopes, runs your extractors, then
/// calls your function, kept inside it with its body untouched, so `return` and `?` behave as
/// written. Register it as a handler; code that called it as a plain function must call a
/// function of its own instead. The success path allocates nothing beyond your extractors.
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, get, web};
/// use imia::{CurrentUser, UserLike, protected};
///
/// #[derive(UserLike)]
/// struct User {
///     id: i64,
///     scopes: Vec<String>,
/// }
///
/// #[get("/admin")]
/// #[protected(scopes = "admin")]
/// async fn admin(user: CurrentUser<User>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("hello admin {}", user.id))
/// }
///
/// #[protected(any = "billing:read admin")]
/// async fn invoice(id: web::Path<u32>) -> Result<String, actix_web::Error> {
///     Ok(format!("invoice {}", id.into_inner()))
/// }
///
/// // Money moves only for a login that passed a second factor.
/// #[protected(scopes = "billing:write", second_factor)]
/// async fn pay() -> &'static str {
///     "paid"
/// }
///
/// // The body is read only for callers with the scope.
/// #[protected(scopes = "upload")]
/// async fn upload(body: web::Bytes) -> String {
///     format!("{} bytes", body.len())
/// }
///
/// let app = App::new()
///     .service(admin)
///     .route("/invoices/{id}", web::get().to(invoice))
///     .route("/pay", web::post().to(pay))
///     .route("/upload", web::post().to(upload));
/// # let _ = app;
/// ```
///
/// The answers, with the `Authentication` middleware in front:
///
/// ```
/// use actix_web::{App, test, web};
/// use imia::{Authentication, UserLike, authenticator::ApiKeyAuthenticator, protected, provider::InMemoryProvider};
///
/// #[derive(Clone, UserLike)]
/// struct User {
///     id: u32,
///     scopes: Vec<String>,
///     api_token: Option<String>,
/// }
///
/// #[protected(scopes = "admin")]
/// async fn admin() -> &'static str {
///     "hello admin"
/// }
///
/// # actix_rt::System::new().block_on(async {
/// let users = InMemoryProvider::new([
///     User { id: 1, scopes: vec!["admin".into()], api_token: Some("admin-key".into()) },
///     User { id: 2, scopes: vec![], api_token: Some("user-key".into()) },
/// ]);
/// let app = test::init_service(
///     App::new()
///         .wrap(Authentication::new(ApiKeyAuthenticator::new(users)))
///         .route("/admin", web::get().to(admin)),
/// )
/// .await;
/// for (uri, status) in [
///     ("/admin", 401),                   // anonymous
///     ("/admin?apikey=user-key", 403),   // without the scope
///     ("/admin?apikey=admin-key", 200),  // with it
/// ] {
///     let res = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
///     assert_eq!(res.status(), status, "{uri}");
/// }
/// # });
/// ```
#[proc_macro_attribute]
pub fn protected(args: TokenStream, item: TokenStream) -> TokenStream {
    debug("#[protected]", protected::expand(args.into(), item.into())).into()
}

/// Prints the expansion to stderr when `IMIA_MACROS_DEBUG` is set, for bug reports.
fn debug(what: &str, tokens: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    if std::env::var_os("IMIA_MACROS_DEBUG").is_some() {
        eprintln!("imia-macros {what} expansion:\n{tokens}");
    }
    tokens
}
