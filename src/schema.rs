//! One schema for both backends. Ids are BIGINT (SQLite's INTEGER PRIMARY KEY is 64-bit),
//! timestamps are UTC `TIMESTAMP`s, money is integer cents.

diesel::table! {
    shops (id) {
        id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        shop_id -> BigInt,
        email -> Text,
        display_name -> Text,
        role -> Text,
        active -> Bool,
        password_hash -> Text,
        token_generation -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(users -> shops (shop_id));

diesel::table! {
    customers (id) {
        id -> BigInt,
        shop_id -> BigInt,
        name -> Text,
        name_key -> Text,
        address -> Nullable<Text>,
        birthday -> Nullable<Date>,
        birthday_mmdd -> Nullable<Integer>,
        source -> Text,
        notes -> Text,
        order_count -> BigInt,
        total_spent_cents -> BigInt,
        first_order_at -> Nullable<Timestamp>,
        last_order_at -> Nullable<Timestamp>,
        last_contacted_at -> Nullable<Timestamp>,
        archived_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        tier -> Text,
        lifecycle_stage -> Text,
        at_risk -> Bool,
        tier_reasons -> Text,
        tier_computed_at -> Nullable<Timestamp>,
        primary_phone -> Nullable<Text>,
        merged_into_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    tier_changes (id) {
        id -> BigInt,
        shop_id -> BigInt,
        customer_id -> BigInt,
        from_tier -> Text,
        to_tier -> Text,
        from_stage -> Text,
        to_stage -> Text,
        from_at_risk -> Bool,
        to_at_risk -> Bool,
        reasons -> Text,
        cause -> Text,
        created_at -> Timestamp,
        from_reasons -> Text,
        from_computed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tier_thresholds (shop_id) {
        shop_id -> BigInt,
        key_spend_cents -> BigInt,
        key_order_count -> BigInt,
        computed_at -> Timestamp,
    }
}

diesel::table! {
    customer_contacts (id) {
        id -> BigInt,
        shop_id -> BigInt,
        customer_id -> BigInt,
        kind -> Text,
        value -> Text,
        created_at -> Timestamp,
        tail_key -> Nullable<Text>,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        shop_id -> BigInt,
        name -> Text,
        tag_group -> Nullable<Text>,
        created_at -> Timestamp,
        name_key -> Text,
    }
}

diesel::table! {
    tag_groups (id) {
        id -> BigInt,
        shop_id -> BigInt,
        name -> Text,
        single_choice -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_sales_months (shop_id, month, customer_id) {
        shop_id -> BigInt,
        month -> Date,
        customer_id -> BigInt,
        purchases -> Integer,
        gross_cents -> BigInt,
        refunded_cents -> BigInt,
        first_purchase -> Bool,
    }
}

diesel::table! {
    customer_rfm (customer_id) {
        customer_id -> BigInt,
        shop_id -> BigInt,
        recency_score -> Integer,
        frequency_score -> Integer,
        monetary_score -> Integer,
        segment -> Text,
        last_order_at -> Timestamp,
        order_count -> BigInt,
        net_spent_cents -> BigInt,
        reasons -> Text,
        computed_at -> Timestamp,
    }
}

diesel::table! {
    rfm_segment_changes (id) {
        id -> BigInt,
        shop_id -> BigInt,
        customer_id -> BigInt,
        from_segment -> Nullable<Text>,
        to_segment -> Nullable<Text>,
        cause -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    rfm_runs (id) {
        id -> BigInt,
        shop_id -> BigInt,
        computed_at -> Timestamp,
        buyers -> BigInt,
        cutoffs -> Text,
    }
}

diesel::table! {
    customer_tags (customer_id, tag_id) {
        customer_id -> BigInt,
        tag_id -> BigInt,
    }
}

diesel::table! {
    orders (id) {
        id -> BigInt,
        shop_id -> BigInt,
        customer_id -> BigInt,
        channel -> Text,
        external_order_no -> Text,
        status -> Text,
        total_cents -> BigInt,
        ordered_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        salesperson_id -> Nullable<BigInt>,
        outlet -> Nullable<Text>,
    }
}

diesel::table! {
    products (id) {
        id -> BigInt,
        shop_id -> BigInt,
        sku -> Text,
        name -> Text,
        usage_days -> Nullable<Integer>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    occasions (id) {
        id -> BigInt,
        shop_id -> BigInt,
        name -> Text,
        day -> Date,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    order_items (id) {
        id -> BigInt,
        order_id -> BigInt,
        product_name -> Text,
        sku -> Nullable<Text>,
        quantity -> Integer,
        unit_price_cents -> BigInt,
    }
}

diesel::table! {
    tickets (id) {
        id -> BigInt,
        shop_id -> BigInt,
        customer_id -> BigInt,
        order_id -> Nullable<BigInt>,
        kind -> Text,
        title -> Text,
        description -> Text,
        details -> Text,
        review_platform -> Nullable<Text>,
        review_external_id -> Nullable<Text>,
        state -> Text,
        priority -> Integer,
        assignee_id -> Nullable<BigInt>,
        first_call_due_at -> Timestamp,
        first_contact_at -> Nullable<Timestamp>,
        last_contact_at -> Nullable<Timestamp>,
        next_follow_up_at -> Nullable<Timestamp>,
        due_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        refund_cents -> Nullable<BigInt>,
        resolution_note -> Nullable<Text>,
        close_reason -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        satisfaction_score -> Nullable<Integer>,
        satisfaction_comment -> Nullable<Text>,
        satisfaction_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        waiting_on -> Nullable<Text>,
        waiting_since -> Nullable<Timestamp>,
        platform_deadline_at -> Nullable<Timestamp>,
        satisfaction_source -> Nullable<Text>,
        satisfaction_reasons -> Nullable<Text>,
    }
}

diesel::table! {
    sla_settings (shop_id) {
        shop_id -> BigInt,
        calendar -> Nullable<Text>,
        policies -> Nullable<Text>,
        updated_at -> Timestamp,
        updated_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    ticket_waits (id) {
        id -> BigInt,
        shop_id -> BigInt,
        ticket_id -> BigInt,
        waiting_on -> Text,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    ticket_targets (id) {
        id -> BigInt,
        shop_id -> BigInt,
        ticket_id -> BigInt,
        target -> Text,
        clock -> Text,
        minutes -> Integer,
        started_at -> Timestamp,
        due_at -> Nullable<Timestamp>,
        met_at -> Nullable<Timestamp>,
        breached_at -> Nullable<Timestamp>,
        warned_at -> Nullable<Timestamp>,
        escalated_at -> Nullable<Timestamp>,
        dropped_at -> Nullable<Timestamp>,
        counted_seconds -> Nullable<BigInt>,
        agent_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    ticket_contacts (id) {
        id -> BigInt,
        shop_id -> BigInt,
        ticket_id -> BigInt,
        staff_id -> BigInt,
        channel -> Text,
        reached -> Bool,
        note -> Text,
        next_follow_up_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    ticket_events (id) {
        id -> BigInt,
        shop_id -> BigInt,
        ticket_id -> BigInt,
        actor_id -> Nullable<BigInt>,
        kind -> Text,
        from_state -> Nullable<Text>,
        to_state -> Nullable<Text>,
        data -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    customer_search_grams (shop_id, gram, customer_id) {
        shop_id -> BigInt,
        gram -> Text,
        customer_id -> BigInt,
    }
}

diesel::table! {
    ticket_search_grams (shop_id, gram, ticket_id) {
        shop_id -> BigInt,
        gram -> Text,
        ticket_id -> BigInt,
    }
}

diesel::table! {
    search_index_state (id) {
        id -> Integer,
        version -> Integer,
    }
}

diesel::table! {
    notes (id) {
        id -> BigInt,
        shop_id -> BigInt,
        customer_id -> BigInt,
        ticket_id -> Nullable<BigInt>,
        author_id -> Nullable<BigInt>,
        body -> Text,
        edits -> Text,
        created_at -> Timestamp,
        edited_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// A buyer satisfaction survey of one resolution (only the link token's hash is stored).
    surveys (id) {
        id -> BigInt,
        shop_id -> BigInt,
        ticket_id -> BigInt,
        token_hash -> Text,
        nonce -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        answered_at -> Nullable<Timestamp>,
        score -> Nullable<Integer>,
        reasons -> Nullable<Text>,
        comment -> Nullable<Text>,
        nudged_at -> Nullable<Timestamp>,
        withdrawn_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(tickets -> customers (customer_id));
diesel::joinable!(ticket_contacts -> tickets (ticket_id));
diesel::joinable!(ticket_events -> tickets (ticket_id));
diesel::joinable!(ticket_targets -> tickets (ticket_id));
diesel::joinable!(ticket_waits -> tickets (ticket_id));
diesel::joinable!(surveys -> tickets (ticket_id));

diesel::joinable!(customer_contacts -> customers (customer_id));
diesel::joinable!(customer_tags -> customers (customer_id));
diesel::joinable!(customer_tags -> tags (tag_id));
diesel::joinable!(customer_rfm -> customers (customer_id));
diesel::joinable!(orders -> customers (customer_id));
diesel::joinable!(order_items -> orders (order_id));
diesel::allow_tables_to_appear_in_same_query!(
    shops,
    users,
    customers,
    customer_contacts,
    tags,
    customer_tags,
    orders,
    order_items,
    tickets,
    ticket_contacts,
    ticket_events,
    tier_changes,
    tier_thresholds,
    customer_search_grams,
    ticket_search_grams,
    notes,
    sla_settings,
    ticket_waits,
    ticket_targets,
    surveys,
    products,
    occasions,
    tag_groups,
    customer_rfm,
    customer_sales_months,
    rfm_segment_changes,
    rfm_runs,
);

diesel::table! {
    login_attempts (id) {
        id -> BigInt,
        account -> Text,
        address -> Text,
        attempted_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        shop_id -> BigInt,
        name -> Text,
        key_prefix -> Text,
        secret_hash -> Text,
        scopes -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (id) {
        id -> BigInt,
        subject -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        response_status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> BigInt,
        shop_id -> BigInt,
        url -> Text,
        events -> Text,
        secret -> Text,
        description -> Text,
        active -> Bool,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> BigInt,
        shop_id -> BigInt,
        event_type -> Text,
        payload -> Text,
        created_at -> Timestamp,
        dispatched_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        shop_id -> BigInt,
        endpoint_id -> BigInt,
        event_id -> BigInt,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        locked_until -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::allow_tables_to_appear_in_same_query!(
    webhook_deliveries,
    webhook_endpoints,
    webhook_events
);

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        shop_id -> BigInt,
        actor -> Text,
        action -> Text,
        details -> Text,
        row_count -> Nullable<BigInt>,
        at -> Timestamp,
        address -> Nullable<Text>,
    }
}

diesel::joinable!(audit_log -> shops (shop_id));

diesel::table! {
    /// Call scripts (话术): reply templates per ticket kind (NULL: any) and situation.
    call_scripts (id) {
        id -> BigInt,
        shop_id -> BigInt,
        ticket_kind -> Nullable<Text>,
        situation -> Text,
        title -> Text,
        body -> Text,
        active -> Bool,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(call_scripts -> shops (shop_id));

diesel::table! {
    /// One row that `/readyz` updates to prove the database takes writes.
    readiness_heartbeat (id) {
        id -> Integer,
        checks -> BigInt,
        checked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Files on tickets: metadata only (the bytes are where `storage` says).
    attachments (id) {
        id -> BigInt,
        shop_id -> BigInt,
        ticket_id -> BigInt,
        note_id -> Nullable<BigInt>,
        uploader_id -> Nullable<BigInt>,
        filename -> Text,
        content_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        storage -> Text,
        storage_key -> Text,
        width -> Nullable<Integer>,
        height -> Nullable<Integer>,
        has_thumbnail -> Bool,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<BigInt>,
        delete_reason -> Nullable<Text>,
    }
}

diesel::table! {
    /// The bytes of attachments kept in the database, and thumbnails.
    attachment_blobs (attachment_id, part) {
        attachment_id -> BigInt,
        part -> Text,
        bytes -> Binary,
    }
}

diesel::joinable!(attachment_blobs -> attachments (attachment_id));
diesel::allow_tables_to_appear_in_same_query!(attachments, attachment_blobs);
