//! The Diesel schema of the reference tables that [`migrations`](super::migrations) creates.
//!
//! Use it with a model of your own:
//!
//! ```
//! use diesel::prelude::*;
//! use imia::{UserLike, diesel::schema::users};
//!
//! #[derive(Queryable, Selectable, UserLike)]
//! #[diesel(table_name = users)]
//! struct User {
//!     id: i64,
//!     email: String,
//!     display_name: Option<String>,
//!     password_hash: Option<String>,
//!     scopes: String,
//!     api_token: Option<String>,
//!     is_active: bool,
//!     security_stamp: String,
//!     email_verified: bool,
//! }
//! ```
#![allow(missing_docs)]

::diesel::table! {
    /// The reference users table: `email` is the username, `scopes` space-separated,
    /// `api_token` the token's SHA-256 (or the token, opted into), `security_stamp` rotated to
    /// end every session of the user, `email_verified` false until a new account's address is
    /// verified.
    users (id) {
        id -> BigInt,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        scopes -> Text,
        api_token -> Nullable<Text>,
        is_active -> Bool,
        security_stamp -> Text,
        email_verified -> Bool,
    }
}
