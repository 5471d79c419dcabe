//! Response fields in the order the document asked for them, on every transport.
//!
//! The GraphQL spec says a response object SHOULD list its fields in selection order.
//! async-graphql resolves the fields of an object concurrently and inserts each result
//! when it completes (a `FuturesUnordered`), so a field that waits on the database lands
//! after one that does not: `pageInfo` before `edges`, `id` after `customer`. This
//! extension puts every object of `data` back in document order after execution (and
//! for each subscription event), following the spec's CollectFields: fragments inlined
//! where their type condition applies, `@skip`/`@include` honoured, fields merged by
//! response key. Types come from the schema's registry; for an interface or union the
//! concrete type is the one whose collected fields are exactly the object's keys.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextSubscribe,
};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaTypeName, Registry};
use async_graphql::{Name, Positioned, Response, SchemaEnv, ServerResult, Value, Variables};
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

/// Extension factory restoring document order in responses.
pub struct FieldOrder;

impl ExtensionFactory for FieldOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldOrderExtension::default())
    }
}

/// The parsed request, kept from parsing until the response is ready.
type Parsed = Arc<Mutex<Option<(ExecutableDocument, Variables)>>>;

#[derive(Default)]
struct FieldOrderExtension {
    parsed: Parsed,
}

#[async_graphql::async_trait::async_trait]
impl Extension for FieldOrderExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Ok(mut parsed) = self.parsed.lock() {
            *parsed = Some((document.clone(), variables.clone()));
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        reorder(
            &self.parsed,
            ctx.schema_env,
            operation_name,
            &mut response,
            false,
        );
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let parsed = self.parsed.clone();
        let schema = ctx.schema_env.clone();
        // The operation name is only known once the request is prepared; subscription
        // documents hold one operation in practice, and `reorder` picks the only
        // subscription of the document (queries sent this way are ordered in `execute`).
        next.run(ctx, stream)
            .map(move |mut response| {
                reorder(&parsed, &schema, None, &mut response, true);
                response
            })
            .boxed()
    }
}

fn reorder(
    parsed: &Parsed,
    schema: &SchemaEnv,
    operation_name: Option<&str>,
    response: &mut Response,
    subscription_event: bool,
) {
    let Ok(parsed) = parsed.lock() else { return };
    let Some((document, variables)) = parsed.as_ref() else {
        return;
    };
    let registry = &schema.registry;
    let operation = document
        .operations
        .iter()
        .filter(|(_, op)| !subscription_event || op.node.ty == OperationType::Subscription)
        .find(|(name, _)| operation_name.is_none() || name.map(|n| n.as_str()) == operation_name)
        .map(|(_, op)| op);
    let Some(operation) = operation else { return };
    let root = match operation.node.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    let Some(root) = root else { return };
    let walk = Walk {
        registry,
        document,
        variables,
        shapes: RefCell::default(),
    };
    walk.value(&mut response.data, root, &[&operation.node.selection_set]);
}

/// Everything needed to collect fields.
struct Walk<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// The fields collected for each object type and selection sets met so far (the 50
    /// tickets of a page, and each one's customer, share one entry each).
    shapes: RefCell<HashMap<ShapeKey, Rc<Fields<'a>>>>,
}

/// An object type and the addresses of the selection sets applied to it.
type ShapeKey = (String, Vec<usize>);

/// The fields of an object by response key, in document order.
type Fields<'a> = IndexMap<&'a str, Collected<'a>>;

/// The selections merged under one response key, with the field's name and the named
/// type of its value (none for `__typename`).
struct Collected<'a> {
    name: &'a str,
    ty: Option<String>,
    sets: Vec<&'a Positioned<SelectionSet>>,
}

