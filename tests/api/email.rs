//! Mailed alerts: the embedded SMTP listener driven by real clients,
//! Python's smtplib and Debian's swaks, with mails shaped as Nagios, Zabbix,
//! cron and AWS SES send them (plain, HTML only, multipart, base64,
//! quoted-printable, subjects in other charsets), STARTTLS with a throw-away
//! certificate, and each refusal SMTP defines (550, 552, 451).

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tocsin::domain::incident::{Incident, Severity, State};

const DOMAIN: &str = "alerts.example.com";

/// The `api` service reads `db-alerts@` mail the Nagios way: CRITICAL pages
/// as critical, a RECOVERY resolves the alert for the same host and service.
const NAGIOS_EMAIL: &str = r#"
[services.email]
local_part = "db-alerts"
title = "subject | replace('*', '') | trim"
severity = "'critical' if 'CRITICAL' in subject else 'warning'"
dedup_key = "(subject | split(' '))[4]"
resolve_when = "subject is startingwith('** RECOVERY')"
"#;

/// The test configuration with a `db` service whose mail is read as above.
fn config() -> String {
    format!(
        "{CONFIG}\n[[services]]\nid = \"db\"\nname = \"Databases\"\nteam = \"platform\"\n\
         integration_key = \"{DB_KEY}\"\n{NAGIOS_EMAIL}"
    )
}

const DB_KEY: &str = "fedcba98765432100123456789abcdef";

/// The tools the tests drive; outside CI a missing one skips the test.
fn tools_present(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| {
            Command::new(t)
                .arg(if **t == "openssl" {
                    "version"
                } else {
                    "--version"
                })
                .output()
                .is_err()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} not installed; .ci/run installs them"
    );
    eprintln!("skipping: {missing:?} not installed (apt-get install swaks python3 openssl)");
    false
}

async fn start(extra: &[(&str, &str)]) -> (TestApp, u16) {
    let mut env = vec![
        ("TOCSIN_SMTP_LISTEN", "127.0.0.1:0"),
        ("TOCSIN_EMAIL_DOMAIN", DOMAIN),
    ];
    env.extend_from_slice(extra);
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start_full(dir, None, &env, tocsin::clock::Clock::system(), &config()).await;
    let port = t.app().smtp_addr().unwrap().port();
    (t, port)
}

async fn incidents(t: &TestApp) -> Vec<Incident> {
    t.app().core().store.incidents().await.unwrap()
}

async fn details(t: &TestApp, inc: &Incident) -> Value {
    t.app()
        .core()
        .store
        .custom_details(inc.id)
        .await
        .unwrap()
        .unwrap()
}

/// Sends `raw` with smtplib; returns "ok" or "<code> <message>" of the refusal.
const SMTPLIB: &str = r#"
import smtplib, ssl, sys
port, sender, rcpt, path, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
raw = open(path, 'rb').read()
try:
    with smtplib.SMTP('127.0.0.1', port, timeout=30) as s:
        s.ehlo('monitor.example.com')
        if cafile:
            ctx = ssl.create_default_context(cafile=cafile)
            s.starttls(context=ctx)
            s.ehlo('monitor.example.com')
        s.sendmail(sender, rcpt.split(','), raw)
    print('ok')
except smtplib.SMTPRecipientsRefused as e:
    code, msg = list(e.recipients.values())[0]
    print(code, msg.decode())
except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
    print(e.smtp_code, e.smtp_error.decode())
"#;

