//! Reading a parsed JSON document with the JSON path of every error.
//!
//! The configuration is read by hand from `wasmesh_sdk::config::Value` rather than
//! through derived `Deserialize` implementations: two dozen derived types cost more
//! wasm than the whole rest of the filter. Errors are worded like the SDK's own
//! (`expected a string, found 42`, ``unknown field `x`, expected ...``).

use wasmesh_sdk::config::{Number, Value};
use wasmesh_sdk::reply::push_json_string;
use wasmesh_sdk::ConfigError;

/// A value and where it is in the document (`rules[0].paths[1]`; empty for the root).
#[derive(Debug, Clone)]
pub struct Node<'a> {
    value: &'a Value,
    path: String,
}

/// The members of an object whose keys have been checked.
#[derive(Debug)]
pub struct Fields<'a> {
    members: &'a [(String, Value)],
    path: String,
}

/// The path of `key` inside the value at `path`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(Number::UInt(n)) => n.to_string(),
        Value::Number(Number::Int(n)) => n.to_string(),
        Value::Number(Number::Float(_)) => "a fractional number".to_owned(),
        Value::String(s) => {
            let mut out = String::new();
            push_json_string(&mut out, s);
            out
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// `` `a` ``, `` `a` or `b` ``, or `` one of `a`, `b`, `c` ``.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".to_owned(),
        [one] => one.clone(),
        [first, second] => format!("{first} or {second}"),
        more => format!("one of {}", more.join(", ")),
    }
}

impl<'a> Node<'a> {
    /// The document root.
    pub fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
        }
    }

    /// Where the value is.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// An error about this value.
    pub fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path.clone(), reason)
    }

    fn expected(&self, what: &str) -> ConfigError {
        self.error(format!("expected {what}, found {}", describe(self.value)))
    }

    /// The object's members, refusing keys not in `known` and repeated keys.
    pub fn object(&self, known: &[&str]) -> Result<Fields<'a>, ConfigError> {
        let Value::Object(members) = self.value else {
            return Err(self.expected("an object"));
        };
        for (index, (key, _)) in members.iter().enumerate() {
            if !known.contains(&key.as_str()) {
                return Err(ConfigError::at(
                    join(&self.path, key),
                    format!("unknown field `{key}`, expected {}", one_of(known)),
                ));
            }
            if members.iter().take(index).any(|(k, _)| k == key) {
                return Err(ConfigError::at(
                    join(&self.path, key),
                    format!("duplicate field `{key}`"),
                ));
            }
        }
        Ok(Fields {
            members,
            path: self.path.clone(),
        })
    }

    /// The members of an object used as a map (any key), refusing repeated keys.
    pub fn map(&self) -> Result<Vec<(&'a str, Node<'a>)>, ConfigError> {
        let Value::Object(members) = self.value else {
            return Err(self.expected("an object"));
        };
        let mut entries = Vec::with_capacity(members.len());
        for (index, (key, value)) in members.iter().enumerate() {
            let path = join(&self.path, key);
            if members.iter().take(index).any(|(k, _)| k == key) {
                return Err(ConfigError::at(path, format!("duplicate field `{key}`")));
            }
            entries.push((key.as_str(), Node { value, path }));
        }
        Ok(entries)
    }

    /// The elements of an array.
    pub fn array(&self) -> Result<Vec<Node<'a>>, ConfigError> {
        let Value::Array(items) = self.value else {
            return Err(self.expected("a sequence"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| Node {
                value,
                path: format!("{}[{index}]", self.path),
            })
            .collect())
    }

    /// The string.
    pub fn str(&self) -> Result<&'a str, ConfigError> {
        match self.value {
            Value::String(s) => Ok(s),
            _ => Err(self.expected("a string")),
        }
    }

    /// The string, owned.
    pub fn string(&self) -> Result<String, ConfigError> {
        self.str().map(str::to_owned)
    }

    /// The boolean.
    pub fn bool(&self) -> Result<bool, ConfigError> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.expected("a boolean")),
        }
    }

    /// A non-negative integer no larger than `max`; `what` names the type in errors.
    pub fn uint(&self, max: u64, what: &str) -> Result<u64, ConfigError> {
        match self.value {
            Value::Number(Number::UInt(n)) if *n <= max => Ok(*n),
            _ => Err(self.expected(what)),
        }
    }

    /// An array of strings.
    pub fn strings(&self) -> Result<Vec<String>, ConfigError> {
        self.array()?.iter().map(Node::string).collect()
    }

    /// The index in `names` of the string this value holds.
    pub fn choice(&self, names: &[&str]) -> Result<usize, ConfigError> {
        let text = self.str()?;
        names.iter().position(|n| *n == text).ok_or_else(|| {
            self.error(format!(
                "unknown value `{text}`, expected {}",
                one_of(names)
            ))
        })
    }
}

