#![no_main]

use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    imia_fuzz::checks::safe_next_value(data);
    // What a browser does with the `Location` (WHATWG URL parsing): a followed `next` stays on
    // the site's origin.
    let text = String::from_utf8_lossy(data);
    if let Some(next) = imia::redirect::safe_next(&text) {
        let base = Url::parse("https://app.example/login?next=x").expect("valid base");
        if let Ok(resolved) = base.join(next) {
            assert_eq!(resolved.origin(), base.origin(), "{next:?} leaves the site: {resolved}");
        }
    }
});
