//! Reading an export: a JSON value with the path that led to it, so every
//! problem names where it is (`schedules[2].schedule_layers[0].start`).

use super::ImportError;
use serde_json::Value;

static NULL: Value = Value::Null;

/// A value in the export and its JSON path.
#[derive(Clone)]
pub(super) struct At<'a> {
    pub(super) v: &'a Value,
    pub(super) path: String,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> At<'a> {
    /// The whole export, which must be an object.
    pub(super) fn root(v: &'a Value) -> Result<At<'a>, ImportError> {
        let root = At {
            v,
            path: String::new(),
        };
        if v.is_object() {
            Ok(root)
        } else {
            Err(root.wrong("an object holding each list under its API key"))
        }
    }

    pub(super) fn error(&self, message: impl Into<String>) -> ImportError {
        ImportError {
            path: if self.path.is_empty() {
                "$".into()
            } else {
                self.path.clone()
            },
            message: message.into(),
        }
    }

    fn wrong(&self, expected: &str) -> ImportError {
        self.error(format!("expected {expected}, found {}", kind(self.v)))
    }

    /// A key of an object (null when absent); an error when this is not an object.
    pub(super) fn get(&self, key: &str) -> Result<At<'a>, ImportError> {
        let v = match self.v {
            Value::Object(m) => m.get(key).unwrap_or(&NULL),
            _ => return Err(self.wrong("an object")),
        };
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Ok(At { v, path })
    }

    pub(super) fn is_null(&self) -> bool {
        self.v.is_null()
    }

    /// The items of an array at `key`; absent or null is empty.
    pub(super) fn list(&self, key: &str) -> Result<Vec<At<'a>>, ImportError> {
        let field = self.get(key)?;
        match field.v {
            Value::Null => Ok(vec![]),
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| At {
                    v,
                    path: format!("{}[{i}]", field.path),
                })
                .collect()),
            _ => Err(field.wrong("an array")),
        }
    }

    /// A string at `key`; absent, null or empty is `None`.
    pub(super) fn opt_str(&self, key: &str) -> Result<Option<String>, ImportError> {
        let field = self.get(key)?;
        match field.v {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.trim().to_string())),
            _ => Err(field.wrong("a string")),
        }
    }

    pub(super) fn str(&self, key: &str) -> Result<String, ImportError> {
        self.opt_str(key)?.ok_or_else(|| {
            self.get(key)
                .map_or_else(|e| e, |f| f.wrong("a non-empty string"))
        })
    }

    /// A whole number at `key` (a string of digits is taken too: some
    /// exports quote their numbers); absent or null is `None`.
    pub(super) fn opt_u64(&self, key: &str) -> Result<Option<u64>, ImportError> {
        let field = self.get(key)?;
        match field.v {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| field.wrong("a whole number of at least 0")),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse()
                .map(Some)
                .map_err(|_| field.wrong("a smaller number")),
            _ => Err(field.wrong("a whole number")),
        }
    }

    pub(super) fn u64(&self, key: &str) -> Result<u64, ImportError> {
        self.opt_u64(key)?.ok_or_else(|| {
            self.get(key)
                .map_or_else(|e| e, |f| f.wrong("a whole number"))
        })
    }

    pub(super) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ImportError> {
        let field = self.get(key)?;
        match field.v {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            _ => Err(field.wrong("true or false")),
        }
    }
}
