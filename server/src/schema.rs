//! OpenAPI schemas that the handlers' own descriptions name (`#[utoipa::path]`,
//! `#[schema(schema_with = …)]`). Kept apart from `crate::openapi`, which gathers the handlers
//! into one document and so sits above them.

use utoipa::ToSchema;
use utoipa::openapi::schema::ArrayBuilder;
use utoipa::openapi::{ObjectBuilder, OneOfBuilder, RefOr, Schema, Type};
use zoufang_shared::CodeList;

/// A sync body: DEFLATE-compressed postcard (`zoufang_shared::wire`), opaque to JSON tools.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct SyncBody(#[allow(dead_code)] Vec<u8>);

/// Raw bytes of a photo chunk.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ChunkBody(#[allow(dead_code)] Vec<u8>);

/// A code list (`zoufang_shared::codes`) as the string enum it travels as.
pub fn code_list<T: CodeList>() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(T::LIST))
        .enum_values(Some(T::ALL.iter().map(|c| c.code())))
}

/// A household's conflicted fields: `[path, number of values]` pairs. Described as pairs of
/// string-or-integer: utoipa's own tuple schema is not valid OpenAPI 3.1 (the list lands in
/// `items`), and schemathesis 4 cannot check the exact `prefixItems` form.
pub fn conflict_pairs() -> impl Into<RefOr<Schema>> {
    let path = ObjectBuilder::new().schema_type(Type::String);
    let values = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(2));
    ArrayBuilder::new().items(
        ArrayBuilder::new()
            .items(OneOfBuilder::new().item(path).item(values))
            .min_items(Some(2))
            .max_items(Some(2))
            .description(Some("`[path, number of values]`")),
    )
}
