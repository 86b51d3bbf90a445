//! A bounded tail of a step's output: the last lines, never more than a few KiB.

use std::collections::VecDeque;

const MAX_LINES: usize = 40;
const MAX_LINE_CHARS: usize = 300;

#[derive(Debug, Default)]
pub struct Tail {
    lines: VecDeque<String>,
    dropped: usize,
}

impl Tail {
    /// Adds one line (already redacted).
    pub fn push(&mut self, line: &str) {
        let trimmed = line.trim_end();
        let mut line: String = trimmed.chars().take(MAX_LINE_CHARS).collect();
        if trimmed.chars().count() > MAX_LINE_CHARS {
            line.push('…');
        }
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.dropped > 0 {
            out.push_str(&format!("… {} earlier lines not kept\n", self.dropped));
        }
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_lines() {
        let mut tail = Tail::default();
        for i in 0..100 {
            tail.push(&format!("line {i}"));
        }
        let text = tail.text();
        assert!(text.starts_with("… 60 earlier lines not kept\nline 60\n"));
        assert!(text.ends_with("line 99\n"));
    }

    #[test]
    fn long_lines_are_cut() {
        let mut tail = Tail::default();
        tail.push(&"x".repeat(10_000));
        assert!(tail.text().len() < 400);
    }
}
