use actix_web::{App, HttpRequest, HttpResponse, get, post, web};
use imia::protected;

/// Handlers that read the body themselves: the payload reaches them untouched.
#[post("/stream")]
#[protected(scopes = "upload")]
async fn stream(body: web::Payload) -> Result<String, actix_web::Error> {
    Ok(body.to_bytes().await?.len().to_string())
}

#[protected]
async fn bytes(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {}", req.path(), body.len()))
}

#[protected]
#[get("/one")]
async fn one(req: HttpRequest) -> String {
    req.path().to_owned()
}

/// A generic handler: its extractors are checked where it is instantiated.
#[protected]
async fn generic<T: std::fmt::Display + 'static>(data: web::Data<T>) -> String {
    data.to_string()
}

fn main() {
    let _ = App::new()
        .app_data(web::Data::new(7u8))
        .service(stream)
        .service(one)
        .route("/bytes", web::post().to(bytes))
        .route("/generic", web::get().to(generic::<u8>));
}
