//! Operator output: every line the CLI writes goes through here (the `outln!`, `out!`,
//! `errln!` macros; `println!` and friends are refused by `cli/clippy.toml`).
//!
//! Keys, types, entities, reasons, cursors and provider error texts are controlled by
//! whoever sends a webhook or answers an API call. A terminal acts on what it is given:
//! an escape sequence can clear the screen, retitle the window, rewrite earlier lines (a
//! dead-lettered event made to look delivered) or plant an OSC 8 link; a bidirectional
//! override reverses what follows. So text output is made inert twice:
//! - each line is written with every control character (C0 but the line break, DEL, C1)
//!   and every bidirectional control shown as `\u{…}`, whatever the command formatted;
//! - commands pass provider values through [`inert`], which also shows line breaks and
//!   cuts an overlong value with a marker, so one value cannot forge or flood a row.
//!
//! JSON output ([`json`]) keeps every value exact, escaped per JSON; the characters a
//! terminal would act on are written as `\uXXXX` escapes, which JSON readers decode back.
//!
//! A closed pipe (`inlet events list | head`) ends the process quietly with status 0.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;

/// A provider value in a text row is cut past this many characters.
pub const MAX_VALUE_CHARS: usize = 200;
/// A whole line is cut past this many characters (a backstop for values not cut).
pub const MAX_LINE_CHARS: usize = 8_192;

/// Characters a terminal interprets rather than shows: C0 controls, DEL, C1 controls and
/// the Unicode bidirectional controls (embeddings, overrides, isolates, marks).
pub fn is_active(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `value` safe for a text row: every active character (line breaks too) shown as
/// `\u{…}`, and cut past [`MAX_VALUE_CHARS`] with a marker saying how much was left out.
pub fn inert(value: &str) -> Cow<'_, str> {
    cut(escape(value, |_| true), MAX_VALUE_CHARS)
}

/// An event type as a list shows it: `-` for events without one.
pub fn type_label(event_type: &str) -> &str {
    if event_type.is_empty() {
        "-"
    } else {
        event_type
    }
}

/// A time as every command and page shows it: RFC 3339.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Escape the active characters `escape_it` picks.
fn escape(text: &str, escape_it: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_active(c) && escape_it(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_active(c) && escape_it(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` cut to `max` characters, with `…[+N chars]` saying what was left out.
fn cut(text: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    let Some((at, _)) = text.char_indices().nth(max) else {
        return text;
    };
    let rest = text[at..].chars().count();
    Cow::Owned(format!("{}…[+{rest} chars]", &text[..at]))
}

/// One line of text output, made inert (line breaks the command wrote are kept as line
/// breaks; everything else active is escaped), to stdout.
pub fn line(text: &str) {
    write_stdout(inert_lines(text).as_bytes());
}

/// `text`'s lines, each made inert and cut, with a final line break.
fn inert_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for (i, part) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&cut(escape(part, |_| true), MAX_LINE_CHARS));
    }
    out.push('\n');
    out
}

/// Text output without a line break (a prompt, a progress dot), made inert.
pub fn text(text: &str) {
    write_stdout(escape(text, |c| c != '\n').as_bytes());
}

/// One line on stderr (errors and hints), made inert like [`line`].
pub fn err_line(text: &str) {
    // Nothing sensible is left to do when stderr itself is closed.
    let _ = std::io::stderr()
        .lock()
        .write_all(inert_lines(text).as_bytes());
}

/// One JSON document (compact or pretty), as serialized: exact values; the characters a
/// terminal acts on that JSON leaves raw (DEL, C1, bidirectional controls) written as
/// `\uXXXX` escapes, which every JSON reader decodes back to the same value. Line breaks
/// are the pretty printer's own (inside strings JSON has escaped them already).
pub fn json_text(text: &str) {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if is_active(c) && c != '\n' {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    write_stdout(out.as_bytes());
}

/// [`json_text`] of a value, on one line.
pub fn json(value: &impl serde::Serialize) {
    json_text(&serde_json::to_string(value).unwrap_or_default());
}

/// [`json_text`] of a value, pretty-printed.
pub fn json_pretty(value: &impl serde::Serialize) {
    json_text(&serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Write to stdout; a reader that went away (a closed pipe) ends the process quietly: what
/// it wanted it has, and a panic's backtrace would only alarm.
fn write_stdout(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Any other failure to write output (a full disk behind a redirect) is the
        // command's failure: say so on stderr and stop.
        err_line(&format!("inlet: cannot write output: {e}"));
        std::process::exit(i32::from(crate::exit::FAILURE));
    }
}

/// Print one inert line to stdout (as `println!`).
#[macro_export]
macro_rules! outln {
    () => { $crate::out::line("") };
    ($($arg:tt)*) => { $crate::out::line(&format!($($arg)*)) };
}

/// Print inert text without a line break (as `print!`).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::text(&format!($($arg)*)) };
}

/// Print one inert line to stderr (as `eprintln!`).
#[macro_export]
macro_rules! errln {
    () => { $crate::out::err_line("") };
    ($($arg:tt)*) => { $crate::out::err_line(&format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lose_every_active_character_and_keep_the_rest() {
        let hostile = "order\u{1b}[2J\u{1b}[31mRED\u{7}\u{9b}1m\u{202e}cba\n\tx é 東";
        let shown = inert(hostile);
        assert!(!shown.chars().any(is_active), "{shown}");
        assert_eq!(
            shown,
            "order\\u{1b}[2J\\u{1b}[31mRED\\u{7}\\u{9b}1m\\u{202e}cba\\u{a}\\u{9}x é 東"
        );
        assert_eq!(inert("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn json_keeps_the_value_and_escapes_what_a_terminal_acts_on() {
        let value = serde_json::json!({ "type": "a\u{1b}[2J\u{9b}\u{202e}\u{7f}z\n" });
        let mut escaped = String::new();
        for c in value.to_string().chars() {
            if is_active(c) {
                escaped.push_str(&format!("\\u{:04x}", u32::from(c)));
            } else {
                escaped.push(c);
            }
        }
        assert!(!escaped.chars().any(is_active));
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn overlong_values_are_cut_with_a_marker() {
        let long = "a".repeat(100_000);
        let shown = inert(&long);
        assert_eq!(
            shown.chars().count(),
            MAX_VALUE_CHARS + "…[+99800 chars]".chars().count()
        );
        assert!(shown.ends_with("…[+99800 chars]"));
        // Cut on a character boundary, whatever the bytes.
        let wide = "東".repeat(MAX_VALUE_CHARS + 5);
        assert!(inert(&wide).ends_with("…[+5 chars]"));
    }
}
