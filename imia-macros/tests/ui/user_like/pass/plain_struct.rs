use imia::UserLike;

#[derive(UserLike)]
struct User {
    id: u64,
    email: String,
    name: String,
    password_hash: String,
    scopes: Vec<String>,
    is_active: bool,
    api_token: Option<String>,
}

fn main() {
    let u = User {
        id: 1,
        email: "ann@example.com".into(),
        name: "Ann".into(),
        password_hash: "$argon2id$...".into(),
        scopes: vec!["admin".into()],
        is_active: false,
        api_token: Some("t".into()),
    };
    assert_eq!(u.id(), "1");
    assert_eq!(u.username().as_deref(), Some("ann@example.com"));
    assert_eq!(u.display_name(), "Ann");
    assert_eq!(u.hashed_password(), "$argon2id$...");
    assert!(u.has_scope("admin"));
    assert!(!u.is_active());
    assert_eq!(u.api_token(), Some("t"));
}
