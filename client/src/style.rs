//! Colours of severities and statuses, as ANSI styles (anstyle, as clap uses them). Lines
//! carry the styles; term.rs's anstream writer strips them when piped or under NO_COLOR.
//! Must not print nor decide when colour is wanted.

use anstyle::{AnsiColor, Style};
use picket_protocol::{RunStatus, ScanStatus, Severity};

/// `text` wrapped in `style`'s codes (nothing added for the plain style).
pub fn paint(style: Style, text: &str) -> String {
    if style == Style::new() {
        return text.to_string();
    }
    format!("{style}{text}{style:#}")
}

/// `text` left-aligned in `width` columns, then painted: padding outside the codes keeps
/// columns aligned whether or not the codes are stripped.
pub fn padded(style: Style, text: &str, width: usize) -> String {
    let pad = width.saturating_sub(text.chars().count());
    format!("{}{}", paint(style, text), " ".repeat(pad))
}

fn fg(c: AnsiColor) -> Style {
    Style::new().fg_color(Some(c.into()))
}

pub fn severity(s: Severity) -> Style {
    match s {
        Severity::Critical => fg(AnsiColor::Magenta).bold(),
        Severity::High => fg(AnsiColor::Red).bold(),
        Severity::Medium => fg(AnsiColor::Yellow),
        Severity::Low => fg(AnsiColor::Cyan),
        Severity::Info => Style::new().dimmed(),
    }
}

pub fn scan_status(s: ScanStatus) -> Style {
    match s {
        ScanStatus::Done => fg(AnsiColor::Green),
        ScanStatus::Running => fg(AnsiColor::Cyan),
        ScanStatus::Queued => Style::new().dimmed(),
        ScanStatus::Failed | ScanStatus::Interrupted => fg(AnsiColor::Red).bold(),
        ScanStatus::Cancelled => fg(AnsiColor::Yellow),
    }
}

pub fn run_status(s: RunStatus) -> Style {
    match s {
        RunStatus::Done => fg(AnsiColor::Green),
        RunStatus::Running | RunStatus::Queued => fg(AnsiColor::Cyan),
        RunStatus::Skipped | RunStatus::Cancelled => fg(AnsiColor::Yellow),
        RunStatus::Failed | RunStatus::TimedOut => fg(AnsiColor::Red).bold(),
    }
}

pub fn heading() -> Style {
    Style::new().bold()
}

pub fn dim() -> Style {
    Style::new().dimmed()
}
