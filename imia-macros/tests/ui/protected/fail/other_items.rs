//! Every other kind of item `#[protected]` can be put on: each is reported at its head.
#![allow(unused)]

use imia::protected;

#[protected]
pub enum Handler {
    A,
}

#[protected]
static HANDLER: &str = "x";

#[protected]
pub(crate) trait Handlers {
    fn handler(&self);
}

trait Api {
    #[protected]
    async fn handler();
}

#[protected]
mod handlers {}

#[protected]
use std::fmt;

#[protected]
type Handled = String;

#[protected]
macro_rules! handler {
    () => {};
}

#[protected]
unsafe extern "C" {}

fn main() {}