fn smtplib(
    dir: &Path,
    port: u16,
    from: &str,
    to: &str,
    raw: &[u8],
    cafile: Option<&Path>,
) -> String {
    let script = dir.join("send.py");
    std::fs::write(&script, SMTPLIB).unwrap();
    let mail = dir.join("mail.eml");
    std::fs::write(&mail, raw).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(from)
        .arg(to)
        .arg(&mail)
        .arg(cafile.map(|c| c.display().to_string()).unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs swaks against the listener; its exit status and the conversation.
fn swaks(port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new("swaks")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--timeout",
            "30",
        ])
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

async fn send(t: &TestApp, port: u16, from: &str, to: &str, raw: &str) -> String {
    let dir = t.dir.path().to_path_buf();
    let (from, to, raw) = (from.to_string(), to.to_string(), raw.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || smtplib(&dir, port, &from, &to, &raw, None))
        .await
        .unwrap()
}

const NAGIOS_PROBLEM: &str = "From: Nagios <nagios@monitor.example.com>\r\n\
To: db-alerts@alerts.example.com\r\n\
Subject: ** PROBLEM Service Alert: db-1/MySQL is CRITICAL **\r\n\
Date: Fri, 04 Dec 2026 03:12:09 +0000\r\n\
Message-ID: <20261204031209.3141@monitor.example.com>\r\n\
\r\n\
***** Nagios *****\r\n\
\r\n\
Notification Type: PROBLEM\r\n\
\r\n\
Service: MySQL\r\n\
Host: db-1\r\n\
Address: 10.0.4.11\r\n\
State: CRITICAL\r\n\
\r\n\
Date/Time: Fri Dec 4 03:12:09 UTC 2026\r\n\
\r\n\
Additional Info:\r\n\
\r\n\
CRITICAL - Can't connect to MySQL server on '10.0.4.11' (111)\r\n";

#[tokio::test]
async fn nagios_mail_opens_a_critical_incident_and_its_recovery_resolves_it() {
    if !tools_present(&["python3"]) {
        return;
    }
    let (t, port) = start(&[]).await;
    let to = format!("db-alerts@{DOMAIN}");
    let from = "nagios@monitor.example.com";
    assert_eq!(send(&t, port, from, &to, NAGIOS_PROBLEM).await, "ok");
    let list = incidents(&t).await;
    assert_eq!(list.len(), 1, "the 250 came after the incident was stored");
    let inc = &list[0];
    assert_eq!(
        inc.alert.summary,
        "PROBLEM Service Alert: db-1/MySQL is CRITICAL"
    );
    assert_eq!(inc.alert.severity, Severity::Critical);
    assert_eq!(inc.dedup_key, "db-1/MySQL");
    assert_eq!(inc.alert.source, "nagios@monitor.example.com");
    let d = details(&t, inc).await;
    assert!(d["message"]
        .as_str()
        .unwrap()
        .contains("Can't connect to MySQL"));
    let recovery = NAGIOS_PROBLEM
        .replace("** PROBLEM", "** RECOVERY")
        .replace("is CRITICAL **", "is OK **")
        .replace("State: CRITICAL", "State: OK");
    assert_eq!(send(&t, port, from, &to, &recovery).await, "ok");
    let list = incidents(&t).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, State::Resolved);
}

