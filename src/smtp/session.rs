//! One SMTP conversation (RFC 5321, with SIZE, 8BITMIME, PIPELINING and
//! STARTTLS): the envelope checked as it arrives (sender domain, each
//! recipient, the declared size), the message read with dot-unstuffing
//! under the size limit, then every recipient's alert stored before the 250.

use super::Shared;
use crate::ingest::email::{self, Envelope};
use crate::ops::alert::IngestError;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// RFC 5321 asks servers to wait at least 5 minutes for a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest command line read (RFC 5321's is 512 octets; some clients
/// send long parameter lists).
const MAX_COMMAND: usize = 4096;
/// Data is read in lines of at most this much; a longer line is read in parts.
const MAX_CHUNK: usize = 64 * 1024;
/// Recipients one message may have (RFC 5321 asks for at least 100).
const MAX_RECIPIENTS: usize = 100;

enum End {
    Quit,
    StartTls,
}

/// What a message's envelope holds so far.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    /// (address as given, the service's integration key)
    to: Vec<(String, String)>,
}

/// Serves one connection, upgrading it to TLS when the client asks.
pub(super) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    shutdown: watch::Receiver<bool>,
) {
    let mut io = BufReader::new(stream);
    let domain = &shared.settings.domain;
    if write(&mut io, &format!("220 {domain} tocsin ESMTP ready"))
        .await
        .is_err()
    {
        return;
    }
    match converse(&mut io, shared, false, shutdown.clone()).await {
        Ok(End::StartTls) => {}
        Ok(End::Quit) => return,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "SMTP session ended");
            return;
        }
    }
    let Some(acceptor) = &shared.tls else { return };
    // Anything the client sent after STARTTLS before the handshake is
    // dropped with the plain reader, so nothing sent in clear is obeyed.
    let stream = io.into_inner();
    let tls = match acceptor.accept(stream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(%peer, error = %e, "SMTP TLS handshake failed");
            return;
        }
    };
    let mut io = BufReader::new(tls);
    if let Err(e) = converse(&mut io, shared, true, shutdown).await {
        tracing::debug!(%peer, error = %e, "SMTP session ended");
    }
}

/// Past the session cap: say so and close.
pub(super) async fn refuse_busy(mut stream: TcpStream, domain: String) {
    let line = format!("421 4.3.2 {domain} too many connections; try again later\r\n");
    let _ = stream.write_all(line.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    line: &str,
) -> std::io::Result<()> {
    let s = io.get_mut();
    s.write_all(line.as_bytes()).await?;
    s.write_all(b"\r\n").await?;
    s.flush().await
}

/// Reads up to and including `\n`, at most `max` bytes (a longer line comes
/// back in parts). `None` at the end of the stream.
async fn read_chunk<S: AsyncBufRead + Unpin>(
    io: &mut S,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let buf = io.fill_buf().await?;
        if buf.is_empty() {
            return Ok((!out.is_empty()).then_some(out));
        }
        let room = max - out.len();
        let (take, done) = match buf.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len().min(room), out.len() + buf.len().min(room) >= max),
        };
        out.extend_from_slice(&buf[..take]);
        io.consume(take);
        if done {
            return Ok(Some(out));
        }
    }
}

/// The address inside `<…>` after a `MAIL FROM:` or `RCPT TO:` prefix, and
/// the parameters after it.
fn path_and_params(rest: &str) -> Option<(String, &str)> {
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((rest[..end].trim().to_string(), rest[end + 1..].trim()))
}

