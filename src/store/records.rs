//! Stored record types, versioned independently of wire formats and domain types.
//!
//! Every record carries `"v"`; a reader that meets a version it does not know
//! fails loudly instead of guessing. New versions add a variant and an upgrade.

use crate::domain::incident::Incident;
use crate::domain::schedule::Override;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum IncidentRecord {
    /// Schema 1: the serde form of `Incident`, the opening alert's custom
    /// details inline. Rewritten on every change, details and all; no
    /// longer written, and upgraded to `V2` when a data directory is opened.
    #[serde(rename = "1")]
    V1(Incident),
    /// Schema 2: the same form without custom details, which are kept in
    /// the `payloads` tree under the incident's id, written once. Like v1,
    /// it holds the Slack message references (`message`, `dm_messages`);
    /// no longer written, and upgraded to `V3` when a data directory is opened.
    #[serde(rename = "2")]
    V2(Incident),
    /// Schema 3: without message references, which are the chat receiver's
    /// own records (`MessageRefsRecord`).
    #[serde(rename = "3")]
    V3(Incident),
}

impl IncidentRecord {
    pub(crate) fn into_current(self) -> Incident {
        match self {
            IncidentRecord::V1(i) | IncidentRecord::V2(i) | IncidentRecord::V3(i) => i,
        }
    }

    /// Reads a stored incident. A v1, v2 or v3 record (its `"v"` is written
    /// first) is read straight into `Incident`, which ignores the tag:
    /// serde reads an internally tagged enum by first copying the whole
    /// record into a buffer of its own, and incidents are read on every
    /// repeat alert. Any other record goes through the enum, which refuses
    /// unknown versions. A v1 record keeps its custom details inline; the
    /// message references of a v1 or v2 record are left for
    /// [`IncidentRecord::legacy_refs`].
    pub(crate) fn decode(bytes: &[u8]) -> serde_json::Result<Incident> {
        if bytes.starts_with(V3_TAG) || bytes.starts_with(V2_TAG) || bytes.starts_with(V1_TAG) {
            return serde_json::from_slice::<Incident>(bytes);
        }
        serde_json::from_slice::<IncidentRecord>(bytes).map(IncidentRecord::into_current)
    }

    /// Whether `bytes` are an incident record of the current version.
    pub(crate) fn is_current(bytes: &[u8]) -> bool {
        bytes.starts_with(V3_TAG)
    }

    /// The message references a v1 or v2 record kept inline (none for v3,
    /// which has no such fields): what the upgrade to schema 3 moves out.
    pub(crate) fn legacy_refs(bytes: &[u8]) -> serde_json::Result<MessageRefs> {
        #[derive(Deserialize)]
        struct Legacy {
            #[serde(default)]
            message: Option<MessageRef>,
            #[serde(default)]
            dm_messages: Vec<MessageRef>,
        }
        let Legacy {
            message,
            dm_messages,
        } = serde_json::from_slice(bytes)?;
        Ok(MessageRefs {
            post: message,
            dms: dm_messages,
        })
    }
}

/// How every v1 incident record begins.
const V1_TAG: &[u8] = br#"{"v":"1","#;
/// How every v2 incident record begins.
const V2_TAG: &[u8] = br#"{"v":"2","#;
/// How every v3 incident record begins.
const V3_TAG: &[u8] = br#"{"v":"3","#;

/// The current incident record, borrowed for writing: the same bytes as
/// [`IncidentRecord::V3`] without copying the incident first. The incident
/// must carry no custom details (they are written apart, as a payload).
#[derive(Serialize)]
#[serde(tag = "v")]
pub(crate) enum IncidentRecordRef<'a> {
    #[serde(rename = "3")]
    V3(&'a Incident),
}

/// Where a message a chat receiver posted lives (Slack: channel and ts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// Every copy a chat receiver keeps of one incident, so that a change
/// updates each in place: its post in the alert channel and the DMs that
/// paged people. The receiver's bookkeeping, not the incident's: the
/// domain never reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRefs {
    pub post: Option<MessageRef>,
    pub dms: Vec<MessageRef>,
}