#[tokio::test]
async fn zabbix_cron_and_ses_mails_are_decoded_whatever_their_encoding() {
    if !tools_present(&["python3", "swaks"]) {
        return;
    }
    let (t, port) = start(&[]).await;
    let to = format!("{KEY}@{DOMAIN}");
    // Zabbix's HTML media type, quoted-printable, no text part.
    let zabbix = "From: Zabbix <zabbix@monitor.example.com>\r\n\
To: ops@example.com\r\n\
Subject: =?UTF-8?B?UHJvYmxlbTogSGlnaCBDUFUgdXRpbGl6YXRpb24gKG92ZXIgOTAlIGZvciA1bSkg4oCTIHdlYi0x?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<b>Problem started</b> at 03:14:07 on 2026.12.04<br>Problem name: High CPU utilizati=\r\n\
on (over 90% for 5m)<br>Host: web-1<br>Severity: Warning<br>Operational data: Cur=\r\n\
rent utilization: 97.31 %<br>Original problem ID: 4812=\r\n\
<br>\r\n";
    assert_eq!(
        send(&t, port, "zabbix@monitor.example.com", &to, zabbix).await,
        "ok"
    );
    // cron's MAILTO mail: 8bit text from the Cron Daemon.
    let cron = "From: root@batch-3.example.com (Cron Daemon)\r\n\
To: root@batch-3.example.com\r\n\
Subject: Cron <root@batch-3> /usr/local/bin/nightly-backup.sh\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
X-Cron-Env: <SHELL=/bin/sh>\r\n\
X-Cron-Env: <HOME=/root>\r\n\
X-Cron-Env: <LOGNAME=root>\r\n\
\r\n\
tar: /var/backups/db.tar: Cannot write: No space left on device — aborted\r\n";
    assert_eq!(
        send(&t, port, "root@batch-3.example.com", &to, cron).await,
        "ok"
    );
    // AWS SES: multipart/alternative, base64 parts, a subject in ISO-8859-1.
    let ses = "Return-Path: <0100018c3a2b-ses@amazonses.com>\r\n\
From: Billing Monitor <billing@notify.example.com>\r\n\
To: alerts@example.com\r\n\
Subject: =?ISO-8859-1?Q?Paiement_refus=E9_pour_la_facture_n=B04711?=\r\n\
Message-ID: <0100018c3a2b4d5e-6f7a8b9c-1234-5678-9abc-def012345678-000000@email.amazonses.com>\r\n\
Date: Fri, 4 Dec 2026 03:20:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"----=_Part_1234_567890.1764818400000\"\r\n\
X-SES-Outgoing: 2026.12.04-54.240.8.1\r\n\
Feedback-ID: 1.us-east-1.abcdefghijklmnop=:AmazonSES\r\n\
\r\n\
------=_Part_1234_567890.1764818400000\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
UGF5bWVudCBkZWNsaW5lZCBmb3IgaW52b2ljZSA0NzExOiBjYXJkIGV4cGlyZWQu\r\n\
\r\n\
------=_Part_1234_567890.1764818400000\r\n\
Content-Type: text/html; charset=UTF-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PHA+UGF5bWVudCBkZWNsaW5lZCBmb3IgaW52b2ljZSA0NzExOiBjYXJkIGV4cGlyZWQuPC9wPg==\r\n\
\r\n\
------=_Part_1234_567890.1764818400000--\r\n";
    assert_eq!(
        send(&t, port, "billing@notify.example.com", &to, ses).await,
        "ok"
    );
    // swaks, with a KOI8-R subject.
    let (ok, out) = tokio::task::spawn_blocking(move || {
        swaks(
            port,
            &[
                "--from",
                "backup@storage.example.com",
                "--to",
                &to,
                "--header",
                "Subject: =?KOI8-R?B?8NLP18XSy8E=?= raid degraded",
                "--body",
                "md0: 1 of 2 disks failed",
            ],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("250 2.0.0 alert stored"), "{out}");

    let list = incidents(&t).await;
    let titles: Vec<&str> = list.iter().map(|i| i.alert.summary.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Problem: High CPU utilization (over 90% for 5m) – web-1",
            "Cron <root@batch-3> /usr/local/bin/nightly-backup.sh",
            "Paiement refusé pour la facture n°4711",
            "Проверка raid degraded",
        ]
    );
    let zabbix = details(&t, &list[0]).await;
    let text = zabbix["message"].as_str().unwrap();
    assert!(
        text.contains("High CPU utilization (over 90% for 5m)"),
        "{text}"
    );
    assert!(text.contains("Current utilization: 97.31 %"), "{text}");
    let cron = details(&t, &list[1]).await;
    assert!(cron["message"]
        .as_str()
        .unwrap()
        .contains("No space left on device — aborted"));
    assert_eq!(cron["payload"]["headers"]["x-cron-env"], "<SHELL=/bin/sh>");
    let ses = details(&t, &list[2]).await;
    assert_eq!(
        ses["message"],
        "Payment declined for invoice 4711: card expired."
    );
    assert!(ses["payload"]["html"]
        .as_str()
        .unwrap()
        .contains("<p>Payment declined"));
    assert_eq!(list[2].alert.source, "billing@notify.example.com");
    assert!(list.iter().all(|i| i.alert.severity == Severity::Error));
}

#[tokio::test]
async fn refusals_are_smtp_answers_and_store_nothing() {
    if !tools_present(&["python3", "swaks"]) {
        return;
    }
    let (t, port) = start(&[
        ("TOCSIN_SMTP_ALLOW_SENDERS", "monitor.example.com"),
        ("TOCSIN_SMTP_MAX_KB", "4"),
    ])
    .await;
    let good = format!("{KEY}@{DOMAIN}");
    let from = "nagios@monitor.example.com";
    // An unknown mailbox, and a known local part at another domain.
    for to in [
        format!("nobody@{DOMAIN}"),
        "db-alerts@elsewhere.example".to_string(),
    ] {
        let (ok, out) = tokio::task::spawn_blocking(move || {
            swaks(port, &["--from", from, "--to", &to, "--body", "x"])
        })
        .await
        .unwrap();
        assert!(!ok, "{out}");
        assert!(out.contains("550 5.1.1"), "{out}");
    }
    // A sender domain off the allow-list.
    let reply = send(&t, port, "x@evil.example.net", &good, NAGIOS_PROBLEM).await;
    assert!(
        reply.starts_with("550 5.7.1 sender domain evil.example.net"),
        "{reply}"
    );
    // Over TOCSIN_SMTP_MAX_KB: smtplib declares SIZE, swaks does not.
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(5000));
    let reply = send(&t, port, from, &good, &big).await;
    assert!(reply.starts_with("552"), "{reply}");
    let body = "y".repeat(5000);
    let (ok, out) = tokio::task::spawn_blocking(move || {
        swaks(
            port,
            &[
                "--from",
                from,
                "--to",
                &format!("{KEY}@{DOMAIN}"),
                "--body",
                &body,
            ],
        )
    })
    .await
    .unwrap();
    assert!(!ok && out.contains("552 5.3.4 message too large"), "{out}");
    assert!(incidents(&t).await.is_empty());
    // Allowed, in size: taken.
    assert_eq!(
        send(&t, port, "n@MONITOR.example.com", &good, NAGIOS_PROBLEM).await,
        "ok"
    );
    assert_eq!(incidents(&t).await.len(), 1);
}

