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
//! }
//! ```
#![allow(missing_docs)]

::diesel::table! {
    /// The reference users table: `email` is the username, `scopes` space-separated,
    /// `api_token` the token or its SHA-256.
    users (id) {
        id -> BigInt,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        scopes -> Text,
        api_token -> Nullable<Text>,
        is_active -> Bool,
    }
}
