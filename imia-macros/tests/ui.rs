//! Compile-time behaviour of the macros: what compiles, and the errors for what does not.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/user_like/pass/*.rs");
    t.compile_fail("tests/ui/user_like/fail/*.rs");
    t.pass("tests/ui/protected/pass/*.rs");
    t.compile_fail("tests/ui/protected/fail/*.rs");
}
