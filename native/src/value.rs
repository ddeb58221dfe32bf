//! The document tree the mapper builds before it crosses into Python: ordered maps (key order
//! is the order the reference normalizer writes), borrowed strings where the input has them.

pub enum Value<'a> {
    /// text from the line (or the caller's strings)
    Str(&'a str),
    /// one of the mapper's constants ("network", "UTC", ...): one shared `str` object
    Static(&'static str),
    Owned(String),
    Int(i64),
    List(Vec<Value<'a>>),
    Map(Map<'a>),
}

#[derive(Default)]
pub struct Map<'a>(pub Vec<(&'a str, Value<'a>)>);

impl<'a> Map<'a> {
    pub fn new() -> Self {
        Map(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Add `key`, known to be absent (the mapper writes each key once).
    pub fn set(&mut self, key: &'a str, value: Value<'a>) {
        debug_assert!(self.get(key).is_none(), "key {key} set twice");
        self.0.push((key, value));
    }

    /// Set `key`, replacing its value in place if present (a dict assignment).
    pub fn replace(&mut self, key: &'a str, value: Value<'a>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// `dict.setdefault(key, {})`: the nested map under `key`, created at the end if absent.
    pub fn map_entry(&mut self, key: &'a str) -> &mut Map<'a> {
        let index = match self.0.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                self.0.push((key, Value::Map(Map::new())));
                self.0.len() - 1
            }
        };
        match &mut self.0[index].1 {
            Value::Map(map) => map,
            _ => unreachable!("map_entry is only used on keys that hold maps"),
        }
    }

    pub fn str_of(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            Some(Value::Static(s)) => Some(s),
            Some(Value::Owned(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn map_of(&self, key: &str) -> Option<&Map<'a>> {
        match self.get(key) {
            Some(Value::Map(map)) => Some(map),
            _ => None,
        }
    }
}
