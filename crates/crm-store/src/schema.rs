//! One schema for both databases; see `types.rs` for the column types.

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    workspaces (id) {
        id -> SqlUuid,
        name -> Text,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    users (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        last_login_at -> Nullable<SqlTs>,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    api_keys (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        scopes -> SqlJson,
        expires_at -> Nullable<SqlTs>,
        last_used_at -> Nullable<SqlTs>,
        revoked_at -> Nullable<SqlTs>,
        version -> BigInt,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    refresh_tokens (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        user_id -> SqlUuid,
        family_id -> SqlUuid,
        token_hash -> Text,
        expires_at -> SqlTs,
        used_at -> Nullable<SqlTs>,
        revoked_at -> Nullable<SqlTs>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    customers (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        kind -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        company_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        address_line2 -> Nullable<Text>,
        address_city -> Nullable<Text>,
        address_region -> Nullable<Text>,
        address_postal_code -> Nullable<Text>,
        address_country -> Nullable<Text>,
        social -> SqlJson,
        lifecycle_stage -> Text,
        owner_id -> Nullable<SqlUuid>,
        tags -> SqlJson,
        important_dates -> SqlJson,
        custom_fields -> SqlJson,
        consents -> SqlJson,
        industry -> Nullable<Text>,
        vat_number -> Nullable<Text>,
        registration_number -> Nullable<Text>,
        website -> Nullable<Text>,
        employee_count -> Nullable<Integer>,
        company_id -> Nullable<SqlUuid>,
        search_text -> Text,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    customer_tags (customer_id, tag) {
        workspace_id -> SqlUuid,
        customer_id -> SqlUuid,
        tag -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    audit_events (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        entity_type -> Text,
        entity_id -> SqlUuid,
        action -> Text,
        actor_type -> Text,
        actor_id -> Nullable<SqlUuid>,
        changes -> SqlJson,
        request_id -> Nullable<Text>,
        created_at -> SqlTs,
        reason -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    idempotency_keys (workspace_id, caller, key) {
        workspace_id -> SqlUuid,
        caller -> Text,
        key -> Text,
        request_hash -> Text,
        status_code -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        response_headers -> Nullable<SqlJson>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    customer_stats (customer_id) {
        customer_id -> SqlUuid,
        workspace_id -> SqlUuid,
        last_interaction_at -> Nullable<SqlTs>,
        lead_score -> Nullable<Integer>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    segments (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        name -> Text,
        description -> Nullable<Text>,
        filter -> SqlJson,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    interactions (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        channel -> Text,
        direction -> Text,
        subject -> Nullable<Text>,
        body -> Nullable<Text>,
        occurred_at -> SqlTs,
        duration_seconds -> Nullable<Integer>,
        customer_id -> Nullable<SqlUuid>,
        deal_id -> Nullable<SqlUuid>,
        lead_id -> Nullable<SqlUuid>,
        user_id -> Nullable<SqlUuid>,
        external_id -> Nullable<Text>,
        metadata -> SqlJson,
        search_text -> Text,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    tasks (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        title -> Text,
        description -> Nullable<Text>,
        due_at -> Nullable<SqlTs>,
        due_sort -> SqlTs,
        assignee_id -> Nullable<SqlUuid>,
        status -> Text,
        priority -> Text,
        progress -> Integer,
        customer_id -> Nullable<SqlUuid>,
        deal_id -> Nullable<SqlUuid>,
        lead_id -> Nullable<SqlUuid>,
        completed_at -> Nullable<SqlTs>,
        search_text -> Text,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    pipelines (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        name -> Text,
        is_default -> Bool,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    pipeline_stages (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        pipeline_id -> SqlUuid,
        name -> Text,
        position -> Integer,
        win_probability -> Integer,
        kind -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    deals (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        title -> Text,
        customer_id -> SqlUuid,
        pipeline_id -> SqlUuid,
        stage_id -> SqlUuid,
        status -> Text,
        amount_minor -> BigInt,
        currency -> Nullable<Text>,
        expected_close_date -> Nullable<Date>,
        owner_id -> Nullable<SqlUuid>,
        lost_reason -> Nullable<Text>,
        closed_at -> Nullable<SqlTs>,
        stage_entered_at -> SqlTs,
        tags -> SqlJson,
        custom_fields -> SqlJson,
        search_text -> Text,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    deal_stage_changes (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        deal_id -> SqlUuid,
        customer_id -> SqlUuid,
        from_stage_id -> Nullable<SqlUuid>,
        to_stage_id -> SqlUuid,
        at -> SqlTs,
        actor_type -> Text,
        actor_id -> Nullable<SqlUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    scoring_rules (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        field -> Text,
        operator -> Text,
        value -> Nullable<SqlJson>,
        points -> Integer,
        description -> Nullable<Text>,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    web_forms (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        name -> Text,
        public_token -> Text,
        allowed_origins -> SqlJson,
        field_mapping -> SqlJson,
        default_owner_id -> Nullable<SqlUuid>,
        default_tags -> SqlJson,
        honeypot_field -> Nullable<Text>,
        active -> Bool,
        submission_count -> BigInt,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    leads (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        source -> Text,
        status -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        company_name -> Nullable<Text>,
        job_title -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        website -> Nullable<Text>,
        industry -> Nullable<Text>,
        country -> Nullable<Text>,
        city -> Nullable<Text>,
        owner_id -> Nullable<SqlUuid>,
        utm_source -> Nullable<Text>,
        utm_medium -> Nullable<Text>,
        utm_campaign -> Nullable<Text>,
        form_data -> SqlJson,
        tags -> SqlJson,
        details -> SqlJson,
        score -> Integer,
        score_reasons -> SqlJson,
        web_form_id -> Nullable<SqlUuid>,
        converted_customer_id -> Nullable<SqlUuid>,
        converted_deal_id -> Nullable<SqlUuid>,
        converted_at -> Nullable<SqlTs>,
        search_text -> Text,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    lead_tags (lead_id, tag) {
        workspace_id -> SqlUuid,
        lead_id -> SqlUuid,
        tag -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    form_submissions (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        web_form_id -> SqlUuid,
        lead_id -> Nullable<SqlUuid>,
        customer_id -> Nullable<SqlUuid>,
        payload -> SqlJson,
        origin -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    deal_rollups (workspace_id, pipeline_id, stage_id, status, owner_key, currency_key, day) {
        workspace_id -> SqlUuid,
        pipeline_id -> SqlUuid,
        stage_id -> SqlUuid,
        status -> Text,
        owner_key -> Text,
        currency_key -> Text,
        day -> Text,
        deal_count -> BigInt,
        amount_minor -> BigInt,
        weighted_minor -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    purchases (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        customer_id -> SqlUuid,
        external_order_id -> Nullable<Text>,
        channel -> Text,
        status -> Text,
        occurred_at -> SqlTs,
        currency -> Text,
        subtotal_minor -> BigInt,
        discount_minor -> BigInt,
        tax_minor -> BigInt,
        shipping_minor -> BigInt,
        total_minor -> BigInt,
        refunded_minor -> BigInt,
        coupon_code -> Nullable<Text>,
        points_earned -> BigInt,
        points_reversed -> BigInt,
        metadata -> SqlJson,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    purchase_items (purchase_id, position) {
        purchase_id -> SqlUuid,
        position -> Integer,
        workspace_id -> SqlUuid,
        sku -> Text,
        name -> Text,
        category -> Nullable<Text>,
        quantity -> Integer,
        unit_price_minor -> BigInt,
        line_total_minor -> BigInt,
        refunded_quantity -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    purchase_refunds (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        purchase_id -> SqlUuid,
        amount_minor -> BigInt,
        items -> SqlJson,
        reason -> Nullable<Text>,
        points_reversed -> BigInt,
        actor_type -> Text,
        actor_id -> Nullable<SqlUuid>,
        created_at -> SqlTs,
    }
}

// Kept by purchase writes for category analytics (no primary key in SQL: the declared one is
// what diesel requires; a purchase has one row per category, `None` included).
diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    purchase_categories (purchase_id, category) {
        purchase_id -> SqlUuid,
        category -> Nullable<Text>,
        workspace_id -> SqlUuid,
        customer_id -> SqlUuid,
        currency -> Text,
        occurred_at -> SqlTs,
        revenue_minor -> BigInt,
    }
}

diesel::joinable!(purchase_items -> purchases (purchase_id));

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    coupons (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        code -> Text,
        name -> Nullable<Text>,
        description -> Nullable<Text>,
        discount_type -> Text,
        percent_off -> Nullable<BigInt>,
        amount_off_minor -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        min_order_minor -> Nullable<BigInt>,
        valid_from -> Nullable<SqlTs>,
        valid_until -> Nullable<SqlTs>,
        max_redemptions -> Nullable<BigInt>,
        max_redemptions_per_customer -> Nullable<BigInt>,
        segment_id -> Nullable<SqlUuid>,
        redemption_count -> BigInt,
        active -> Bool,
        search_text -> Text,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    coupon_redemptions (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        coupon_id -> SqlUuid,
        customer_id -> SqlUuid,
        order_amount_minor -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        discount_minor -> BigInt,
        purchase_id -> Nullable<SqlUuid>,
        external_order_id -> Nullable<Text>,
        actor_type -> Text,
        actor_id -> Nullable<SqlUuid>,
        created_at -> SqlTs,
        voided_at -> Nullable<SqlTs>,
        void_reason -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    loyalty_programs (workspace_id) {
        workspace_id -> SqlUuid,
        active -> Bool,
        currency -> Text,
        points_per_unit -> BigInt,
        unit_minor -> BigInt,
        category_multipliers -> SqlJson,
        expiry_months -> Nullable<Integer>,
        tiers -> SqlJson,
        welcome_bonus -> BigInt,
        version -> BigInt,
        updated_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    loyalty_accounts (customer_id) {
        customer_id -> SqlUuid,
        workspace_id -> SqlUuid,
        balance -> BigInt,
        last_seq -> BigInt,
        welcome_granted -> Bool,
        created_at -> SqlTs,
        updated_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    loyalty_ledger (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        customer_id -> SqlUuid,
        seq -> BigInt,
        kind -> Text,
        points -> BigInt,
        balance_after -> BigInt,
        tier_points -> BigInt,
        reference_type -> Nullable<Text>,
        reference_id -> Nullable<SqlUuid>,
        reason -> Nullable<Text>,
        expires_at -> Nullable<SqlTs>,
        actor_type -> Text,
        actor_id -> Nullable<SqlUuid>,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    loyalty_lots (entry_id) {
        entry_id -> SqlUuid,
        workspace_id -> SqlUuid,
        customer_id -> SqlUuid,
        points -> BigInt,
        remaining -> BigInt,
        expires_at -> Nullable<SqlTs>,
        expires_sort -> SqlTs,
        created_at -> SqlTs,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    rewards (id) {
        id -> SqlUuid,
        workspace_id -> SqlUuid,
        name -> Text,
        description -> Nullable<Text>,
        cost_points -> BigInt,
        stock -> Nullable<BigInt>,
        active -> Bool,
        version -> BigInt,
        created_at -> SqlTs,
        updated_at -> SqlTs,
        deleted_at -> Nullable<SqlTs>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::types::*;

    job_leases (name) {
        name -> Text,
        holder -> Text,
        locked_until -> SqlTs,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    workspaces,
    users,
    api_keys,
    refresh_tokens,
    customers,
    customer_tags,
    audit_events,
    idempotency_keys,
    customer_stats,
    segments,
    interactions,
    tasks,
    pipelines,
    pipeline_stages,
    deals,
    deal_stage_changes,
    scoring_rules,
    web_forms,
    leads,
    lead_tags,
    form_submissions,
    deal_rollups,
    purchases,
    purchase_items,
    purchase_categories,
    purchase_refunds,
    coupons,
    coupon_redemptions,
    loyalty_programs,
    loyalty_accounts,
    loyalty_ledger,
    loyalty_lots,
    rewards,
    job_leases,
);
