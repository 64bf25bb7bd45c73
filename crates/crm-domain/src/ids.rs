//! Typed identifiers. Every id is a UUIDv7 (time-ordered) rendered as a string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_types {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .examples([serde_json::json!("01936f3e-8a5c-7d2e-9b1a-2f4c6d8e0a1b")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    )*};
}

id_types!(
    WorkspaceId,
    UserId,
    ApiKeyId,
    CustomerId,
    AuditEventId,
    LeadId,
    WebFormId,
    ScoringRuleId,
    PipelineId,
    StageId,
    DealId,
    InteractionId,
    TaskId,
    SegmentId,
    PurchaseId,
    RefundId,
    LedgerEntryId,
    RewardId,
    CouponId,
    CouponRedemptionId,
);
