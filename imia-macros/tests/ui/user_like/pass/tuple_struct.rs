use imia::UserLike;

#[derive(UserLike)]
struct Service(#[imia(id)] String, #[imia(token)] String, #[imia(scopes)] Vec<String>);

fn main() {
    let s = Service("billing".into(), "tok".into(), vec!["invoices:write".into()]);
    assert_eq!(s.id(), "billing");
    assert_eq!(s.display_name(), "billing");
    assert_eq!(s.api_token(), Some("tok"));
    assert!(s.has_scope("invoices:write"));
}
