use imia::protected;

#[protected(scopes = "admin")]
const HANDLER: &str = "x";

fn main() {}
