//! Reading a parsed JSON document by hand, with the JSON path of every error.
//!
//! A configuration type can be read from a [`Value`] without a derived `Deserialize`:
//! every derived type costs its own copy of the deserializer in the wasm module, while
//! readers written with [`Node`] and [`Fields`] share one. Errors are worded like the
//! SDK's deserializer's (`expected a string, found 42`, ``unknown field `x`, expected
//! `a` or `b` ``, ``missing field `x` ``), so a configuration reads the same either way.
//!
//! ```
//! use wasmesh_sdk::config::reader::Node;
//! use wasmesh_sdk::config::{json, Value};
//! use wasmesh_sdk::ConfigError;
//!
//! fn greeting(value: &Value) -> Result<(String, bool), ConfigError> {
//!     let fields = Node::root(value).object(&["text", "loud"])?;
//!     let text = fields.required("text")?.string()?;
//!     let loud = fields.read_or("loud", false, Node::bool)?;
//!     Ok((text, loud))
//! }
//!
//! let value = json::parse(br#"{"text": 42}"#).unwrap_or(Value::Null);
//! let error = greeting(&value).unwrap_err();
//! assert_eq!(error.to_string(), "config.text: expected a string, found 42");
//! ```

use super::json::{Number, Value};
use super::ConfigError;
use crate::reply::push_json_string;

/// A value and where it is in the document (`rules[0].paths[1]`; empty for the root).
#[derive(Debug, Clone)]
pub struct Node<'a> {
    value: &'a Value,
    path: String,
}

/// The members of an object whose keys have been checked (see [`Node::object`]).
#[derive(Debug)]
pub struct Fields<'a> {
    members: &'a [(String, Value)],
    path: String,
}

