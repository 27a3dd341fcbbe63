use actix_web::{App, web};
use imia::protected;

#[protected(scopes = "billing:write", second_factor)]
async fn pay(amount: web::Path<u32>) -> String {
    format!("paid {}", amount.into_inner())
}

#[protected(fresh)]
async fn delete_account() -> &'static str {
    "deleted"
}

#[protected(fresh, second_factor, any = "admin owner")]
async fn transfer() -> &'static str {
    "transferred"
}

fn main() {
    let _ = App::new()
        .route("/pay/{amount}", web::post().to(pay))
        .route("/account", web::delete().to(delete_account))
        .route("/transfer", web::post().to(transfer));
}
