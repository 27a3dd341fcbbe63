use std::collections::{BTreeSet, HashSet};

use imia::UserLike;

#[derive(UserLike)]
struct VecScopes {
    id: String,
    scopes: Vec<String>,
}

#[derive(UserLike)]
struct StringScopes {
    id: String,
    scopes: String,
}

#[derive(UserLike)]
struct OptionalString {
    id: String,
    scopes: Option<String>,
}

#[derive(UserLike)]
struct OptionalVec {
    id: String,
    scopes: Option<Vec<String>>,
}

#[derive(UserLike)]
struct Sets {
    id: String,
    #[imia(scopes)]
    roles: HashSet<String>,
    #[imia(skip)]
    #[allow(dead_code)]
    scopes: BTreeSet<String>,
}

fn main() {
    let v = VecScopes { id: "a".into(), scopes: vec!["x".into(), "y".into()] };
    let s = StringScopes { id: "b".into(), scopes: "x y,z".into() };
    let o = OptionalString { id: "c".into(), scopes: None };
    let ov = OptionalVec { id: "d".into(), scopes: Some(vec!["x".into()]) };
    let sets = Sets { id: "e".into(), roles: ["x".to_string()].into(), scopes: BTreeSet::new() };
    assert!(v.has_scope("y") && s.has_scope("z") && !o.has_scope("x") && ov.has_scope("x") && sets.has_scope("x"));
    assert_eq!(s.scopes(), ["x", "y", "z"]);
}
