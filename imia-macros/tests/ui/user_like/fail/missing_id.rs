use imia::UserLike;

#[derive(UserLike)]
struct User {
    email: String,
}

fn main() {
    // One mistake, one error: the type still counts as `UserLike` here.
    fn needs_user<U: UserLike>(_: &U) {}
    needs_user(&User { email: String::new() });
}