fn domain_of(addr: &str) -> Option<String> {
    addr.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

/// Whether a sender's domain is on the allow-list (a listed domain or a
/// subdomain of one); an empty list allows every sender.
fn sender_allowed(allow: &[String], from: &str) -> bool {
    if allow.is_empty() {
        return true;
    }
    let Some(d) = domain_of(from) else {
        return false;
    };
    allow
        .iter()
        .any(|a| d == *a || d.ends_with(&format!(".{a}")))
}

/// The conversation until QUIT, STARTTLS or the connection's end.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    shared: &Shared,
    tls_active: bool,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<End> {
    let settings = &shared.settings;
    let domain = settings.domain.as_str();
    let mut helo: Option<String> = None;
    let mut tx = Transaction::default();
    loop {
        let line = tokio::select! {
            r = tokio::time::timeout(COMMAND_TIMEOUT, read_chunk(io, MAX_COMMAND)) => match r {
                Ok(r) => r?,
                Err(_) => {
                    write(io, &format!("421 4.4.2 {domain} no command for 5 minutes; closing")).await?;
                    return Ok(End::Quit);
                }
            },
            _ = shutdown.changed() => {
                write(io, &format!("421 4.3.0 {domain} shutting down; try again later")).await?;
                return Ok(End::Quit);
            }
        };
        let Some(line) = line else {
            return Ok(End::Quit);
        };
        if !line.ends_with(b"\n") {
            // Too long: skip the rest of it, then refuse it.
            while let Some(rest) = read_chunk(io, MAX_COMMAND).await? {
                if rest.ends_with(b"\n") {
                    break;
                }
            }
            write(io, "500 5.5.2 line too long").await?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, rest) = match text.split_once(' ') {
            Some((v, r)) => (v.to_ascii_uppercase(), r),
            None => (text.to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" | "HELO" if rest.trim().is_empty() => {
                write(io, "501 5.5.4 say who you are: EHLO <your host name>").await?;
            }
            "EHLO" => {
                helo = Some(rest.trim().to_string());
                tx = Transaction::default();
                let mut lines = vec![
                    format!("{domain} greets {}", rest.trim()),
                    format!("SIZE {}", settings.max_bytes),
                    "8BITMIME".into(),
                    "PIPELINING".into(),
                ];
                if shared.tls.is_some() && !tls_active {
                    lines.push("STARTTLS".into());
                }
                let last = lines.len() - 1;
                for (i, l) in lines.iter().enumerate() {
                    let sep = if i == last { ' ' } else { '-' };
                    let s = io.get_mut();
                    s.write_all(format!("250{sep}{l}\r\n").as_bytes()).await?;
                }
                io.get_mut().flush().await?;
            }
            "HELO" => {
                helo = Some(rest.trim().to_string());
                tx = Transaction::default();
                write(io, &format!("250 {domain}")).await?;
            }
            "STARTTLS" => {
                if tls_active {
                    write(io, "503 5.5.1 TLS is already on").await?;
                } else if shared.tls.is_none() {
                    write(io, "502 5.5.1 STARTTLS is not offered here").await?;
                } else {
                    write(io, "220 2.0.0 ready to start TLS").await?;
                    return Ok(End::StartTls);
                }
            }
            "MAIL" => {
                let Some(arg) = rest
                    .get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("FROM:"))
                    .map(|_| &rest[5..])
                else {
                    write(io, "501 5.5.4 syntax: MAIL FROM:<address>").await?;
                    continue;
                };
                if helo.is_none() {
                    write(io, "503 5.5.1 say EHLO first").await?;
                    continue;
                }
                if tx.from.is_some() {
                    write(io, "503 5.5.1 a message is already started; RSET first").await?;
                    continue;
                }
                let Some((from, params)) = path_and_params(arg) else {
                    write(io, "501 5.1.7 syntax: MAIL FROM:<address>").await?;
                    continue;
                };
                let declared = params.split_whitespace().find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.eq_ignore_ascii_case("SIZE")
                        .then(|| v.parse::<usize>().ok())?
                });
                if declared.is_some_and(|n| n > settings.max_bytes) {
                    let m = format!(
                        "552 5.3.4 message too large: at most {} bytes",
                        settings.max_bytes
                    );
                    write(io, &m).await?;
                    continue;
                }
                if !sender_allowed(&settings.allow_senders, &from) {
                    let d = domain_of(&from).unwrap_or_else(|| "(none)".into());
                    let m =
                        format!("550 5.7.1 sender domain {d} is not allowed to send alerts here");
                    write(io, &m).await?;
                    continue;
                }
                tx.from = Some(from);
                write(io, "250 2.1.0 sender ok").await?;
            }
            "RCPT" => {
                let Some(arg) = rest
                    .get(..3)
                    .filter(|p| p.eq_ignore_ascii_case("TO:"))
                    .map(|_| &rest[3..])
                else {
                    write(io, "501 5.5.4 syntax: RCPT TO:<address>").await?;
                    continue;
                };
                if tx.from.is_none() {
                    write(io, "503 5.5.1 MAIL FROM first").await?;
                    continue;
                }
                let Some((to, _)) = path_and_params(arg) else {
                    write(io, "501 5.1.3 syntax: RCPT TO:<address>").await?;
                    continue;
                };
                if tx.to.len() >= MAX_RECIPIENTS {
                    write(io, "452 4.5.3 too many recipients").await?;
                    continue;
                }
                let key = to.rsplit_once('@').and_then(|(local, d)| {
                    if !d.eq_ignore_ascii_case(domain) {
                        return None;
                    }
                    shared.mailboxes.get(&local.to_ascii_lowercase())
                });
                match key {
                    Some(key) => {
                        tx.to.push((to, key.clone()));
                        write(io, "250 2.1.5 recipient ok").await?;
                    }
                    None => {
                        let m = format!("550 5.1.1 <{to}>: no such mailbox: mail <integration_key>@{domain} or a service's email address");
                        write(io, &m).await?;
                    }
                }
            }
            "DATA" => {
                if tx.from.is_none() || tx.to.is_empty() {
                    write(io, "503 5.5.1 no valid recipients").await?;
                    continue;
                }
                write(io, "354 end data with <CR><LF>.<CR><LF>").await?;
                let message = read_data(io, settings.max_bytes).await?;
                let reply = match message {
                    None => return Ok(End::Quit),
                    Some(Data::TooLarge) => format!(
                        "552 5.3.4 message too large: at most {} bytes",
                        settings.max_bytes
                    ),
                    Some(Data::Message(raw)) => deliver(shared, &tx, &raw).await,
                };
                tx = Transaction::default();
                write(io, &reply).await?;
            }
            "RSET" => {
                tx = Transaction::default();
                write(io, "250 2.0.0 ok").await?;
            }
            "NOOP" => write(io, "250 2.0.0 ok").await?,
            "QUIT" => {
                write(io, &format!("221 2.0.0 {domain} closing")).await?;
                return Ok(End::Quit);
            }
            "VRFY" => write(io, "252 2.5.0 cannot verify; send the message").await?,
            "HELP" => {
                write(
                    io,
                    "214 2.0.0 EHLO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT, STARTTLS",
                )
                .await?
            }
            "AUTH" => {
                write(
                    io,
                    "502 5.5.1 AUTH is not offered; senders are allowed by domain",
                )
                .await?
            }
            _ => write(io, "500 5.5.2 command not recognised").await?,
        }
    }
}

