use imia::UserLike;

#[derive(UserLike)]
struct User {
    #[imia(id)]
    id: u32,
    #[imia(id)]
    other: u32,
}

fn main() {}
