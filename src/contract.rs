//! How a type is described in the OpenAPI document when its Rust shape cannot say it.
//!
//! Some shapes depend on a value: a ticket's `details` follow its `kind`, a contact
//! handle's `value` its `kind`, a timeline entry's `data` its `kind`. The server reads them
//! as JSON or a plain string and checks them with plain rules (so that a bad field is a 422
//! naming `details.rating`, not serde's words about an enum), which a derived schema can
//! only render as "any of these, whatever the kind". Such a type is documented by a
//! documentation-only type (a `oneOf` of one named schema per kind, with a discriminator)
//! under the real type's name, so generated clients get one type per kind.

/// Documents `$real` by the schema of `$doc` (which names itself after `$real` with
/// `#[schema(as = ...)]`): every field of type `$real` anywhere refers to it.
macro_rules! documented_as {
    ($real:ty => $doc:ty) => {
        impl utoipa::PartialSchema for $real {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$doc as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $real {
            fn name() -> std::borrow::Cow<'static, str> {
                <$doc as utoipa::ToSchema>::name()
            }

            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                <$doc as utoipa::ToSchema>::schemas(schemas)
            }
        }
    };
}
pub(crate) use documented_as;

/// A `kind` that can take one value only (`kind_tag!(ReturnKind = "return")`): the
/// discriminator property of one schema of a `oneOf`, used with `#[schema(inline)]`.
macro_rules! kind_tag {
    // `tt`, not `literal`: a `literal` fragment reaches the derive wrapped in an invisible
    // group, and utoipa then misses the serde rename.
    ($name:ident = $value:tt) => {
        #[allow(dead_code)]
        #[derive(serde::Serialize, utoipa::ToSchema)]
        enum $name {
            #[serde(rename = $value)]
            Tag,
        }
    };
}
pub(crate) use kind_tag;
