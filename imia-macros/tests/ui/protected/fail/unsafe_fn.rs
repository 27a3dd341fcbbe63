use imia::protected;

#[protected]
async unsafe fn handler() -> &'static str {
    "x"
}

fn main() {}
