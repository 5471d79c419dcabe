//! `WhatsAppTemplate` and `TemplateVariable`.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::to_id;
use crate::db::enums::TemplateStatus;
use crate::db::templates;
use crate::inbox::templates::{self as template_ops, VariableKind, VariablePlace};

/// A WhatsApp message template of a channel, as last synced from Meta.
pub struct WhatsAppTemplate(pub templates::Template);

#[Object]
impl WhatsAppTemplate {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Language code, e.g. `en_US`.
    async fn language(&self) -> &str {
        &self.0.language
    }

    /// MARKETING, UTILITY or AUTHENTICATION.
    async fn category(&self) -> &str {
        &self.0.category
    }

    /// Meta's review status; only APPROVED templates can be sent.
    async fn status(&self) -> TemplateStatus {
        self.0.status
    }

    /// Meta's reason for a rejection, pause or disabling.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }

    /// Why it cannot be sent now (null when it can).
    async fn refusal(&self) -> Option<String> {
        template_ops::refusal(&self.0)
    }

    /// Meta's components (HEADER, BODY, FOOTER, BUTTONS) as JSON text.
    async fn components(&self) -> String {
        self.0.components.to_string()
    }

    /// The variables `sendTemplate` takes parameters for, in order.
    async fn variables(&self) -> Vec<TemplateVariable> {
        template_ops::variables(&self.0)
            .into_iter()
            .map(TemplateVariable)
            .collect()
    }

    async fn synced_at(&self) -> DateTime<Utc> {
        self.0.synced_at
    }
}

/// One variable of a template.
pub struct TemplateVariable(pub template_ops::Variable);

#[Object]
impl TemplateVariable {
    /// Header, body or URL button.
    async fn place(&self) -> VariablePlace {
        self.0.place
    }

    /// The placeholder (`1`, `2`.. or a name), the header's media format, or the
    /// button's index.
    async fn key(&self) -> &str {
        &self.0.key
    }

    /// Text, or the media a header takes (by https URL).
    async fn kind(&self) -> VariableKind {
        self.0.kind
    }

    /// Meta's example value.
    async fn example(&self) -> Option<&str> {
        self.0.example.as_deref()
    }
}
