//! Candor's integration tests: the real server on a random loopback port, real HTTP, a
//! real database (SQLite file and a fresh PostgreSQL database per test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod alerts;
mod audit;
mod audit_witness;
mod authz;
mod authz_matrix;
mod availability;

mod chase;
mod cli;
mod cluster;
mod contacts;
mod crash;
mod crash_seeded;
mod demo;
mod drills;
mod elevation;
mod failover;
mod fanout_parts;
mod grant_cache;
mod graph;
mod health;
mod jobs;
mod keys;
mod lockbox;
mod lockbox_api;
mod lockbox_story;
mod maintenance;
mod messages;
mod notifications;
mod operator_api;
mod ops;
mod placement_index;
mod portal;
mod push;
mod secrets_in_logs;
mod status_site;
mod statuspage;
mod subscribers;
mod token;
mod topology;
mod webhooks;
