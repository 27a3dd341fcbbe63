use imia::protected;

#[protected]
struct Handler;

fn main() {}
