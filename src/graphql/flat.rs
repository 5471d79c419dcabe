//! One pass for the fields of the hot object types (tickets, messages, customers...).
//!
//! async-graphql resolves every field of an object as a boxed future of its own, run
//! through the extension chain and inserted into the response when it completes; on the
//! inbox page that is most of the server's CPU (about 1,150 fields, a few microseconds
//! each: memmove and malloc of the boxed futures, the chain's boxed calls, the registry
//! lookups). [`Flat`] resolves an object whose type implements [`RowFields`] in one pass
//! instead: the argument-free fields that need nothing but the row are computed in place,
//! in document order, and only the fields that load something go through the type's own
//! resolvers, concurrently, with no box per field. A selection with anything unusual in
//! it (a fragment, a directive, a response key selected twice) takes async-graphql's own
//! path, so the response is the same either way (a test compares the two paths on every
//! leaf field of every flat type).
//!
//! The schema's extensions are not called per field on this path: none of them
//! implements `Extension::resolve` (one that did would have to wrap [`Flat`] too).

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{
    ContextSelectionSet, InputType, Name, OutputType, Positioned, ServerResult, Value,
};

/// An object type some of whose fields are a function of its row alone.
pub trait RowFields: ContainerType + OutputType {
    /// The value of the argument-free field `name` (its schema name) when it needs
    /// nothing but the row; `None` when it has to be resolved.
    fn row_field(&self, name: &str) -> Option<Value>;
}

/// `T`, resolved in one pass (see the module documentation); the same GraphQL type.
pub struct Flat<T>(pub T);

impl<T: RowFields> OutputType for Flat<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let Some(fields) = plain_selection(ctx) else {
            return resolve_container(ctx, &self.0).await;
        };
        let mut values: Vec<Option<Value>> = fields
            .iter()
            .map(|field| {
                let name = field.node.name.node.as_str();
                if name == "__typename" {
                    Some(Value::String(self.0.introspection_type_name().into_owned()))
                } else if field.node.arguments.is_empty() {
                    self.0.row_field(name)
                } else {
                    None
                }
            })
            .collect();
        let pending: Vec<usize> = (0..fields.len()).filter(|i| values[*i].is_none()).collect();
        let contexts: Vec<_> = pending.iter().map(|i| ctx.with_field(fields[*i])).collect();
        let resolved =
            futures_util::future::join_all(contexts.iter().map(|c| self.0.resolve_field(c))).await;
        for (i, result) in pending.into_iter().zip(resolved) {
            match result {
                Ok(value) => values[i] = Some(value.unwrap_or_default()),
                // As async-graphql does: the error is reported, the key left out.
                Err(error) => ctx.add_error(error),
            }
        }
        let object: IndexMap<Name, Value> = fields
            .iter()
            .zip(values)
            .filter_map(|(field, value)| Some((field.node.response_key().node.clone(), value?)))
            .collect();
        Ok(if object.is_empty() {
            Value::Null
        } else {
            Value::Object(object)
        })
    }
}

/// The selected fields when the selection is only fields, without directives, each
/// response key once; `None` otherwise (async-graphql's own path handles those).
fn plain_selection<'a>(ctx: &ContextSelectionSet<'a>) -> Option<Vec<&'a Positioned<Field>>> {
    let items = &ctx.item.node.items;
    let mut fields: Vec<&'a Positioned<Field>> = Vec::with_capacity(items.len());
    for item in items {
        let Selection::Field(field) = &item.node else {
            return None;
        };
        let key = field.node.response_key();
        if !field.node.directives.is_empty()
            || fields
                .iter()
                .any(|f| f.node.response_key().node == key.node)
        {
            return None;
        }
        fields.push(field);
    }
    Some(fields)
}

/// A field's value as async-graphql would output it (scalars, enums, options of them).
pub fn out<T: InputType>(value: &T) -> Value {
    value.to_value()
}

/// An optional text field's value.
pub fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |s| Value::String(s.to_owned()))
}
