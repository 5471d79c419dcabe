//! Limits checked on the parsed document, before validation and before anything runs:
//! the number of selections and the depth, and text PostgreSQL cannot store
//! ([`super::text_input`]).
//!
//! Complexity limits cost by page size, but fields that cost nothing (`__typename`) or a
//! thousand aliases of a cheap field still make a document expensive to validate and
//! answer; the selection cap refuses them.
//!
//! Depth counts fields with fragments inlined, except `ofType` inside an introspection
//! subtree (`__schema`, `__type`): graphql-js's standard introspection query (and every
//! tool built on it: GraphiQL, Apollo, Relay, GraphQL Code Generator) unwraps type
//! references nine `ofType`s deep. `ofType` returns one type, so its chains cannot
//! multiply the work, and the parser's recursion limit bounds them anyway; the fields
//! that do multiply (`types`, `fields`, `type`...) still count.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};

/// Most selections (fields, fragment spreads, inline fragments) a document may contain.
/// graphql-js's introspection query has about 100; the dashboard's largest query about 60.
pub const MAX_SELECTIONS: usize = 500;

/// Deepest selection allowed: the dashboard's deepest real query (message -> replyTo ->
/// author -> customer -> identities -> channel) is 8 levels with the connection wrapper.
pub const MAX_DEPTH: usize = 12;

/// Extension factory enforcing [`MAX_SELECTIONS`] and [`MAX_DEPTH`].
pub struct DocumentLimits;

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension)
    }
}

struct DocumentLimitsExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if count_document(&document) > MAX_SELECTIONS {
            return Err(ServerError::new(
                format!("query has more than {MAX_SELECTIONS} selections"),
                None,
            ));
        }
        if depth_of(&document) > MAX_DEPTH {
            return Err(ServerError::new(
                format!("query is nested deeper than {MAX_DEPTH} levels"),
                None,
            ));
        }
        super::text_input::check(&document, variables)?;
        Ok(document)
    }
}

/// Selections in every operation and fragment of `document`.
fn count_document(document: &ExecutableDocument) -> usize {
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| count(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| count(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

fn count(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| {
            1 + match &item.node {
                Selection::Field(field) => count(&field.node.selection_set.node),
                Selection::InlineFragment(fragment) => count(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            }
        })
        .sum()
}

/// Depth of the deepest operation of `document`, fragments inlined.
fn depth_of(document: &ExecutableDocument) -> usize {
    let mut walk = DepthWalk {
        fragments: &document.fragments,
        memo: HashMap::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, op)| walk.depth(&op.node.selection_set.node, false))
        .max()
        .unwrap_or(0)
}

/// Measures depth with each fragment measured once (per introspection context), so
/// fragments spreading fragments cannot make the measurement itself exponential.
struct DepthWalk<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    memo: HashMap<(&'a str, bool), usize>,
}

impl<'a> DepthWalk<'a> {
    fn depth(&mut self, set: &'a SelectionSet, introspection: bool) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let inside = introspection || name == "__schema" || name == "__type";
                    let own = usize::from(!(introspection && name == "ofType"));
                    own + self.depth(&field.node.selection_set.node, inside)
                }
                Selection::InlineFragment(fragment) => {
                    self.depth(&fragment.node.selection_set.node, introspection)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    self.fragment(name, introspection)
                }
            })
            .max()
            .unwrap_or(0)
    }

    fn fragment(&mut self, name: &'a str, introspection: bool) -> usize {
        if let Some(depth) = self.memo.get(&(name, introspection)) {
            return *depth;
        }
        let Some(fragment) = self.fragments.get(name) else {
            return 0; // validation reports unknown fragments
        };
        // A cycle (refused by validation later) measures 0 on re-entry instead of looping.
        self.memo.insert((name, introspection), 0);
        let depth = self.depth(&fragment.node.selection_set.node, introspection);
        self.memo.insert((name, introspection), depth);
        depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).unwrap()
    }

    fn selections(query: &str) -> usize {
        count_document(&parse(query))
    }

    #[test]
    fn counts_fields_fragments_and_aliases() {
        assert_eq!(selections("{ a b { c } }"), 3);
        assert_eq!(selections("{ ...F x: a } fragment F on Q { b { c d } }"), 5);
        let aliases: String = (0..1000).map(|i| format!("a{i}: __typename ")).collect();
        assert!(selections(&format!("{{ {aliases} }}")) > MAX_SELECTIONS);
    }

    #[test]
    fn depth_inlines_fragments_and_skips_only_introspection_of_type() {
        assert_eq!(depth_of(&parse("{ a { b { c } } d }")), 3);
        assert_eq!(
            depth_of(&parse("{ a { ...F } } fragment F on T { b { c } }")),
            3
        );
        // `ofType` outside introspection counts like any field.
        assert_eq!(depth_of(&parse("{ ofType { ofType { x } } }")), 3);
        assert_eq!(
            depth_of(&parse(
                "{ __type(name: \"X\") { ofType { ofType { ofType { name } } } } }"
            )),
            2
        );
        // Fields that multiply still count inside introspection.
        assert_eq!(
            depth_of(&parse(
                "{ __schema { types { fields { type { fields { type { name } } } } } } }"
            )),
            7
        );
    }

    #[test]
    fn the_standard_introspection_query_is_shallow_enough() {
        let query = include_str!("../../tests/fixtures/graphql/introspection.graphql");
        let document = parse(query);
        assert!(depth_of(&document) <= MAX_DEPTH, "{}", depth_of(&document));
        assert!(count_document(&document) <= MAX_SELECTIONS);
    }

    #[test]
    fn fragment_cycles_and_fan_out_terminate() {
        assert_eq!(
            depth_of(&parse(
                "{ ...A } fragment A on Q { a { ...B } } fragment B on Q { b { ...A } }"
            )),
            2
        );
        let mut fragments = String::new();
        for i in 0..40 {
            fragments.push_str(&format!(
                "fragment F{i} on Q {{ x {{ ...F{} }} y {{ ...F{} }} }} ",
                i + 1,
                i + 1
            ));
        }
        fragments.push_str("fragment F40 on Q { z }");
        assert_eq!(depth_of(&parse(&format!("{{ ...F0 }} {fragments}"))), 41);
    }
}
