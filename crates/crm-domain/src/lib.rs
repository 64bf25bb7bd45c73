//! CRM domain: the types the API speaks and the rules that govern them.
//! Pure code: no database, no HTTP. Everything here is unit-tested in place.

pub mod access;
pub mod analytics;
pub mod api_key;
pub mod audit;
pub mod conversion;
pub mod coupon;
pub mod customer;
pub mod deal;
pub mod ids;
pub mod interaction;
pub mod lead;
pub mod loyalty;
mod objects_only;
pub mod owner;
pub mod page;
pub mod patch;
pub mod pipeline;
pub mod purchase;
pub mod record_schema;
pub mod reward;
pub mod rfm;
pub mod scoring;
pub mod segment;
pub mod task;
pub mod timeline;
pub mod user;
pub mod validation;
pub mod values;
pub mod web_form;

pub use ids::*;
pub use validation::{FieldError, TEXT_PATTERN, ValidationErrors};
