use imia::protected;

#[protected(second_factor = true)]
async fn pay() -> &'static str {
    "paid"
}

#[protected(fresh, fresh)]
async fn twice() -> &'static str {
    "twice"
}

fn main() {}
