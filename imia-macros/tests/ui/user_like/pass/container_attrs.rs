use imia::UserLike;

#[derive(UserLike)]
#[imia(display_name = "full_name", scopes_with = "scopes_of", active_with = "User::active")]
struct User {
    #[imia(id)]
    pk: i64,
    #[imia(username)]
    login: String,
    first: String,
    last: String,
    admin: bool,
    banned: bool,
}

impl User {
    fn full_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }

    fn active(&self) -> bool {
        !self.banned
    }
}

fn scopes_of(user: &User) -> Vec<String> {
    if user.admin { vec!["admin".to_string()] } else { Vec::new() }
}

fn main() {
    let u = User { pk: 3, login: "ann".into(), first: "Ann".into(), last: "Lee".into(), admin: true, banned: false };
    assert_eq!(u.id(), "3");
    assert_eq!(u.username().as_deref(), Some("ann"));
    assert_eq!(u.display_name(), "Ann Lee");
    assert!(u.has_scope("admin"));
    assert!(u.is_active());
}
