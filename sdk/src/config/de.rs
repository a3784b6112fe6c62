//! A serde deserializer over [`Value`] that reports the JSON path of every error, and
//! words errors as `expected X, found Y` without formatting machinery the wasm does not need.

use super::json::{Number, Value};
use super::reader::one_of;
use serde::de::{
    self, DeserializeSeed, EnumAccess, Expected, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use std::fmt;

/// A deserialization error with the path where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// `a.b[0]`; `None` until the error reaches the value it is about.
    pub path: Option<String>,
    /// Why.
    pub reason: String,
}

impl Error {
    fn new(reason: String) -> Self {
        Self { path: None, reason }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Error {}

fn describe(unexpected: &Unexpected<'_>) -> String {
    match unexpected {
        Unexpected::Bool(b) => b.to_string(),
        Unexpected::Unsigned(n) => n.to_string(),
        Unexpected::Signed(n) => n.to_string(),
        Unexpected::Float(_) => "a fractional number".to_owned(),
        Unexpected::Char(c) => {
            let mut out = String::new();
            crate::reply::push_json_string(&mut out, c.encode_utf8(&mut [0; 4]));
            out
        }
        Unexpected::Str(s) => {
            let mut out = String::new();
            crate::reply::push_json_string(&mut out, s);
            out
        }
        Unexpected::Unit => "null".to_owned(),
        Unexpected::Seq => "an array".to_owned(),
        Unexpected::Map => "an object".to_owned(),
        Unexpected::Bytes(_) => "bytes".to_owned(),
        Unexpected::Option => "an optional value".to_owned(),
        Unexpected::NewtypeStruct => "a value".to_owned(),
        Unexpected::Enum => "an enum".to_owned(),
        Unexpected::UnitVariant | Unexpected::NewtypeVariant => "a variant".to_owned(),
        Unexpected::TupleVariant | Unexpected::StructVariant => "a variant".to_owned(),
        Unexpected::Other(other) => (*other).to_owned(),
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(msg.to_string())
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::new(format!(
            "expected {expected}, found {}",
            describe(&unexpected)
        ))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::new(format!(
            "expected {expected}, found {}",
            describe(&unexpected)
        ))
    }

    fn invalid_length(len: usize, expected: &dyn Expected) -> Self {
        Self::new(format!("expected {expected}, found {len} elements"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(format!(
            "unknown value `{variant}`, expected {}",
            one_of(expected)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(format!(
            "unknown field `{field}`, expected {}",
            one_of(expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(format!("missing field `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(format!("duplicate field `{field}`"))
    }
}

/// A path segment.
#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

/// A path from the root, as a linked list on the stack (no allocation until an error).
#[derive(Clone, Copy)]
pub(crate) struct Path<'a>(Segment<'a>);

impl Path<'_> {
    pub(crate) const ROOT: Path<'static> = Path(Segment::Root);

    fn render(&self, out: &mut String) {
        match self.0 {
            Segment::Root => {}
            Segment::Key(parent, key) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(parent, index) => {
                parent.render(out);
                out.push('[');
                out.push_str(&index.to_string());
                out.push(']');
            }
        }
    }

    fn locate(&self, mut error: Error) -> Error {
        if error.path.is_none() {
            let mut out = String::new();
            self.render(&mut out);
            error.path = Some(out);
        }
        error
    }
}

/// Deserializes `value`; the path of an error is relative to `path`.
pub(crate) struct ValueDeserializer<'p> {
    pub value: Value,
    pub path: Path<'p>,
}

impl<'de, 'p> de::Deserializer<'de> for ValueDeserializer<'p> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let path = self.path;
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(Number::UInt(n)) => visitor.visit_u64(n),
            Value::Number(Number::Int(n)) => visitor.visit_i64(n),
            Value::Number(Number::Float(n)) => visitor.visit_f64(n),
            Value::Number(Number::Decimal(n)) => visitor.visit_f64(n.to_f64()),
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => visitor.visit_seq(Seq {
                items: items.into_iter().enumerate(),
                path,
            }),
            Value::Object(members) => {
                let mut map = Map {
                    members: members.into_iter(),
                    pending: None,
                    path,
                };
                // An error between a key and its value (a duplicate field) is about that key.
                visitor.visit_map(&mut map).map_err(|e| match &map.pending {
                    Some((key, _)) => Path(Segment::Key(&path, key)).locate(e),
                    None => e,
                })
            }
        };
        result.map_err(|e| path.locate(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let path = self.path;
        let (variant, value) = match self.value {
            Value::String(variant) => (variant, None),
            Value::Object(members) if members.len() == 1 => {
                let Some((variant, value)) = members.into_iter().next() else {
                    return Err(path.locate(Error::new("expected an enum".into())));
                };
                (variant, Some(value))
            }
            other => {
                let found = match other {
                    Value::Object(_) => Unexpected::Map,
                    Value::Array(_) => Unexpected::Seq,
                    _ => Unexpected::Other("a non-string value"),
                };
                return Err(path.locate(de::Error::invalid_type(found, &"a string")));
            }
        };
        visitor
            .visit_enum(Enum {
                variant,
                value,
                path,
            })
            .map_err(|e| path.locate(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct Seq<'p> {
    items: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    path: Path<'p>,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((index, value)) = self.items.next() else {
            return Ok(None);
        };
        let path = Path(Segment::Index(&self.path, index));
        seed.deserialize(ValueDeserializer { value, path })
            .map(Some)
            .map_err(|e| path.locate(e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'p> {
    members: std::vec::IntoIter<(String, Value)>,
    pending: Option<(String, Value)>,
    path: Path<'p>,
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.members.next() else {
            return Ok(None);
        };
        let path = Path(Segment::Key(&self.path, &key));
        let result = seed
            .deserialize(key.as_str().into_deserializer())
            .map_err(|e: Error| path.locate(e));
        self.pending = Some((key, value));
        result.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(Error::new("a value was asked for before its key".into()));
        };
        let path = Path(Segment::Key(&self.path, &key));
        seed.deserialize(ValueDeserializer { value, path })
            .map_err(|e| path.locate(e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

struct Enum<'p> {
    variant: String,
    value: Option<Value>,
    path: Path<'p>,
}

impl<'de, 'p> EnumAccess<'de> for Enum<'p> {
    type Error = Error;
    type Variant = Variant<'p>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Variant<'p>), Error> {
        let variant = seed.deserialize(self.variant.as_str().into_deserializer())?;
        Ok((
            variant,
            Variant {
                value: self.value,
                path: self.path,
            },
        ))
    }
}

struct Variant<'p> {
    value: Option<Value>,
    path: Path<'p>,
}

impl<'de> VariantAccess<'de> for Variant<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None | Some(Value::Null) => Ok(()),
            Some(_) => Err(Error::new("this value takes no content".into())),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let value = self.value.unwrap_or(Value::Null);
        seed.deserialize(ValueDeserializer {
            value,
            path: self.path,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(
            ValueDeserializer {
                value: self.value.unwrap_or(Value::Null),
                path: self.path,
            },
            visitor,
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(
            ValueDeserializer {
                value: self.value.unwrap_or(Value::Null),
                path: self.path,
            },
            visitor,
        )
    }
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                de::Deserialize::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
                Ok(Value::Number(Number::UInt(n)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
                Ok(Value::Number(if n < 0 {
                    Number::Int(n)
                } else {
                    Number::UInt(n.unsigned_abs())
                }))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
                Ok(Value::Number(Number::Float(n)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::String(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::String(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Value::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    members.push((key, value));
                }
                Ok(Value::Object(members))
            }
        }

        deserializer.deserialize_any(ValueVisitor)
    }
}
