use actix_web::{App, HttpResponse, error, web};
use imia::protected;

#[protected]
async fn fallible(id: web::Path<u32>) -> Result<HttpResponse, error::Error> {
    let id = id.into_inner();
    if id == 0 {
        return Err(error::ErrorBadRequest("zero"));
    }
    let parsed: u32 = "7".parse().map_err(error::ErrorInternalServerError)?;
    Ok(HttpResponse::Ok().body(format!("{}", id + parsed)))
}

#[protected(scopes = "admin", any = "a b")]
async fn both_kinds() -> &'static str {
    "admin, and a or b"
}

fn main() {
    let _ = App::new()
        .service(web::resource("/items/{id}").route(web::get().to(fallible)))
        .route("/both", web::post().to(both_kinds));
}