impl MessageRefs {
    pub fn is_empty(&self) -> bool {
        self.post.is_none() && self.dms.is_empty()
    }
}

/// An incident's message references as kept in their own tree, keyed by
/// the incident's id.
#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum MessageRefsRecord {
    #[serde(rename = "1")]
    V1(MessageRefs),
}

/// [`MessageRefsRecord`], borrowed for writing.
#[derive(Serialize)]
#[serde(tag = "v")]
pub(crate) enum MessageRefsRecordRef<'a> {
    #[serde(rename = "1")]
    V1(&'a MessageRefs),
}

/// The custom details of the alert that opened an incident, as kept in the
/// `payloads` tree (compact JSON), borrowed for writing.
#[derive(Serialize)]
#[serde(tag = "v")]
pub(crate) enum PayloadRecordRef<'a> {
    #[serde(rename = "1")]
    V1 {
        custom_details: &'a serde_json::Value,
    },
}

#[derive(Deserialize)]
#[serde(tag = "v")]
pub(crate) enum PayloadRecord {
    #[serde(rename = "1")]
    V1 { custom_details: serde_json::Value },
}

impl PayloadRecord {
    /// Reads a stored payload; a v1 record directly, as incidents are read.
    pub(crate) fn decode(bytes: &[u8]) -> serde_json::Result<serde_json::Value> {
        #[derive(Deserialize)]
        struct V1 {
            custom_details: serde_json::Value,
        }
        if bytes.starts_with(V1_TAG) {
            return serde_json::from_slice::<V1>(bytes).map(|r| r.custom_details);
        }
        serde_json::from_slice::<PayloadRecord>(bytes)
            .map(|PayloadRecord::V1 { custom_details }| custom_details)
    }
}

/// An override as stored: who set it and when, beside the override itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOverride {
    pub id: u64,
    pub schedule: String,
    #[serde(flatten)]
    pub over: Override,
    /// Slack user id (or "cli") of whoever created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum OverrideRecord {
    #[serde(rename = "1")]
    V1(StoredOverride),
}

