//! The CRM HTTP API: actix-web routes, authentication, errors and the OpenAPI document.

pub mod admin;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod replay;
pub mod routes;
pub mod startup;
pub mod state;
