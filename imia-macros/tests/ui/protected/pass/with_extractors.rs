use actix_web::{App, HttpRequest, web};
use imia::{CurrentUser, UserLike, UserToken, protected};

#[derive(UserLike)]
struct User {
    id: i64,
}

#[protected(scopes = "reports:read")]
async fn report(
    user: CurrentUser<User>,
    token: UserToken,
    path: web::Path<(u32, String)>,
    req: HttpRequest,
    data: web::Data<String>,
) -> String {
    let (n, name) = path.into_inner();
    format!("{} {} {n} {name} {} {}", user.id, token.state(), req.path(), data.get_ref())
}

fn main() {
    let _ = App::new()
        .app_data(web::Data::new(String::from("shared")))
        .route("/reports/{n}/{name}", web::get().to(report));
}
