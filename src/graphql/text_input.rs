//! Text PostgreSQL cannot store is refused at the door: a NUL character in any string
//! argument or variable is a `BAD_USER_INPUT` in our own words, before any resolver (or
//! the database, whose error text must never reach a client) sees it.
//!
//! Runs on the parsed document; [`super::nesting`] has already bounded the nesting of
//! every value, so the walks below recurse a bounded number of times.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, ServerError, Variables};
use async_graphql_value::{ConstValue, Value};

/// The message of the refusal.
const REFUSAL: &str = "text must not contain the NUL character (\\u0000)";

/// Refuses `document` or `variables` when a string in them holds a NUL.
pub fn check(document: &ExecutableDocument, variables: &Variables) -> Result<(), ServerError> {
    if variables.values().any(const_has_nul) {
        return Err(ServerError::new(REFUSAL, None));
    }
    for (_, operation) in document.operations.iter() {
        for variable in &operation.node.variable_definitions {
            if let Some(default) = &variable.node.default_value
                && const_has_nul(&default.node)
            {
                return Err(ServerError::new(REFUSAL, Some(default.pos)));
            }
        }
        check_set(&operation.node.selection_set.node)?;
    }
    for fragment in document.fragments.values() {
        check_set(&fragment.node.selection_set.node)?;
    }
    Ok(())
}

fn check_set(set: &SelectionSet) -> Result<(), ServerError> {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let directives = field.node.directives.iter().flat_map(|d| &d.node.arguments);
                for (_, value) in field.node.arguments.iter().chain(directives) {
                    refuse_nul(&value.node, value.pos)?;
                }
                check_set(&field.node.selection_set.node)?;
            }
            Selection::InlineFragment(fragment) => check_set(&fragment.node.selection_set.node)?,
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}

fn refuse_nul(value: &Value, pos: Pos) -> Result<(), ServerError> {
    if has_nul(value) {
        Err(ServerError::new(REFUSAL, Some(pos)))
    } else {
        Ok(())
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.values().any(has_nul),
        _ => false,
    }
}

fn const_has_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields.values().any(const_has_nul),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(query: &str, variables: serde_json::Value) -> Result<(), ServerError> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        check(&document, &Variables::from_json(variables))
    }

    #[test]
    fn a_nul_anywhere_in_a_string_is_refused() {
        let refused = [
            (r#"{ a(s: "x\u0000y") }"#, serde_json::json!({})),
            (r#"{ a(o: {l: ["ok", "\u0000"]}) }"#, serde_json::json!({})),
            (r#"{ a @include(if: "\u0000") }"#, serde_json::json!({})),
            (
                r#"query($v: String = "\u0000") { a(s: $v) }"#,
                serde_json::json!({}),
            ),
            (
                "query($v: String) { a(s: $v) }",
                serde_json::json!({"v": "a\u{0}b"}),
            ),
            (
                "query($v: [In]) { a(s: $v) }",
                serde_json::json!({"v": [{"k": "\u{0}"}]}),
            ),
            (
                "{ ...F } fragment F on Q { a(s: \"\\u0000\") }",
                serde_json::json!({}),
            ),
        ];
        for (query, variables) in refused {
            let error = verdict(query, variables).expect_err(query);
            assert!(error.message.contains("NUL"), "{query}: {}", error.message);
        }
    }

    #[test]
    fn ordinary_text_passes() {
        let query = r#"query($v: String) { a(s: "héllo \n \u0001", n: 1) { b(s: $v) } }"#;
        assert!(verdict(query, serde_json::json!({"v": "tab\tok"})).is_ok());
    }
}
