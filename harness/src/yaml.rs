//! YAML documents as trees that remember the line of every value, so a finding can say file:line.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML value and the 1-based line it starts on (0 when unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: u64,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(String, Node)>),
}

/// A document that could not be parsed, with the parser's own message (which carries the line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(String);

/// Parses every document of a multi-document stream; empty documents are dropped.
///
/// # Errors
/// The parser's message, with line and column, for the first malformed document.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, ParseError> {
    let documents: Vec<Option<Spanned<Value>>> =
        serde_saphyr::from_str_multiple(text).map_err(|e| ParseError(e.to_string()))?;
    Ok(documents
        .into_iter()
        .flatten()
        .map(|spanned| Node {
            line: spanned.referenced.line(),
            value: spanned.value,
        })
        .filter(|node| node.value != Value::Null)
        .collect())
}

impl Node {
    /// The value under `key` when this is a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a path of map keys: `node.path(&["spec", "template", "spec"])`.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Items of a sequence; empty for anything else.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// Entries of a map; empty for anything else.
    pub fn entries(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// A scalar as text (numbers and booleans included), for messages and comparisons.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// Plain JSON, for handing a document to typed deserialisers.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(Node {
                line: item.referenced.line(),
                value: item.value,
            });
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Value>>()? {
            let key_line = key.referenced.line();
            let key = match key.value {
                Value::Str(s) => s,
                other => Node {
                    line: key_line,
                    value: other,
                }
                .scalar_text()
                .unwrap_or_default(),
            };
            let value = map.next_value::<Spanned<Value>>()?;
            // A nested map or list starts on the line after its key; point at the key.
            let line = match value.value {
                Value::Map(_) | Value::Seq(_) => key_line,
                _ => value.referenced.line(),
            };
            entries.push((
                key,
                Node {
                    line,
                    value: value.value,
                },
            ));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_DOCS: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
    - port: 80
      targetPort: 5000
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
";

    #[test]
    fn every_value_knows_its_line() {
        let docs = parse_documents(TWO_DOCS).unwrap();
        assert_eq!(docs.len(), 2, "empty documents are dropped");
        let service = &docs[0];
        assert_eq!(service.get("kind").unwrap().as_str(), Some("Service"));
        assert_eq!(service.get("kind").unwrap().line, 2);
        let port = &service.path(&["spec", "ports"]).unwrap().items()[0];
        assert_eq!(port.get("targetPort").unwrap().as_i64(), Some(5000));
        assert_eq!(port.get("targetPort").unwrap().line, 8);
        assert_eq!(service.path(&["spec", "ports"]).unwrap().line, 6);
        let deployment = &docs[1];
        assert_eq!(deployment.path(&["spec", "replicas"]).unwrap().line, 18);
        assert_eq!(
            deployment
                .path(&["metadata", "labels", "app"])
                .unwrap()
                .as_str(),
            Some("web")
        );
    }

    #[test]
    fn converts_to_json() {
        let docs = parse_documents("a: [1, 2.5, true, null, x]\nb: {c: d}\n").unwrap();
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"a": [1, 2.5, true, null, "x"], "b": {"c": "d"}})
        );
    }

    #[test]
    fn malformed_yaml_reports_where() {
        let error = parse_documents("a: [1, 2\nb: c\n").unwrap_err().to_string();
        assert!(error.contains("line"), "{error}");
    }
}
