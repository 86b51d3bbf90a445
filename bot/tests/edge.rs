//! Hostile traffic at the HTTP edge of the real binary (Slack HTTP mode): bodies far
//! over the limit are refused before they are read, with deckhand's peak memory staying
//! near idle; half-sent headers (slowloris) are cut off at the header deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod common;

use common::{free_port, run_slack_http, workspace};

const CONFIG: &str = r#"
[roles]
team = ["slack:U01ALICE"]
[environments.prod]
deployers = ["team"]
[[environments.prod.deploy]]
name = "Deploy"
run = ["true"]
"#;

/// (current, peak) resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sends `header` and then up to `body` bytes of junk (as long as deckhand reads), and
/// returns the status line of the answer.
fn send_junk(port: u16, header: &str, body: usize) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(header.as_bytes()).unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < body {
        // deckhand answers and closes long before the end: the writes start failing.
        if stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_unsigned_body_to_each_slack_route_is_refused_unread_and_memory_stays_flat() {
    let dir = workspace(Some(CONFIG));
    let port = free_port();
    let mut deckhand = run_slack_http(&dir, "http://127.0.0.1:9/api", port, "edge-secret").await;
    let pid = deckhand.id();
    let (idle, _) = rss_kib(pid);
    const HUNDRED_MB: usize = 100 * 1024 * 1024;
    for route in ["/slack/commands", "/slack/events", "/slack/interactivity"] {
        let declared = format!(
            "POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {HUNDRED_MB}\r\n\r\n"
        );
        let status = tokio::task::spawn_blocking(move || send_junk(port, &declared, HUNDRED_MB))
            .await
            .unwrap();
        assert!(
            status.contains("413"),
            "{route} with Content-Length: {status}"
        );
        // Without a length, the limit cuts the stream at 256 KiB instead.
        let chunked = format!(
            "POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n"
        );
        let status = tokio::task::spawn_blocking(move || send_junk(port, &chunked, HUNDRED_MB))
            .await
            .unwrap();
        assert!(
            status.starts_with("HTTP/1.1 4"),
            "{route} streamed: refused, not read ({status:?})"
        );
    }
    let (_, peak) = rss_kib(pid);
    assert!(
        peak < idle + 32 * 1024,
        "peak RSS {peak} KiB against {idle} KiB idle: the bodies were read"
    );
    let store = deckhand::store::Store::connect(&format!("sqlite://{}/deckhand.db", dir.display()))
        .await
        .unwrap();
    assert_eq!(
        deckhand::store::inbox::unhandled(&store.pool)
            .await
            .unwrap(),
        0
    );
    println!("idle {idle} KiB, peak {peak} KiB after 6 × 100 MB");
    deckhand.kill().ok();
    deckhand.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_slowloris_connections_are_closed_at_the_header_deadline() {
    let dir = workspace(Some(CONFIG));
    let port = free_port();
    let mut deckhand = run_slack_http(&dir, "http://127.0.0.1:9/api", port, "edge-secret").await;
    let opened = Instant::now();
    let connections: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            // Half a request, and then nothing: the connection is held open by the client.
            stream
                .write_all(b"POST /slack/commands HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            stream
        })
        .collect();
    let closed = tokio::task::spawn_blocking(move || {
        connections
            .into_iter()
            .map(|mut stream| {
                stream
                    .set_read_timeout(Some(Duration::from_secs(40)))
                    .unwrap();
                let mut answer = Vec::new();
                // EOF or a reset both mean deckhand let go; a timeout means it did not.
                match stream.read_to_end(&mut answer) {
                    Ok(_) => true,
                    Err(e) => {
                        e.kind() != std::io::ErrorKind::WouldBlock
                            && e.kind() != std::io::ErrorKind::TimedOut
                    }
                }
            })
            .filter(|closed| *closed)
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 300, "every half-sent request was cut off");
    println!("300 closed after {:?}", opened.elapsed());
    // And deckhand still answers.
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    deckhand.kill().ok();
    deckhand.wait().ok();
}
