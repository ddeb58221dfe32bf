//! Syslog envelope (RFC 5424, RFC 3164 or none) in front of a `[k:"v"; ...]` body: only what
//! the fast path needs (sender host name and where the message starts). Mirrors
//! `monitor/normalize/syslog_envelope.py`; anything it cannot decide byte-for-byte the way the
//! reference does is a `Fallback`.

use std::sync::OnceLock;

use regex::Regex;

use crate::Fallback;

pub struct Envelope<'a> {
    pub host: Option<&'a str>,
    pub message: &'a str,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn rfc3164() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    // Python's `\s` (str.isspace) spelled out for ASCII: it also takes \x1c-\x1f. A non-ASCII
    // character in the part this consumes makes the caller fall back, so ASCII is all that counts.
    PATTERN.get_or_init(|| {
        Regex::new(concat!(
            r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) ",
            r"(?:(?P<host>[^\t\n\x0B\x0C\r\x1C-\x1F \[]+) )?",
            r"(?P<tag>[^\t\n\x0B\x0C\r\x1C-\x1F :\[]+(?:\[\d+\])?:? ?)?"
        ))
        .expect("static pattern")
    })
}

/// Peel the header off `text`. The header part must be ASCII (else the reference decides).
pub fn split(text: &str) -> Result<Envelope<'_>, Fallback> {
    let mut rest = text;
    if rest.starts_with('\u{feff}') {
        return Err(Fallback("byte order mark"));
    }
    if rest.starts_with('<') {
        let window = &rest.as_bytes()[..rest.len().min(6)];
        if !window.is_ascii() {
            return Err(Fallback("non-ASCII priority"));
        }
        if let Some(end) = window[1..].iter().position(|&b| b == b'>').map(|p| p + 1) {
            if end > 1 && window[1..end].iter().all(u8::is_ascii_digit) {
                rest = &rest[end + 1..];
            }
        }
    }
    if let Some(after) = rest.strip_prefix("1 ") {
        let parts: Vec<&str> = after.splitn(6, ' ').collect();
        if parts.len() < 5 {
            return Ok(Envelope {
                host: None,
                message: rest,
            });
        }
        let host = if parts[1] == "-" {
            None
        } else {
            Some(parts[1])
        };
        let message = if parts.len() > 5 { parts[5] } else { "" };
        return Ok(Envelope { host, message });
    }
    match rest.chars().next() {
        Some(first) if !first.is_ascii() => return Err(Fallback("non-ASCII header")),
        Some(first) if first.is_ascii_uppercase() => {
            if let Some(caps) = rfc3164().captures(rest) {
                if MONTHS.contains(&&caps["mon"]) {
                    let end = caps.get(0).map_or(0, |m| m.end());
                    return Ok(Envelope {
                        host: caps.name("host").map(|m| m.as_str()),
                        message: &rest[end..],
                    });
                }
            }
        }
        _ => {}
    }
    Ok(Envelope {
        host: None,
        message: rest,
    })
}
