use imia::protected;

#[protected(scopes = "admin billing admin")]
async fn handler() -> &'static str {
    "x"
}

fn main() {}
