//! A field named `password` is the password hash, unless told otherwise.
use imia::UserLike;

#[derive(UserLike)]
struct ByName {
    id: u32,
    password: String,
}

#[derive(UserLike)]
struct Skipped {
    id: u32,
    #[imia(skip)]
    #[allow(dead_code)]
    password: String,
}

#[derive(UserLike)]
struct Marked {
    id: u32,
    #[imia(password)]
    digest: Option<String>,
    #[allow(dead_code)]
    password_hash: String,
    #[allow(dead_code)]
    password: String,
}

fn main() {
    let by_name = ByName { id: 1, password: "$argon2id$v=19$...".into() };
    assert_eq!(by_name.hashed_password(), "$argon2id$v=19$...");

    let skipped = Skipped { id: 2, password: "plain".into() };
    assert_eq!(skipped.hashed_password(), "", "no password hash");

    let marked = Marked { id: 3, digest: Some("hash".into()), password_hash: "no".into(), password: "no".into() };
    assert_eq!(marked.hashed_password(), "hash");
}
