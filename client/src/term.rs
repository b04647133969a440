//! The terminal: its width, and the one way a human line reaches stdout (colour stripped
//! by anstream when piped or under NO_COLOR, honoured under CLICOLOR_FORCE; cut to the width
//! with an ellipsis when stdout is a terminal, so a line never wraps mid-word).
//! Must not decide what a line says (render does) nor touch `--json` output.

use std::io::{IsTerminal, Write};

/// The width lines are cut to: stdout's terminal's, or None (no cutting) when stdout is
/// not a terminal: a file or a pipe gets whole lines.
pub fn width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let (terminal_size::Width(w), _) = terminal_size::terminal_size()?;
    Some(usize::from(w).max(10))
}

/// Prints one human line, cut to the terminal's width.
pub fn emit(line: &str) {
    let line = match width() {
        Some(w) => fit(line, w),
        None => line.to_string(),
    };
    let mut out = anstream::stdout();
    // A closed stdout ends the program through SIGPIPE (main restores the default).
    let _ = writeln!(out, "{line}");
}

/// Prints prose: wrapped between words at the terminal's width (whole when not a
/// terminal), so nothing of it is cut.
pub fn emit_wrapped(text: &str) {
    match width() {
        Some(w) => wrap(text, w).iter().for_each(|l| emit(l)),
        None => emit(text),
    }
}

/// `line` cut to `width` visible characters, the last being '…' when something was cut.
/// ANSI style sequences are kept and take no width; a cut line ends with a style reset.
pub fn fit(line: &str, width: usize) -> String {
    let mut out = String::with_capacity(line.len().min(width * 4));
    let mut visible = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            for e in chars.by_ref() {
                out.push(e);
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        // The last column: the ellipsis goes there when more visible text follows.
        if visible + 1 == width && rest_is_visible(chars.clone()) {
            out.push('…');
            out.push_str("\x1b[0m");
            return out;
        }
        out.push(c);
        visible += 1;
    }
    out
}

/// Whether anything visible follows (style sequences alone take no room).
fn rest_is_visible(mut rest: std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    while let Some(c) = rest.next() {
        if c != '\x1b' {
            return true;
        }
        for e in rest.by_ref() {
            if e.is_ascii_alphabetic() {
                break;
            }
        }
    }
    false
}

/// `text` as lines of at most `width` characters broken between words (a word longer
/// than the width is cut with '…'): for prose such as a finding's detail.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(10);
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let word = if word.chars().count() > width {
                fit(word, width).replace("\x1b[0m", "")
            } else {
                word.to_string()
            };
            let needed =
                line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if needed > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&word);
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_to_the_width_with_an_ellipsis_and_a_short_one_kept() {
        assert_eq!(fit("abcdefghij", 10), "abcdefghij");
        assert_eq!(fit("abcdefghijk", 10), "abcdefghi…\x1b[0m");
        let styled = "\x1b[1mhigh\x1b[0m rest of the line";
        let cut = fit(styled, 8);
        assert!(cut.starts_with("\x1b[1mhigh\x1b[0m"), "{cut:?}");
        let plain: String = anstream::adapter::strip_str(&cut).to_string();
        assert_eq!(plain, "high re…");
    }

    #[test]
    fn prose_wraps_between_words_within_the_width() {
        let lines = wrap("the certificate is not trusted by any known authority", 20);
        assert_eq!(
            lines,
            [
                "the certificate is",
                "not trusted by any",
                "known authority"
            ]
        );
        assert!(wrap("x".repeat(30).as_str(), 12)[0].chars().count() <= 12);
    }
}
