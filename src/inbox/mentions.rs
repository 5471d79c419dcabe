//! `@mentions` in private notes: `@ana@example.com` or `@ana` (the part of a member's
//! email before the `@`) names a member of the ticket's org, who gets a MENTION
//! notification (coalesced per ticket like every other notification). Only members of
//! the org are ever matched; a note is never sent, so a mention never reaches the
//! customer.

use diesel_async::AsyncPgConnection;

use super::outbox::Outbox;
use crate::db::enums::{EventKind, NotificationType};
use crate::db::ids::{MessageId, UserId};
use crate::db::notifications::{self, Bump};
use crate::db::orgs;
use crate::db::tickets::Ticket;

/// The lower-cased handles written after an `@` that starts a word.
fn handles(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut previous: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts_word = previous.is_none_or(|p| !(p.is_alphanumeric() || p == '@'));
        if c == '@' && starts_word {
            let handle: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || "._%+-@".contains(*c))
                .collect();
            let handle = handle.trim_end_matches(['.', '-', '@']).to_lowercase();
            if !handle.is_empty() {
                found.push(handle);
            }
        }
        previous = Some(c);
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// The members a handle names: the one with that email, or those whose email starts
/// with `handle@`.
fn matches(handle: &str, email: &str) -> bool {
    email == handle
        || email
            .split_once('@')
            .is_some_and(|(local, _)| local == handle)
}

/// Notifies the members of `ticket`'s org that `text` (a private note by `author`)
/// mentions, except the author; returns who was notified.
pub async fn notify(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    ticket: &Ticket,
    note: MessageId,
    author: UserId,
    text: &str,
) -> diesel::QueryResult<Vec<UserId>> {
    let handles = handles(text);
    if handles.is_empty() {
        return Ok(Vec::new());
    }
    let members = orgs::member_emails(conn, ticket.org_id).await?;
    let mentioned: Vec<UserId> = members
        .into_iter()
        .filter(|(user, email)| *user != author && handles.iter().any(|h| matches(h, email)))
        .map(|(user, _)| user)
        .collect();
    let bumps: Vec<Bump> = mentioned
        .iter()
        .map(|user| Bump {
            org_id: ticket.org_id,
            user_id: *user,
            kind: NotificationType::Mention,
            ticket_id: ticket.id,
            message_id: Some(note),
            count: 1,
        })
        .collect();
    for (user, ticket_id, notification) in notifications::bump_batch(conn, &bumps).await? {
        outbox.notification(
            ticket.org_id,
            EventKind::NotificationAdded,
            user,
            notification,
            Some(ticket_id),
        );
    }
    Ok(mentioned)
}

#[cfg(test)]
mod tests {
    use super::{handles, matches};

    #[test]
    fn handles_start_words_and_lose_trailing_punctuation() {
        assert_eq!(
            handles("cc @Ana, @bo@shop.example. mail ana@x.com @"),
            vec!["ana".to_owned(), "bo@shop.example".to_owned()]
        );
    }

    #[test]
    fn a_handle_is_a_whole_email_or_its_local_part() {
        assert!(matches("ana", "ana@shop.example"));
        assert!(matches("ana@shop.example", "ana@shop.example"));
        assert!(!matches("an", "ana@shop.example"));
        assert!(!matches("shop.example", "ana@shop.example"));
    }
}
