use actix_web::{App, web};
use imia::protected;

struct NotAnExtractor;

#[protected]
async fn handler(_x: NotAnExtractor, path: web::Path<u32>) -> String {
    path.into_inner().to_string()
}

fn main() {
    let _ = App::new().route("/{id}", web::get().to(handler));
}
