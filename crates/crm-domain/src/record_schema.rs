//! The OpenAPI schema of a stored record: its input's properties plus the read-only ones the
//! service keeps (id, version, timestamps), as one flat object with every property required.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};

/// A `date-time` string property, nullable or not.
pub fn timestamp(nullable: bool, description: &str) -> RefOr<Schema> {
    let kind = if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { Type::String.into() };
    ObjectBuilder::new()
        .schema_type(kind)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(description))
        .into()
}

/// `input`'s properties plus `id`, `version`, `created_at`, `updated_at`, `deleted_at` and
/// `extra`. A derived `allOf` would inherit the input's `additionalProperties: false` and
/// reject the read-only members.
pub fn record_schema(
    input: RefOr<Schema>,
    id: RefOr<Schema>,
    extra: Vec<(&str, RefOr<Schema>)>,
    noun: &str,
    description: &str,
) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = input else {
        return input;
    };
    let version = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some("Increases with every change; sent as `ETag`."))
        .examples([serde_json::json!(1)])
        .into();
    let read_only = [
        ("id", id),
        ("version", version),
        ("created_at", timestamp(false, &format!("When the {noun} was created."))),
        ("updated_at", timestamp(false, &format!("When the {noun} last changed."))),
        ("deleted_at", timestamp(true, &format!("Set while the {noun} is deleted (restorable)."))),
    ];
    object.properties.extend(read_only.map(|(name, schema)| (name.to_owned(), schema)));
    object.properties.extend(extra.into_iter().map(|(name, schema)| (name.to_owned(), schema)));
    object.required = object.properties.keys().cloned().collect();
    object.additional_properties = None;
    object.description = Some(description.to_owned());
    object.example = None;
    RefOr::T(Schema::Object(object))
}
