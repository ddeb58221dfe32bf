//! The document tree → JSON bytes, what `orjson.dumps` would write for the same dict (UTF-8
//! kept as is, `"`, `\` and control characters escaped). The writer sends these bytes to
//! `_bulk` unchanged, so no Python object is built for a record on the fast path.

use crate::value::{Map, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Index of the first byte at or after `from` that JSON must escape (`"`, `\\`, < 0x20), eight
/// bytes at a time: most of a document is plain text.
fn next_special(bytes: &[u8], mut from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while from + 8 <= bytes.len() {
        let chunk = u64::from_le_bytes(bytes[from..from + 8].try_into().expect("8 bytes"));
        let quote = chunk ^ (ONES * u64::from(b'"'));
        let slash = chunk ^ (ONES * u64::from(b'\\'));
        // a byte is zero in `quote`/`slash`, or below 0x20 in `chunk` (high bit clear only)
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (chunk.wrapping_sub(ONES * 0x20) & !chunk);
        let found = found & HIGHS;
        if found != 0 {
            return from + (found.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    while from < bytes.len() {
        let byte = bytes[from];
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            return from;
        }
        from += 1;
    }
    from
}

fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let index = next_special(bytes, start);
        out.extend_from_slice(&bytes[start..index]);
        if index == bytes.len() {
            break;
        }
        let byte = bytes[index];
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 15)]);
            }
        }
        start = index + 1;
    }
    out.push(b'"');
}

/// Where to write, and the part of the line whose text needs no escaping (field values: no
/// `"` by construction, no `\\` or the tokenizer declined, no control byte or this is empty).
pub struct Json<'o> {
    pub out: &'o mut Vec<u8>,
    pub plain: std::ops::Range<usize>,
}

impl Json<'_> {
    fn text(&mut self, text: &str) {
        if self.plain.contains(&(text.as_ptr() as usize)) {
            self.out.push(b'"');
            self.out.extend_from_slice(text.as_bytes());
            self.out.push(b'"');
        } else {
            string(self.out, text);
        }
    }
}

fn value(json: &mut Json<'_>, item: &Value<'_>) {
    let out = &mut *json.out;
    match item {
        Value::Str(s) => json.text(s),
        Value::Static(s) => string(out, s),
        Value::Owned(s) => string(out, s),
        Value::Int(n) => {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut rest = n.unsigned_abs();
            loop {
                at -= 1;
                digits[at] = b'0' + (rest % 10) as u8;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
            if *n < 0 {
                out.push(b'-');
            }
            out.extend_from_slice(&digits[at..]);
        }
        Value::List(items) => {
            out.push(b'[');
            for (index, entry) in items.iter().enumerate() {
                if index > 0 {
                    json.out.push(b',');
                }
                value(json, entry);
            }
            json.out.push(b']');
        }
        Value::Map(map) => object(json, map),
    }
}

pub fn object(json: &mut Json<'_>, map: &Map<'_>) {
    json.out.push(b'{');
    for (index, (key, entry)) in map.0.iter().enumerate() {
        let out = &mut *json.out;
        if index > 0 {
            out.push(b',');
        }
        // keys never need escaping: the mapper's names, or field names the tokenizer only
        // accepts as [A-Za-z0-9_-]
        debug_assert!(key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-@".contains(&b)));
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        value(json, entry);
    }
    json.out.push(b'}');
}