/// A request that another person take (or trade) a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapRequest {
    pub id: u64,
    pub schedule: String,
    /// Config user ids.
    pub requester: String,
    pub other: String,
    /// The requester's shift the other person would take.
    pub mine: (DateTime<Utc>, DateTime<Utc>),
    /// For a trade, the other person's shift the requester would take; `None` for "cover me".
    pub theirs: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub state: SwapState,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwapState {
    Pending,
    Accepted,
    Declined,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum SwapRecord {
    #[serde(rename = "1")]
    V1(SwapRequest),
}

pub use crate::domain::notice::Outbound;

/// An outbox entry. Entries of one `lane` (a Slack channel, a phone number) are sent in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub lane: String,
    pub op: Outbound,
    pub enqueued_at: DateTime<Utc>,
    pub attempts: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum OutboxRecord {
    #[serde(rename = "1")]
    V1(OutboxItem),
}

impl OutboxRecord {
    pub(crate) fn into_current(self) -> OutboxItem {
        match self {
            OutboxRecord::V1(i) => i,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The on-disk form of a v1 incident, byte for byte, as schema 1 wrote
    /// it. No longer written; kept so that old data directories still read.
    pub(crate) const V1_INCIDENT: &str = r#"{"v":"1","id":7,"service_id":"api","routing_key":"k","dedup_key":"d7","alert":{"summary":"CPU on fire","source":"web-1","severity":"critical","component":null,"group":null,"class":null,"custom_details":null,"links":[],"client":null,"client_url":null},"state":"triggered","created_at":"2026-11-25T03:00:00Z","alert_count":1,"last_alert_at":"2026-11-25T03:00:00Z","acknowledged":null,"resolved":null,"alert_channel":"C1","message":null}"#;

    /// The on-disk form of a v2 incident, byte for byte, as schema 2 wrote
    /// it. No longer written; kept so that old data directories still read.
    pub(crate) const V2_INCIDENT: &str = r#"{"v":"2","id":7,"service_id":"api","routing_key":"k","dedup_key":"d7","alert":{"summary":"CPU on fire","source":"web-1","severity":"critical","component":null,"group":null,"class":null,"links":[],"client":null,"client_url":null},"state":"triggered","created_at":"2026-11-25T03:00:00Z","alert_count":1,"last_alert_at":"2026-11-25T03:00:00Z","acknowledged":null,"resolved":null,"alert_channel":"C1","message":null}"#;

    /// The on-disk form of a v3 incident, byte for byte. If this test fails, a
    /// change to `Incident` altered stored data: add `V4` and an upgrade from
    /// `V3` instead of editing this text.
    const V3_INCIDENT: &str = r#"{"v":"3","id":7,"service_id":"api","routing_key":"k","dedup_key":"d7","alert":{"summary":"CPU on fire","source":"web-1","severity":"critical","component":null,"group":null,"class":null,"links":[],"client":null,"client_url":null},"state":"triggered","created_at":"2026-11-25T03:00:00Z","alert_count":1,"last_alert_at":"2026-11-25T03:00:00Z","acknowledged":null,"resolved":null,"alert_channel":"C1"}"#;

    /// The on-disk form of a v1 message references record (same rule as above).
    const V1_MESSAGE_REFS: &str =
        r#"{"v":"1","post":{"channel":"C1","ts":"1.1"},"dms":[{"channel":"D1","ts":"2.1"}]}"#;

    /// The on-disk form of a v1 payload, byte for byte (same rule as above).
    const V1_PAYLOAD: &str =
        r#"{"v":"1","custom_details":{"log":["a","b"],"mount":"/var","used":0.91}}"#;

    #[test]
    fn the_v3_incident_format_is_pinned() {
        let inc = crate::domain::incident::tests::sample(7);
        let json = serde_json::to_string(&IncidentRecordRef::V3(&inc)).unwrap();
        assert_eq!(json, V3_INCIDENT);
        assert!(IncidentRecord::is_current(json.as_bytes()));
        let back: IncidentRecord = serde_json::from_str(V3_INCIDENT).unwrap();
        assert_eq!(back.into_current(), inc);
        assert_eq!(IncidentRecord::decode(V3_INCIDENT.as_bytes()).unwrap(), inc);
        assert!(IncidentRecord::legacy_refs(V3_INCIDENT.as_bytes())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_v2_incident_format_still_reads_with_its_message_refs_apart() {
        let inc = crate::domain::incident::tests::sample(7);
        assert!(!IncidentRecord::is_current(V2_INCIDENT.as_bytes()));
        let back: IncidentRecord = serde_json::from_str(V2_INCIDENT).unwrap();
        assert!(matches!(back, IncidentRecord::V2(_)));
        assert_eq!(back.into_current(), inc);
        assert_eq!(IncidentRecord::decode(V2_INCIDENT.as_bytes()).unwrap(), inc);
        // Schema 2 kept the message references in the record: the incident
        // reads without them, and the upgrade finds them.
        let with = V2_INCIDENT.replace(
            r#""message":null"#,
            r#""message":{"channel":"C1","ts":"1.1"},"dm_messages":[{"channel":"D1","ts":"2.1"}]"#,
        );
        assert_eq!(IncidentRecord::decode(with.as_bytes()).unwrap(), inc);
        let refs = IncidentRecord::legacy_refs(with.as_bytes()).unwrap();
        let want: MessageRefs = serde_json::from_str::<MessageRefsRecord>(V1_MESSAGE_REFS)
            .map(|MessageRefsRecord::V1(r)| r)
            .unwrap();
        assert_eq!(refs, want);
        assert!(IncidentRecord::legacy_refs(V2_INCIDENT.as_bytes())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_v1_message_refs_format_is_pinned() {
        let refs = MessageRefs {
            post: Some(MessageRef {
                channel: "C1".into(),
                ts: "1.1".into(),
            }),
            dms: vec![MessageRef {
                channel: "D1".into(),
                ts: "2.1".into(),
            }],
        };
        let json = serde_json::to_string(&MessageRefsRecordRef::V1(&refs)).unwrap();
        assert_eq!(json, V1_MESSAGE_REFS);
        let back: MessageRefsRecord = serde_json::from_str(V1_MESSAGE_REFS).unwrap();
        assert!(matches!(back, MessageRefsRecord::V1(r) if r == refs));
        let future = V1_MESSAGE_REFS.replace(r#""v":"1""#, r#""v":"9""#);
        assert!(serde_json::from_str::<MessageRefsRecord>(&future).is_err());
    }

    #[test]
    fn the_v1_incident_format_still_reads_with_its_details_inline() {
        let inc = crate::domain::incident::tests::sample(7);
        assert!(!IncidentRecord::is_current(V1_INCIDENT.as_bytes()));
        assert_eq!(IncidentRecord::decode(V1_INCIDENT.as_bytes()).unwrap(), inc);
        let back: IncidentRecord = serde_json::from_str(V1_INCIDENT).unwrap();
        assert!(matches!(back, IncidentRecord::V1(_)));
        assert_eq!(back.into_current(), inc);
        // Schema 1 kept the details in the record; they read back from it.
        let details = r#""custom_details":{"mount":"/var"}"#;
        let with = V1_INCIDENT.replace(r#""custom_details":null"#, details);
        let read = IncidentRecord::decode(with.as_bytes()).unwrap();
        assert_eq!(
            read.alert.custom_details,
            Some(serde_json::json!({"mount": "/var"}))
        );
    }

    #[test]
    fn the_v1_payload_format_is_pinned() {
        let details = serde_json::json!({"mount": "/var", "used": 0.91, "log": ["a", "b"]});
        let json = serde_json::to_string(&PayloadRecordRef::V1 {
            custom_details: &details,
        })
        .unwrap();
        assert_eq!(json, V1_PAYLOAD);
        assert_eq!(
            PayloadRecord::decode(V1_PAYLOAD.as_bytes()).unwrap(),
            details
        );
        let reordered =
            r#"{"custom_details":{"log":["a","b"],"mount":"/var","used":0.91},"v":"1"}"#;
        assert_eq!(
            PayloadRecord::decode(reordered.as_bytes()).unwrap(),
            details
        );
        let future = V1_PAYLOAD.replace(r#""v":"1""#, r#""v":"9""#);
        assert!(PayloadRecord::decode(future.as_bytes()).is_err());
    }

    #[test]
    fn the_borrowed_writer_and_the_direct_reader_agree_with_the_record_enum() {
        let mut inc = crate::domain::incident::tests::sample(7);
        inc.changes = vec![crate::domain::incident::Change {
            summary: "deploy".into(),
            source: Some("ci".into()),
            at: inc.created_at,
            link: None,
        }];
        let owned = serde_json::to_vec(&IncidentRecord::V3(inc.clone())).unwrap();
        let borrowed = serde_json::to_vec(&IncidentRecordRef::V3(&inc)).unwrap();
        assert_eq!(borrowed, owned);
        assert!(owned.starts_with(V3_TAG));
        assert_eq!(IncidentRecord::decode(&owned).unwrap(), inc);
        let via_enum: IncidentRecord = serde_json::from_slice(&owned).unwrap();
        assert_eq!(via_enum.into_current(), inc);
        // A record whose tag is not first still reads, through the enum.
        for (text, v) in [(V1_INCIDENT, "1"), (V2_INCIDENT, "2"), (V3_INCIDENT, "3")] {
            let reordered = text.replace(
                &format!(r#"{{"v":"{v}","id":7,"#),
                &format!(r#"{{"id":7,"v":"{v}","#),
            );
            assert_eq!(
                IncidentRecord::decode(reordered.as_bytes()).unwrap(),
                crate::domain::incident::tests::sample(7)
            );
        }
    }

    #[test]
    fn an_unknown_record_version_is_an_error_not_a_guess() {
        let future = V3_INCIDENT.replace(r#""v":"3""#, r#""v":"9""#);
        assert!(serde_json::from_str::<IncidentRecord>(&future).is_err());
        assert!(IncidentRecord::decode(future.as_bytes()).is_err());
    }
}
