// @generated automatically by Diesel CLI.

diesel::table! {
    attachments (id) {
        id -> Uuid,
        org_id -> Uuid,
        message_id -> Uuid,
        position -> Int2,
        #[sql_name = "type"]
        type_ -> Text,
        raw_type -> Text,
        url -> Nullable<Text>,
        mime_type -> Nullable<Text>,
        media_id -> Nullable<Text>,
        title -> Nullable<Text>,
        sha256 -> Nullable<Text>,
        storage -> Nullable<Text>,
        storage_error -> Nullable<Text>,
        media_object_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    canned_responses (id) {
        id -> Uuid,
        org_id -> Uuid,
        owner_id -> Nullable<Uuid>,
        short_code -> Text,
        body -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    channels (id) {
        id -> Uuid,
        org_id -> Uuid,
        platform -> Text,
        name -> Text,
        external_account_id -> Text,
        access_token_enc -> Bytea,
        access_token_hint -> Text,
        app_secret_enc -> Bytea,
        app_secret_fingerprint -> Bytea,
        verify_token_enc -> Bytea,
        status -> Text,
        status_reason -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        human_agent_enabled -> Bool,
        default_team_id -> Nullable<Uuid>,
        business_account_id -> Nullable<Text>,
    }
}

diesel::table! {
    customer_identities (id) {
        id -> Uuid,
        org_id -> Uuid,
        customer_id -> Uuid,
        channel_id -> Uuid,
        platform -> Text,
        external_id -> Text,
        username -> Nullable<Text>,
        display_name -> Nullable<Text>,
        created_at -> Timestamptz,
        username_seen_at -> Nullable<Timestamptz>,
        display_name_seen_at -> Nullable<Timestamptz>,
        profile_pic_url -> Nullable<Text>,
        is_verified -> Nullable<Bool>,
        follower_count -> Nullable<Int8>,
        profile_fetched_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    customer_labels (customer_id, label_id) {
        org_id -> Uuid,
        customer_id -> Uuid,
        label_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    customers (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        notes -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        blocked_at -> Nullable<Timestamptz>,
        blocked_by -> Nullable<Uuid>,
        name_source -> Text,
    }
}

diesel::table! {
    events (org_id, seq) {
        org_id -> Uuid,
        seq -> Int8,
        kind -> Text,
        ticket_id -> Nullable<Uuid>,
        message_id -> Nullable<Uuid>,
        notification_id -> Nullable<Uuid>,
        user_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        payload -> Json,
    }
}

diesel::table! {
    labels (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        colour -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    login_throttles (email) {
        email -> Text,
        consecutive_failures -> Int4,
        last_failure_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Uuid,
        org_id -> Uuid,
        email -> Text,
        role -> Text,
        token_hash -> Bytea,
        invited_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Uuid,
        org_id -> Uuid,
        to_email -> Text,
        template -> Text,
        link_enc -> Bytea,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    memberships (org_id, user_id) {
        org_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
        availability -> Text,
        availability_changed_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        org_id -> Uuid,
        ticket_id -> Uuid,
        channel_id -> Uuid,
        direction -> Text,
        kind -> Text,
        author_type -> Text,
        author_user_id -> Nullable<Uuid>,
        author_customer_id -> Nullable<Uuid>,
        text -> Nullable<Text>,
        external_id -> Nullable<Text>,
        reply_to_message_id -> Nullable<Uuid>,
        reply_to_external_id -> Nullable<Text>,
        context -> Jsonb,
        status -> Text,
        error_code -> Nullable<Int4>,
        error_message -> Nullable<Text>,
        is_deleted -> Bool,
        is_private_note -> Bool,
        edited_at -> Nullable<Timestamptz>,
        sent_at -> Timestamptz,
        client_key -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    notifications (id) {
        id -> Uuid,
        org_id -> Uuid,
        user_id -> Uuid,
        #[sql_name = "type"]
        type_ -> Text,
        ticket_id -> Nullable<Uuid>,
        message_id -> Nullable<Uuid>,
        count -> Int4,
        read_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    org_event_seqs (org_id) {
        org_id -> Uuid,
        last_seq -> Int8,
        pruned_through -> Int8,
    }
}

diesel::table! {
    media_erasures (storage_key) {
        storage_key -> Text,
        queued_at -> Timestamptz,
    }
}

diesel::table! {
    media_jobs (id) {
        id -> Int8,
        org_id -> Uuid,
        attachment_id -> Uuid,
        state -> Text,
        attempts -> Int4,
        run_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    media_objects (id) {
        id -> Uuid,
        org_id -> Uuid,
        storage_key -> Text,
        content_type -> Text,
        byte_size -> Int8,
        sha256 -> Text,
        filename -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    orgs (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        media_bytes -> Int8,
    }
}

diesel::table! {
    outbound_jobs (id) {
        id -> Int8,
        org_id -> Uuid,
        message_id -> Uuid,
        channel_id -> Uuid,
        state -> Text,
        attempts -> Int4,
        run_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        lease_id -> Nullable<Uuid>,
        uncertain_since -> Nullable<Timestamptz>,
        processed_by -> Nullable<Text>,
    }
}

diesel::table! {
    pending_facts (channel_id, external_id, kind, reactor_id) {
        channel_id -> Uuid,
        external_id -> Text,
        kind -> Text,
        reactor_id -> Text,
        rank -> Int4,
        occurred_at -> Timestamptz,
        payload -> Jsonb,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    profile_jobs (id) {
        id -> Int8,
        org_id -> Uuid,
        identity_id -> Uuid,
        channel_id -> Uuid,
        state -> Text,
        attempts -> Int4,
        run_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        fetched_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reactions (id) {
        id -> Uuid,
        org_id -> Uuid,
        message_id -> Uuid,
        reactor_type -> Text,
        reactor_id -> Text,
        emoji -> Nullable<Text>,
        reaction -> Nullable<Text>,
        removed -> Bool,
        reacted_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        family_id -> Uuid,
        token_hash -> Bytea,
        family_expires_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    team_members (team_id, user_id) {
        team_id -> Uuid,
        user_id -> Uuid,
        org_id -> Uuid,
        max_open_tickets -> Nullable<Int4>,
        last_assigned_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    teams (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        auto_assign -> Bool,
        max_open_tickets -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_reads (ticket_id, user_id) {
        org_id -> Uuid,
        ticket_id -> Uuid,
        user_id -> Uuid,
        read_inbound_count -> Int8,
        last_read_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_labels (ticket_id, label_id) {
        org_id -> Uuid,
        ticket_id -> Uuid,
        label_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tickets (id) {
        id -> Uuid,
        org_id -> Uuid,
        channel_id -> Uuid,
        customer_id -> Uuid,
        kind -> Text,
        thread_key -> Text,
        status -> Text,
        priority -> Text,
        assignee_id -> Nullable<Uuid>,
        last_message_id -> Nullable<Uuid>,
        last_message_at -> Timestamptz,
        last_message_preview -> Nullable<Text>,
        last_inbound_at -> Nullable<Timestamptz>,
        inbound_count -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        customer_read_at -> Nullable<Timestamptz>,
        team_id -> Nullable<Uuid>,
        snoozed_until -> Nullable<Timestamptz>,
        waiting_since -> Nullable<Timestamptz>,
        last_response_at -> Nullable<Timestamptz>,
        first_response_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_presence (user_id, instance_id) {
        instance_id -> Uuid,
        user_id -> Uuid,
        sockets -> Int4,
        version -> Int8,
        seen_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Int8,
        channel_id -> Nullable<Uuid>,
        secret_fingerprint -> Nullable<Bytea>,
        body -> Bytea,
        state -> Text,
        attempts -> Int4,
        run_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        received_at -> Timestamptz,
        processed_at -> Nullable<Timestamptz>,
        processed_by -> Nullable<Text>,
    }
}

diesel::joinable!(attachments -> media_objects (media_object_id));
diesel::table! {
    whatsapp_templates (id) {
        id -> Uuid,
        org_id -> Uuid,
        channel_id -> Uuid,
        external_id -> Nullable<Text>,
        name -> Text,
        language -> Text,
        category -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        components -> Jsonb,
        synced_at -> Timestamptz,
    }
}

diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(attachments -> orgs (org_id));
diesel::joinable!(canned_responses -> orgs (org_id));
diesel::joinable!(canned_responses -> users (owner_id));
diesel::joinable!(channels -> orgs (org_id));
diesel::joinable!(channels -> teams (default_team_id));
diesel::joinable!(customer_labels -> customers (customer_id));
diesel::joinable!(customer_labels -> labels (label_id));
diesel::joinable!(customer_identities -> channels (channel_id));
diesel::joinable!(customer_identities -> customers (customer_id));
diesel::joinable!(customer_identities -> orgs (org_id));
diesel::joinable!(customers -> orgs (org_id));
diesel::joinable!(events -> orgs (org_id));
diesel::joinable!(invitations -> orgs (org_id));
diesel::joinable!(mail_outbox -> orgs (org_id));
diesel::joinable!(media_jobs -> attachments (attachment_id));
diesel::joinable!(media_jobs -> orgs (org_id));
diesel::joinable!(media_objects -> orgs (org_id));
diesel::joinable!(labels -> orgs (org_id));
diesel::joinable!(memberships -> orgs (org_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(messages -> customers (author_customer_id));
diesel::joinable!(messages -> users (author_user_id));
diesel::joinable!(notifications -> messages (message_id));
diesel::joinable!(notifications -> tickets (ticket_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(org_event_seqs -> orgs (org_id));
diesel::joinable!(outbound_jobs -> channels (channel_id));
diesel::joinable!(outbound_jobs -> messages (message_id));
diesel::joinable!(outbound_jobs -> orgs (org_id));
diesel::joinable!(pending_facts -> channels (channel_id));
diesel::joinable!(profile_jobs -> channels (channel_id));
diesel::joinable!(profile_jobs -> customer_identities (identity_id));
diesel::joinable!(profile_jobs -> orgs (org_id));
diesel::joinable!(reactions -> messages (message_id));
diesel::joinable!(reactions -> orgs (org_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(team_members -> orgs (org_id));
diesel::joinable!(team_members -> teams (team_id));
diesel::joinable!(team_members -> users (user_id));
diesel::joinable!(teams -> orgs (org_id));
diesel::joinable!(ticket_labels -> labels (label_id));
diesel::joinable!(ticket_labels -> tickets (ticket_id));
diesel::joinable!(ticket_reads -> orgs (org_id));
diesel::joinable!(ticket_reads -> tickets (ticket_id));
diesel::joinable!(ticket_reads -> users (user_id));
diesel::joinable!(tickets -> channels (channel_id));
diesel::joinable!(tickets -> customers (customer_id));
diesel::joinable!(tickets -> orgs (org_id));
diesel::joinable!(tickets -> teams (team_id));
diesel::joinable!(user_presence -> users (user_id));
diesel::joinable!(tickets -> users (assignee_id));
diesel::joinable!(whatsapp_templates -> channels (channel_id));
diesel::joinable!(whatsapp_templates -> orgs (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    attachments,
    canned_responses,
    channels,
    customer_identities,
    customer_labels,
    customers,
    events,
    invitations,
    labels,
    login_throttles,
    mail_outbox,
    media_erasures,
    media_jobs,
    media_objects,
    memberships,
    messages,
    notifications,
    org_event_seqs,
    orgs,
    outbound_jobs,
    pending_facts,
    profile_jobs,
    reactions,
    refresh_tokens,
    team_members,
    teams,
    ticket_labels,
    ticket_reads,
    tickets,
    user_presence,
    users,
    webhook_events,
    whatsapp_templates,
);
