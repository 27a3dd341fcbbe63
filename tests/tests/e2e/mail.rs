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