impl<'a> Fields<'a> {
    /// The member `key`, if present and not `null`.
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        self.members
            .iter()
            .find(|(k, v)| k == key && *v != Value::Null)
            .map(|(_, value)| Node {
                value,
                path: join(&self.path, key),
            })
    }

    /// The member `key`, which must be present.
    pub fn required(&self, key: &str) -> Result<Node<'a>, ConfigError> {
        self.get(key)
            .ok_or_else(|| ConfigError::at(self.path.clone(), format!("missing field `{key}`")))
    }

    /// Reads the member `key` with `read`, or gives `default` when it is absent.
    pub fn read_or<T>(
        &self,
        key: &str,
        default: T,
        read: impl FnOnce(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            Some(node) => read(&node),
            None => Ok(default),
        }
    }

    /// Reads the member `key` with `read` when it is present.
    pub fn read_opt<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(key).map(|node| read(&node)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Value {
        wasmesh_sdk::config::json::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn objects_refuse_unknown_and_repeated_keys() {
        let value = parse(r#"{"a": {"b": 1, "c": 2}}"#);
        let root = Node::root(&value).object(&["a"]).unwrap();
        let inner = root.required("a").unwrap();
        let error = inner.object(&["b"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "config.a.c: unknown field `c`, expected `b`"
        );
        assert!(inner.object(&["b", "c", "d"]).is_ok());
        let value = parse(r#"{"a": 1, "a": 2}"#);
        let error = Node::root(&value).object(&["a"]).unwrap_err();
        assert_eq!(error.to_string(), "config.a: duplicate field `a`");
        let missing = Node::root(&parse("{}"))
            .object(&["a"])
            .unwrap()
            .required("a")
            .unwrap_err();
        assert_eq!(missing.to_string(), "config: missing field `a`");
    }

    #[test]
    fn types_are_checked_and_described() {
        let value = parse(r#"{"s": 42, "b": "x", "n": 1.5, "l": [1], "c": "z", "big": 70000}"#);
        let fields = Node::root(&value)
            .object(&["s", "b", "n", "l", "c", "big"])
            .unwrap();
        let text = |key: &str, f: &dyn Fn(&Node) -> Result<(), ConfigError>| {
            f(&fields.required(key).unwrap()).unwrap_err().to_string()
        };
        assert_eq!(
            text("s", &|n| n.str().map(drop)),
            "config.s: expected a string, found 42"
        );
        assert_eq!(
            text("b", &|n| n.bool().map(drop)),
            "config.b: expected a boolean, found \"x\""
        );
        assert_eq!(
            text("n", &|n| n.uint(10, "u16").map(drop)),
            "config.n: expected u16, found a fractional number"
        );
        assert_eq!(
            text("big", &|n| n.uint(65535, "u16").map(drop)),
            "config.big: expected u16, found 70000"
        );
        assert_eq!(
            text("l", &|n| n.strings().map(drop)),
            "config.l[0]: expected a string, found 1"
        );
        assert_eq!(
            text("c", &|n| n.choice(&["x", "y", "w"]).map(drop)),
            "config.c: unknown value `z`, expected one of `x`, `y`, `w`"
        );
        assert_eq!(
            text("l", &|n| n.object(&[]).map(drop)),
            "config.l: expected an object, found an array"
        );
    }

    #[test]
    fn null_is_absent() {
        let value = parse(r#"{"a": null}"#);
        let fields = Node::root(&value).object(&["a"]).unwrap();
        assert!(fields.get("a").is_none());
        assert_eq!(fields.read_or("a", 7, |n| n.uint(9, "u8")).unwrap(), 7);
    }

    #[test]
    fn maps_keep_order_and_paths() {
        let value = parse(r#"{"m": {"x": 1, "y": 2}}"#);
        let fields = Node::root(&value).object(&["m"]).unwrap();
        let entries = fields.required("m").unwrap().map().unwrap();
        let keys: Vec<(&str, &str)> = entries.iter().map(|(k, n)| (*k, n.path())).collect();
        assert_eq!(keys, [("x", "m.x"), ("y", "m.y")]);
    }
}
