//! A cap on the number of selections in a document. Complexity limits cost by page size,
//! but fields that cost nothing (`__typename`) or a thousand aliases of a cheap field
//! still make a document expensive to validate and answer; this refuses them at parse.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// Most selections (fields, fragment spreads, inline fragments) a document may contain.
/// GraphiQL's introspection query has about 100; the dashboard's largest query about 60.
pub const MAX_SELECTIONS: usize = 500;

/// Extension factory enforcing [`MAX_SELECTIONS`].
pub struct SelectionLimit;

impl ExtensionFactory for SelectionLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SelectionLimitExtension)
    }
}

struct SelectionLimitExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for SelectionLimitExtension {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn selections(query: &str) -> usize {
        count_document(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn counts_fields_fragments_and_aliases() {
        assert_eq!(selections("{ a b { c } }"), 3);
        assert_eq!(selections("{ ...F x: a } fragment F on Q { b { c d } }"), 5);
        let aliases: String = (0..1000).map(|i| format!("a{i}: __typename ")).collect();
        assert!(selections(&format!("{{ {aliases} }}")) > MAX_SELECTIONS);
    }
}
