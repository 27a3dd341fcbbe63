use actix_web::{App, get};
use imia::protected;

#[get("/admin")]
#[protected(scopes = "admin")]
async fn admin() -> &'static str {
    "admin"
}

fn main() {
    let _ = App::new().service(admin);
}
