//! Org labels: created, renamed and deleted by admins, set on tickets and customers by
//! agents. Every change is a live event in the same transaction.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::outbox::{Committed, Outbox, SubjectRow};
use crate::db::customers::{self, Customer};
use crate::db::enums::EventKind;
use crate::db::ids::{CustomerId, LabelId, OrgId};
use crate::db::labels::{self, Label, LabelChanges};
use crate::error::{AppError, AppResult};

/// Longest label name, in characters.
const NAME_CHARS: usize = 50;
/// Longest label description, in characters.
const DESCRIPTION_CHARS: usize = 500;

/// A label's fields as an admin gives them; `None` keeps a field on update.
#[derive(Debug, Default, Clone)]
pub struct LabelInput {
    /// Name.
    pub name: Option<String>,
    /// `#rrggbb` (any case).
    pub colour: Option<String>,
    /// Description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

impl LabelInput {
    /// The validated, normalised changes.
    fn changes(self) -> AppResult<LabelChanges> {
        let name = self.name.map(|n| n.trim().to_owned());
        if let Some(name) = &name
            && (name.is_empty() || name.chars().count() > NAME_CHARS)
        {
            return Err(AppError::bad_input(format!(
                "a label name is 1 to {NAME_CHARS} characters"
            )));
        }
        let colour = self.colour.map(|c| c.trim().to_ascii_lowercase());
        if let Some(colour) = &colour {
            let valid = colour.len() == 7
                && colour.starts_with('#')
                && colour[1..].chars().all(|c| c.is_ascii_hexdigit());
            if !valid {
                return Err(AppError::bad_input("colour must look like #1a2b3c"));
            }
        }
        let description = self
            .description
            .map(|d| d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()));
        if let Some(Some(d)) = &description
            && d.chars().count() > DESCRIPTION_CHARS
        {
            return Err(AppError::bad_input(format!(
                "a label description is at most {DESCRIPTION_CHARS} characters"
            )));
        }
        Ok(LabelChanges {
            name,
            colour,
            description,
        })
    }
}

fn name_taken(name: &str) -> AppError {
    AppError::bad_input(format!("a label named {name:?} already exists"))
}

/// Creates a label of `org`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    input: LabelInput,
) -> AppResult<Committed<Label>> {
    let changes = input.changes()?;
    let (Some(name), Some(colour)) = (changes.name, changes.colour) else {
        return Err(AppError::bad_input("a label needs a name and a colour"));
    };
    let now = Utc::now();
    let row = Label {
        id: LabelId::new(),
        org_id: org,
        name,
        colour,
        description: changes.description.flatten(),
        created_at: now,
        updated_at: now,
    };
    conn.transaction(async |conn| {
        let label = labels::insert(conn, &row)
            .await?
            .ok_or_else(|| name_taken(&row.name))?;
        let mut outbox = Outbox::default();
        outbox.subject(
            org,
            EventKind::LabelChanged,
            SubjectRow::Label(label.clone()),
            None,
        );
        Ok(outbox.commit(conn, label).await?)
    })
    .await
}

/// Changes a label of `org`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: LabelId,
    input: LabelInput,
) -> AppResult<Committed<Label>> {
    let changes = input.changes()?;
    let name = changes.name.clone();
    conn.transaction(async |conn| {
        let label = match labels::update(conn, org, id, &changes).await {
            Ok(label) => label.ok_or(AppError::NotFound)?,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => return Err(name_taken(name.as_deref().unwrap_or_default())),
            Err(e) => return Err(e.into()),
        };
        let mut outbox = Outbox::default();
        outbox.subject(
            org,
            EventKind::LabelChanged,
            SubjectRow::Label(label.clone()),
            None,
        );
        Ok(outbox.commit(conn, label).await?)
    })
    .await
}

/// Deletes a label of `org`, removing it from every ticket and customer (each ticket
/// that carried it gets a TICKET_UPDATED event).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: LabelId,
) -> AppResult<Committed<Label>> {
    conn.transaction(async |conn| {
        let tickets = labels::tickets_with(conn, org, id).await?;
        let label = labels::delete(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let mut outbox = Outbox::default();
        outbox.subject(
            org,
            EventKind::LabelDeleted,
            SubjectRow::Label(label.clone()),
            None,
        );
        for ticket in tickets {
            outbox.ticket(org, EventKind::TicketUpdated, ticket);
        }
        Ok(outbox.commit(conn, label).await?)
    })
    .await
}

/// Checks that every id is a label of `org` (another org's label is NOT_FOUND).
pub async fn check_owned(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ids: &[LabelId],
) -> AppResult<()> {
    let mut wanted = ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(());
    }
    let found = labels::find_many(conn, org, &wanted).await?;
    if found.len() != wanted.len() {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Adds and removes labels on a customer of `org`.
pub async fn set_on_customer(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    customer: CustomerId,
    add: &[LabelId],
    remove: &[LabelId],
) -> AppResult<Committed<Customer>> {
    conn.transaction(async |conn| {
        let row = customers::find(conn, org, customer)
            .await?
            .ok_or(AppError::NotFound)?;
        check_owned(conn, org, add).await?;
        check_owned(conn, org, remove).await?;
        labels::set_on_customer(conn, org, customer, add, remove).await?;
        let mut outbox = Outbox::default();
        outbox.subject(
            org,
            EventKind::CustomerUpdated,
            SubjectRow::Customer(row.clone()),
            None,
        );
        Ok(outbox.commit(conn, row).await?)
    })
    .await
}
