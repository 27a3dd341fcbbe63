use imia::protected;

#[protected(scopes = "")]
async fn handler() -> &'static str {
    "x"
}

fn main() {}
