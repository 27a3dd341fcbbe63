use imia::protected;

struct Api;

impl Api {
    #[protected]
    async fn handler(&self) -> &'static str {
        "x"
    }
}

fn main() {}
