//! A minimal W3C WebDriver client for end-to-end tests in a real browser.
//!
//! It talks to `chromedriver` (Debian's `chromium-driver`) over the crate's own blocking HTTP
//! client, so browser tests need no extra dependencies: start a session, open pages, find
//! elements by CSS selector, type, click, read text, manage cookies, take screenshots.
//!
//! [`Browser::start`] launches `chromedriver` on a free port and a headless Chromium session
//! with a fresh profile; dropping the browser ends the session and the driver.
//!
//! Chromium runs with the flags a closed network and root need: `--headless`, `--no-sandbox`,
//! `--disable-gpu`, `--disable-dev-shm-usage`, and no background networking, component updates
//! or sync.

use std::{
    io,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::http::{self, Request};

/// Where Debian installs the driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Where Debian installs the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The key WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error or an unexpected answer.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Self(err.to_string())
    }
}

/// A result of a WebDriver call.
pub type Result<T> = std::result::Result<T, Error>;

/// Whether `chromedriver` and `chromium` are installed where Debian puts them.
pub fn available() -> bool {
    Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists()
}

/// A headless Chromium session driven through `chromedriver`.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
}

/// An element on the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session.
    ///
    /// # Errors
    ///
    /// When the driver or the browser does not start within 30 seconds.
    pub fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let profile = std::env::temp_dir().join(format!("imia-chromium-{}-{port}", std::process::id()));
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match http::send(addr, &Request::get("/status")) {
                Ok(r) if r.status == 200 => break,
                _ if Instant::now() > deadline => return Err(Error("chromedriver did not start".into())),
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
        let caps = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--window-size=1024,768",
                        format!("--user-data-dir={}", browser.profile.display()),
                    ]
                }
            }}
        });
        let value = browser.call("POST", "/session", Some(caps))?;
        browser.session = value["sessionId"]
            .as_str()
            .ok_or_else(|| Error(format!("no session id in {value}")))?
            .to_owned();
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = Request::new(method, path).header("Content-Type", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_string());
        } else if method == "POST" {
            req = req.body("{}");
        }
        let resp = http::send_with_timeout(self.addr, &req, Duration::from_secs(60))?;
        let json: Value = resp.json().map_err(|e| Error(format!("{method} {path}: {e}")))?;
        if resp.status >= 400 {
            return Err(Error(format!("{method} {path}: {} {}", resp.status, json["value"])));
        }
        Ok(json["value"].clone())
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`, waiting for the page to load.
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.call("POST", &self.session_path("/url"), Some(json!({ "url": url })))
            .map(drop)
    }

    /// The current URL.
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn url(&self) -> Result<String> {
        Ok(self
            .call("GET", &self.session_path("/url"), None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The current page's HTML.
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn source(&self) -> Result<String> {
        Ok(self
            .call("GET", &self.session_path("/source"), None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The first element matching a CSS selector.
    ///
    /// # Errors
    ///
    /// When there is none.
    pub fn find(&self, css: &str) -> Result<Element> {
        let value = self.call(
            "POST",
            &self.session_path("/element"),
            Some(json!({"using": "css selector", "value": css})),
        )?;
        value[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| Error(format!("no element for {css}")))
    }

    /// The first element matching `css`, waiting up to 10 seconds for it to appear (after a
    /// click that navigates, the new page may still be loading).
    ///
    /// # Errors
    ///
    /// When none appears in time.
    pub fn wait_for(&self, css: &str) -> Result<Element> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.find(css) {
                Ok(element) => return Ok(element),
                Err(err) if Instant::now() > deadline => return Err(err),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The current URL once it satisfies `done`, waiting up to 10 seconds.
    ///
    /// # Errors
    ///
    /// When it does not in time (the error names the last URL).
    pub fn wait_for_url(&self, done: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url()?;
            if done(&url) {
                return Ok(url);
            }
            if Instant::now() > deadline {
                return Err(Error(format!("still at {url}")));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the first element matching `css` once it satisfies `done`, waiting up to 10
    /// seconds. Made for pages that replace themselves: when a click navigates to a page at the
    /// same URL, the old page's element may be found and then go stale; this looks again.
    ///
    /// # Errors
    ///
    /// When no matching element has such a text in time (the error names the last text).
    pub fn wait_for_text(&self, css: &str, done: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let last = self.find(css).and_then(|element| self.text(&element));
            match last {
                Ok(text) if done(&text) => return Ok(text),
                _ if Instant::now() > deadline => {
                    return Err(Error(format!("{css}: last text or error {last:?}")));
                }
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Types `text` into an element.
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn type_into(&self, element: &Element, text: &str) -> Result<()> {
        let path = self.session_path(&format!("/element/{}/value", element.0));
        self.call("POST", &path, Some(json!({ "text": text }))).map(drop)
    }

    /// Clicks an element (and waits for a navigation it starts).
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn click(&self, element: &Element) -> Result<()> {
        self.call(
            "POST",
            &self.session_path(&format!("/element/{}/click", element.0)),
            None,
        )
        .map(drop)
    }

    /// An element's visible text.
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn text(&self, element: &Element) -> Result<String> {
        let value = self.call("GET", &self.session_path(&format!("/element/{}/text", element.0)), None)?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The names of the cookies the browser holds for the current page.
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn cookie_names(&self) -> Result<Vec<String>> {
        let value = self.call("GET", &self.session_path("/cookie"), None)?;
        Ok(value
            .as_array()
            .map(|cookies| {
                cookies
                    .iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Deletes one cookie of the current page.
    ///
    /// # Errors
    ///
    /// A WebDriver failure.
    pub fn delete_cookie(&self, name: &str) -> Result<()> {
        self.call("DELETE", &self.session_path(&format!("/cookie/{name}")), None)
            .map(drop)
    }

    /// Saves a PNG screenshot to `path` (keep it out of the repository, e.g. under `target/`).
    ///
    /// # Errors
    ///
    /// A WebDriver failure, or the file cannot be written.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        use base64::Engine as _;
        let value = self.call("GET", &self.session_path("/screenshot"), None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|e| Error(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
