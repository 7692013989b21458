//! One IMAP connection: transport (plain, STARTTLS, implicit TLS), framing with
//! `imap-codec`'s fragmentizer (bounded literals), the RFC 3501 state machine and the commands.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use carillon_mail::auth::MailUser;
use carillon_store::{FlagOp, NewMessage, Store, StoreError, StoredMessage};
use imap_codec::encode::Encoder;
use imap_codec::fragmentizer::{
    DecodeMessageError, FragmentInfo, Fragmentizer, LiteralAnnouncement,
};
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Atom, IString, LiteralMode, NString, QuotedChar, Tag, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::flag::{
    Flag, FlagFetch, FlagNameAttribute, FlagPerm, StoreResponse, StoreType,
};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::{
    Capability, Code, CodeOther, CommandContinuationRequest, Data, Greeting, Response, Status,
    StatusKind,
};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::imap_types::IntoStatic;
use imap_codec::{
    AuthenticateDataCodec, CommandCodec, GreetingCodec, IdleDoneCodec, ResponseCodec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::{mime, search, ImapConfig};

/// Largest literal accepted (APPEND of a message): WorkMail's 40 MB MIME limit.
const MAX_LITERAL: u32 = 40 * 1024 * 1024;
/// Largest command, literals included: bounds the memory of one connection.
const MAX_COMMAND: u32 = MAX_LITERAL + 64 * 1024;
/// How often an idling session looks for changes (RFC 2177: new mail within a second).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Inactivity autologout (RFC 3501 §5.4: at least 30 minutes).
const AUTOLOGOUT: Duration = Duration::from_secs(31 * 60);
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Output is written out whenever this much is buffered (large FETCHes).
const FLUSH_THRESHOLD: usize = 256 * 1024;
const DELIMITER: char = '/';

enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while STARTTLS swaps the stream.
    Closed,
}

impl Transport {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf).await,
            Transport::Tls(s) => s.read(buf).await,
            Transport::Closed => Ok(0),
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Transport::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Transport::Closed => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
}

/// Serves one accepted connection until LOGOUT, disconnect, autologout or server shutdown.
pub(crate) async fn run(
    socket: TcpStream,
    peer: SocketAddr,
    store: Store,
    config: Arc<ImapConfig>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let transport = if config.implicit_tls {
        let acceptor = TlsAcceptor::from(config.tls.clone());
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
            Ok(Ok(tls)) => Transport::Tls(Box::new(tls)),
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
        }
    } else {
        Transport::Plain(socket)
    };
    tracing::debug!(%peer, implicit_tls = config.implicit_tls, "imap connection");
    let mut connection = Connection {
        transport,
        fragmentizer: Fragmentizer::new(MAX_COMMAND),
        out: Vec::new(),
        store,
        config,
        peer,
        stop,
        user: None,
        selected: None,
        pending: Pending::Command,
    };
    connection.run().await
}

/// What the next complete client message is.
enum Pending {
    Command,
    /// SASL data for an AUTHENTICATE (RFC 3501 §6.2.2).
    Authenticate(Tag<'static>),
    /// `DONE` ending an IDLE (RFC 2177).
    Idle(Tag<'static>),
}

enum Flow {
    Continue,
    Close,
    StartTls,
}

/// A command's failure that is not the client's fault.
enum Fail {
    Store(StoreError),
    Io(std::io::Error),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Io(e)
    }
}

/// The tagged completion of a command.
struct Reply {
    kind: StatusKind,
    code: Option<Code<'static>>,
    text: String,
}

impl Reply {
    fn ok(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Ok,
            code: None,
            text: text.into(),
        }
    }

    fn ok_with(code: Code<'static>, text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Ok,
            code: Some(code),
            text: text.into(),
        }
    }

    fn no(code: Option<Code<'static>>, text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::No,
            code,
            text: text.into(),
        }
    }

    fn bad(text: impl Into<String>) -> Self {
        Reply {
            kind: StatusKind::Bad,
            code: None,
            text: text.into(),
        }
    }
}

/// A response code this codec has no variant for (RFC 5530 and the like).
fn code(name: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(name.as_bytes()))
}

/// The selected folder as this session knows it: the message list it has announced
/// (sequence number = index + 1) and the counters it last saw.
struct Selected {
    folder_id: String,
    read_only: bool,
    messages: Vec<StoredMessage>,
    recent: HashSet<i64>,
    uid_next: i64,
    modseq: i64,
}

impl Selected {
    fn index_of(&self, uid: i64) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }
}

struct Connection {
    transport: Transport,
    fragmentizer: Fragmentizer,
    out: Vec<u8>,
    store: Store,
    config: Arc<ImapConfig>,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
    user: Option<MailUser>,
    selected: Option<Selected>,
    pending: Pending,
}

