//! WhatsApp message templates: reading Meta's template list (components and their
//! variables), validating an agent's parameters against a template, rendering the text
//! the conversation shows, and queueing the template message. Templates are the only
//! messages WhatsApp allows more than 24 hours after the customer's last message.
//!
//! Variables are `{{1}}`, `{{2}}`.. (or `{{name}}` for named templates) in the HEADER
//! (TEXT format) and BODY texts, a media header (IMAGE, VIDEO, DOCUMENT format), and
//! `{{1}}` in the URL of a URL button. An agent passes one parameter per variable, in the
//! order [`variables`] lists them: text for text variables, an https URL for media.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::{Value, json};
use uuid::Uuid;

use super::outbox::{Committed, Outbox};
use crate::db::channels;
use crate::db::customers;
use crate::db::enums::{
    AuthorType, ChannelStatus, EventKind, MessageDirection, MessageKind, MessageStatus, Platform,
    TemplateStatus, TicketKind,
};
use crate::db::ids::{ChannelId, MessageId, OrgId, TicketId, UserId};
use crate::db::messages::Message;
use crate::db::templates::{self, Template};
use crate::db::tickets;
use crate::error::{AppError, AppResult};

/// Key of a template message's send instructions in `messages.context`.
pub const CONTEXT_KEY: &str = "template";
/// Longest text parameter (Meta's body limit is 1024 characters in all).
const PARAM_CHARS: usize = 1024;

/// Where a variable sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum VariablePlace {
    /// The header (text or media).
    Header,
    /// The body text.
    Body,
    /// A URL button's URL.
    Button,
}

/// What a variable takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum VariableKind {
    /// Text.
    Text,
    /// An image, by https URL.
    Image,
    /// A video, by https URL.
    Video,
    /// A document, by https URL.
    Document,
}

/// One variable of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Where it sits.
    pub place: VariablePlace,
    /// Its placeholder: `1`, `2`.. or the name of a named parameter; for a media header
    /// the format; for a button its index.
    pub key: String,
    /// What it takes.
    pub kind: VariableKind,
    /// Meta's example value, when the template has one.
    pub example: Option<String>,
}

/// One parameter an agent supplies, in the order of [`variables`].
#[derive(Debug, Clone, Default)]
pub struct Parameter {
    /// For text variables.
    pub text: Option<String>,
    /// For media variables: an https URL.
    pub media_url: Option<String>,
}

/// Reads one template of Meta's `message_templates` list.
pub fn parse(org: OrgId, channel: ChannelId, item: &Value) -> Option<Template> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let status = text("status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(TemplateStatus::Unknown);
    Some(Template {
        id: Uuid::new_v4(),
        org_id: org,
        channel_id: channel,
        external_id: item.get("id").and_then(|id| match id {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        name: text("name").filter(|n| !n.is_empty())?,
        language: text("language").filter(|l| !l.is_empty())?,
        category: text("category").unwrap_or_default(),
        status,
        status_reason: text("rejected_reason").filter(|r| r != "NONE"),
        components: item.get("components").cloned().unwrap_or(json!([])),
        synced_at: Utc::now(),
    })
}

/// The template's components, each as an object.
fn components(template: &Template) -> impl Iterator<Item = &serde_json::Map<String, Value>> {
    template
        .components
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_object)
}

fn kind_of(component: &serde_json::Map<String, Value>) -> String {
    component
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// The placeholders of a text, in order of first appearance: `{{1}}` -> `1`.
fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let key = after[..end].trim();
        if !key.is_empty()
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !found.iter().any(|k| k == key)
        {
            found.push(key.to_owned());
        }
        rest = &after[end + 2..];
    }
    found
}

/// The example values Meta keeps for a text (`body_text[0]`, `header_text`, named
/// `body_text_named_params`).
fn examples(component: &serde_json::Map<String, Value>) -> Vec<String> {
    let example = component.get("example");
    let list = example
        .and_then(|e| e.pointer("/body_text/0").or_else(|| e.get("header_text")))
        .and_then(Value::as_array);
    list.map(|values| {
        values
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    })
    .unwrap_or_default()
}

