//! Syncs a WhatsApp channel's message templates from
//! `GET /{waba-id}/message_templates` (all pages, following `paging.cursors.after` while
//! Meta gives a `paging.next`), replacing what was stored. Runs on connect, on demand
//! (`syncTemplates`); `message_template_status_update` webhooks update single statuses
//! in between.

use crate::crypto::aad;
use crate::db::channels;
use crate::db::ids::ChannelId;
use crate::db::templates::{self, Template};
use crate::error::{AppError, AppResult};
use crate::inbox::templates::parse;
use crate::outbound::rate_limit::READS_PER_SECOND;
use crate::state::AppState;

/// Fields asked for each template.
const FIELDS: &str = "id,name,language,category,status,rejected_reason,components";
/// Templates per page.
const PAGE_SIZE: &str = "100";
/// Pages read at most (a WABA holds at most a few thousand templates).
const MAX_PAGES: usize = 100;

/// Fetches every template of the channel's WhatsApp Business Account and stores them;
/// the stored templates. Meta's refusals come back as BAD_USER_INPUT with Meta's reason.
pub async fn sync(state: &AppState, channel_id: ChannelId) -> AppResult<Vec<Template>> {
    let channel = {
        let mut conn = state.system_conn().await?;
        channels::get(&mut conn, channel_id).await?
    };
    let Some(waba) = channel.business_account_id.clone() else {
        return Err(AppError::bad_input(
            "the channel has no WhatsApp Business Account id (businessAccountId)",
        ));
    };
    let token = state
        .secrets()
        .open(
            &channel.access_token_enc,
            &aad(channel.id.0, "access_token"),
        )
        .map_err(|_| {
            AppError::bad_input("the channel's access token cannot be read; reconnect it")
        })?;
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("fields", FIELDS), ("limit", PAGE_SIZE)];
        if let Some(cursor) = &after {
            query.push(("after", cursor));
        }
        state
            .read_limits()
            .acquire(channel.id, READS_PER_SECOND)
            .await;
        let page = state
            .graph()
            .get(&token, &waba, Some("message_templates"), &query)
            .await
            .map_err(|e| AppError::bad_input(format!("Meta did not list the templates: {e}")))?;
        let items = page
            .get("data")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        found.extend(
            items
                .iter()
                .filter_map(|item| parse(channel.org_id, channel.id, item)),
        );
        let next = page.pointer("/paging/next").is_some();
        after = page
            .pointer("/paging/cursors/after")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        if !next || after.is_none() || items.is_empty() {
            break;
        }
    }
    let mut conn = state.system_conn().await?;
    templates::replace_all(&mut conn, channel.id, &found).await?;
    tracing::info!(channel.id = %channel.id, templates = found.len(), "synced WhatsApp templates");
    Ok(templates::list(&mut conn, channel.id).await?)
}
