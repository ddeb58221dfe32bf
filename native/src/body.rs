//! The `k:"v"; k2::"v2"` tokenizer, only for bodies the reference reads with its fast path
//! (no backslash, no repeated key (checked by `ecs::Fields`), keys of `[A-Za-z0-9_-]`, no
//! space just inside a quote). Every other body is a `Fallback`, so escapes, duplicates and
//! leftovers keep one implementation. One pass over the bytes.

use crate::Fallback;

pub const MAX_FIELDS: usize = 512;
const MAX_KEY: usize = 128;

fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

const NOT_A_LIST: Fallback = Fallback("not a key:\"value\" list");

/// Fields in body order: (key, value) borrowed from `body`.
pub fn parse(body: &str) -> Result<Vec<(&str, &str)>, Fallback> {
    let bytes = body.as_bytes();
    if bytes.contains(&b'\\') {
        return Err(Fallback("escaped characters"));
    }
    let mut fields: Vec<(&str, &str)> = Vec::with_capacity(40);
    let mut at = 0;
    loop {
        let key_start = at;
        while at < bytes.len() && is_key_byte(bytes[at]) {
            at += 1;
        }
        let key_end = at;
        if key_end == key_start || key_end - key_start > MAX_KEY {
            return Err(NOT_A_LIST);
        }
        // `:` or `::`, then the opening quote
        if bytes.get(at) != Some(&b':') {
            return Err(NOT_A_LIST);
        }
        at += 1;
        if bytes.get(at) == Some(&b':') {
            at += 1;
        }
        if bytes.get(at) != Some(&b'"') {
            return Err(NOT_A_LIST);
        }
        at += 1;
        let value_start = at;
        let Some(length) = bytes[at..].iter().position(|&b| b == b'"') else {
            return Err(NOT_A_LIST);
        };
        at += length;
        let value = &body[value_start..at];
        if value.starts_with(' ') || value.ends_with(' ') {
            return Err(Fallback("padded value"));
        }
        if fields.len() == MAX_FIELDS {
            return Err(Fallback("too many fields"));
        }
        fields.push((&body[key_start..key_end], value));
        at += 1; // closing quote
        if at == bytes.len() {
            return Ok(fields);
        }
        if bytes.get(at..at + 2) != Some(b"; ") {
            return Err(NOT_A_LIST);
        }
        at += 2;
    }
}