enum Data {
    Message(Vec<u8>),
    TooLarge,
}

/// Reads a message up to the lone `.` line, undoing dot-stuffing. Past
/// `max` bytes the rest is read and dropped. `None`: the connection ended.
async fn read_data<S: AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    max: usize,
) -> std::io::Result<Option<Data>> {
    let mut out = Vec::new();
    let mut over = false;
    let mut line_start = true;
    loop {
        let chunk = match tokio::time::timeout(COMMAND_TIMEOUT, read_chunk(io, MAX_CHUNK)).await {
            Ok(r) => r?,
            Err(_) => return Ok(None),
        };
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        let mut part = &chunk[..];
        if line_start {
            if part == b".\r\n" || part == b".\n" {
                break;
            }
            if part.first() == Some(&b'.') {
                part = &part[1..];
            }
        }
        line_start = chunk.ends_with(b"\n");
        if !over {
            if out.len() + part.len() > max {
                over = true;
                out = Vec::new();
            } else {
                out.extend_from_slice(part);
            }
        }
    }
    Ok(Some(if over {
        Data::TooLarge
    } else {
        Data::Message(out)
    }))
}

/// Stores the message's alert for every recipient; the reply says whether all are on disk.
async fn deliver(shared: &Shared, tx: &Transaction, raw: &[u8]) -> String {
    let core = &shared.ingest.core;
    let from = tx.from.clone().unwrap_or_default();
    for (to, key) in &tx.to {
        let Some(service) = core.config.service_by_key(key) else {
            return format!("550 5.1.1 <{to}>: no such mailbox");
        };
        let envelope = Envelope {
            from: from.clone(),
            to: to.clone(),
        };
        let (ev, why) = email::event(core.mappings.email(&service.id), key, raw, &envelope);
        if let Some(why) = why {
            tracing::warn!(service = %service.id, %from, reason = %why, "a mail could not be read; opened an incident with the raw message");
        }
        match shared.ingest.apply(&ev).await {
            Ok(_) => {}
            Err(IngestError::UnknownKey) => return format!("550 5.1.1 <{to}>: no such mailbox"),
            Err(IngestError::Store(e)) => {
                tracing::warn!(service = %service.id, error = %e, "a mailed alert could not be stored");
                return format!("451 4.3.0 the alert could not be stored ({e}); try again later");
            }
        }
    }
    "250 2.0.0 alert stored".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_senders_and_chunks() {
        assert_eq!(
            path_and_params(" <a@b.example> SIZE=10"),
            Some(("a@b.example".into(), "SIZE=10"))
        );
        assert_eq!(path_and_params("<>"), Some((String::new(), "")));
        assert_eq!(path_and_params("a@b"), None);
        let allow = vec!["example.com".to_string()];
        assert!(sender_allowed(&allow, "n@example.com"));
        assert!(sender_allowed(&allow, "n@mon.EXAMPLE.com"));
        assert!(!sender_allowed(&allow, "n@badexample.com"));
        assert!(!sender_allowed(&allow, ""));
        assert!(sender_allowed(&[], ""));
    }

    proptest::proptest! {
        #[test]
        fn command_paths_never_panic(s in "\\PC{0,80}") {
            let _ = path_and_params(&s);
            let _ = sender_allowed(&["example.com".to_string()], &s);
        }

        /// Whatever the lines, the message read back is them with one leading
        /// dot removed from each, and the terminator is found.
        #[test]
        fn data_round_trips_through_dot_stuffing(lines in proptest::collection::vec("[ -~]{0,40}", 0..20)) {
            let mut sent = Vec::new();
            let mut expected = Vec::new();
            for l in &lines {
                let stuffed = if l.starts_with('.') { format!(".{l}") } else { l.clone() };
                sent.extend_from_slice(stuffed.as_bytes());
                sent.extend_from_slice(b"\r\n");
                expected.extend_from_slice(l.as_bytes());
                expected.extend_from_slice(b"\r\n");
            }
            sent.extend_from_slice(b".\r\n");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let got = rt.block_on(async move {
                let (mut a, b) = tokio::io::duplex(1 << 16);
                a.write_all(&sent).await.unwrap();
                drop(a);
                read_data(&mut BufReader::new(b), 1 << 20).await.unwrap()
            });
            match got {
                Some(Data::Message(m)) => proptest::prop_assert_eq!(m, expected),
                _ => proptest::prop_assert!(false, "no message"),
            }
        }
    }

    #[tokio::test]
    async fn data_is_unstuffed_and_capped() {
        let read = |input: &'static [u8], max| async move {
            let (mut a, b) = tokio::io::duplex(1 << 16);
            a.write_all(input).await.unwrap();
            drop(a);
            read_data(&mut BufReader::new(b), max).await.unwrap()
        };
        match read(b"Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n", 100).await {
            Some(Data::Message(m)) => assert_eq!(m, b"Subject: x\r\n\r\n.dot\r\nbody\r\n"),
            _ => panic!("not a message"),
        }
        assert!(matches!(
            read(b"0123456789\r\n.\r\n", 5).await,
            Some(Data::TooLarge)
        ));
        assert!(read(b"no end\r\n", 100).await.is_none());
    }
}
