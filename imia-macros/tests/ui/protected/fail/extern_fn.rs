use imia::protected;

#[protected]
async extern "C" fn handler() -> &'static str {
    "x"
}

fn main() {}
