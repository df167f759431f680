//! Turns a client's JSON body into a BSON document the database will accept, or explains why not.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use mongodb::bson::{Bson, Document};
use serde_json::Value;

use crate::error::AppError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// MongoDB refuses documents nested deeper than 100 levels; refuse them first, as a 4xx.
pub const MAX_DEPTH: usize = 100;

/// A validated JSON object, already converted to BSON, from a request body.
#[derive(Debug)]
pub struct JsonDocument(pub Document);

impl<S: Send + Sync> FromRequest<S> for JsonDocument {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !is_json(content_type.as_deref()) {
            return Err(AppError::UnsupportedMediaType(content_type));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                }
            } else {
                AppError::BadRequest(format!("the request body could not be read: {rejection}"))
            }
        })?;
        parse_document(&bytes).map(JsonDocument)
    }
}

/// `application/json`, optionally with parameters, or any `application/*+json`.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(mime) = content_type.and_then(|ct| ct.split(';').next()) else {
        return false;
    };
    let mime = mime.trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses and validates a body: 400 when it is not JSON, 422 when it is JSON we will not store.
pub fn parse_document(bytes: &[u8]) -> Result<Document, AppError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() && bytes.iter().all(u8::is_ascii_whitespace) {
            AppError::BadRequest("the request body is empty; send a JSON object".into())
        } else {
            AppError::BadRequest(format!("the request body is not valid JSON: {e}"))
        }
    })?;
    let Value::Object(map) = value else {
        return Err(AppError::Unprocessable(format!(
            "expected a JSON object, got {}",
            kind(&value)
        )));
    };
    if map.contains_key("_id") {
        return Err(AppError::Unprocessable(
            "the key `_id` is reserved: the server assigns it and returns it as `id`".into(),
        ));
    }
    let mut path = Vec::new();
    object_to_document(map, &mut path)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object_to_document(
    map: serde_json::Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Document, AppError> {
    check_depth(path)?;
    let mut document = Document::new();
    for (key, value) in map {
        check_key(&key, path)?;
        path.push(key.clone());
        let bson = value_to_bson(value, path)?;
        path.pop();
        document.insert(key, bson);
    }
    Ok(document)
}

fn value_to_bson(value: Value, path: &mut Vec<String>) -> Result<Bson, AppError> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::String(s) => Bson::String(s),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Bson::Int64(i)
            } else if n.is_u64() {
                return Err(AppError::Unprocessable(format!(
                    "the number at `{}` is larger than a 64-bit signed integer can hold",
                    dotted(path)
                )));
            } else {
                Bson::Double(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::Array(items) => {
            check_depth(path)?;
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                path.push(index.to_string());
                out.push(value_to_bson(item, path)?);
                path.pop();
            }
            Bson::Array(out)
        }
        Value::Object(map) => Bson::Document(object_to_document(map, path)?),
    })
}

fn check_depth(path: &[String]) -> Result<(), AppError> {
    if path.len() >= MAX_DEPTH {
        return Err(AppError::Unprocessable(format!(
            "the document is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(())
}

/// `$`-prefixed keys are query/update operators and dotted keys address sub-fields: storing
/// either lets a client smuggle operators into later queries (NoSQL injection).
fn check_key(key: &str, path: &[String]) -> Result<(), AppError> {
    let at = |key: &str| {
        if path.is_empty() {
            format!("`{key}`")
        } else {
            format!("`{key}` (in `{}`)", dotted(path))
        }
    };
    if key.starts_with('$') {
        return Err(AppError::Unprocessable(format!(
            "the key {} starts with `$`, which is reserved for database operators",
            at(key)
        )));
    }
    if key.contains('.') {
        return Err(AppError::Unprocessable(format!(
            "the key {} contains `.`, which the database reads as a path",
            at(key)
        )));
    }
    if key.contains('\0') {
        return Err(AppError::Unprocessable(format!(
            "the key {} contains a NUL character",
            at(&key.replace('\0', "\\u0000"))
        )));
    }
    Ok(())
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use mongodb::bson::doc;

    fn status(body: &str) -> StatusCode {
        parse_document(body.as_bytes()).unwrap_err().status()
    }

    fn message(body: &str) -> String {
        parse_document(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn converts_every_json_type() {
        let d = parse_document(
            br#"{"s":"x","i":-3,"f":1.5,"b":true,"n":null,"a":[1,{"k":"v"}],"o":{"p":[]}}"#,
        )
        .unwrap();
        assert_eq!(
            d,
            doc! {"s":"x","i":-3_i64,"f":1.5,"b":true,"n":null,"a":[1_i64,{"k":"v"}],"o":{"p":[]}}
        );
    }

    #[test]
    fn keeps_key_order() {
        let d = parse_document(br#"{"z":1,"a":2,"m":3}"#).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["z", "a", "m"]);
    }

    #[test]
    fn malformed_or_empty_json_is_400() {
        assert_eq!(status("{"), StatusCode::BAD_REQUEST);
        assert_eq!(status("{'a':1}"), StatusCode::BAD_REQUEST);
        assert_eq!(status(""), StatusCode::BAD_REQUEST);
        assert!(message("  ").contains("empty"));
        assert!(message("{\"a\":").contains("not valid JSON"));
    }

    #[test]
    fn json_that_is_not_an_object_is_422() {
        for (body, what) in [
            ("[]", "an array"),
            ("1", "a number"),
            ("\"x\"", "a string"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            assert_eq!(status(body), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert!(message(body).contains(what), "{body}");
        }
    }

    #[test]
    fn operator_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"$where":"1"}"#,
            r#"{"a":{"$gt":""}}"#,
            r#"{"a":[{"b":{"$ne":1}}]}"#,
            r#"{"a.b":1}"#,
            r#"{"a":{"x.y":1}}"#,
            "{\"a\\u0000\":1}",
        ] {
            assert_eq!(status(body), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        }
        assert!(message(r#"{"a":[{"b":{"$ne":1}}]}"#).contains("in `a.0.b`"));
        assert!(parse_document(br#"{"price$":1,"x":"$y","e":""}"#).is_ok());
    }

    #[test]
    fn reserved_id_is_refused() {
        assert_eq!(status(r#"{"_id":1}"#), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(parse_document(br#"{"a":{"_id":1}}"#).is_ok());
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        assert_eq!(
            status(r#"{"n":18446744073709551615}"#),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(parse_document(br#"{"n":9223372036854775807}"#).is_ok());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        assert!(parse_document(deep(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            status(&deep(MAX_DEPTH + 1)),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let arrays = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(status(&arrays), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
        assert!(!is_json(None));
    }
}
