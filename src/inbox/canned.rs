//! Canned responses: org-wide ones (managed by admins) and personal ones (managed by
//! their owner, invisible to everyone else), and the rendering of their placeholders on
//! the server. A placeholder this module does not know is refused by name, so a literal
//! `{{...}}` never reaches a customer.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::outbox::{Committed, Outbox, SubjectRow};
use crate::db::canned_responses::{self, CannedChanges, CannedResponse};
use crate::db::enums::{EventKind, Role};
use crate::db::ids::{CannedResponseId, OrgId, TicketId, UserId};
use crate::db::{customers, tickets, users};
use crate::error::{AppError, AppResult};

/// The placeholders a body may use.
pub const PLACEHOLDERS: &[&str] = &["customer.name", "agent.name", "ticket.id"];

/// What the placeholders stand for when a response is sent.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    /// The customer's name ("there" when unknown, so "Hi {{customer.name}}" reads well).
    pub customer_name: &'a str,
    /// The sending agent's name.
    pub agent_name: &'a str,
    /// The ticket's id.
    pub ticket_id: String,
}

/// Splits `body` into literal text and placeholder names, refusing unknown or unclosed
/// placeholders.
fn parse(body: &str) -> AppResult<Vec<(&str, Option<&str>)>> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(AppError::bad_input("a placeholder is not closed with }}"));
        };
        let name = after[..close].trim();
        if !PLACEHOLDERS.contains(&name) {
            let shown: String = name.chars().take(40).collect();
            return Err(AppError::bad_input(format!(
                "unknown placeholder {{{{{shown}}}}}; known: {}",
                PLACEHOLDERS.join(", ")
            )));
        }
        parts.push((&rest[..open], Some(name)));
        rest = &after[close + 2..];
    }
    parts.push((rest, None));
    Ok(parts)
}

/// `body` with its placeholders filled in.
pub fn render(body: &str, values: &Values<'_>) -> AppResult<String> {
    let mut out = String::with_capacity(body.len());
    for (text, name) in parse(body)? {
        out.push_str(text);
        match name {
            Some("customer.name") => out.push_str(values.customer_name),
            Some("agent.name") => out.push_str(values.agent_name),
            Some(_) => out.push_str(&values.ticket_id),
            None => {}
        }
    }
    Ok(out)
}

fn validate(code: Option<&str>, body: Option<&str>) -> AppResult<()> {
    if let Some(code) = code {
        let valid = (1..=32).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            return Err(AppError::bad_input(
                "shortCode is 1 to 32 characters of a-z, 0-9, _ and -",
            ));
        }
    }
    if let Some(body) = body {
        if body.trim().is_empty() || body.chars().count() > 4096 {
            return Err(AppError::bad_input("body is 1 to 4096 characters"));
        }
        parse(body)?;
    }
    Ok(())
}

fn code_taken(code: &str) -> AppError {
    AppError::bad_input(format!("the short code {code:?} is already used"))
}

/// Who acts on canned responses, and as what.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// The user.
    pub user: UserId,
    /// Their role in the org.
    pub role: Role,
}

/// The event audience of a response: everyone for org-wide ones, the owner otherwise.
fn event(outbox: &mut Outbox, row: &CannedResponse, kind: EventKind) {
    outbox.subject(
        row.org_id,
        kind,
        SubjectRow::CannedResponse(row.clone()),
        row.owner_id,
    );
}

/// Creates a response: personal (any member) or org-wide (ADMIN).
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    actor: Actor,
    personal: bool,
    short_code: String,
    body: String,
) -> AppResult<Committed<CannedResponse>> {
    if !personal && actor.role != Role::Admin {
        return Err(AppError::Forbidden);
    }
    validate(Some(&short_code), Some(&body))?;
    let now = Utc::now();
    let row = CannedResponse {
        id: CannedResponseId::new(),
        org_id: org,
        owner_id: personal.then_some(actor.user),
        short_code,
        body,
        created_at: now,
        updated_at: now,
    };
    conn.transaction(async |conn| {
        let saved = canned_responses::insert(conn, &row)
            .await?
            .ok_or_else(|| code_taken(&row.short_code))?;
        let mut outbox = Outbox::default();
        event(&mut outbox, &saved, EventKind::CannedResponseChanged);
        Ok(outbox.commit(conn, saved).await?)
    })
    .await
}

