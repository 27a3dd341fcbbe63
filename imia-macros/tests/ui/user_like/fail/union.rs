use imia::UserLike;

#[derive(UserLike)]
union User {
    id: u32,
}

fn main() {}
