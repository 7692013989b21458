//! One IMAP connection. This module owns the session core: when the connection (a
//! `carillon_net::Conn`) switches to TLS (STARTTLS, implicit TLS), framing with `imap-codec`'s fragmentizer (bounded literals), the RFC 3501
//! state machine (not authenticated, authenticated, selected) and the dispatch of each
//! command to the group that implements it:
//!
//! - `response`: tagged completions and the encoding and writing of responses;
//! - `auth`: LOGIN and AUTHENTICATE PLAIN;
//! - `folders`: SELECT/EXAMINE, LIST/LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS;
//! - `append`: APPEND within the mailbox quota;
//! - `messages`: the selected-state commands CLOSE/UNSELECT, EXPUNGE, SEARCH, STORE, COPY, MOVE;
//! - `fetch`: FETCH and the rendering of message data items;
//! - `changes`: IDLE and announcing changes to the selected folder made elsewhere;
//! - `audit`: the mailbox-access audit records of each command.
//!
//! The conversions between store values and IMAP values that several groups share live here.

mod append;
mod audit;
mod auth;
mod changes;
mod fetch;
mod folders;
mod messages;
mod response;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use carillon_mail::login::MailUser;
use carillon_net::{Conn, Handshake, Io};
use carillon_store::{Store, StoreError, StoredMessage};
use imap_codec::encode::Encoder;
use imap_codec::fragmentizer::{
    DecodeMessageError, FragmentInfo, Fragmentizer, LiteralAnnouncement,
};
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Atom, IString, LiteralMode, NString, QuotedChar, Tag, Vec1};
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{
    Capability, Code, CommandContinuationRequest, Data, Greeting, Response,
};
use imap_codec::imap_types::IntoStatic;
use imap_codec::{AuthenticateDataCodec, CommandCodec, GreetingCodec, IdleDoneCodec};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use self::response::{code, Reply};
use crate::ImapConfig;

/// Largest literal accepted (APPEND of a message): WorkMail's 40 MB MIME limit.
const MAX_LITERAL: u32 = 40 * 1024 * 1024;
/// Largest command, literals included: bounds the memory of one connection.
const MAX_COMMAND: u32 = MAX_LITERAL + 64 * 1024;
/// How often an idling session looks for changes (RFC 2177: new mail within a second).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Inactivity autologout (RFC 3501 §5.4: at least 30 minutes).
const AUTOLOGOUT: Duration = Duration::from_secs(31 * 60);
/// Time allowed for a TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Output is written out whenever this much is buffered (large FETCHes).
const FLUSH_THRESHOLD: usize = 256 * 1024;
const DELIMITER: char = '/';

