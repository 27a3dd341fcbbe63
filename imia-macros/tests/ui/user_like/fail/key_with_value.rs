use imia::UserLike;

#[derive(UserLike)]
struct User {
    #[imia(id = "pk")]
    pk: u32,
}

fn main() {}
