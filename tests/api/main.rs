//! Black-box tests: the real router (in-process or the real binary) on port 0,
//! a fresh sled directory each, and a fake Slack Web API on loopback.

mod alertmanager;
mod api_v1;
mod calls;
mod cli;
mod connections;
mod crash;
mod delivery;
mod disk;
mod email;
mod escalation;
mod fake_twilio;
mod grouping;
mod import;
mod ingest;
mod intelligent;
mod maintenance;
mod mrkdwn;
mod oncall;
mod opsgenie;
mod outbox;
mod payloads;
mod policy;
mod report;
mod room_commands;
mod rules;
mod sandbox;
mod secrets;
mod signals;
mod slack;
mod slack_input;
mod socket;
mod support;
mod twilio;
mod warroom;
mod webhooks;