/// The path of `key` inside the value at `path`: `a.b`, or `b` at the root.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// How an error describes the value it found: `42`, `true`, `null`, `"text"` (as a JSON
/// string), `a fractional number`, `an array` or `an object`.
pub fn describe(value: &Value) -> String {
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

/// The names an error offers: `` `a` ``, `` `a` or `b` ``, or `` one of `a`, `b`, `c` ``
/// (`nothing` when there are none).
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

    /// Where the value is (empty for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The value itself, for keeping it as it is (e.g. another filter's configuration).
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        *self.value == Value::Null
    }

    /// An error about this value.
    pub fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path.clone(), reason)
    }

    /// The error `expected <what>, found <the value>`.
    pub fn expected(&self, what: &str) -> ConfigError {
        self.error(format!("expected {what}, found {}", describe(self.value)))
    }

    /// The object's members, refusing keys not in `known` and repeated keys. `known` is
    /// listed in errors in the order given.
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

    /// The members of an object used as a map (any key), in order, refusing repeated keys.
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

    /// An object used as a map whose values are all strings, in order.
    pub fn string_map(&self) -> Result<Vec<(String, String)>, ConfigError> {
        self.map()?
            .into_iter()
            .map(|(key, value)| Ok((key.to_owned(), value.string()?)))
            .collect()
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

    /// The elements of an array, each read with `read`.
    pub fn list<T>(
        &self,
        read: impl Fn(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        self.array()?.iter().map(read).collect()
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

    /// A non-negative integer no larger than `max`; `what` names the type in errors
    /// (`expected u16, found 70000`).
    pub fn uint(&self, max: u64, what: &str) -> Result<u64, ConfigError> {
        match self.value {
            Value::Number(Number::UInt(n)) if *n <= max => Ok(*n),
            _ => Err(self.expected(what)),
        }
    }

    /// Any number, integers included (`expected f64, found "x"`).
    pub fn f64(&self) -> Result<f64, ConfigError> {
        match self.value {
            Value::Number(Number::Float(n)) => Ok(*n),
            // Integers are converted as a float field converts them (rounding above 2^53).
            Value::Number(Number::UInt(n)) => Ok(*n as f64),
            Value::Number(Number::Int(n)) => Ok(*n as f64),
            _ => Err(self.expected("f64")),
        }
    }

    /// An array of strings.
    pub fn strings(&self) -> Result<Vec<String>, ConfigError> {
        self.list(Node::string)
    }

    /// The index in `names` of the string this value holds
    /// (``unknown value `x`, expected `a` or `b` `` otherwise).
    pub fn choice(&self, names: &[&str]) -> Result<usize, ConfigError> {
        let text = self.str()?;
        names.iter().position(|n| *n == text).ok_or_else(|| {
            self.error(format!(
                "unknown value `{text}`, expected {}",
                one_of(names)
            ))
        })
    }

    /// The value in `values` at the position of the string this value holds in `names`
    /// (the two lists go together, as the names and the variants of an enum; names
    /// without a value are not accepted).
    pub fn pick<T: Copy>(&self, names: &[&str], values: &[T]) -> Result<T, ConfigError> {
        let names = names.get(..values.len()).unwrap_or(names);
        let index = self.choice(names)?;
        values
            .get(index)
            .copied()
            .ok_or_else(|| self.expected(&one_of(names)))
    }
}

impl<'a> Fields<'a> {
    /// Where the object is.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The member `key` as written, `null` included.
    pub fn member(&self, key: &str) -> Option<Node<'a>> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| Node {
                value,
                path: join(&self.path, key),
            })
    }

    /// The member `key`, if present and not `null` (an optional field).
    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        self.member(key).filter(|node| !node.is_null())
    }

    /// The member `key`, which must be present and not `null`
    /// (``missing field `key` `` otherwise).
    pub fn required(&self, key: &str) -> Result<Node<'a>, ConfigError> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    /// The member `key`, which must be present; a `null` is returned for its reader to
    /// refuse (`expected a string, found null`), as a derived `Deserialize` does.
    pub fn present(&self, key: &str) -> Result<Node<'a>, ConfigError> {
        self.member(key).ok_or_else(|| self.missing(key))
    }

    /// The error ``missing field `key` ``, about the object.
    pub fn missing(&self, key: &str) -> ConfigError {
        ConfigError::at(self.path.clone(), format!("missing field `{key}`"))
    }

    /// Reads the member `key` with `read`, or gives `default` when it is absent or `null`.
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

    /// Reads the member `key` with `read`, or gives `default` when it is absent; a `null`
    /// is given to `read` (which refuses it unless it accepts `null`), as serde's
    /// `#[serde(default)]` does for a field that is not an `Option`.
    pub fn read_given_or<T>(
        &self,
        key: &str,
        default: T,
        read: impl FnOnce(&Node<'a>) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.member(key) {
            Some(node) => read(&node),
            None => Ok(default),
        }
    }

    /// Reads the member `key` with `read` when it is present and not `null`.
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
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn parse(json: &str) -> Value {
        crate::config::json::parse(json.as_bytes()).unwrap()
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
        assert_eq!(
            text("b", &|n| n.f64().map(drop)),
            "config.b: expected f64, found \"x\""
        );
    }

    #[test]
    fn numbers_read_as_floats() {
        let value = parse(r#"[0, -2, 0.25]"#);
        let items = Node::root(&value).list(Node::f64).unwrap();
        assert_eq!(items, [0.0, -2.0, 0.25]);
    }

    #[test]
    fn null_is_absent() {
        let value = parse(r#"{"a": null}"#);
        let fields = Node::root(&value).object(&["a"]).unwrap();
        assert!(fields.get("a").is_none());
        assert_eq!(fields.read_or("a", 7, |n| n.uint(9, "u8")).unwrap(), 7);
        assert_eq!(fields.read_opt("a", Node::bool).unwrap(), None);
        assert_eq!(
            fields.required("a").unwrap_err().to_string(),
            "config: missing field `a`"
        );
    }

    #[test]
    fn null_can_be_refused_where_serde_refuses_it() {
        let value = parse(r#"{"a": null}"#);
        let fields = Node::root(&value).object(&["a", "b"]).unwrap();
        let error = fields
            .read_given_or("a", 7, |n| n.uint(9, "u8"))
            .unwrap_err();
        assert_eq!(error.to_string(), "config.a: expected u8, found null");
        assert_eq!(fields.read_given_or("b", 7, |n| n.uint(9, "u8")), Ok(7));
        let error = fields.present("a").and_then(|n| n.string()).unwrap_err();
        assert_eq!(error.to_string(), "config.a: expected a string, found null");
        assert_eq!(
            fields.present("b").unwrap_err().to_string(),
            "config: missing field `b`"
        );
    }

    #[test]
    fn maps_keep_order_and_paths() {
        let value = parse(r#"{"m": {"x": 1, "y": 2}}"#);
        let fields = Node::root(&value).object(&["m"]).unwrap();
        let entries = fields.required("m").unwrap().map().unwrap();
        let keys: Vec<(&str, &str)> = entries.iter().map(|(k, n)| (*k, n.path())).collect();
        assert_eq!(keys, [("x", "m.x"), ("y", "m.y")]);
        let value = parse(r#"{"m": {"x": "1", "y": 2}}"#);
        let fields = Node::root(&value).object(&["m"]).unwrap();
        let error = fields.required("m").unwrap().string_map().unwrap_err();
        assert_eq!(error.to_string(), "config.m.y: expected a string, found 2");
    }

    #[test]
    fn pick_gives_the_value_named() {
        let value = parse(r#"["b", "c"]"#);
        let items = Node::root(&value).array().unwrap();
        let names = ["a", "b"];
        assert_eq!(items.first().unwrap().pick(&names, &[1, 2]), Ok(2));
        assert_eq!(
            items
                .get(1)
                .unwrap()
                .pick(&names, &[1, 2])
                .unwrap_err()
                .to_string(),
            "config[1]: unknown value `c`, expected `a` or `b`"
        );
        assert_eq!(
            items
                .first()
                .unwrap()
                .pick(&names, &[1])
                .unwrap_err()
                .to_string(),
            "config[0]: unknown value `b`, expected `a`"
        );
    }

    #[test]
    fn the_value_and_one_of() {
        let value = parse(r#"{"k": [1]}"#);
        let fields = Node::root(&value).object(&["k"]).unwrap();
        assert_eq!(fields.path(), "");
        let node = fields.required("k").unwrap();
        assert_eq!(
            node.value(),
            &Value::Array(vec![Value::Number(Number::UInt(1))])
        );
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a.b");
        assert_eq!(one_of(&[]), "nothing");
        assert_eq!(describe(&Value::Null), "null");
    }
}
