//! A step's output as lines of text, whatever it prints: invalid UTF-8 becomes U+FFFD,
//! and a line longer than `MAX_LINE` keeps its start and a mark, so one huge line costs
//! deckhand `MAX_LINE` bytes, not its length.

use std::future::Future;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest line deckhand keeps, in bytes.
pub const MAX_LINE: usize = 4096;
/// Lines waiting for the runner; when full, the reader (and so the step) waits.
pub const LINE_QUEUE: usize = 256;
/// What a cut line ends with.
pub const CUT: &str = " … [line truncated]";

/// Reads lines until the stream ends or `deliver` returns false.
pub async fn read_lines<R, F, Fut>(mut reader: R, mut deliver: F)
where
    R: AsyncBufRead + Unpin,
    F: FnMut(String) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut line = Vec::with_capacity(256);
    let mut cut = false;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (taken, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (chunk.len(), false),
        };
        let content = &chunk[..taken - usize::from(ended)];
        let room = MAX_LINE - line.len();
        if content.len() > room {
            cut = true;
        }
        line.extend_from_slice(&content[..content.len().min(room)]);
        reader.consume(taken);
        if ended && !deliver(finish(&mut line, &mut cut)).await {
            return;
        }
    }
    if !line.is_empty() || cut {
        deliver(finish(&mut line, &mut cut)).await;
    }
}

fn finish(line: &mut Vec<u8>, cut: &mut bool) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let mut text = String::from_utf8_lossy(line).into_owned();
    if std::mem::take(cut) {
        text.push_str(CUT);
    }
    line.clear();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        read_lines(input, |line| {
            out.push(line);
            async { true }
        })
        .await;
        out
    }

    #[tokio::test]
    async fn invalid_utf8_becomes_a_replacement_character() {
        assert_eq!(lines(b"caf\xe9\nok\n").await, ["caf\u{fffd}", "ok"]);
    }

    #[tokio::test]
    async fn a_long_line_keeps_its_start_and_a_mark() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\nnext\r\nlast without newline");
        let got = lines(&input).await;
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], format!("{}{CUT}", "x".repeat(MAX_LINE)));
        assert_eq!(got[1..], ["next", "last without newline"]);
    }

    #[tokio::test]
    async fn stops_when_nobody_listens() {
        let mut seen = 0;
        read_lines(&b"a\nb\nc\n"[..], |_| {
            seen += 1;
            async { false }
        })
        .await;
        assert_eq!(seen, 1);
    }
}