/// Runs one IMAP session on `stream`, a connection accepted from `peer`, until LOGOUT,
/// disconnect, autologout or `stop` (then it says `BYE`); the handshake `tls` runs first on an
/// implicit-TLS listener and on STARTTLS otherwise. Each listener runs this per connection;
/// tests run it over `tokio::io::duplex` with `carillon_net::testing::AssumedTls`.
///
/// Errors: the connection failed, or its TLS handshake failed or timed out.
pub async fn serve_connection<S: Io, H: Handshake<S>>(
    stream: S,
    peer: SocketAddr,
    store: Store,
    config: Arc<ImapConfig>,
    tls: Arc<H>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut conn = Conn::new(stream, tls);
    if config.implicit_tls {
        conn.start_tls().await?;
    }
    tracing::debug!(%peer, implicit_tls = config.implicit_tls, "imap connection");
    let mut connection = Connection {
        conn,
        fragmentizer: Fragmentizer::new(MAX_COMMAND),
        out: Vec::new(),
        store,
        config,
        peer,
        stop,
        user_agent: None,
        state: State::NotAuthenticated,
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

/// Where the session is in RFC 3501's state machine (§3), with what each state has: no user
/// before login, no selected folder without a user.
enum State {
    /// Before LOGIN or AUTHENTICATE succeeds.
    NotAuthenticated,
    /// Logged in, no folder selected.
    Authenticated { user: Arc<MailUser> },
    /// Logged in with a folder selected.
    Selected {
        user: Arc<MailUser>,
        folder: Selected,
    },
}

impl State {
    /// The logged-in user, in the authenticated and selected states.
    fn user(&self) -> Option<&Arc<MailUser>> {
        match self {
            State::NotAuthenticated => None,
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
        }
    }

    /// The selected folder, in the selected state.
    fn selected(&self) -> Option<&Selected> {
        match self {
            State::Selected { folder, .. } => Some(folder),
            _ => None,
        }
    }

    fn selected_mut(&mut self) -> Option<&mut Selected> {
        match self {
            State::Selected { folder, .. } => Some(folder),
            _ => None,
        }
    }

    /// Back to the authenticated state (CLOSE, UNSELECT, SELECT starting over, the folder
    /// deleted elsewhere); returns the folder that was selected.
    fn deselect(&mut self) -> Option<Selected> {
        match std::mem::replace(self, State::NotAuthenticated) {
            State::Selected { user, folder } => {
                *self = State::Authenticated { user };
                Some(folder)
            }
            other => {
                *self = other;
                None
            }
        }
    }
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

struct Connection<S, H: Handshake<S>> {
    conn: Conn<S, H>,
    fragmentizer: Fragmentizer,
    out: Vec<u8>,
    store: Store,
    config: Arc<ImapConfig>,
    peer: SocketAddr,
    stop: CancellationToken,
    /// What the client said it is in its `ID` command (name and version), for audit records.
    user_agent: Option<String>,
    state: State,
    pending: Pending,
}

impl<S: Io, H: Handshake<S>> Connection<S, H> {
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
                    read = self.conn.read(&mut buf) => {
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
                    _ = self.stop.cancelled() => {
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
                    self.conn.start_tls().await?;
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
        let tls = self.conn.is_tls();
        let authenticated = self.state.user().is_some();
        // RFC 3501 §7.4.1: no EXPUNGE while a sequence-number FETCH, STORE or SEARCH runs.
        let mut allow_expunge = true;
        let audit = self.audit_plan(&body).await;
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
            CommandBody::Id { parameters } => {
                self.user_agent = parameters.as_ref().and_then(|p| user_agent(p));
                self.push(&Response::Data(Data::Id {
                    parameters: Some(vec![(
                        IString::try_from("name").expect("static"),
                        NString::try_from("Carillon").expect("static"),
                    )]),
                }));
                Ok(Reply::ok("ID completed"))
            }
            body => match self.state.user().cloned() {
                None => Ok(Reply::bad("Log in first")),
                Some(user) => match body {
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
                    CommandBody::Idle => return self.idle(tag).await,
                    CommandBody::Select { mailbox, .. } => {
                        self.select(&user, &mailbox, false).await
                    }
                    CommandBody::Examine { mailbox, .. } => {
                        self.select(&user, &mailbox, true).await
                    }
                    CommandBody::Create { mailbox } => self.create(&user, &mailbox).await,
                    CommandBody::Delete { mailbox } => self.delete(&user, &mailbox).await,
                    CommandBody::Rename { from, to } => self.rename(&user, &from, &to).await,
                    CommandBody::Subscribe { mailbox } => {
                        self.subscribe(&user, &mailbox, true).await
                    }
                    CommandBody::Unsubscribe { mailbox } => {
                        self.subscribe(&user, &mailbox, false).await
                    }
                    CommandBody::List {
                        reference,
                        mailbox_wildcard,
                    } => self.list(&user, &reference, &mailbox_wildcard, false).await,
                    CommandBody::Lsub {
                        reference,
                        mailbox_wildcard,
                    } => self.list(&user, &reference, &mailbox_wildcard, true).await,
                    CommandBody::Status {
                        mailbox,
                        item_names,
                    } => self.status(&user, &mailbox, &item_names).await,
                    CommandBody::Append {
                        mailbox,
                        flags,
                        date,
                        message,
                    } => {
                        self.append(&user, &mailbox, &flags, date.as_ref(), message)
                            .await
                    }
                    _ if self.state.selected().is_none() => Ok(Reply::bad("No mailbox selected")),
                    CommandBody::Check => Ok(Reply::ok("CHECK completed")),
                    CommandBody::Close => self.close(&user, true).await,
                    CommandBody::Unselect => self.close(&user, false).await,
                    CommandBody::Expunge => self.expunge(&user, None).await,
                    CommandBody::ExpungeUid { sequence_set } => {
                        self.expunge(&user, Some(&sequence_set)).await
                    }
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
                            self.search(&user, criteria.as_ref(), uid).await
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
                        self.fetch(&user, &sequence_set, macro_or_item_names, uid)
                            .await
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
                        self.store_flags(&user, &sequence_set, kind, response, &flags, uid)
                            .await
                    }
                    CommandBody::Copy {
                        sequence_set,
                        mailbox,
                        uid,
                    } => {
                        self.transfer(&user, &sequence_set, &mailbox, uid, false)
                            .await
                    }
                    CommandBody::Move {
                        sequence_set,
                        mailbox,
                        uid,
                    } => {
                        self.transfer(&user, &sequence_set, &mailbox, uid, true)
                            .await
                    }
                    other => Ok(Reply::bad(format!("{} is not supported", other.name()))),
                },
            },
        };
        let reply = match (reply, audit) {
            (Ok(reply), Ok(Some(audit))) => {
                if let Err(Fail::Store(error)) = self.audit_done(audit, &reply).await {
                    tracing::warn!(peer = %self.peer, %error, "imap audit records dropped");
                }
                Ok(reply)
            }
            (reply, Err(Fail::Store(error))) => {
                tracing::warn!(peer = %self.peer, %error, "imap audit records dropped");
                reply
            }
            (reply, _) => reply,
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
        if !self.conn.is_tls() {
            caps.push(Capability::StartTls);
            caps.push(Capability::LoginDisabled);
        } else if self.state.user().is_none() {
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
}

/// A store number as an IMAP nz-number; values are positive by construction (UIDs, sequence
/// numbers, UIDVALIDITY), so anything else becomes 1 rather than a panic.
/// `name/version` from the parameters of an `ID` command (RFC 2971), or what of it is given.
fn user_agent(parameters: &[(IString<'_>, NString<'_>)]) -> Option<String> {
    let value = |key: &str| {
        parameters.iter().find_map(|(k, v)| {
            let k = String::from_utf8_lossy(k.as_ref());
            let v = v.0.as_ref()?;
            k.eq_ignore_ascii_case(key)
                .then(|| String::from_utf8_lossy(v.as_ref()).into_owned())
        })
    };
    match (value("name"), value("version")) {
        (Some(name), Some(version)) => Some(format!("{name}/{version}")),
        (name, version) => name.or(version),
    }
}

fn nz(value: i64) -> NonZeroU32 {
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::MIN)
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

fn mailbox_name(mailbox: &Mailbox<'_>) -> String {
    match mailbox {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(other) => {
            carillon_store::canonical_folder_name(&String::from_utf8_lossy(other.as_ref()))
        }
    }
}
