use imia::UserLike;

#[derive(UserLike)]
struct User(String, String);

fn main() {}
