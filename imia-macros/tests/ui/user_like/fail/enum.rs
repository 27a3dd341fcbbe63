use imia::UserLike;

#[derive(UserLike)]
enum User {
    Admin,
}

fn main() {}