#[tokio::test]
async fn a_store_that_cannot_write_answers_451_so_the_sender_retries() {
    if !tools_present(&["python3"]) {
        return;
    }
    // A free-space floor no disk meets: every new alert is refused.
    let (t, port) = start(&[("TOCSIN_MIN_FREE_MB", "1000000000000")]).await;
    let reply = send(
        &t,
        port,
        "n@monitor.example.com",
        &format!("{KEY}@{DOMAIN}"),
        NAGIOS_PROBLEM,
    )
    .await;
    assert!(
        reply.starts_with("451 4.3.0 the alert could not be stored"),
        "{reply}"
    );
    assert!(incidents(&t).await.is_empty());
}

#[tokio::test]
async fn a_mail_that_cannot_be_read_opens_an_incident_holding_the_raw_message() {
    if !tools_present(&["swaks"]) {
        return;
    }
    let (t, port) = start(&[]).await;
    // No header block at all: just bytes.
    let (ok, out) = tokio::task::spawn_blocking(move || {
        swaks(
            port,
            &[
                "--from",
                "ups@power.example.com",
                "--to",
                &format!("{KEY}@{DOMAIN}"),
                "--data",
                "\u{1}\u{2} UPS-7 ON BATTERY 41% \u{3}\n",
            ],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    let list = incidents(&t).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].alert.summary, "Email could not be read");
    let d = details(&t, &list[0]).await;
    assert!(
        d["raw_message"]
            .as_str()
            .unwrap()
            .contains("UPS-7 ON BATTERY 41%"),
        "{d}"
    );
    assert_eq!(d["envelope"]["from"], "ups@power.example.com");
}

#[tokio::test]
async fn starttls_with_a_throwaway_certificate_works_for_both_clients() {
    if !tools_present(&["python3", "swaks", "openssl"]) {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let (t, port) = start(&[
        ("TOCSIN_SMTP_TLS_CERT", &cert_s),
        ("TOCSIN_SMTP_TLS_KEY", &key_s),
    ])
    .await;
    let to = format!("{KEY}@{DOMAIN}");
    let (ok, out) = {
        let to = to.clone();
        tokio::task::spawn_blocking(move || {
            swaks(
                port,
                &[
                    "--tls",
                    "--from",
                    "n@monitor.example.com",
                    "--to",
                    &to,
                    "--header",
                    "Subject: over TLS (swaks)",
                    "--body",
                    "x",
                ],
            )
        })
        .await
        .unwrap()
    };
    assert!(ok, "{out}");
    assert!(
        out.contains("STARTTLS") && out.contains("250 2.0.0 alert stored"),
        "{out}"
    );
    // smtplib verifies the certificate against the throw-away CA.
    let dir = t.dir.path().to_path_buf();
    let raw = b"From: n@monitor.example.com\r\nSubject: over TLS (smtplib)\r\n\r\nx\r\n".to_vec();
    let reply = tokio::task::spawn_blocking(move || {
        smtplib(&dir, port, "n@monitor.example.com", &to, &raw, Some(&cert))
    })
    .await
    .unwrap();
    assert_eq!(reply, "ok");
    let titles: Vec<String> = incidents(&t)
        .await
        .into_iter()
        .map(|i| i.alert.summary)
        .collect();
    assert_eq!(titles, ["over TLS (swaks)", "over TLS (smtplib)"]);
}
