//! Raw bytes sent to the local OSS server (the demo's and `serve`'s): whatever arrives, the
//! server answers or closes, and keeps serving. A panic in a handler aborts the run.
#![no_main]

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use oss_uploader::local_server::{LocalServer, ServerConfig};
use oss_uploader::oss::sign::Credentials;

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let root = tempfile::tempdir().unwrap();
                let server = LocalServer::start(
                    ServerConfig::new(root.path())
                        .with_credentials(Credentials::new("test-ak", "test-secret"))
                        .with_bucket("test-bucket"),
                )
                .await
                .unwrap();
                tx.send(server.addr()).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let addr = server();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _ = s.write_all(data);
    // An empty line ends whatever head the bytes began.
    let _ = s.write_all(b"\r\n\r\n");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 "));
});