/// The response `actor` may change: their own personal one, or (ADMIN) an org-wide one.
/// Another member's personal response is NOT_FOUND, as is another org's.
async fn editable(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    actor: Actor,
    id: CannedResponseId,
) -> AppResult<CannedResponse> {
    let row = canned_responses::find_visible(conn, org, actor.user, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if row.owner_id.is_none() && actor.role != Role::Admin {
        return Err(AppError::Forbidden);
    }
    Ok(row)
}

/// Changes a response's code or body.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    actor: Actor,
    id: CannedResponseId,
    changes: CannedChanges,
) -> AppResult<Committed<CannedResponse>> {
    validate(changes.short_code.as_deref(), changes.body.as_deref())?;
    conn.transaction(async |conn| {
        let row = editable(conn, org, actor, id).await?;
        if changes.short_code.is_none() && changes.body.is_none() {
            return Ok(Committed::quiet(row));
        }
        let saved = match canned_responses::update(conn, row.id, &changes).await {
            Ok(saved) => saved,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                return Err(code_taken(
                    changes.short_code.as_deref().unwrap_or_default(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let mut outbox = Outbox::default();
        event(&mut outbox, &saved, EventKind::CannedResponseChanged);
        Ok(outbox.commit(conn, saved).await?)
    })
    .await
}

/// Deletes a response; returns it as it was.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    actor: Actor,
    id: CannedResponseId,
) -> AppResult<Committed<CannedResponse>> {
    conn.transaction(async |conn| {
        let row = editable(conn, org, actor, id).await?;
        canned_responses::delete(conn, row.id).await?;
        let mut outbox = Outbox::default();
        event(&mut outbox, &row, EventKind::CannedResponseDeleted);
        Ok(outbox.commit(conn, row).await?)
    })
    .await
}

/// A response `user` may use, rendered for a ticket of `org` as `user` would send it.
pub async fn render_for(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    id: CannedResponseId,
    ticket: TicketId,
) -> AppResult<String> {
    let row = canned_responses::find_visible(conn, org, user, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let ticket = tickets::find(conn, org, ticket)
        .await?
        .ok_or(AppError::NotFound)?;
    let customer = customers::find(conn, org, ticket.customer_id).await?;
    let agent = users::find(conn, user).await?.ok_or(AppError::NotFound)?;
    let values = Values {
        customer_name: customer
            .as_ref()
            .and_then(|c| c.name.as_deref())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("there"),
        agent_name: &agent.name,
        ticket_id: ticket.id.to_string(),
    };
    render(&row.body, &values)
}

#[cfg(test)]
mod tests {
    use super::{Values, render};

    fn values() -> Values<'static> {
        Values {
            customer_name: "Sam",
            agent_name: "Ana",
            ticket_id: "t-1".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_in() {
        let out = render(
            "Hi {{customer.name}}, {{ agent.name }} here about {{ticket.id}}.",
            &values(),
        );
        assert_eq!(out.ok().as_deref(), Some("Hi Sam, Ana here about t-1."));
        assert_eq!(
            render("no placeholders", &values()).ok().as_deref(),
            Some("no placeholders")
        );
    }

    #[test]
    fn unknown_and_unclosed_placeholders_are_refused_by_name() {
        let error = render("Hi {{customer.email}}", &values())
            .err()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(error.contains("{{customer.email}}"), "{error}");
        assert!(render("Hi {{customer.name", &values()).is_err());
    }
}
