//! # text-transform: a table of contents and word counts for Markdown
//!
//! A desktop script. Needs no capability.
//!
//! ## Entry point `toc` (bytes)
//!
//! Input: Markdown text (UTF-8; invalid input is the guest error `2`). Output: the table of
//! contents as a Markdown list, one line per ATX heading (`#` … `######`, outside fenced code
//! blocks), indented two spaces per level below the top one, each linking to its anchor:
//!
//! ```text
//! - [Title](#title)
//!   - [Part one](#part-one)
//! ```
//!
//! ## Entry point `stats` (typed, postcard)
//!
//! Input: a postcard-encoded `String` (the Markdown). Output: a postcard-encoded [`Stats`]:
//! total words, lines, headings, and the words of each section (the text under a heading up to
//! the next heading; words before the first heading are counted under an empty title).
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use palisade_guest::{BumpHeap, GuestError};
use serde::{Deserialize, Serialize};

#[global_allocator]
static HEAP: BumpHeap = BumpHeap::new();
palisade_guest::panic_handler!();

/// Word counts of a Markdown document (the output of `stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Words in the whole document (headings included, code fences' contents included).
    pub words: u32,
    /// Lines.
    pub lines: u32,
    /// ATX headings outside code blocks.
    pub headings: u32,
    /// Words per section, in document order.
    pub sections: Vec<Section>,
}

/// One section of [`Stats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Heading level (1–6), `0` for text before the first heading.
    pub level: u8,
    /// Heading text.
    pub title: String,
    /// Words under the heading (excluding the heading itself).
    pub words: u32,
}

/// A heading line: its level and text, or `None`.
fn heading(line: &str) -> Option<(u8, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &trimmed[level..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim_end();
    Some((level as u8, text))
}

/// Walks the lines, calling `f` with each line and its heading, skipping headings in fences.
fn walk<'a>(text: &'a str, mut f: impl FnMut(&'a str, Option<(u8, &'a str)>)) {
    let mut in_fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            f(line, None);
            continue;
        }
        f(line, if in_fence { None } else { heading(line) });
    }
}

/// The GitHub-style anchor of a heading: lower case, spaces to `-`, punctuation dropped.
fn anchor(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn words(line: &str) -> u32 {
    line.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count() as u32
}

fn toc(input: &[u8]) -> Result<String, GuestError> {
    let text = core::str::from_utf8(input)
        .map_err(|_| GuestError::bad_input("the input is not UTF-8 text"))?;
    let mut headings = Vec::new();
    walk(text, |_, h| headings.extend(h));
    let top = headings.iter().map(|&(l, _)| l).min().unwrap_or(1);
    let mut out = String::new();
    for (level, title) in headings {
        for _ in top..level {
            out.push_str("  ");
        }
        out.push_str("- [");
        out.push_str(title);
        out.push_str("](#");
        out.push_str(&anchor(title));
        out.push_str(")\n");
    }
    Ok(out)
}

fn stats(text: String) -> Result<Stats, GuestError> {
    let mut s = Stats {
        words: 0,
        lines: 0,
        headings: 0,
        sections: Vec::new(),
    };
    walk(&text, |line, h| {
        s.lines += 1;
        let n = words(line);
        s.words += n;
        match h {
            Some((level, title)) => {
                s.headings += 1;
                s.sections.push(Section {
                    level,
                    title: String::from(title),
                    words: 0,
                });
            }
            None => {
                if s.sections.is_empty() && n > 0 {
                    s.sections.push(Section {
                        level: 0,
                        title: String::new(),
                        words: 0,
                    });
                }
                if let Some(last) = s.sections.last_mut() {
                    last.words += n;
                }
            }
        }
    });
    Ok(s)
}

palisade_guest::export!(toc);
palisade_guest::export_postcard!(stats);
