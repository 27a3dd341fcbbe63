use imia::UserLike;

#[derive(UserLike)]
struct User {
    id: u32,
    #[imia(scope)]
    scopes: Vec<String>,
}

fn main() {}
