//! The pure core: incidents and their state machine, schedules, escalation,
//! grouping and event rules, paging rules, the App Home, incident rooms, who may do what,
//! and the reports. Plain functions of data, the config and instants handed
//! in: no I/O, no clock, no store, no platform.

pub mod escalation;
pub mod grouping;
pub mod home;
pub mod incident;
pub mod notice;
pub mod notify;
pub mod policy;
pub mod replay;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod sentence;
pub mod similarity;
pub mod warroom;
