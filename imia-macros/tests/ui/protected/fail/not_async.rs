use imia::protected;

#[protected]
fn handler() -> &'static str {
    "sync"
}

fn main() {}