impl Connection {
    async fn run(&mut self) -> std::io::Result<()> {
        let text = format!("{} Carillon IMAP4rev1 ready", self.config.hostname);
        let greeting = Greeting::ok(Some(Code::Capability(self.capabilities())), &text)
            .unwrap_or_else(|_| Greeting::ok(None, "ready").expect("static greeting"));
        self.out
            .extend(GreetingCodec::default().encode(&greeting).dump());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Some(info) = self.fragmentizer.progress() else {
                self.flush().await?;
                let idling = matches!(self.pending, Pending::Idle(_));
                let wait = if idling { IDLE_POLL } else { AUTOLOGOUT };
                tokio::select! {
                    read = self.transport.read(&mut buf) => {
                        let n = read?;
                        if n == 0 {
                            return Ok(());
                        }
                        self.fragmentizer.enqueue_bytes(&buf[..n]);
                    }
                    _ = tokio::time::sleep(wait) => {
                        if !idling {
                            self.bye("Autologout");
                            return self.flush().await;
                        }
                        if let Err(error) = self.sync(true).await {
                            tracing::warn!(peer = %self.peer, %error, "imap idle poll failed");
                        }
                    }
                    _ = self.stop.changed() => {
                        self.bye("Server shutting down");
                        return self.flush().await;
                    }
                }
                continue;
            };
            if let FragmentInfo::Line {
                announcement: Some(LiteralAnnouncement { mode, length }),
                ..
            } = info
            {
                if length > MAX_LITERAL {
                    if mode == LiteralMode::Sync {
                        // The client waits for "+": refuse now and drop the command line.
                        let tag = self.fragmentizer.decode_tag().map(IntoStatic::into_static);
                        self.fragmentizer.skip_message();
                        self.push_status(tag, Reply::no(Some(Code::TooBig), "Literal too large"));
                    } else {
                        // LITERAL+: the bytes come anyway; they are dropped as they arrive.
                        self.fragmentizer.poison_message();
                    }
                } else if mode == LiteralMode::Sync {
                    let more = CommandContinuationRequest::basic(None, "Ready for literal data")
                        .expect("static continuation");
                    self.push(&Response::CommandContinuationRequest(more));
                    self.flush().await?;
                }
                continue;
            }
            if !self.fragmentizer.is_message_complete() {
                continue;
            }
            match self.message().await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) => return self.flush().await,
                Ok(Flow::StartTls) => {
                    self.flush().await?;
                    let Transport::Plain(socket) =
                        std::mem::replace(&mut self.transport, Transport::Closed)
                    else {
                        return Ok(());
                    };
                    let acceptor = TlsAcceptor::from(self.config.tls.clone());
                    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket))
                        .await
                        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
                    self.transport = Transport::Tls(Box::new(tls));
                    // Nothing sent before the handshake may be taken as a command after it
                    // (RFC 3501 §6.2.1 injection).
                    self.fragmentizer = Fragmentizer::new(MAX_COMMAND);
                }
                Err(Fail::Io(error)) => return Err(error),
                Err(Fail::Store(error)) => {
                    tracing::error!(peer = %self.peer, %error, "imap store failure");
                    self.bye("Internal server error");
                    return self.flush().await;
                }
            }
        }
    }

    /// Handles one complete client message according to what is pending.
    async fn message(&mut self) -> Result<Flow, Fail> {
        match std::mem::replace(&mut self.pending, Pending::Command) {
            Pending::Command => {
                let decoded = match self.fragmentizer.decode_message(&CommandCodec::default()) {
                    Ok(command) => Ok(command.into_static()),
                    Err(DecodeMessageError::MessageTooLong { .. }) => Err(true),
                    Err(_) => Err(false),
                };
                match decoded {
                    Ok(command) => self.command(command).await,
                    Err(too_long) => {
                        let tag = self.fragmentizer.decode_tag().map(IntoStatic::into_static);
                        let reply = if too_long || self.fragmentizer.is_message_poisoned() {
                            Reply::no(Some(Code::TooBig), "Command too large")
                        } else {
                            Reply::bad("Malformed command")
                        };
                        self.push_status(tag, reply);
                        Ok(Flow::Continue)
                    }
                }
            }
            Pending::Authenticate(tag) => {
                let data = self
                    .fragmentizer
                    .decode_message(&AuthenticateDataCodec::default())
                    .map(IntoStatic::into_static);
                let reply = match data {
                    Ok(AuthenticateData::Continue(secret)) => {
                        self.plain(secret.declassify()).await?
                    }
                    Ok(AuthenticateData::Cancel) => Reply::bad("Authentication cancelled"),
                    Err(_) => Reply::bad("Malformed authentication data"),
                };
                self.push_status(Some(tag), reply);
                Ok(Flow::Continue)
            }
            Pending::Idle(tag) => {
                let reply = match self.fragmentizer.decode_message(&IdleDoneCodec::default()) {
                    Ok(_) => Reply::ok("IDLE terminated"),
                    Err(_) => Reply::bad("Expected DONE"),
                };
                self.push_status(Some(tag), reply);
                Ok(Flow::Continue)
            }
        }
    }

    async fn command(&mut self, command: Command<'static>) -> Result<Flow, Fail> {
        let Command { tag, body } = command;
        tracing::debug!(peer = %self.peer, command = body.name(), "imap command");
        let tls = matches!(self.transport, Transport::Tls(_));
        let authenticated = self.user.is_some();
        // RFC 3501 §7.4.1: no EXPUNGE while a sequence-number FETCH, STORE or SEARCH runs.
        let mut allow_expunge = true;
        let reply = match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.push(&Response::Data(Data::Capability(caps)));
                Ok(Reply::ok("CAPABILITY completed"))
            }
            CommandBody::Noop => Ok(Reply::ok("NOOP completed")),
            CommandBody::Logout => {
                self.bye("Logging out");
                self.push_status(Some(tag), Reply::ok("LOGOUT completed"));
                return Ok(Flow::Close);
            }
            CommandBody::StartTLS if !tls => {
                self.push_status(Some(tag), Reply::ok("Begin TLS negotiation now"));
                return Ok(Flow::StartTls);
            }
            CommandBody::StartTLS => Ok(Reply::bad("TLS is already active")),
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } if !tls => Ok(Reply::no(
                Some(code("PRIVACYREQUIRED")),
                "Use STARTTLS first",
            )),
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } if authenticated => {
                Ok(Reply::bad("Already authenticated"))
            }
            CommandBody::Login { username, password } => {
                let login = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                self.login(&login, &password).await
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                if mechanism != AuthMechanism::Plain {
                    Ok(Reply::no(None, "Only AUTHENTICATE PLAIN is supported"))
                } else if let Some(initial) = initial_response {
                    self.plain(initial.declassify()).await
                } else {
                    self.push(&Response::CommandContinuationRequest(
                        CommandContinuationRequest::base64(Vec::new()),
                    ));
                    self.pending = Pending::Authenticate(tag);
                    return Ok(Flow::Continue);
                }
            }
            CommandBody::Enable { .. } if authenticated => {
                // No ENABLE-able extension is offered, so nothing is enabled.
                self.push(&Response::Data(Data::Enabled {
                    capabilities: Vec::new(),
                }));
                Ok(Reply::ok("ENABLE completed"))
            }
            CommandBody::Id { .. } => {
                self.push(&Response::Data(Data::Id {
                    parameters: Some(vec![(
                        IString::try_from("name").expect("static"),
                        NString::try_from("Carillon").expect("static"),
                    )]),
                }));
                Ok(Reply::ok("ID completed"))
            }
            _ if !authenticated => Ok(Reply::bad("Log in first")),
            CommandBody::Namespace => {
                self.push(&Response::Data(Data::Namespace {
                    personal: vec![Namespace {
                        prefix: IString::try_from("").expect("static"),
                        delimiter: Some(QuotedChar::try_from(DELIMITER).expect("static")),
                        extensions: Vec::new(),
                    }],
                    other: Vec::new(),
                    shared: Vec::new(),
                }));
                Ok(Reply::ok("NAMESPACE completed"))
            }
            CommandBody::Idle => {
                let more = CommandContinuationRequest::basic(None, "idling").expect("static");
                self.push(&Response::CommandContinuationRequest(more));
                self.pending = Pending::Idle(tag);
                // Changes made before IDLE started are announced at once.
                self.sync(true).await?;
                return Ok(Flow::Continue);
            }
            CommandBody::Select { mailbox, .. } => self.select(&mailbox, false).await,
            CommandBody::Examine { mailbox, .. } => self.select(&mailbox, true).await,
            CommandBody::Create { mailbox } => self.create(&mailbox).await,
            CommandBody::Delete { mailbox } => self.delete(&mailbox).await,
            CommandBody::Rename { from, to } => self.rename(&from, &to).await,
            CommandBody::Subscribe { mailbox } => self.subscribe(&mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.subscribe(&mailbox, false).await,
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(&reference, &mailbox_wildcard, false).await,
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(&reference, &mailbox_wildcard, true).await,
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(&mailbox, &item_names).await,
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(&mailbox, &flags, date.as_ref(), message).await,
            _ if self.selected.is_none() => Ok(Reply::bad("No mailbox selected")),
            CommandBody::Check => Ok(Reply::ok("CHECK completed")),
            CommandBody::Close => self.close(true).await,
            CommandBody::Unselect => self.close(false).await,
            CommandBody::Expunge => self.expunge(None).await,
            CommandBody::ExpungeUid { sequence_set } => self.expunge(Some(&sequence_set)).await,
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => {
                allow_expunge = uid;
                let supported = charset.as_ref().is_none_or(|c| {
                    let c = c.as_ref().to_ascii_uppercase();
                    c == "UTF-8" || c == "US-ASCII"
                });
                if supported {
                    self.search(criteria.as_ref(), uid).await
                } else {
                    Ok(Reply::no(
                        Some(Code::BadCharset {
                            allowed: vec![
                                "UTF-8".try_into().expect("static"),
                                "US-ASCII".try_into().expect("static"),
                            ],
                        }),
                        "Unsupported charset",
                    ))
                }
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                allow_expunge = uid;
                self.fetch(&sequence_set, macro_or_item_names, uid).await
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                ..
            } => {
                allow_expunge = uid;
                self.store_flags(&sequence_set, kind, response, &flags, uid)
                    .await
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.transfer(&sequence_set, &mailbox, uid, false).await,
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.transfer(&sequence_set, &mailbox, uid, true).await,
            other => Ok(Reply::bad(format!("{} is not supported", other.name()))),
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(Fail::Io(error)) => return Err(Fail::Io(error)),
            Err(Fail::Store(error)) => {
                // The session itself is intact: the client may retry or go on.
                tracing::error!(peer = %self.peer, %error, "imap command failed in the store");
                Reply::no(Some(code("SERVERBUG")), "Internal server error")
            }
        };
        if let Err(error) = self.sync(allow_expunge).await {
            tracing::warn!(peer = %self.peer, %error, "imap could not refresh the selected folder");
        }
        self.push_status(Some(tag), reply);
        Ok(Flow::Continue)
    }

    fn capabilities(&self) -> Vec1<Capability<'static>> {
        let mut caps = vec![Capability::Imap4Rev1];
        if !matches!(self.transport, Transport::Tls(_)) {
            caps.push(Capability::StartTls);
            caps.push(Capability::LoginDisabled);
        } else if self.user.is_none() {
            caps.push(Capability::Auth(AuthMechanism::Plain));
            caps.push(Capability::SaslIr);
        }
        caps.extend([
            Capability::LiteralPlus,
            Capability::Idle,
            Capability::UidPlus,
            Capability::Move,
            Capability::Enable,
            Capability::Namespace,
            Capability::Id,
            Capability::Unselect,
            Capability::from(Atom::try_from("SPECIAL-USE").expect("static atom")),
        ]);
        Vec1::try_from(caps).expect("not empty")
    }

    // ---- output -------------------------------------------------------------------------

    fn push(&mut self, response: &Response<'_>) {
        let encoded = ResponseCodec::default().encode(response).dump();
        // A FETCH of a large body is one big response: avoid copying it a second time.
        if self.out.is_empty() {
            self.out = encoded;
        } else {
            self.out.extend_from_slice(&encoded);
        }
    }

    fn push_status(&mut self, tag: Option<Tag<'static>>, reply: Reply) {
        let text = sanitize(&reply.text);
        let status = Status::new(tag, reply.kind, reply.code, text.as_str())
            .or_else(|_| Status::new(None, reply.kind, None, "Completed"))
            .expect("static status");
        self.push(&Response::Status(status));
    }

    fn bye(&mut self, text: &str) {
        let bye = Status::bye(None, text).expect("static bye");
        self.push(&Response::Status(bye));
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        self.transport.write_all(&out).await
    }

    // ---- authentication -------------------------------------------------------------------

    fn user_id(&self) -> String {
        self.user
            .as_ref()
            .map(|u| u.user_id.clone())
            .unwrap_or_default()
    }

    async fn plain(&mut self, response: &[u8]) -> Result<Reply, Fail> {
        // RFC 4616: [authzid] NUL authcid NUL passwd; acting as another user is not offered.
        let mut fields = response.split(|&b| b == 0);
        let parsed = match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(authz), Some(authc), Some(password), None)
                if authz.is_empty() || authz == authc =>
            {
                Some((
                    String::from_utf8_lossy(authc).into_owned(),
                    String::from_utf8_lossy(password).into_owned(),
                ))
            }
            _ => None,
        };
        match parsed {
            Some((login, password)) => self.login(&login, &password).await,
            None => Ok(Reply::bad("Malformed PLAIN response")),
        }
    }

    async fn login(&mut self, login: &str, password: &str) -> Result<Reply, Fail> {
        match carillon_mail::auth::authenticate(&self.store, login, password).await? {
            Some(user) => {
                tracing::info!(peer = %self.peer, user_id = %user.user_id, "imap login");
                self.user = Some(user);
                Ok(Reply::ok_with(
                    Code::Capability(self.capabilities()),
                    "Logged in",
                ))
            }
            None => {
                tracing::info!(peer = %self.peer, login, "imap login refused");
                Ok(Reply::no(
                    Some(code("AUTHENTICATIONFAILED")),
                    "Invalid credentials",
                ))
            }
        }
    }

    // ---- folders --------------------------------------------------------------------------

    async fn select(&mut self, mailbox: &Mailbox<'_>, read_only: bool) -> Result<Reply, Fail> {
        self.selected = None;
        let user_id = self.user_id();
        let name = mailbox_name(mailbox);
        let Some(folder) = self.store.folder(&user_id, &name).await? else {
            return Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"));
        };
        let recent_range: Range<i64> = if read_only {
            folder.first_recent_uid..folder.uid_next
        } else {
            self.store.claim_recent(&user_id, &folder.folder_id).await?
        };
        let messages = self
            .store
            .list_messages(&user_id, &folder.folder_id)
            .await?;
        let recent: HashSet<i64> = messages
            .iter()
            .map(|m| m.uid)
            .filter(|uid| recent_range.contains(uid))
            .collect();
        let mut keywords: Vec<String> = Vec::new();
        for flag in messages.iter().flat_map(|m| &m.flags) {
            if !flag.starts_with('\\') && !keywords.contains(flag) {
                keywords.push(flag.clone());
            }
        }
        let mut flags: Vec<Flag<'static>> = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        flags.extend(keywords.iter().filter_map(|k| to_flag(k)));
        self.push(&Response::Data(Data::Flags(flags.clone())));
        let permanent: Vec<FlagPerm<'static>> = if read_only {
            Vec::new()
        } else {
            flags
                .into_iter()
                .map(FlagPerm::Flag)
                .chain([FlagPerm::Asterisk])
                .collect()
        };
        self.push_untagged(Code::PermanentFlags(permanent), "Limited");
        self.push(&Response::Data(Data::Exists(messages.len() as u32)));
        self.push(&Response::Data(Data::Recent(recent.len() as u32)));
        if let Some(first) = messages.iter().position(|m| !has_flag(&m.flags, "\\Seen")) {
            self.push_untagged(Code::Unseen(nz(first as i64 + 1)), "First unseen");
        }
        let uid_next = folder
            .uid_next
            .max(messages.last().map_or(1, |m| m.uid + 1));
        self.push_untagged(Code::UidValidity(nz(folder.uid_validity)), "UIDs valid");
        self.push_untagged(Code::UidNext(nz(uid_next)), "Predicted next UID");
        self.selected = Some(Selected {
            folder_id: folder.folder_id,
            read_only,
            messages,
            recent,
            uid_next: folder.uid_next,
            modseq: folder.highest_modseq,
        });
        Ok(if read_only {
            Reply::ok_with(Code::ReadOnly, "EXAMINE completed")
        } else {
            Reply::ok_with(Code::ReadWrite, "SELECT completed")
        })
    }

    fn push_untagged(&mut self, code: Code<'static>, text: &str) {
        let status = Status::ok(None, Some(code), text).expect("static text");
        self.push(&Response::Status(status));
    }

    async fn create(&mut self, mailbox: &Mailbox<'_>) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        // RFC 3501 §6.3.3: a trailing delimiter only says the name will have inferiors.
        let name = name.trim_end_matches(DELIMITER);
        if name.is_empty() || name.contains(['*', '%']) || name.contains("//") {
            return Ok(Reply::no(Some(code("CANNOT")), "Invalid mailbox name"));
        }
        match self.store.create_folder(&self.user_id(), name).await {
            Ok(_) => Ok(Reply::ok("CREATE completed")),
            Err(StoreError::Conflict(_)) => Ok(Reply::no(
                Some(code("ALREADYEXISTS")),
                "Mailbox already exists",
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&mut self, mailbox: &Mailbox<'_>) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        let user_id = self.user_id();
        let folder = self.store.folder(&user_id, &name).await?;
        match self.store.delete_folder(&user_id, &name).await {
            Ok(()) => {
                if let (Some(folder), Some(selected)) = (folder, &self.selected) {
                    if selected.folder_id == folder.folder_id {
                        self.selected = None;
                    }
                }
                Ok(Reply::ok("DELETE completed"))
            }
            Err(StoreError::NotFound(_)) => {
                Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"))
            }
            Err(StoreError::Conflict(_)) => Ok(Reply::no(
                Some(code("CANNOT")),
                "Default folders cannot be deleted",
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn rename(&mut self, from: &Mailbox<'_>, to: &Mailbox<'_>) -> Result<Reply, Fail> {
        let (from, to) = (mailbox_name(from), mailbox_name(to));
        let to = to.trim_end_matches(DELIMITER);
        if to.is_empty() || to.contains(['*', '%']) {
            return Ok(Reply::no(Some(code("CANNOT")), "Invalid mailbox name"));
        }
        match self.store.rename_folder(&self.user_id(), &from, to).await {
            Ok(()) => Ok(Reply::ok("RENAME completed")),
            Err(StoreError::NotFound(_)) => {
                Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"))
            }
            Err(StoreError::Conflict(message)) if message.contains("default folder") => Ok(
                Reply::no(Some(code("CANNOT")), "Default folders cannot be renamed"),
            ),
            Err(StoreError::Conflict(_)) => Ok(Reply::no(
                Some(code("ALREADYEXISTS")),
                "Target mailbox exists",
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn subscribe(&mut self, mailbox: &Mailbox<'_>, on: bool) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        match self.store.set_subscribed(&self.user_id(), &name, on).await {
            Ok(()) => Ok(Reply::ok(if on {
                "SUBSCRIBE completed"
            } else {
                "UNSUBSCRIBE completed"
            })),
            Err(StoreError::NotFound(_)) => {
                Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn list(
        &mut self,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        subscribed_only: bool,
    ) -> Result<Reply, Fail> {
        let reference = match reference {
            Mailbox::Inbox => "INBOX".to_string(),
            Mailbox::Other(other) => String::from_utf8_lossy(other.as_ref()).into_owned(),
        };
        let pattern = match pattern {
            ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
            ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
        };
        let done = if subscribed_only {
            "LSUB completed"
        } else {
            "LIST completed"
        };
        if pattern.is_empty() && !subscribed_only {
            // RFC 3501 §6.3.8: the hierarchy delimiter and root name.
            self.push(&Response::Data(Data::List {
                items: vec![FlagNameAttribute::Noselect],
                delimiter: Some(QuotedChar::try_from(DELIMITER).expect("static")),
                mailbox: Mailbox::try_from("").expect("static"),
            }));
            return Ok(Reply::ok(done));
        }
        let full = carillon_store::canonical_folder_name(&format!("{reference}{pattern}"));
        let folders = self.store.list_folders(&self.user_id()).await?;
        let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
        for folder in &folders {
            if !wildcard(full.as_bytes(), folder.name.as_bytes())
                || (subscribed_only && !folder.subscribed)
            {
                continue;
            }
            let prefix = format!("{}{DELIMITER}", folder.name);
            let children = names.iter().any(|n| n.starts_with(&prefix));
            let mut items = vec![attribute(if children {
                "HasChildren"
            } else {
                "HasNoChildren"
            })];
            if let Some(special) = &folder.special_use {
                items.push(attribute(special.trim_start_matches('\\')));
            }
            let Ok(mailbox) = Mailbox::try_from(folder.name.as_str()) else {
                continue;
            };
            let delimiter = Some(QuotedChar::try_from(DELIMITER).expect("static"));
            self.push(&Response::Data(if subscribed_only {
                Data::Lsub {
                    items,
                    delimiter,
                    mailbox,
                }
            } else {
                Data::List {
                    items,
                    delimiter,
                    mailbox,
                }
            }));
        }
        Ok(Reply::ok(done))
    }

    async fn status(
        &mut self,
        mailbox: &Mailbox<'_>,
        names: &[StatusDataItemName],
    ) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        let Some(status) = self.store.folder_status(&self.user_id(), &name).await? else {
            return Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"));
        };
        let items: Vec<StatusDataItem> = names
            .iter()
            .filter_map(|item| match item {
                StatusDataItemName::Messages => {
                    Some(StatusDataItem::Messages(status.exists as u32))
                }
                StatusDataItemName::Recent => Some(StatusDataItem::Recent(status.recent as u32)),
                StatusDataItemName::UidNext => {
                    Some(StatusDataItem::UidNext(nz(status.folder.uid_next)))
                }
                StatusDataItemName::UidValidity => {
                    Some(StatusDataItem::UidValidity(nz(status.folder.uid_validity)))
                }
                StatusDataItemName::Unseen => Some(StatusDataItem::Unseen(status.unseen as u32)),
                _ => None,
            })
            .collect();
        self.push(&Response::Data(Data::Status {
            mailbox: mailbox.clone(),
            items: Cow::Owned(items),
        }));
        Ok(Reply::ok("STATUS completed"))
    }

    async fn append(
        &mut self,
        mailbox: &Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<&DateTime>,
        message: LiteralOrLiteral8<'_>,
    ) -> Result<Reply, Fail> {
        let user_id = self.user_id();
        let name = mailbox_name(mailbox);
        let Some(folder) = self.store.folder(&user_id, &name).await? else {
            return Ok(Reply::no(Some(Code::TryCreate), "No such mailbox"));
        };
        let data: Vec<u8> = match message {
            LiteralOrLiteral8::Literal(literal) => literal.into_inner().into_owned(),
            LiteralOrLiteral8::Literal8(literal) => literal.data.into_owned(),
        };
        if data.is_empty() {
            return Ok(Reply::no(None, "Empty message"));
        }
        let size = data.len() as i64;
        if !self.has_room(size).await? {
            return Ok(Reply::no(Some(Code::OverQuota), "Mailbox quota exceeded"));
        }
        let blob_key = format!("messages/{}", carillon_core::ids::new_uuid());
        self.store.blobs().put(&blob_key, Bytes::from(data)).await?;
        let copy = NewMessage {
            user_id: user_id.clone(),
            folder: folder.name.clone(),
            blob_key: blob_key.clone(),
            size_bytes: size,
            internal_date: date
                .map(|d| d.as_ref().timestamp_millis())
                .unwrap_or_else(carillon_core::time::now_millis),
            flags: flags.iter().map(ToString::to_string).collect(),
        };
        match self.store.append_messages(&[copy]).await {
            Ok(appended) => Ok(Reply::ok_with(
                Code::AppendUid {
                    uid_validity: nz(folder.uid_validity),
                    uid: nz(appended[0].uid),
                },
                "APPEND completed",
            )),
            Err(error) => {
                // Nothing references the blob: do not leave it behind.
                if let Err(cleanup) = self.store.blobs().delete(&blob_key).await {
                    tracing::warn!(%cleanup, blob_key, "could not remove blob of failed APPEND");
                }
                match error {
                    StoreError::NotFound(_) => {
                        Ok(Reply::no(Some(Code::TryCreate), "No such mailbox"))
                    }
                    other => Err(other.into()),
                }
            }
        }
    }

    /// Whether `size` more bytes fit in the user's mailbox quota (workmail.md
    /// UpdateMailboxQuota; the default quota when none is set).
    async fn has_room(&self, size: i64) -> Result<bool, Fail> {
        let Some(user) = &self.user else {
            return Ok(false);
        };
        let quota_mb = self
            .store
            .find_entity(&user.organization_id, &user.user_id, &["USER"])
            .await?
            .and_then(|entity| entity.mailbox_quota_mb)
            .unwrap_or(carillon_store::DEFAULT_MAILBOX_QUOTA_MB);
        let used = self.store.mailbox_size(&user.user_id).await?.unwrap_or(0);
        Ok(used.saturating_add(size) <= quota_mb.saturating_mul(1024 * 1024))
    }

    // ---- selected state -------------------------------------------------------------------

    async fn close(&mut self, expunge: bool) -> Result<Reply, Fail> {
        if let Some(selected) = self.selected.take() {
            if expunge && !selected.read_only {
                // CLOSE expunges silently (RFC 3501 §6.4.2).
                self.store
                    .expunge(&self.user_id(), &selected.folder_id, None)
                    .await?;
            }
        }
        Ok(Reply::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        }))
    }

    /// Message indexes (sequence number - 1) named by `set`, ascending.
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Reply> {
        let Some(selected) = &self.selected else {
            return Err(Reply::bad("No mailbox selected"));
        };
        let messages = &selected.messages;
        if uid {
            let max = messages.last().map_or(0, |m| m.uid as u32);
            return Ok((0..messages.len())
                .filter(|&i| search::in_set(set, messages[i].uid as u32, max))
                .collect());
        }
        let count = messages.len() as u32;
        let out_of_range = set.0.as_ref().iter().any(|s| {
            use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
            let beyond = |v: &SeqOrUid| matches!(v, SeqOrUid::Value(n) if n.get() > count);
            match s {
                Sequence::Single(v) => beyond(v),
                Sequence::Range(a, b) => beyond(a) || beyond(b),
            }
        });
        if count == 0 || out_of_range {
            return Err(Reply::bad("Invalid message sequence number"));
        }
        Ok((1..=count)
            .filter(|&n| search::in_set(set, n, count))
            .map(|n| n as usize - 1)
            .collect())
    }

    async fn expunge(&mut self, set: Option<&SequenceSet>) -> Result<Reply, Fail> {
        let uids: Option<Vec<i64>> = match set {
            Some(set) => match self.resolve(set, true) {
                Ok(indexes) => Some(self.uids_of(&indexes)),
                Err(reply) => return Ok(reply),
            },
            None => None,
        };
        let Some(selected) = &self.selected else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if selected.read_only {
            return Ok(Reply::no(Some(code("READ-ONLY")), "Mailbox is read-only"));
        }
        let folder_id = selected.folder_id.clone();
        let expunged = self
            .store
            .expunge(&self.user_id(), &folder_id, uids.as_deref())
            .await?;
        self.announce_expunged(&expunged);
        Ok(Reply::ok("EXPUNGE completed"))
    }

    fn uids_of(&self, indexes: &[usize]) -> Vec<i64> {
        self.selected.as_ref().map_or_else(Vec::new, |s| {
            indexes.iter().map(|&i| s.messages[i].uid).collect()
        })
    }

    /// Sends `* n EXPUNGE` for each UID still known, highest sequence number first so no
    /// number shifts under the client, and forgets the messages.
    fn announce_expunged(&mut self, uids: &[i64]) {
        let Some(selected) = &mut self.selected else {
            return;
        };
        let mut indexes: Vec<usize> = uids.iter().filter_map(|&u| selected.index_of(u)).collect();
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        indexes.dedup();
        for &index in &indexes {
            let message = selected.messages.remove(index);
            selected.recent.remove(&message.uid);
        }
        for index in indexes {
            self.push(&Response::Data(Data::Expunge(nz(index as i64 + 1))));
        }
    }

    /// Announces what changed in the selected folder since this session last looked: new
    /// messages (EXISTS, RECENT), flag changes (FETCH FLAGS), and — when allowed — expunges.
    /// Cheap when nothing changed: one read of the folder's counters.
    async fn sync(&mut self, allow_expunge: bool) -> Result<(), StoreError> {
        let user_id = self.user_id();
        let Some(selected) = &self.selected else {
            return Ok(());
        };
        let folder_id = selected.folder_id.clone();
        let Some(folder) = self.store.folder_by_id(&user_id, &folder_id).await? else {
            // Deleted by another session: nothing is selected any more (RFC 3501 leaves the
            // behaviour to the server; later commands get "No mailbox selected").
            self.selected = None;
            return Ok(());
        };
        if folder.uid_next == selected.uid_next && folder.highest_modseq == selected.modseq {
            return Ok(());
        }
        let current = self.store.list_messages(&user_id, &folder_id).await?;
        let present: HashSet<i64> = current.iter().map(|m| m.uid).collect();
        let gone: Vec<i64> = selected
            .messages
            .iter()
            .map(|m| m.uid)
            .filter(|uid| !present.contains(uid))
            .collect();
        let read_only = selected.read_only;
        let last_known = selected.messages.last().map_or(0, |m| m.uid);
        let claimed = if current.iter().any(|m| m.uid > last_known) {
            Some(if read_only {
                folder.first_recent_uid..folder.uid_next
            } else {
                self.store.claim_recent(&user_id, &folder_id).await?
            })
        } else {
            None
        };
        if allow_expunge {
            self.announce_expunged(&gone);
        }
        let Some(selected) = &mut self.selected else {
            return Ok(());
        };
        let by_uid: HashMap<i64, &StoredMessage> = current.iter().map(|m| (m.uid, m)).collect();
        let mut changed: Vec<(usize, i64, Vec<String>, bool)> = Vec::new();
        for (index, message) in selected.messages.iter_mut().enumerate() {
            if let Some(now) = by_uid.get(&message.uid) {
                if now.flags != message.flags {
                    message.flags = now.flags.clone();
                    changed.push((
                        index,
                        message.uid,
                        message.flags.clone(),
                        selected.recent.contains(&message.uid),
                    ));
                }
            }
        }
        let mut announce_new = None;
        if let Some(range) = claimed {
            for message in current.into_iter().filter(|m| m.uid > last_known) {
                if range.contains(&message.uid) {
                    selected.recent.insert(message.uid);
                }
                selected.messages.push(message);
            }
            announce_new = Some((selected.messages.len(), selected.recent.len()));
        }
        if allow_expunge || gone.is_empty() {
            selected.uid_next = folder.uid_next;
            selected.modseq = folder.highest_modseq;
        }
        for (index, uid, flags, recent) in changed {
            let items = vec![
                MessageDataItem::Uid(nz(uid)),
                MessageDataItem::Flags(flag_fetch(&flags, recent)),
            ];
            self.push(&Response::Data(Data::Fetch {
                seq: nz(index as i64 + 1),
                items: Vec1::try_from(items).expect("not empty"),
            }));
        }
        if let Some((exists, recent)) = announce_new {
            self.push(&Response::Data(Data::Exists(exists as u32)));
            self.push(&Response::Data(Data::Recent(recent as u32)));
        }
        Ok(())
    }

    async fn search(&mut self, criteria: &[SearchKey<'_>], uid: bool) -> Result<Reply, Fail> {
        let Some(selected) = &self.selected else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let messages = selected.messages.clone();
        let recent = selected.recent.clone();
        let needs_content = criteria.iter().any(search::needs_content);
        let max_seq = messages.len() as u32;
        let max_uid = messages.last().map_or(0, |m| m.uid as u32);
        let mut found = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            let raw = if needs_content {
                match self.store.blobs().get(&message.blob_key).await {
                    Ok(raw) => Some(raw),
                    // Expunged by another session, not yet announced here: matches nothing.
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            let candidate = search::Candidate {
                seq: index as u32 + 1,
                message,
                recent: recent.contains(&message.uid),
                raw: raw.as_deref(),
                max_seq,
                max_uid,
            };
            match search::matches(criteria, &candidate) {
                Ok(true) => found.push(nz(if uid { message.uid } else { index as i64 + 1 })),
                Ok(false) => {}
                Err(search::Unsupported) => {
                    return Ok(Reply::bad("Unsupported search criterion"));
                }
            }
        }
        self.push(&Response::Data(Data::Search(found)));
        Ok(Reply::ok("SEARCH completed"))
    }

    async fn fetch(
        &mut self,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
    ) -> Result<Reply, Fail> {
        let indexes = match self.resolve(set, uid) {
            Ok(indexes) => indexes,
            Err(reply) => return Ok(reply),
        };
        let mut names: Vec<MessageDataItemName<'_>> = match items {
            MacroOrMessageDataItemNames::Macro(m) => m
                .expand()
                .into_iter()
                .map(IntoStatic::into_static)
                .collect(),
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => names,
        };
        if uid && !names.contains(&MessageDataItemName::Uid) {
            names.insert(0, MessageDataItemName::Uid);
        }
        if names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. }
            )
        }) {
            return Ok(Reply::bad("BINARY is not supported"));
        }
        let needs_blob = names.iter().any(|n| {
            !matches!(
                n,
                MessageDataItemName::Flags
                    | MessageDataItemName::Uid
                    | MessageDataItemName::InternalDate
                    | MessageDataItemName::Rfc822Size
            )
        });
        let Some(selected) = &self.selected else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let folder_id = selected.folder_id.clone();
        // Reading a body without PEEK sets \Seen (RFC 3501 §6.4.5), reported with the FETCH.
        let marks_seen = !selected.read_only
            && names.iter().any(|n| {
                matches!(
                    n,
                    MessageDataItemName::BodyExt { peek: false, .. }
                        | MessageDataItemName::Rfc822
                        | MessageDataItemName::Rfc822Text
                )
            });
        let mut newly_seen = HashSet::new();
        if marks_seen {
            let unseen: Vec<i64> = indexes
                .iter()
                .map(|&i| &selected.messages[i])
                .filter(|m| !has_flag(&m.flags, "\\Seen"))
                .map(|m| m.uid)
                .collect();
            if !unseen.is_empty() {
                let changed = self
                    .store
                    .store_flags(
                        &self.user_id(),
                        &folder_id,
                        &unseen,
                        FlagOp::Add,
                        &["\\Seen".to_string()],
                    )
                    .await?;
                newly_seen = self.apply_flags(changed);
            }
        }
        for index in indexes {
            let Some(selected) = &self.selected else {
                break;
            };
            let message = selected.messages[index].clone();
            let recent = selected.recent.contains(&message.uid);
            let raw: Option<Bytes> = if needs_blob {
                match self.store.blobs().get(&message.blob_key).await {
                    Ok(raw) => Some(raw),
                    // Expunged by another session while the EXPUNGE cannot be announced
                    // (RFC 3501 §7.4.1): the message has no data left to send.
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            let raw_bytes: &[u8] = raw.as_deref().unwrap_or_default();
            let mut root = None;
            let mut items: Vec<MessageDataItem<'_>> = Vec::with_capacity(names.len() + 1);
            for name in &names {
                let item = match name {
                    MessageDataItemName::Uid => MessageDataItem::Uid(nz(message.uid)),
                    MessageDataItemName::Flags => {
                        MessageDataItem::Flags(flag_fetch(&message.flags, recent))
                    }
                    MessageDataItemName::InternalDate => {
                        MessageDataItem::InternalDate(internal_date(message.internal_date))
                    }
                    MessageDataItemName::Rfc822Size => {
                        MessageDataItem::Rfc822Size(message.size_bytes as u32)
                    }
                    MessageDataItemName::Rfc822 => MessageDataItem::Rfc822(literal(raw_bytes)),
                    MessageDataItemName::Rfc822Header => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        let header = mime::section(raw_bytes, root, Some(&Section::Header(None)))
                            .unwrap_or_default();
                        MessageDataItem::Rfc822Header(literal_owned(header))
                    }
                    MessageDataItemName::Rfc822Text => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        let text = mime::section(raw_bytes, root, Some(&Section::Text(None)))
                            .unwrap_or_default();
                        MessageDataItem::Rfc822Text(literal_owned(text))
                    }
                    MessageDataItemName::Envelope => {
                        MessageDataItem::Envelope(mime::envelope(raw_bytes))
                    }
                    MessageDataItemName::Body => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        MessageDataItem::Body(mime::body_structure(raw_bytes, root, false))
                    }
                    MessageDataItemName::BodyStructure => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        MessageDataItem::BodyStructure(mime::body_structure(raw_bytes, root, true))
                    }
                    MessageDataItemName::BodyExt {
                        section, partial, ..
                    } => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        let bytes =
                            mime::section(raw_bytes, root, section.as_ref()).unwrap_or_default();
                        let (origin, bytes) = match partial {
                            Some((start, length)) => {
                                let start_at = (*start as usize).min(bytes.len());
                                let end = start_at
                                    .saturating_add(length.get() as usize)
                                    .min(bytes.len());
                                (Some(*start), slice_cow(bytes, start_at..end))
                            }
                            None => (None, bytes),
                        };
                        MessageDataItem::BodyExt {
                            section: section.clone(),
                            origin,
                            data: literal_owned(bytes),
                        }
                    }
                    _ => continue,
                };
                items.push(item);
            }
            if newly_seen.contains(&message.uid) && !names.contains(&MessageDataItemName::Flags) {
                items.push(MessageDataItem::Flags(flag_fetch(&message.flags, recent)));
            }
            if let Ok(items) = Vec1::try_from(items) {
                self.push(&Response::Data(Data::Fetch {
                    seq: nz(index as i64 + 1),
                    items,
                }));
            }
            if self.out.len() >= FLUSH_THRESHOLD {
                self.flush().await?;
            }
        }
        Ok(Reply::ok("FETCH completed"))
    }

    /// Puts flags the store changed into the session's view; returns the UIDs changed.
    fn apply_flags(&mut self, changed: Vec<StoredMessage>) -> HashSet<i64> {
        let mut uids = HashSet::new();
        if let Some(selected) = &mut self.selected {
            for message in changed {
                if let Some(index) = selected.index_of(message.uid) {
                    uids.insert(message.uid);
                    selected.messages[index].flags = message.flags;
                }
            }
        }
        uids
    }

    async fn store_flags(
        &mut self,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        uid: bool,
    ) -> Result<Reply, Fail> {
        let indexes = match self.resolve(set, uid) {
            Ok(indexes) => indexes,
            Err(reply) => return Ok(reply),
        };
        let Some(selected) = &self.selected else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if selected.read_only {
            return Ok(Reply::no(Some(code("READ-ONLY")), "Mailbox is read-only"));
        }
        let folder_id = selected.folder_id.clone();
        let uids = self.uids_of(&indexes);
        let op = match kind {
            StoreType::Replace => FlagOp::Replace,
            StoreType::Add => FlagOp::Add,
            StoreType::Remove => FlagOp::Remove,
        };
        let flags: Vec<String> = flags.iter().map(ToString::to_string).collect();
        let changed = self
            .store
            .store_flags(&self.user_id(), &folder_id, &uids, op, &flags)
            .await?;
        self.apply_flags(changed);
        if response == StoreResponse::Answer {
            let Some(selected) = &self.selected else {
                return Ok(Reply::bad("No mailbox selected"));
            };
            let updates: Vec<(usize, i64, Vec<String>, bool)> = indexes
                .iter()
                .map(|&i| {
                    let m = &selected.messages[i];
                    (i, m.uid, m.flags.clone(), selected.recent.contains(&m.uid))
                })
                .collect();
            for (index, message_uid, flags, recent) in updates {
                let mut items = vec![MessageDataItem::Flags(flag_fetch(&flags, recent))];
                if uid {
                    items.insert(0, MessageDataItem::Uid(nz(message_uid)));
                }
                self.push(&Response::Data(Data::Fetch {
                    seq: nz(index as i64 + 1),
                    items: Vec1::try_from(items).expect("not empty"),
                }));
            }
        }
        Ok(Reply::ok("STORE completed"))
    }

    async fn transfer(
        &mut self,
        set: &SequenceSet,
        mailbox: &Mailbox<'_>,
        uid: bool,
        remove: bool,
    ) -> Result<Reply, Fail> {
        let indexes = match self.resolve(set, uid) {
            Ok(indexes) => indexes,
            Err(reply) => return Ok(reply),
        };
        let Some(selected) = &self.selected else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if remove && selected.read_only {
            return Ok(Reply::no(Some(code("READ-ONLY")), "Mailbox is read-only"));
        }
        let folder_id = selected.folder_id.clone();
        let uids = self.uids_of(&indexes);
        let destination = mailbox_name(mailbox);
        let user_id = self.user_id();
        let result = if remove {
            self.store
                .move_messages(&user_id, &folder_id, &uids, &destination)
                .await
        } else {
            self.store
                .copy_messages(&user_id, &folder_id, &uids, &destination)
                .await
        };
        let result = match result {
            Ok(result) => result,
            Err(StoreError::NotFound(_)) => {
                return Ok(Reply::no(Some(Code::TryCreate), "No such mailbox"));
            }
            Err(e) => return Err(e.into()),
        };
        let copy_uid = copy_uid_code(&result);
        let done = if remove {
            "MOVE completed"
        } else {
            "COPY completed"
        };
        if !remove {
            return Ok(match copy_uid {
                Some(code) => Reply::ok_with(code, done),
                None => Reply::ok(done),
            });
        }
        // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
        if let Some(code) = copy_uid {
            self.push_untagged(code, "Moved");
        }
        let moved: Vec<i64> = result.uids.iter().map(|(source, _)| *source).collect();
        self.announce_expunged(&moved);
        Ok(Reply::ok(done))
    }
}

fn copy_uid_code(result: &carillon_store::CopyResult) -> Option<Code<'static>> {
    let source = uid_set(result.uids.iter().map(|(s, _)| *s))?;
    let destination = uid_set(result.uids.iter().map(|(_, d)| *d))?;
    Some(Code::CopyUid {
        uid_validity: nz(result.uid_validity),
        source,
        destination,
    })
}

/// UIDs (ascending) as a UID set with consecutive runs as ranges.
fn uid_set(uids: impl Iterator<Item = i64>) -> Option<UidSet> {
    let mut elements: Vec<UidElement> = Vec::new();
    let mut run: Option<(i64, i64)> = None;
    let close = |run: (i64, i64)| {
        if run.0 == run.1 {
            UidElement::Single(nz(run.0))
        } else {
            UidElement::Range(nz(run.0), nz(run.1))
        }
    };
    for uid in uids {
        run = match run {
            Some((start, end)) if uid == end + 1 => Some((start, uid)),
            Some(done) => {
                elements.push(close(done));
                Some((uid, uid))
            }
            None => Some((uid, uid)),
        };
    }
    if let Some(done) = run {
        elements.push(close(done));
    }
    Vec1::try_from(elements).ok().map(UidSet)
}

/// A store number as an IMAP nz-number; values are positive by construction (UIDs, sequence
/// numbers, UIDVALIDITY), so anything else becomes 1 rather than a panic.
fn nz(value: i64) -> NonZeroU32 {
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::MIN)
}

fn has_flag(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

fn to_flag(flag: &str) -> Option<Flag<'static>> {
    Flag::try_from(flag).ok().map(IntoStatic::into_static)
}

fn flag_fetch(flags: &[String], recent: bool) -> Vec<FlagFetch<'static>> {
    let mut out: Vec<FlagFetch<'static>> = flags
        .iter()
        .filter_map(|f| to_flag(f))
        .map(FlagFetch::Flag)
        .collect();
    if recent {
        out.push(FlagFetch::Recent);
    }
    out
}

