use actix_web::{App, HttpRequest, web};
use imia::protected;

/// More arguments than actix-web has tuple extractors for (16): still extracted, in order.
#[protected]
#[rustfmt::skip]
#[allow(clippy::too_many_arguments)]
async fn many(
    a: HttpRequest, b: HttpRequest, c: HttpRequest, d: HttpRequest, e: HttpRequest,
    f: HttpRequest, g: HttpRequest, h: HttpRequest, i: HttpRequest, j: HttpRequest,
    k: HttpRequest, l: HttpRequest, m: HttpRequest, n: HttpRequest, o: HttpRequest,
    p: HttpRequest, q: HttpRequest, path: web::Path<(u32, String)>, body: String,
) -> String {
    let all = [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q];
    let (id, name) = path.into_inner();
    format!("{} {id} {name} {body}", all.len())
}

fn main() {
    let _ = App::new().route("/many/{id}/{name}", web::post().to(many));
}
