use actix_web::{App, HttpResponse, post};
use imia::protected;

/// Both orders work: `#[protected]` above the route macro too.
#[protected(any = "editor admin")]
#[post("/articles")]
async fn create() -> HttpResponse {
    HttpResponse::Created().finish()
}

fn main() {
    let _ = App::new().service(create);
}
