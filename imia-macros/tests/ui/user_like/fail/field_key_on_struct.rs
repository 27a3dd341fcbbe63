use imia::UserLike;

#[derive(UserLike)]
#[imia(id)]
struct User {
    id: u32,
}

fn main() {}