fn attribute(name: &str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(
        Atom::try_from(name.to_string())
            .unwrap_or_else(|_| Atom::try_from("Unknown").expect("static")),
    )
}

fn internal_date(millis: i64) -> DateTime {
    let seconds = millis.div_euclid(1000);
    let date = chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .fixed_offset();
    DateTime::try_from(date).unwrap_or_else(|_| {
        DateTime::try_from(chrono::DateTime::UNIX_EPOCH.fixed_offset()).expect("epoch is valid")
    })
}

/// Message bytes as a literal, exactly as stored. A literal cannot carry NUL (RFC 3501
/// CHAR8), so a message containing one is sent with its NULs removed.
fn literal(bytes: &[u8]) -> NString<'_> {
    match imap_codec::imap_types::core::Literal::try_from(bytes) {
        Ok(literal) => NString::from(literal),
        Err(_) => literal_owned(Cow::Owned(bytes.to_vec())),
    }
}

fn literal_owned(bytes: Cow<'_, [u8]>) -> NString<'_> {
    let bytes = match bytes {
        Cow::Borrowed(b) if !b.contains(&0) => Cow::Borrowed(b),
        other => Cow::Owned(other.iter().copied().filter(|&b| b != 0).collect()),
    };
    let literal = match bytes {
        Cow::Borrowed(b) => imap_codec::imap_types::core::Literal::try_from(b),
        Cow::Owned(v) => imap_codec::imap_types::core::Literal::try_from(v),
    };
    literal.map(NString::from).unwrap_or(NString::NIL)
}

fn slice_cow(bytes: Cow<'_, [u8]>, range: Range<usize>) -> Cow<'_, [u8]> {
    match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
        Cow::Owned(v) => Cow::Owned(v[range].to_vec()),
    }
}

fn mailbox_name(mailbox: &Mailbox<'_>) -> String {
    match mailbox {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(other) => {
            carillon_store::canonical_folder_name(&String::from_utf8_lossy(other.as_ref()))
        }
    }
}

/// Response text without the characters a `text` cannot hold.
fn sanitize(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim_start_matches('[').trim().to_string();
    if cleaned.is_empty() {
        "Completed".to_string()
    } else {
        cleaned
    }
}

/// LIST pattern matching (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
/// hierarchy delimiter.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| wildcard(rest, &name[i..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != DELIMITER as u8)
            .any(|i| wildcard(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && wildcard(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_wildcards() {
        assert!(wildcard(b"*", b"Sent Items"));
        assert!(wildcard(b"%", b"INBOX"));
        assert!(!wildcard(b"%", b"A/B"));
        assert!(wildcard(b"A/%", b"A/B"));
        assert!(wildcard(b"*B", b"A/B"));
        assert!(!wildcard(b"Drafts", b"Draft"));
    }

    #[test]
    fn uid_sets_compress_runs() {
        let set = uid_set([1, 2, 3, 5, 7, 8].into_iter()).unwrap();
        assert_eq!(
            set.0.into_inner(),
            vec![
                UidElement::Range(nz(1), nz(3)),
                UidElement::Single(nz(5)),
                UidElement::Range(nz(7), nz(8)),
            ]
        );
        assert!(uid_set(std::iter::empty()).is_none());
    }
}
