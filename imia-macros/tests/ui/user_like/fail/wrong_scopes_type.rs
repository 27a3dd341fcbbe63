use imia::UserLike;

#[derive(UserLike)]
struct User {
    id: u32,
    scopes: u64,
}

fn main() {}
