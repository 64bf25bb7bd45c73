//! Black-box tests of the HTTP API. Each test starts the real server on port 0 against a fresh
//! database and speaks HTTP to it; `both_backends!` runs it on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod analytics;
mod api_keys;
mod auth;
mod cli;
mod conventions;
mod conversion;
mod coupons;
mod customers;
mod deals;
mod health;
mod interactions;
mod leads;
mod loyalty;
mod migrations;
mod openapi;
mod pipelines;
mod purchases;
mod reassignments;
mod replica;
mod rewards;
mod scoring;
mod segments;
mod tasks;
mod timeline;
mod users;
mod web_forms;
