//! Parsed documents by their text. Dashboards send the same few documents over and over,
//! and parsing one costs more than executing a small one (a sixth of the server's
//! instructions on a conversation page). The innermost extension, so every other one
//! sees each request's document exactly as if it had been parsed again: the limits are
//! checked on every request, hit or miss.
//!
//! Bounded: documents up to [`MAX_QUERY_BYTES`] are kept, at most [`MAX_DOCUMENTS`] of
//! them; when full, the cache starts over (a client sending new documents all the time
//! only costs itself the parse it would have paid anyway). A document holds only what
//! the client sent, so sharing it between users and orgs reveals nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};

/// Longest document text kept.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Documents kept at most.
pub const MAX_DOCUMENTS: usize = 256;

type Documents = Arc<Mutex<HashMap<String, Arc<ExecutableDocument>>>>;

/// Extension factory; one cache per schema.
#[derive(Default)]
pub struct ParseCache {
    documents: Documents,
}

impl ExtensionFactory for ParseCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ParseCacheExtension {
            documents: self.documents.clone(),
        })
    }
}

struct ParseCacheExtension {
    documents: Documents,
}

#[async_graphql::async_trait::async_trait]
impl Extension for ParseCacheExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_QUERY_BYTES {
            return next.run(ctx, query, variables).await;
        }
        let cached = self
            .documents
            .lock()
            .ok()
            .and_then(|documents| documents.get(query).cloned());
        if let Some(document) = cached {
            return Ok(ExecutableDocument::clone(&document));
        }
        let document = next.run(ctx, query, variables).await?;
        if let Ok(mut documents) = self.documents.lock() {
            if documents.len() >= MAX_DOCUMENTS {
                documents.clear();
            }
            documents.insert(query.to_owned(), Arc::new(document.clone()));
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn value(&self) -> i32 {
            7
        }
    }

    fn schema() -> (Schema<Query, EmptyMutation, EmptySubscription>, Documents) {
        let cache = ParseCache::default();
        let documents = cache.documents.clone();
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(cache)
            .finish();
        (schema, documents)
    }

    #[tokio::test]
    async fn a_document_is_parsed_once_and_answers_the_same() {
        let (schema, documents) = schema();
        let first = schema.execute("{ value }").await;
        let second = schema.execute("{ value }").await;
        assert_eq!(first.data.to_string(), "{value: 7}");
        assert_eq!(second.data, first.data);
        assert_eq!(documents.lock().unwrap().len(), 1);
        // A document that does not parse is answered with its error and not kept.
        assert!(!schema.execute("{ value").await.errors.is_empty());
        assert_eq!(documents.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let (schema, documents) = schema();
        for n in 0..MAX_DOCUMENTS + 10 {
            let response = schema.execute(format!("{{ a{n}: value }}")).await;
            assert!(response.errors.is_empty());
            assert!(documents.lock().unwrap().len() <= MAX_DOCUMENTS);
        }
        let long = format!("{{ value {} }}", " ".repeat(MAX_QUERY_BYTES));
        assert!(schema.execute(long.as_str()).await.errors.is_empty());
        assert!(!documents.lock().unwrap().contains_key(&long));
    }
}
