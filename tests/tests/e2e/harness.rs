//! The end-to-end harness itself: finding, starting and stopping example binaries.

use std::{io, net::TcpStream, time::Duration};

use imia_tests::server::{ExampleServer, example_binary};

#[test]
fn unknown_examples_are_reported() {
    let err = ExampleServer::start("no_such_example").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("no_such_example"), "{err}");
}

#[test]
fn every_example_is_built() {
    for name in ["quickstart", "basic_auth", "token_auth", "multiple"] {
        let path = example_binary(name).unwrap();
        assert!(path.is_file(), "{}", path.display());
    }
}

// Other tests of this binary start servers too, on ports the operating system picks. That one
// of them is handed the port freed by the drop in the instant before it is probed is unlikely
// (the port checks below stay), but not impossible: so the drop is first checked on the
// example's process, which no other test can take over.
#[test]
fn servers_get_distinct_ports_and_stop_on_drop() {
    let a = ExampleServer::start("quickstart").unwrap();
    let b = ExampleServer::start("quickstart").unwrap();
    assert_ne!(a.addr(), b.addr());
    assert_ne!(a.addr().port(), 0);
    assert_eq!(a.get("/").unwrap().status, 200);
    assert_eq!(b.get("/").unwrap().status, 200);
    assert!(
        a.output().contains(&format!("listening on {}", a.url(""))),
        "{}",
        a.output()
    );

    let (addr, pid) = (a.addr(), a.pid());
    drop(a);
    if cfg!(target_os = "linux") {
        // Killed and reaped: no process is left behind.
        let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(!proc.exists(), "the example's process {pid} is still there");
    }
    let err = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(b.get("/").unwrap().status, 200);
}
