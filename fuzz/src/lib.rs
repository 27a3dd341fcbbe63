//! The properties the fuzz targets check. They live with the regression tests that replay the
//! saved inputs (`imia/tests/it/fuzz_regressions/checks.rs`), so both run the same code.

#[path = "../../imia/tests/it/fuzz_regressions/checks.rs"]
pub mod checks;
