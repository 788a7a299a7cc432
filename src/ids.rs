//! Typed ids: one newtype per entity, so a function taking a shop, a customer and an order
//! cannot be called with them in the wrong order without the compiler noticing.
//!
//! They live inside the service only: the JSON and the OpenAPI document keep bare `i64`s
//! (views and requests convert at the HTTP boundary), and the database columns stay
//! `BIGINT`. Row structs carry the newtypes directly; the diesel conversions delegate to `i64`'s.
//! There is deliberately no `Default`: a forgotten shop must not silently become shop 0.

/// Declares an id newtype over `i64` stored in a BIGINT column.
///
/// It derives `Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord`, a transparent
/// `Serialize, Deserialize` (a bare number on the wire) and diesel's `AsExpression,
/// FromSqlRow`, and adds `Display` (the number) and `ToSql`/`FromSql` delegating to `i64`'s.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        // Generic over the backend (not only `MultiBackend`): the `MultiConnection`
        // renders some statements (inserts of `Insertable` structs, UNION subqueries)
        // through the concrete backend, which then needs the conversion as well.
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::BigInt, DB> for $name
        where
            DB: diesel::backend::Backend,
            i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                // `&self.0` lives as long as `self`, which the bind needs.
                <i64 as diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>>::to_sql(&self.0, out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB> for $name
        where
            DB: diesel::backend::Backend,
            i64: diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                <i64 as diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB>>::from_sql(bytes)
                    .map($name)
            }
        }
    };
}

id_type!(
    /// A shop (tenant): every other row belongs to one.
    ShopId
);
id_type!(
    /// A customer of a shop.
    CustomerId
);
id_type!(
    /// An order of a customer.
    OrderId
);
id_type!(
    /// A tag of a shop.
    TagId
);
id_type!(
    /// A staff member (user) of a shop.
    UserId
);
id_type!(
    /// A webhook endpoint of a shop.
    EndpointId
);
id_type!(
    /// One delivery of a webhook event to one endpoint.
    DeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_bare_number_on_the_wire() {
        let id = CustomerId(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<CustomerId>("42").unwrap(), id);
        assert!(serde_json::from_str::<CustomerId>("\"42\"").is_err());
        assert_eq!(id.to_string(), "42");
    }
}
