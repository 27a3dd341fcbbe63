use imia::protected;

#[protected(role = "admin")]
async fn handler() -> &'static str {
    "x"
}

fn main() {}
