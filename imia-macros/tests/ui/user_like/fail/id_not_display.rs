use imia::UserLike;

struct Opaque;

#[derive(UserLike)]
struct User {
    id: Opaque,
}

fn main() {}
