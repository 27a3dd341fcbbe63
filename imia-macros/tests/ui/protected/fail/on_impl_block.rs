use imia::protected;

struct Api;

#[protected]
impl Api {
    async fn handler() -> &'static str {
        "x"
    }
}

fn main() {}
