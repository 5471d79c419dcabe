//! `labels`, `ticket_labels` and `customer_labels`: an org's tags and where they are set.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::ids::{CustomerId, LabelId, OrgId, TicketId};
use super::schema::{customer_labels, labels, ticket_labels};

/// A label row.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Queryable,
    Selectable,
    Insertable,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = labels)]
pub struct Label {
    /// Id.
    pub id: LabelId,
    /// Owning org.
    pub org_id: OrgId,
    /// Name, unique in the org (case-insensitively).
    pub name: String,
    /// `#rrggbb`.
    pub colour: String,
    /// What it is for.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a label; `None` keeps a column.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = labels)]
pub struct LabelChanges {
    /// New name.
    pub name: Option<String>,
    /// New colour.
    pub colour: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

/// The labels of `org`, by name.
pub async fn list(mut conn: &AsyncPgConnection, org: OrgId) -> QueryResult<Vec<Label>> {
    labels::table
        .filter(labels::org_id.eq(org))
        .order((labels::name, labels::id))
        .select(Label::as_select())
        .load(&mut conn)
        .await
}

/// Labels of `org` among `ids`.
pub async fn find_many(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ids: &[LabelId],
) -> QueryResult<Vec<Label>> {
    labels::table
        .filter(labels::org_id.eq(org))
        .filter(labels::id.eq_any(ids))
        .select(Label::as_select())
        .load(conn)
        .await
}

/// Inserts a label; `None` when the org already has one by that name.
pub async fn insert(conn: &mut AsyncPgConnection, label: &Label) -> QueryResult<Option<Label>> {
    diesel::insert_into(labels::table)
        .values(label)
        .on_conflict_do_nothing()
        .returning(Label::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Changes a label of `org`; the row, if it exists.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: LabelId,
    changes: &LabelChanges,
) -> QueryResult<Option<Label>> {
    diesel::update(labels::table)
        .filter(labels::id.eq(id))
        .filter(labels::org_id.eq(org))
        .set((changes, labels::updated_at.eq(diesel::dsl::now)))
        .returning(Label::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a label of `org` (and every place it was set); the row, if it existed.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: LabelId,
) -> QueryResult<Option<Label>> {
    diesel::delete(labels::table)
        .filter(labels::id.eq(id))
        .filter(labels::org_id.eq(org))
        .returning(Label::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Tickets carrying `label` (before it is deleted, to tell their viewers).
pub async fn tickets_with(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    label: LabelId,
) -> QueryResult<Vec<TicketId>> {
    ticket_labels::table
        .filter(ticket_labels::org_id.eq(org))
        .filter(ticket_labels::label_id.eq(label))
        .select(ticket_labels::ticket_id)
        .load(conn)
        .await
}

/// Sets `add` and removes `remove` on each ticket (all of `org`); idempotent.
pub async fn set_on_tickets(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    tickets: &[TicketId],
    add: &[LabelId],
    remove: &[LabelId],
) -> QueryResult<()> {
    if !remove.is_empty() {
        diesel::delete(ticket_labels::table)
            .filter(ticket_labels::org_id.eq(org))
            .filter(ticket_labels::ticket_id.eq_any(tickets))
            .filter(ticket_labels::label_id.eq_any(remove))
            .execute(conn)
            .await?;
    }
    let rows: Vec<_> = tickets
        .iter()
        .flat_map(|t| {
            add.iter().map(move |l| {
                (
                    ticket_labels::org_id.eq(org),
                    ticket_labels::ticket_id.eq(*t),
                    ticket_labels::label_id.eq(*l),
                )
            })
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(ticket_labels::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Sets `add` and removes `remove` on a customer of `org`; idempotent.
pub async fn set_on_customer(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    customer: CustomerId,
    add: &[LabelId],
    remove: &[LabelId],
) -> QueryResult<()> {
    if !remove.is_empty() {
        diesel::delete(customer_labels::table)
            .filter(customer_labels::org_id.eq(org))
            .filter(customer_labels::customer_id.eq(customer))
            .filter(customer_labels::label_id.eq_any(remove))
            .execute(conn)
            .await?;
    }
    let rows: Vec<_> = add
        .iter()
        .map(|l| {
            (
                customer_labels::org_id.eq(org),
                customer_labels::customer_id.eq(customer),
                customer_labels::label_id.eq(*l),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(customer_labels::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The labels of each of these tickets, by name.
pub async fn of_tickets(
    mut conn: &AsyncPgConnection,
    ids: &[TicketId],
) -> QueryResult<Vec<(TicketId, Label)>> {
    ticket_labels::table
        .inner_join(labels::table)
        .filter(ticket_labels::ticket_id.eq_any(ids))
        .order((labels::name, labels::id))
        .select((ticket_labels::ticket_id, Label::as_select()))
        .load(&mut conn)
        .await
}

/// The labels of each of these customers, by name.
pub async fn of_customers(
    mut conn: &AsyncPgConnection,
    ids: &[CustomerId],
) -> QueryResult<Vec<(CustomerId, Label)>> {
    customer_labels::table
        .inner_join(labels::table)
        .filter(customer_labels::customer_id.eq_any(ids))
        .order((labels::name, labels::id))
        .select((customer_labels::customer_id, Label::as_select()))
        .load(&mut conn)
        .await
}

/// Sets on `to` every label `from` carries (merging two customers).
pub async fn copy_customer_labels(
    conn: &mut AsyncPgConnection,
    from: CustomerId,
    to: CustomerId,
) -> QueryResult<()> {
    copy_labels(conn, COPY_CUSTOMER_LABELS, from.0, to.0).await
}

/// Sets on `to` every label `from` carries (merging two tickets).
pub async fn copy_ticket_labels(
    conn: &mut AsyncPgConnection,
    from: TicketId,
    to: TicketId,
) -> QueryResult<()> {
    copy_labels(conn, COPY_TICKET_LABELS, from.0, to.0).await
}

const COPY_CUSTOMER_LABELS: &str = "INSERT INTO customer_labels (org_id, customer_id, label_id, created_at) \
     SELECT org_id, $2, label_id, created_at FROM customer_labels WHERE customer_id = $1 \
     ON CONFLICT DO NOTHING";

const COPY_TICKET_LABELS: &str = "INSERT INTO ticket_labels (org_id, ticket_id, label_id, created_at) \
     SELECT org_id, $2, label_id, created_at FROM ticket_labels WHERE ticket_id = $1 \
     ON CONFLICT DO NOTHING";

/// Runs one of the copy statements above, `$1` the row labelled now, `$2` the row to label.
async fn copy_labels(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    from: uuid::Uuid,
    to: uuid::Uuid,
) -> QueryResult<()> {
    use diesel::sql_types::Uuid as SqlUuid;
    diesel::sql_query(sql)
        .bind::<SqlUuid, _>(from)
        .bind::<SqlUuid, _>(to)
        .execute(conn)
        .await?;
    Ok(())
}