/// The template's variables, in the order parameters are given.
pub fn variables(template: &Template) -> Vec<Variable> {
    let mut out = Vec::new();
    for place in [
        VariablePlace::Header,
        VariablePlace::Body,
        VariablePlace::Button,
    ] {
        for component in components(template) {
            let kind = kind_of(component);
            match (place, kind.as_str()) {
                (VariablePlace::Header, "HEADER") | (VariablePlace::Body, "BODY") => {
                    let format = component
                        .get("format")
                        .and_then(Value::as_str)
                        .unwrap_or("TEXT")
                        .to_ascii_uppercase();
                    let media = match format.as_str() {
                        "IMAGE" => Some(VariableKind::Image),
                        "VIDEO" => Some(VariableKind::Video),
                        "DOCUMENT" => Some(VariableKind::Document),
                        _ => None,
                    };
                    if let Some(media) = media {
                        let example = component
                            .get("example")
                            .and_then(|e| e.pointer("/header_handle/0"))
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        out.push(Variable {
                            place,
                            key: format,
                            kind: media,
                            example,
                        });
                        continue;
                    }
                    let text = component
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let examples = examples(component);
                    for (i, key) in placeholders(text).into_iter().enumerate() {
                        out.push(Variable {
                            place,
                            key,
                            kind: VariableKind::Text,
                            example: examples.get(i).cloned(),
                        });
                    }
                }
                (VariablePlace::Button, "BUTTONS") => {
                    let buttons = component
                        .get("buttons")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    for (index, button) in buttons.iter().enumerate() {
                        let url = button.get("url").and_then(Value::as_str).unwrap_or("");
                        let is_url = button.get("type").and_then(Value::as_str) == Some("URL");
                        if is_url && !placeholders(url).is_empty() {
                            out.push(Variable {
                                place,
                                key: index.to_string(),
                                kind: VariableKind::Text,
                                example: button
                                    .pointer("/example/0")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Why a template cannot be sent now, for the agent (`None`: it can).
pub fn refusal(template: &Template) -> Option<String> {
    if template.status == TemplateStatus::Approved {
        return None;
    }
    let status = template.status.as_str().to_lowercase().replace('_', " ");
    Some(match &template.status_reason {
        Some(reason) => format!(
            "the template {} ({}) is {status}: {reason}",
            template.name, template.language
        ),
        None => format!(
            "the template {} ({}) is {status}; only approved templates can be sent",
            template.name, template.language
        ),
    })
}

/// The templates among `templates` that can be sent now (no [`refusal`]), in order.
pub fn sendable(templates: impl IntoIterator<Item = Template>) -> Vec<Template> {
    templates
        .into_iter()
        .filter(|t| refusal(t).is_none())
        .collect()
}

/// A template filled in: the text the conversation shows and the components the
/// WhatsApp Cloud API takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Header, body and footer with the parameters in place.
    pub text: String,
    /// `template.components` of the send request.
    pub components: Value,
}

/// Checks `parameters` against the template's variables (count, then each one's type)
/// and fills the template in.
pub fn render(template: &Template, parameters: &[Parameter]) -> Result<Rendered, String> {
    let variables = variables(template);
    if variables.len() != parameters.len() {
        return Err(format!(
            "the template {} takes {} parameter(s), {} given",
            template.name,
            variables.len(),
            parameters.len()
        ));
    }
    let named = variables.iter().any(|v| {
        v.kind == VariableKind::Text
            && v.place != VariablePlace::Button
            && v.key.parse::<u32>().is_err()
    });
    let mut values: Vec<(VariablePlace, &str, String)> = Vec::new();
    let mut header_media: Option<(VariableKind, String)> = None;
    let mut send: Vec<Value> = Vec::new();
    let mut header_params = Vec::new();
    let mut body_params = Vec::new();
    let mut buttons: Vec<(String, String)> = Vec::new();
    for (n, (variable, parameter)) in variables.iter().zip(parameters).enumerate() {
        let position = n + 1;
        match variable.kind {
            VariableKind::Text => {
                let text = parameter
                    .text
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| format!("parameter {position} must be text"))?;
                if parameter.media_url.is_some() {
                    return Err(format!("parameter {position} must be text, not media"));
                }
                if text.chars().count() > PARAM_CHARS
                    || text.contains(['\n', '\t']) && variable.place != VariablePlace::Body
                {
                    return Err(format!(
                        "parameter {position} is too long or has line breaks"
                    ));
                }
                let mut param = json!({"type": "text", "text": text});
                if named {
                    param["parameter_name"] = json!(variable.key);
                }
                match variable.place {
                    VariablePlace::Header => header_params.push(param),
                    VariablePlace::Body => body_params.push(param),
                    VariablePlace::Button => buttons.push((variable.key.clone(), text.to_owned())),
                }
                values.push((variable.place, &variable.key, text.to_owned()));
            }
            media => {
                let url = parameter
                    .media_url
                    .as_deref()
                    .map(str::trim)
                    .filter(|u| {
                        u.starts_with("https://")
                            && u.len() > 8
                            && u.len() <= 2048
                            && !u.contains(char::is_whitespace)
                    })
                    .ok_or_else(|| {
                        format!(
                            "parameter {position} is the {} header: give an https mediaUrl",
                            variable.key.to_lowercase()
                        )
                    })?;
                if parameter.text.is_some() {
                    return Err(format!("parameter {position} must be media, not text"));
                }
                let key = variable.key.to_lowercase();
                header_params.push(json!({"type": key, key.clone(): {"link": url}}));
                header_media = Some((media, url.to_owned()));
            }
        }
    }
    if !header_params.is_empty() {
        send.push(json!({"type": "header", "parameters": header_params}));
    }
    if !body_params.is_empty() {
        send.push(json!({"type": "body", "parameters": body_params}));
    }
    for (index, text) in buttons {
        send.push(json!({"type": "button", "sub_type": "url", "index": index,
            "parameters": [{"type": "text", "text": text}]}));
    }
    let fill = |place: VariablePlace, text: &str| {
        values
            .iter()
            .filter(|(p, _, _)| *p == place)
            .fold(text.to_owned(), |acc, (_, key, value)| {
                acc.replace(&format!("{{{{{key}}}}}"), value)
            })
    };
    let mut lines = Vec::new();
    for component in components(template) {
        let text = component.get("text").and_then(Value::as_str);
        match (kind_of(component).as_str(), text) {
            ("HEADER", Some(text)) => lines.push(fill(VariablePlace::Header, text)),
            ("HEADER", None) => {
                if let Some((kind, _)) = &header_media {
                    lines.push(format!("[{}]", format!("{kind:?}").to_lowercase()));
                }
            }
            ("BODY", Some(text)) => lines.push(fill(VariablePlace::Body, text)),
            ("FOOTER", Some(text)) => lines.push(text.to_owned()),
            _ => {}
        }
    }
    Ok(Rendered {
        text: lines.join("\n"),
        components: Value::Array(send),
    })
}

/// Validates and queues template `name` in `language` with `parameters` on a WhatsApp
/// ticket. Allowed whatever the time since the customer's last message. The caller
/// announces its outbound job after commit.
pub async fn send(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ticket: TicketId,
    author: UserId,
    name: &str,
    language: &str,
    parameters: &[Parameter],
) -> AppResult<Committed<Message>> {
    conn.transaction(async |conn| {
        let ticket = tickets::find_for_update(conn, org, ticket)
            .await?
            .ok_or(AppError::NotFound)?;
        let channel = channels::get(conn, ticket.channel_id).await?;
        if channel.platform != Platform::WhatsApp || ticket.kind != TicketKind::Direct {
            return Err(AppError::bad_input(
                "templates can only be sent on WhatsApp conversations",
            ));
        }
        if channel.deleted_at.is_some() || channel.status != ChannelStatus::Active {
            return Err(AppError::bad_input(
                "the ticket's channel is not active; templates cannot be sent",
            ));
        }
        if customers::identity_on(conn, ticket.customer_id, channel.id)
            .await?
            .is_none()
        {
            return Err(AppError::bad_input(
                "the customer has no WhatsApp number on this channel",
            ));
        }
        let template = templates::find(conn, channel.id, name, language)
            .await?
            .ok_or_else(|| {
                AppError::bad_input(format!(
                    "no template {name} ({language}) on this channel; run syncTemplates if it is new"
                ))
            })?;
        if let Some(reason) = refusal(&template) {
            return Err(AppError::bad_input(reason));
        }
        let rendered = render(&template, parameters).map_err(AppError::bad_input)?;
        let now = Utc::now();
        let message = Message {
            id: MessageId::new(),
            org_id: org,
            ticket_id: ticket.id,
            channel_id: channel.id,
            direction: MessageDirection::Outbound,
            kind: MessageKind::Text,
            author_type: AuthorType::User,
            author_user_id: Some(author),
            author_customer_id: None,
            text: Some(rendered.text),
            external_id: None,
            reply_to_message_id: None,
            reply_to_external_id: None,
            context: json!({CONTEXT_KEY: {
                "name": template.name, "language": template.language,
                "components": rendered.components,
            }}),
            status: MessageStatus::Queued,
            error_code: None,
            error_message: None,
            is_deleted: false,
            is_private_note: false,
            edited_at: None,
            sent_at: now,
            client_key: None,
            created_at: now,
            updated_at: now,
        };
        let mut outbox = Outbox::default();
        let (ticket, jobs) = super::replies::queue_outgoing(conn, &message, &[]).await?;
        outbox.queued(jobs);
        outbox.ticket_row(EventKind::TicketUpdated, &ticket);
        outbox.message_row(EventKind::MessageAdded, &message);
        Ok(outbox.commit(conn, message).await?)
    })
    .await
}

/// Whether a stored message is a template message.
pub fn is_template(message: &Message) -> bool {
    message.context.get(CONTEXT_KEY).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(components: Value) -> Template {
        Template {
            id: Uuid::new_v4(),
            org_id: OrgId::new(),
            channel_id: ChannelId::new(),
            external_id: Some("1".into()),
            name: "order_update".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: TemplateStatus::Approved,
            status_reason: None,
            components,
            synced_at: Utc::now(),
        }
    }

    fn text(t: &str) -> Parameter {
        Parameter {
            text: Some(t.into()),
            media_url: None,
        }
    }

    #[test]
    fn header_media_body_and_url_button_variables_are_listed_in_order() {
        let t = template(json!([
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://x.test/h.jpg"]}},
            {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{1}}", "example": {"body_text": [["Ada", "#12"]]}},
            {"type": "FOOTER", "text": "Kettle Shop"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"},
                {"type": "URL", "text": "Track", "url": "https://t.test/{{1}}"}]}
        ]));
        let vars = variables(&t);
        let keys: Vec<(VariablePlace, &str, VariableKind)> = vars
            .iter()
            .map(|v| (v.place, v.key.as_str(), v.kind))
            .collect();
        assert_eq!(
            keys,
            vec![
                (VariablePlace::Header, "IMAGE", VariableKind::Image),
                (VariablePlace::Body, "1", VariableKind::Text),
                (VariablePlace::Body, "2", VariableKind::Text),
                (VariablePlace::Button, "1", VariableKind::Text),
            ]
        );
        assert_eq!(vars[1].example.as_deref(), Some("Ada"));
        let rendered = render(
            &t,
            &[
                Parameter {
                    text: None,
                    media_url: Some("https://cdn.test/p.jpg".into()),
                },
                text("Ada"),
                text("#12"),
                text("TRK9"),
            ],
        )
        .unwrap();
        assert_eq!(
            rendered.text,
            "[image]\nHi Ada, order #12 ships Ada\nKettle Shop"
        );
        assert_eq!(
            rendered.components,
            json!([
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.test/p.jpg"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#12"}]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "TRK9"}]}
            ])
        );
    }

    #[test]
    fn wrong_count_type_or_missing_header_media_is_refused() {
        let t = template(json!([
            {"type": "HEADER", "format": "DOCUMENT"},
            {"type": "BODY", "text": "Invoice {{1}}"}
        ]));
        let media = Parameter {
            text: None,
            media_url: Some("https://cdn.test/i.pdf".into()),
        };
        assert!(
            render(&t, &[text("x")])
                .unwrap_err()
                .contains("takes 2 parameter(s), 1 given")
        );
        assert!(
            render(&t, &[text("x"), text("y")])
                .unwrap_err()
                .contains("document header")
        );
        assert!(
            render(&t, &[media.clone(), media.clone()])
                .unwrap_err()
                .contains("must be text")
        );
        let http = Parameter {
            text: None,
            media_url: Some("http://cdn.test/i.pdf".into()),
        };
        assert!(render(&t, &[http, text("y")]).is_err());
        assert!(render(&t, &[media, text("INV-1")]).is_ok());
    }

    #[test]
    fn named_parameters_carry_their_names() {
        let t = template(json!([{"type": "BODY", "text": "Hi {{first_name}}"}]));
        let rendered = render(&t, &[text("Ada")]).unwrap();
        assert_eq!(rendered.text, "Hi Ada");
        assert_eq!(
            rendered.components,
            json!([{"type": "body", "parameters": [{"type": "text", "text": "Ada", "parameter_name": "first_name"}]}])
        );
    }
}
