//! The SMTP mailer against a real SMTP server (aiosmtpd), and the outbox over it.

use imia::mail::{ContentType, MailError, Mailer as _, Message, MultiPart, Outbox, SmtpMailer};
use imia_tests::smtp::SmtpSink;

fn message(to: &str, link: &str) -> Message {
    Message::builder()
        .from("imia demo <no-reply@example.com>".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("Reset your password")
        .multipart(MultiPart::alternative_plain_html(
            format!("Follow this link to set a new password:\n{link}\n"),
            format!("<p><a href=\"{link}\">Set a new password</a></p>"),
        ))
        .unwrap()
}

#[test]
fn the_smtp_mailer_delivers_to_a_real_server() {
    let Some(sink) = SmtpSink::start() else { return };
    let mailer = SmtpMailer::from_url(&sink.url()).unwrap();
    actix_rt::System::new().block_on(async {
        mailer
            .send(message(
                "ann@example.com",
                "http://127.0.0.1:8000/password/reset/abc.def",
            ))
            .await
            .unwrap();
        // Through the outbox: the call returns before delivery.
        let outbox = Outbox::new(mailer.clone());
        outbox
            .send(message(
                "bob@example.com",
                "http://127.0.0.1:8000/password/reset/ghi.jkl",
            ))
            .unwrap();
        while outbox.held() > 0 {
            actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    let ann = sink
        .wait_for_message(|m| m.contains("To: ann@example.com"))
        .unwrap_or_else(|all| panic!("no message for ann: {all:?}"));
    assert!(ann.contains("Subject: Reset your password"), "{ann}");
    assert!(ann.contains("Content-Type: text/plain"), "{ann}");
    assert!(ann.contains("http://127.0.0.1:8000/password/reset/abc.def"), "{ann}");
    sink.wait_for_message(|m| m.contains("To: bob@example.com") && m.contains("ghi.jkl"))
        .unwrap_or_else(|all| panic!("no message for bob: {all:?}"));
}

#[test]
fn an_unreachable_server_is_a_delivery_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let result = actix_rt::System::new().block_on(mailer.send(message("ann@example.com", "x")));
    assert!(matches!(result, Err(MailError::Delivery(_))), "{result:?}");
    let _ = ContentType::TEXT_PLAIN;
}

/// The demo mails a reset link through a real SMTP server; the test reads the delivered message,
/// follows the link, sets a new password and logs in with it.
#[test]
fn the_demo_mails_a_reset_link_through_smtp_and_the_link_works() {
    use imia_tests::{http::Request, server::ExampleServer};

    let Some(sink) = SmtpSink::start() else { return };
    let db = std::env::temp_dir().join(format!("imia-mail-e2e-{}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let server = ExampleServer::start_with_env(
        "demo",
        &[
            ("DATABASE_URL", db.to_str().expect("a UTF-8 temp path")),
            ("SMTP_URL", &sink.url()),
        ],
    )
    .expect("the demo starts");
    let origin = server.url("");
    let resp = server
        .send(&Request::post("/password/forgot").form(&[("email", "user@example.com")]))
        .unwrap();
    assert_eq!(resp.status, 200);
    let message = sink
        .wait_for_message(|m| m.contains("To: user@example.com"))
        .unwrap_or_else(|all| panic!("no reset mail: {all:?}"));
    // The link is absolute, on the demo's own address.
    let at = message
        .find(&format!("{origin}/password/reset/"))
        .unwrap_or_else(|| panic!("no link to {origin} in {message}"));
    let url = message[at..].split_whitespace().next().unwrap();
    let path = url.trim_start_matches(origin.as_str());
    assert_eq!(server.get(path).unwrap().status, 200);
    let resp = server
        .send(&Request::post(path).form(&[("new_password", "mailed-new-pass")]))
        .unwrap();
    assert_eq!(resp.status, 303);
    let login = |password: &str| {
        server
            .send(&Request::post("/login").form(&[("username", "user@example.com"), ("password", password)]))
            .unwrap()
            .status
    };
    assert_eq!(login("mailed-new-pass"), 303);
    assert_eq!(login("password"), 200, "the old password is gone");
    // An unknown address: the same answer, and no mail.
    let unknown = server
        .send(&Request::post("/password/forgot").form(&[("email", "nobody@example.com")]))
        .unwrap();
    assert_eq!(unknown.status, 200);
    drop(server);
    assert!(sink.messages().iter().all(|m| !m.contains("nobody@example.com")));
    let _ = std::fs::remove_file(db);
}
