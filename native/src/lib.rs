//! Compiled fast path of `monitor.normalize.checkpoint.normalize_checkpoint` for the common
//! record: a Log Exporter `[k:"v"; ...]` body (RFC 5424, RFC 3164 or no envelope) with single
//! string values and an epoch `time`.
//!
//! The pure-Python normalizer stays the reference. This module either returns exactly the
//! document and id the reference would (tests compare them on the corpus, generated traffic and
//! random lines) or a `Fallback` reason, and the caller runs the reference instead. So every
//! rare shape (escapes, repeated keys, CEF/LEEF/JSON, ISO times, non-ASCII headers) has one
//! implementation, and a mistake here can only cost speed, never a record.

#![deny(unsafe_code)]

/// Slot of a field name the mapper reads, resolved at compile time (see `ecs::KEYS`).
macro_rules! k {
    ($name:literal) => {{
        const SLOT: usize = $crate::ecs::slot($name);
        SLOT
    }};
}

mod body;
mod ecs;
mod envelope;
mod fnv;
mod json;
mod timefmt;
mod value;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use sha2::{Digest, Sha256};

use value::{Map, Value};

/// Why a record goes to the reference normalizer (a static text, cheap to return).
pub struct Fallback(pub &'static str);

/// Python's `str.isspace()` for ASCII (it also takes `\x1c`-`\x1f`); a non-ASCII space ends the
/// trim, and the line then goes to the reference.
fn is_ascii_py_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b' || ('\x1c'..='\x1f').contains(&c)
}

/// `checkpoint_event_id` for a line: sha256 of origin, loguid, sequence number and the
/// `k:"v"` body (a forged line with a predicted loguid must not take the real log's id),
/// 40 hex characters.
fn event_id(origin: &str, loguid: &str, sequence: &str, body: &str) -> String {
    let mut digest = Sha256::new();
    for (index, part) in ["cp", origin, loguid, sequence, body].iter().enumerate() {
        if index > 0 {
            digest.update([0x1f]);
        }
        digest.update(part.as_bytes());
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = digest.finalize();
    let mut out = String::with_capacity(40);
    for byte in &hash[..20] {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 15)]));
    }
    out
}

/// What `normalize` made: the id (None: the caller hashes the payload), `@timestamp` (the
/// writer picks the index by it), the document.
struct Normalized<'a> {
    id: Option<String>,
    timestamp: String,
    doc: Map<'a>,
    /// the body's address range when its field values need no JSON escaping
    plain: std::ops::Range<usize>,
}

impl Normalized<'_> {
    fn to_json(&self, capacity: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(capacity);
        json::object(
            &mut json::Json {
                out: &mut out,
                plain: self.plain.clone(),
            },
            &self.doc,
        );
        out
    }
}

fn normalize<'a>(
    text: &'a str,
    created: Option<&'a str>,
    source: &'a str,
    keep_original: bool,
) -> Result<Normalized<'a>, Fallback> {
    let env = envelope::split(text)?;
    let message = env.message.trim_start_matches(is_ascii_py_space);
    let start = text.len() - message.len();
    if !text.as_bytes()[..start].is_ascii() {
        return Err(Fallback("non-ASCII header"));
    }
    if !message.starts_with('[') || message.starts_with("[Fields@") {
        return Err(Fallback("not a Log Exporter [k:\"v\"] body"));
    }
    let Some(end) = message.rfind(']') else {
        return Err(Fallback("unterminated body"));
    };
    let body = &message[1..end];
    let mut fields = body::parse(body)?;
    let start = body.as_ptr() as usize;
    let plain = if body.bytes().any(|b| b < 0x20) {
        0..0
    } else {
        start..start + body.len()
    };
    if let Some(host) = env.host.filter(|h| !h.is_empty()) {
        if !fields
            .iter()
            .any(|(k, _)| *k == "origin" || *k == "syslog_host")
        {
            fields.push(("syslog_host", host));
        }
    }
    let fields = ecs::Fields::new(fields)?;
    let mut doc = ecs::to_ecs(&fields)?;
    let event = doc.map_entry("event");
    if let Some(created) = created.filter(|c| !c.is_empty()) {
        event.set("created", Value::Str(created));
        event.set("ingested", Value::Str(created));
    }
    if keep_original {
        event.set("original", Value::Str(text));
    }
    let loguid = event.str_of("id").map(str::to_owned);
    let mut monitor = Map::new();
    monitor.set("source", Value::Str(source));
    doc.set("monitor", Value::Map(monitor));
    let mut ecs_version = Map::new();
    ecs_version.set("version", Value::Static("8.17.0"));
    doc.set("ecs", Value::Map(ecs_version));
    doc.map_entry("checkpoint")
        .replace("log_format", Value::Static("syslog"));
    let id = loguid.map(|loguid| {
        event_id(
            fields.get(k!("origin")).unwrap_or(""),
            &loguid,
            fields.get(k!("sequencenum")).unwrap_or(""),
            body,
        )
    });
    let timestamp = doc.str_of("@timestamp").unwrap_or_default().to_owned();
    Ok(Normalized {
        id,
        timestamp,
        doc,
        plain,
    })
}

/// `(doc_id or None, document)` exactly as the reference builds it for this line, or a `str`
/// saying why the reference must handle it. `text` is the decoded, right-stripped line;
/// `created` the receipt time text (``event.created``/``event.ingested``).
/// `(doc_id or None, @timestamp, JSON bytes)`: exactly the document and id the reference
/// builds for this line, serialized; or a `str` saying why the reference must handle it.
/// `text` is the decoded, right-stripped line; `created` the receipt time text.
#[pyfunction]
#[pyo3(signature = (text, created, source, keep_original=true))]
fn normalize_syslog<'py>(
    py: Python<'py>,
    text: &str,
    created: Option<&str>,
    source: &str,
    keep_original: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let outcome = std::panic::catch_unwind(|| {
        normalize(text, created, source, keep_original).map(|normalized| {
            let body = normalized.to_json(text.len() * 4 + 1024);
            (normalized.id, normalized.timestamp, body)
        })
    });
    match outcome {
        Ok(Ok((id, timestamp, body))) => {
            let id = match id {
                Some(id) => PyString::new(py, &id).into_any(),
                None => py.None().into_bound(py),
            };
            let timestamp = PyString::new(py, &timestamp).into_any();
            let body = PyBytes::new(py, &body).into_any();
            Ok(PyTuple::new(py, [id, timestamp, body])?.into_any())
        }
        Ok(Err(Fallback(reason))) => Ok(PyString::new(py, reason).into_any()),
        Err(_) => Ok(PyString::new(py, "internal error in the fast path").into_any()),
    }
}

/// Time `n` runs of the Rust side alone (no Python objects): seconds. For `bench/parse.py`.
#[pyfunction]
fn _time_core(text: &str, n: usize) -> f64 {
    let started = std::time::Instant::now();
    for _ in 0..n {
        let normalized = normalize(std::hint::black_box(text), Some("x"), "x", true);
        if let Ok(normalized) = normalized {
            std::hint::black_box(normalized.to_json(text.len() * 4 + 1024));
        }
    }
    started.elapsed().as_secs_f64()
}

#[pymodule]
fn monitor_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(normalize_syslog, module)?)?;
    module.add_function(wrap_pyfunction!(_time_core, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
