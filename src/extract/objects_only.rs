//! A deserializer over a parsed JSON document that refuses serde's sequence form of a
//! struct at any depth.
//!
//! serde's derived `Deserialize` fills a struct from an array of its fields in order, so
//! `["李娜", [...], null, ...]` would be read as a customer, and `["phone", "138..."]` as a
//! contact handle. No body of this API is meant that way: every struct is a JSON object. The
//! top level is checked by `parse_json`; this wrapper checks every nested value as serde
//! asks for it, by answering `deserialize_struct` on an array with a type error that names
//! the field. Everything else is what `serde_json::Value` does.

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde_json::{Error, Value};

/// `value`, read with structs only ever from objects.
#[derive(Clone, Copy)]
pub struct ObjectsOnly<'a>(pub &'a Value);

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|value| seed.deserialize(ObjectsOnly(value)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map<'a> {
    entries: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        seed.deserialize(ObjectsOnly(value))
    }
}

impl<'de> Deserializer<'de> for ObjectsOnly<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Seq(items.iter())),
            Value::Object(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                value: None,
            }),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            Value::Array(_) => Err(de::Error::invalid_type(
                Unexpected::Seq,
                &"a JSON object ({...})",
            )),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
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
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // The API's enums are names (`"taobao"`); serde_json reads them as ever.
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Handle {
        kind: String,
        value: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Customer {
        name: String,
        contacts: Vec<Handle>,
        birthday: Option<chrono::NaiveDate>,
    }

    fn read(json: &str) -> Result<Customer, String> {
        let value: Value = serde_json::from_str(json).unwrap();
        serde_path_to_error::deserialize(ObjectsOnly(&value)).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })
    }

    #[test]
    fn nested_structs_are_objects_only() {
        let ok = read(r#"{"name": "李娜", "contacts": [{"kind": "phone", "value": "138"}], "birthday": "1990-05-17"}"#)
            .unwrap();
        assert_eq!(ok.contacts[0].kind, "phone");
        assert_eq!(ok.birthday.unwrap().to_string(), "1990-05-17");
        let err = read(r#"{"name": "李娜", "contacts": [["phone", "138"]], "birthday": null}"#)
            .unwrap_err();
        assert!(
            err.starts_with("contacts[0]: invalid type: sequence"),
            "{err}"
        );
        // Lists are still lists, and unknown fields still unknown.
        let err = read(r#"{"name": "x", "contacts": [], "nickname": "y"}"#).unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }
}
