//! JSON input decoding with field paths in every error, and RFC 7396 merge patches.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::ValidationErrors;
use crate::objects_only::ObjectsOnly;

/// Deserializes a JSON value, reporting where and why it does not fit `T`.
pub fn decode<T: DeserializeOwned>(mut value: Value) -> Result<T, ValidationErrors> {
    loop {
        match serde_path_to_error::deserialize(ObjectsOnly(&value)) {
            Ok(decoded) => return Ok(decoded),
            // Each pass turns one float into an integer, so the loop ends.
            Err(err) if integer_for_whole_float(&mut value, err.path()) => {}
            Err(err) => return Err(field_error(&err.path().to_string(), &err.inner().to_string())),
        }
    }
}

/// Like [`decode`] for raw bytes; `Err(None)` means the bytes are not JSON at all.
pub fn decode_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Option<ValidationErrors>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(ObjectsOnly(&mut de));
    match result {
        Ok(value) => de.end().map(|_| value).map_err(|_| None),
        Err(err) if err.inner().is_syntax() || err.inner().is_eof() => Err(None),
        // The slow path only for a body refused at a whole float (`18.0` for an integer). Read as a
        // value, a key sent twice keeps its last value, where the typed read would refuse it.
        Err(err) => {
            let refused = || Some(field_error(&err.path().to_string(), &err.inner().to_string()));
            let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else { return Err(refused()) };
            if integer_for_whole_float(&mut value, err.path()) { decode(value).map_err(Some) } else { Err(refused()) }
        }
    }
}

/// 2^53: below it, every whole number has an exact `f64` (I-JSON's limit).
const EXACT_IN_F64: f64 = 9_007_199_254_740_992.0;

