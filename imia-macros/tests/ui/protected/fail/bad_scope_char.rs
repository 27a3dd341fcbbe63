use imia::protected;

#[protected(scopes = "admin,billing")]
async fn handler() -> &'static str {
    "x"
}

fn main() {}