impl<'a> Walk<'a> {
    /// Orders `value` (an object, a list of them, or a leaf) of named type `ty`.
    fn value(&self, value: &mut Value, ty: &str, sets: &[&'a Positioned<SelectionSet>]) {
        match value {
            Value::List(items) => {
                for item in items {
                    self.value(item, ty, sets);
                }
            }
            Value::Object(object) => {
                let picked = self.picked_type(object, ty, sets);
                let fields = self.shape(picked.as_deref().unwrap_or(ty), sets);
                self.object(object, &fields);
            }
            _ => {}
        }
    }

    /// The fields of an object of type `ty` under `sets`, each with its type; collected
    /// once per walk.
    fn shape(&self, ty: &str, sets: &[&'a Positioned<SelectionSet>]) -> Rc<Fields<'a>> {
        let key = (
            ty.to_owned(),
            sets.iter()
                .map(|s| std::ptr::from_ref(*s) as usize)
                .collect(),
        );
        if let Some(fields) = self.shapes.borrow().get(&key) {
            return fields.clone();
        }
        let mut fields = self.collect(ty, sets);
        for field in fields.values_mut() {
            field.ty = self.field_type(ty, field.name);
        }
        let fields = Rc::new(fields);
        self.shapes.borrow_mut().insert(key, fields.clone());
        fields
    }

    /// Orders the fields of `object` as `fields` lists them, and then each field's
    /// value; an object already in order is left in place.
    fn object(&self, object: &mut IndexMap<Name, Value>, fields: &Fields<'a>) {
        let in_order = object.len() == fields.len()
            && object
                .keys()
                .zip(fields.keys())
                .all(|(k, f)| k.as_str() == *f);
        if in_order {
            for (child, field) in object.values_mut().zip(fields.values()) {
                if let Some(child_ty) = &field.ty {
                    self.value(child, child_ty, &field.sets);
                }
            }
            return;
        }
        let mut ordered = IndexMap::with_capacity(object.len());
        for (key, field) in fields {
            if let Some((key, mut child)) = object.swap_remove_entry(*key) {
                if let Some(child_ty) = &field.ty {
                    self.value(&mut child, child_ty, &field.sets);
                }
                ordered.insert(key, child);
            }
        }
        // Anything not in the document (nothing, normally) keeps its place at the end.
        ordered.extend(object.drain(..));
        *object = ordered;
    }

    /// For an interface or union `ty`, the possible type of `object`: the one whose
    /// collected fields are exactly the object's keys (`None` for an object type).
    fn picked_type(
        &self,
        object: &IndexMap<Name, Value>,
        ty: &str,
        sets: &[&'a Positioned<SelectionSet>],
    ) -> Option<String> {
        let possible = self.registry.types.get(ty)?.possible_types()?;
        let picked = possible.iter().find(|candidate| {
            let fields = self.collect(candidate, sets);
            fields.len() == object.len() && fields.keys().all(|k| object.contains_key(*k))
        });
        Some(picked.cloned().unwrap_or_else(|| ty.to_owned()))
    }

    /// The named type of field `name` on `ty`.
    fn field_type(&self, ty: &str, name: &str) -> Option<String> {
        let ty = match name {
            "__typename" => return None,
            "__schema" => "__Schema",
            "__type" => "__Type",
            _ => {
                let field = self.registry.types.get(ty)?.field_by_name(name)?;
                MetaTypeName::concrete_typename(&field.ty)
            }
        };
        Some(ty.to_owned())
    }

    /// CollectFields of the spec for an object of type `ty`.
    fn collect(&self, ty: &str, sets: &[&'a Positioned<SelectionSet>]) -> Fields<'a> {
        let mut fields = IndexMap::new();
        let mut visited = Vec::new();
        for set in sets {
            self.collect_into(ty, set, &mut fields, &mut visited);
        }
        fields
    }

    fn collect_into(
        &self,
        ty: &str,
        set: &'a Positioned<SelectionSet>,
        fields: &mut Fields<'a>,
        visited: &mut Vec<&'a str>,
    ) {
        for item in &set.node.items {
            match &item.node {
                Selection::Field(field) => {
                    if !self.included(&field.node.directives) {
                        continue;
                    }
                    let key = field.node.response_key().node.as_str();
                    fields
                        .entry(key)
                        .or_insert_with(|| Collected {
                            name: field.node.name.node.as_str(),
                            ty: None,
                            sets: Vec::new(),
                        })
                        .sets
                        .push(&field.node.selection_set);
                }
                Selection::InlineFragment(fragment) => {
                    let condition = fragment.node.type_condition.as_ref();
                    if self.included(&fragment.node.directives)
                        && condition.is_none_or(|c| self.applies(ty, c.node.on.node.as_str()))
                    {
                        self.collect_into(ty, &fragment.node.selection_set, fields, visited);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if visited.contains(&name) || !self.included(&spread.node.directives) {
                        continue;
                    }
                    visited.push(name);
                    if let Some(fragment) = self.document.fragments.get(name)
                        && self.applies(ty, fragment.node.type_condition.node.on.node.as_str())
                    {
                        self.collect_into(ty, &fragment.node.selection_set, fields, visited);
                    }
                }
            }
        }
    }

    /// Whether a fragment on `condition` applies to an object of type `ty`.
    fn applies(&self, ty: &str, condition: &str) -> bool {
        ty == condition
            || self
                .registry
                .implements
                .get(ty)
                .is_some_and(|interfaces| interfaces.contains(condition))
            || self
                .registry
                .types
                .get(condition)
                .is_some_and(|t| t.possible_types().is_some_and(|p| p.contains(ty)))
    }

    /// `@skip(if:)` / `@include(if:)` with literal or variable arguments.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|directive| {
            let argument = directive.node.get_argument("if").and_then(|v| {
                v.node
                    .clone()
                    .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
                    .ok()
            });
            match (directive.node.name.node.as_str(), argument) {
                ("skip", Some(Value::Boolean(skip))) => !skip,
                ("include", Some(Value::Boolean(include))) => include,
                _ => true,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{
        EmptyMutation, EmptySubscription, Interface, Object, Schema, SimpleObject,
    };

    use super::FieldOrder;

    #[derive(SimpleObject)]
    struct Page {
        a: i32,
        b: i32,
        c: i32,
    }

    #[derive(SimpleObject)]
    struct Other {
        a: i32,
        z: i32,
    }

    #[derive(Interface)]
    #[graphql(field(name = "a", ty = "&i32"))]
    enum Thing {
        Page(Page),
        Other(Other),
    }

    struct Query;

    #[Object]
    impl Query {
        async fn slow(&self) -> i32 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            1
        }
        async fn fast(&self) -> i32 {
            2
        }
        async fn page(&self) -> Page {
            Page { a: 1, b: 2, c: 3 }
        }
        async fn things(&self) -> Vec<Thing> {
            vec![
                Thing::Page(Page { a: 1, b: 2, c: 3 }),
                Thing::Other(Other { a: 4, z: 5 }),
            ]
        }
    }

    async fn keys(query: &str) -> String {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(FieldOrder)
            .finish();
        let response = schema.execute(query).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        serde_json::to_string(&response.data).unwrap()
    }

    #[tokio::test]
    async fn a_slow_field_keeps_its_place() {
        assert_eq!(keys("{ slow fast }").await, r#"{"slow":1,"fast":2}"#);
        assert_eq!(
            keys("{ page { c a b } slow }").await,
            r#"{"page":{"c":3,"a":1,"b":2},"slow":1}"#
        );
    }

    #[tokio::test]
    async fn fragments_aliases_and_skips_follow_the_spec() {
        assert_eq!(
            keys("query { x: fast ...F page { b @skip(if: true) c a b } } fragment F on Query { slow x: fast }")
                .await,
            r#"{"x":2,"slow":1,"page":{"c":3,"a":1,"b":2}}"#
        );
        assert_eq!(
            keys("{ things { ... on Other { z a } ... on Page { c a } __typename } }").await,
            r#"{"things":[{"c":3,"a":1,"__typename":"Page"},{"z":5,"a":4,"__typename":"Other"}]}"#
        );
    }
}