/// Rewrites the whole float (`18.0`, `1.8e1`) at `path`, where decoding stopped, as an integer,
/// and says whether there was one. JSON has a single number type and JSON Schema counts `18.0`
/// as an integer, so a client computing in floating point (JavaScript, Python) may send an
/// integer field that way. Only the refused number changes: floats in open maps
/// (`custom_fields`) stay as sent. From 2^53 up a float may already be a rounded integer, so it
/// is refused rather than stored as a different number.
fn integer_for_whole_float(value: &mut Value, path: &serde_path_to_error::Path) -> bool {
    let target = path.iter().try_fold(value, |node, segment| match segment {
        Segment::Seq { index } => node.get_mut(*index),
        Segment::Map { key } => node.get_mut(key.as_str()),
        Segment::Enum { .. } | Segment::Unknown => None,
    });
    match target {
        Some(number) if number.is_f64() => match number.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < EXACT_IN_F64 => {
                // Exact: `f` is a whole number below 2^53 in magnitude.
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *number = Value::from(whole);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

fn field_error(path: &str, message: &str) -> ValidationErrors {
    let path = if path == "." { "" } else { path };
    let named = |name: &str| {
        if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
    };
    let backticked = message.split('`').nth(1).unwrap_or_default();
    let (field, code) = if message.starts_with("unknown field") {
        // serde_path_to_error already ends the path with the unknown key.
        (path.to_owned(), "unknown_field")
    } else if message.starts_with("missing field") {
        (named(backticked), "required")
    } else if message.starts_with("invalid type") {
        (path.to_owned(), "invalid_type")
    } else {
        (path.to_owned(), "invalid_value")
    };
    let mut message = message.split(" at line ").next().unwrap_or(message).to_owned();
    // serde names the Rust type; a client sent JSON.
    for (rust, json) in [(", expected struct ", ", expected an object"), (", expected enum ", ", expected a string")] {
        if let Some(at) = message.find(rust) {
            message.replace_range(at.., json);
        }
    }
    ValidationErrors::single(field, code, message)
}

/// Applies an RFC 7396 merge patch to `current` and decodes the result back into `T`,
/// so a patch can only produce what a create could have sent.
pub fn merge<T: Serialize + DeserializeOwned>(current: &T, patch: Value) -> Result<T, ValidationErrors> {
    if !patch.is_object() {
        return Err(ValidationErrors::single("", "invalid_type", "a merge patch must be a JSON object"));
    }
    let mut doc =
        serde_json::to_value(current).map_err(|e| ValidationErrors::single("", "invalid_value", e.to_string()))?;
    // A top-level member the document lacks is read-only or misspelt: setting it to `null`
    // would be a silent no-op, so it is rejected whatever its value. Nested objects may be
    // open maps (`custom_fields`), so only the top level is checked here; decoding checks the rest.
    let mut unknown = ValidationErrors::default();
    if let (Value::Object(members), Value::Object(fields)) = (&patch, &doc) {
        for key in members.keys().filter(|k| !fields.contains_key(*k)) {
            unknown.add(key.clone(), "unknown_field", format!("unknown field `{key}`"));
        }
    }
    if !unknown.is_empty() {
        return Err(unknown);
    }
    json_patch::merge(&mut doc, &patch);
    decode(doc)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        name: String,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: Option<u32>,
        b: Option<u32>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Person,
        Company,
    }

    fn codes(errors: ValidationErrors) -> Vec<(String, String)> {
        errors.0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn errors_name_the_field() {
        let unknown = decode::<Thing>(json!({"name": "x", "id": 1})).err().map(codes);
        assert_eq!(unknown, Some(vec![("id".into(), "unknown_field".into())]));
        let missing = decode::<Thing>(json!({})).err().map(codes);
        assert_eq!(missing, Some(vec![("name".into(), "required".into())]));
        let nested = decode::<Thing>(json!({"name": "x", "inner": {"a": "seven"}})).err().map(codes);
        assert_eq!(nested, Some(vec![("inner.a".into(), "invalid_type".into())]));
        let huge = decode::<Thing>(json!({"name": "x", "inner": {"a": 1e300}})).err().map(codes);
        assert_eq!(huge, Some(vec![("inner.a".into(), "invalid_type".into())]));
    }

    #[test]
    fn whole_floats_are_integers_and_others_are_refused() {
        let whole = decode::<Thing>(json!({"name": "x", "inner": {"a": 18.0, "b": 3}}));
        assert_eq!(whole.map(|t| t.inner), Ok(Some(Inner { a: Some(18), b: Some(3) })));
        let sliced = decode_slice::<Thing>(br#"{"name": "x", "inner": {"a": 1.8e1, "b": -0.0}}"#);
        assert_eq!(sliced.ok().map(|t| t.inner), Some(Some(Inner { a: Some(18), b: Some(0) })));
        let fraction = decode_slice::<Thing>(br#"{"name": "x", "inner": {"a": 18.5}}"#).err().flatten().map(codes);
        assert_eq!(fraction, Some(vec![("inner.a".into(), "invalid_type".into())]));
        let negative = decode::<Thing>(json!({"name": "x", "inner": {"a": -2.0}})).err().map(codes);
        assert_eq!(negative, Some(vec![("inner.a".into(), "invalid_value".into())]));
        // From 2^53 up a float may already be a rounded integer: `…993.0` reads as 2^53.
        for inexact in ["9007199254740992.0", "9007199254740993.0", "9007199254740994.0"] {
            let body = format!(r#"{{"name": "x", "inner": {{"a": {inexact}}}}}"#);
            let refused = decode_slice::<Thing>(body.as_bytes()).err().flatten().map(codes);
            assert_eq!(refused, Some(vec![("inner.a".into(), "invalid_type".into())]), "{inexact}");
        }
        let text = decode::<Thing>(json!({"name": 5.0})).err().map(codes);
        assert_eq!(text, Some(vec![("name".into(), "invalid_type".into())]));
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Open {
        count: u32,
        fields: Value,
    }

    #[test]
    fn only_the_refused_float_becomes_an_integer() {
        let body = br#"{"fields": {"score": 5.0, "list": [2.0]}, "count": 12.0}"#;
        let open = decode_slice::<Open>(body).ok();
        let expected = Open { count: 12, fields: json!({"score": 5.0, "list": [2.0]}) };
        assert_eq!(open, Some(expected));
        let fields = open.map(|o| o.fields["score"].is_f64());
        assert_eq!(fields, Some(true), "a float in an open map stays a float");
    }

    /// serde_json alone reads a struct from an array, field by field (`["x"]` as `{"name": "x"}`),
    /// and an enum from a one-key object (`{"company": null}`).
    #[test]
    fn an_array_is_not_an_object() {
        let expect = |path: &str| Some(vec![(path.to_owned(), "invalid_type".to_owned())]);
        assert_eq!(decode::<Thing>(json!(["x"])).err().map(codes), expect(""));
        assert_eq!(decode_slice::<Thing>(br#"["x"]"#).err().flatten().map(codes), expect(""));
        let nested = br#"{"name": "x", "inner": [1, 2]}"#;
        assert_eq!(decode_slice::<Thing>(nested).err().flatten().map(codes), expect("inner"));
        let merged = merge(&Thing { name: "x".into(), note: None, inner: None }, json!({"inner": [null]}));
        assert_eq!(merged.err().map(codes), expect("inner"));
        let tagged = decode::<Vec<Kind>>(json!(["person", {"company": null}])).err();
        assert_eq!(tagged.clone().map(codes), expect("[1]"));
        // The messages speak JSON, not the Rust type's name.
        assert_eq!(tagged.map(|e| e.to_string()).as_deref(), Some("[1]: invalid type: map, expected a string"));
        let whole = decode::<Thing>(json!(["x"])).err().map(|e| e.to_string());
        assert_eq!(whole.as_deref(), Some("invalid type: sequence, expected an object"));
        assert_eq!(
            decode_slice::<Vec<Kind>>(br#"["person", "company"]"#).ok(),
            Some(vec![Kind::Person, Kind::Company])
        );
        let objects = br#"{"name": "x", "note": null, "inner": {"a": 1}}"#;
        assert_eq!(decode_slice::<Thing>(objects).ok().and_then(|t| t.inner), Some(Inner { a: Some(1), b: None }));
    }

    #[test]
    fn slices_that_are_not_json_are_told_apart() {
        assert!(matches!(decode_slice::<Thing>(b"{\"name\": "), Err(None)));
        assert!(matches!(decode_slice::<Thing>(b"{\"name\": \"x\"} trailing"), Err(None)));
        assert!(matches!(decode_slice::<Thing>(b"{\"name\": 5}"), Err(Some(_))));
        assert!(decode_slice::<Thing>(b"{\"name\": \"x\"}").is_ok());
    }

    #[test]
    fn merge_follows_rfc_7396() {
        let current = Thing { name: "a".into(), note: Some("n".into()), inner: Some(Inner { a: Some(1), b: Some(2) }) };
        let merged = merge(&current, json!({"note": null, "inner": {"b": 3}}));
        assert_eq!(merged, Ok(Thing { name: "a".into(), note: None, inner: Some(Inner { a: Some(1), b: Some(3) }) }));
    }

    #[test]
    fn merge_rejects_read_only_and_non_objects() {
        let current = Thing { name: "a".into(), note: None, inner: None };
        assert!(merge(&current, json!({"version": 3})).is_err());
        assert!(merge(&current, json!([1])).is_err());
        assert!(merge(&current, json!({"name": null})).is_err());
        let read_only = merge(&current, json!({"id": null})).err().map(codes);
        assert_eq!(read_only, Some(vec![("id".into(), "unknown_field".into())]));
        let with_map = json!({"name": "a", "inner": {"a": 1, "b": null}});
        assert!(merge(&with_map, json!({"inner": {"c": 2}})).is_ok(), "nested objects may be open maps");
    }
}
