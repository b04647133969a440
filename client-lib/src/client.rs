//! One connection to picketd: connect, handshake, then one typed method per request.
//! Owns the only client-side hello and the matching of answers to requests. Must not print,
//! retry, or start a daemon (autostart.rs does that): a caller gets values or `ClientError`.
//! With a timeout, connecting (connect and handshake) and every single-answer request give
//! up after it with `ClientError::TimedOut`; event streams (`wait`) are never timed, since
//! a scan may rightly run for hours.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use picket_protocol::*;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

use crate::error::{peer_gone, ClientError};
use crate::events::Events;
use crate::parts::Reassembly;

/// What the daemon said about itself when it let us in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub protocol: u32,
    pub daemon_version: String,
    pub pid: u32,
}

/// A scan the daemon took: its id and how many scans were ahead of it in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub id: ScanId,
    pub queued_behind: u32,
}

/// The answer to a cache command: the statistics, or how many entries it dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheReply {
    Stats(CacheStatsReport),
    Removed(u64),
}

/// A connection past the handshake. Requests go one at a time (`&mut self`); answers are
/// matched to them by id.
pub struct Client {
    framed: Framed<UnixStream, FrameCodec<ServerFrame, ClientFrame>>,
    next_id: u64,
    welcome: Welcome,
    /// Requests sent whose last answer has not arrived: the current one, and any whose
    /// caller stopped listening (an event stream left unread, a call given up on by a
    /// timeout). Their late frames are skipped; a frame for any other id is a daemon bug.
    outstanding: Vec<u64>,
    socket: PathBuf,
    /// How long a single-answer request may wait for it; None: forever.
    timeout: Option<Duration>,
}

/// Whether a connect error means "nobody is listening there" (the daemon can be started).
fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}

impl Client {
    /// Connects to the daemon on `socket` and does the handshake of this build.
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::connect_within(socket, None).await
    }

    /// Like `connect`, giving up after `timeout` (None: never); the client keeps the timeout
    /// for its requests (see `set_timeout`).
    pub async fn connect_within(
        socket: impl AsRef<Path>,
        timeout: Option<Duration>,
    ) -> Result<Client, ClientError> {
        Client::handshake(socket.as_ref(), Hello::current(), timeout).await
    }

    /// Like `connect`, with a hello of the caller's choosing: a test can pose as a client of
    /// another protocol version and see the daemon's refusal.
    pub async fn connect_with_hello(
        socket: impl AsRef<Path>,
        hello: Hello,
    ) -> Result<Client, ClientError> {
        Client::handshake(socket.as_ref(), hello, None).await
    }

    /// How long each later single-answer request may wait for its answer; None: forever.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    async fn handshake(
        socket: &Path,
        hello: Hello,
        timeout: Option<Duration>,
    ) -> Result<Client, ClientError> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let timed_out = |waited_for: &str| ClientError::TimedOut {
            socket: socket.to_path_buf(),
            waited_for: waited_for.into(),
            after: timeout.unwrap_or_default(),
        };
        let stream = within(deadline, connect_queued(socket, deadline.is_some()))
            .await
            .ok_or_else(|| timed_out("to accept the connection"))?
            .map_err(|e| connect_error(socket, e))?;
        let mut framed = Framed::new(
            stream,
            FrameCodec::<HelloReply, Hello>::new(DEFAULT_MAX_FRAME),
        );
        within(deadline, framed.send(hello))
            .await
            .ok_or_else(|| timed_out("to read the handshake"))?
            .map_err(|e| match peer_gone(&e) {
                true => ClientError::Closed,
                false => unreachable(socket, e.to_string()),
            })?;
        let reply = within(deadline, framed.next())
            .await
            .ok_or_else(|| timed_out("to answer the handshake"))?;
        let welcome = welcome_from(socket, reply)?;
        let framed =
            framed.map_codec(|_| FrameCodec::<ServerFrame, ClientFrame>::new(DEFAULT_MAX_FRAME));
        Ok(Client {
            framed,
            next_id: 1,
            welcome,
            outstanding: Vec::new(),
            socket: socket.to_path_buf(),
            timeout,
        })
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's versions and pid, from its welcome.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The socket itself, past the handshake: for a test that goes on writing raw bytes.
    /// Bytes the daemon sent and this client has not read yet are lost.
    pub fn into_stream(self) -> UnixStream {
        self.framed.into_inner()
    }

    pub(crate) async fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.outstanding.push(id);
        self.send_as(id, request).await?;
        Ok(id)
    }

    /// Sends one more frame of request `id` (a streamed import's chunks). A request over
    /// this client's frame cap is refused here, before a byte is sent, naming the cap.
    pub(crate) async fn send_as(&mut self, id: u64, request: Request) -> Result<(), ClientError> {
        let kind = request.kind();
        match self.framed.send(ClientFrame { id, request }).await {
            Ok(()) => Ok(()),
            Err(ProtocolError::FrameTooLarge { size, cap }) => {
                self.outstanding.retain(|&o| o != id);
                Err(ClientError::RequestTooLarge {
                    request: kind,
                    size,
                    cap,
                })
            }
            Err(e) => Err(self.why_send_failed(e).await),
        }
    }

    /// The largest frame this client sends or takes (default 16 MiB, the daemon's default
    /// `max_frame_bytes`). Big answers come in parts under it and imports stream, so only a
    /// single huge request (thousands of long targets) needs more; the daemon's
    /// `max_frame_bytes` must then allow it too.
    pub fn set_max_frame(&mut self, cap: usize) {
        *self.framed.codec_mut() = FrameCodec::new(cap);
    }

    /// A daemon that refuses a request while it is still being written (one that does not
    /// fit its budget for partly received frames) answers why, then hangs up: our write
    /// fails, and its answer is waiting to be read. Return that answer rather than the
    /// broken pipe.
    async fn why_send_failed(&mut self, e: ProtocolError) -> ClientError {
        if !peer_gone(&e) {
            return ClientError::Lost(e);
        }
        let answer = tokio::time::timeout(Duration::from_secs(1), self.framed.next()).await;
        match answer {
            Ok(Some(Ok(ServerFrame {
                response: Response::Error(reply),
                ..
            }))) => ClientError::Daemon(reply),
            _ => ClientError::Closed,
        }
    }

    /// The next answer to request `id`. Late frames of requests nobody listens to any more
    /// are skipped; id 0 is the daemon speaking about the whole connection (an unreadable
    /// request) and is taken as the answer.
    pub(crate) async fn receive(&mut self, id: u64) -> Result<Response, ClientError> {
        loop {
            let frame = match self.framed.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Err(ClientError::lost(e)),
                None => return Err(ClientError::Closed),
            };
            if frame.id != 0 && !self.outstanding.contains(&frame.id) {
                return Err(ClientError::Misrouted {
                    expected: id,
                    got: frame.id,
                });
            }
            // Anything but an event or a part of a big answer is a request's last answer.
            if !matches!(frame.response, Response::Event(_) | Response::Part(_)) {
                self.outstanding.retain(|&o| o != frame.id);
            }
            if frame.id == id || frame.id == 0 {
                return Ok(frame.response);
            }
        }
    }

    /// One request, its one answer; an error answer is `ClientError::Daemon`. The typed
    /// methods below are built on it; streaming requests (`Request::Wait`) go through `wait`.
    /// A big answer's parts are joined back into the one value here. Gives up after the
    /// client's timeout, if it has one.
    pub async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let kind = request.kind();
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        within(deadline, async {
            let id = self.send(request).await?;
            self.answer(kind, id).await
        })
        .await
        .ok_or_else(|| ClientError::TimedOut {
            socket: self.socket.clone(),
            waited_for: format!("to answer the {kind} request"),
            after: self.timeout.unwrap_or_default(),
        })?
    }

    /// The answer to request `id` (`kind` names it in errors), its parts joined.
    pub(crate) async fn answer(
        &mut self,
        kind: &'static str,
        id: u64,
    ) -> Result<Response, ClientError> {
        let mut parts = Reassembly::default();
        loop {
            match self.receive(id).await? {
                Response::Part(part) => parts.push(part),
                Response::Error(e) => return Err(ClientError::Daemon(e)),
                last => return parts.finish(kind, last),
            }
        }
    }

    pub async fn ping(&mut self) -> Result<PingInfo, ClientError> {
        match self.call(Request::Ping).await? {
            Response::Pong(p) => Ok(p),
            other => unexpected("ping", other),
        }
    }

    /// `deep` also runs the database's integrity check (`PRAGMA quick_check`).
    pub async fn health(&mut self, deep: bool) -> Result<HealthReport, ClientError> {
        match self.call(Request::Health { deep }).await? {
            Response::Health(h) => Ok(h),
            other => unexpected("health", other),
        }
    }

    /// The daemon's counters alone; `metrics` has them too, with the rest.
    pub async fn stats(&mut self) -> Result<StatsReport, ClientError> {
        match self.call(Request::Stats).await? {
            Response::Stats(s) => Ok(s),
            other => unexpected("stats", other),
        }
    }

    /// The HTTP API's TCP door: its URL and the token's file (`picket web`).
    pub async fn web(&mut self) -> Result<WebInfo, ClientError> {
        match self.call(Request::Web).await? {
            Response::Web(w) => Ok(w),
            other => unexpected("web", other),
        }
    }

    pub async fn metrics(&mut self) -> Result<MetricsReport, ClientError> {
        match self.call(Request::Metrics).await? {
            Response::Metrics(m) => Ok(*m),
            other => unexpected("metrics", other),
        }
    }

    /// Asks the daemon to stop; it finishes the requests in flight first.
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        match self.call(Request::Shutdown).await? {
            Response::ShuttingDown => Ok(()),
            other => unexpected("shutdown", other),
        }
    }

    pub async fn scan(&mut self, request: ScanRequest) -> Result<Accepted, ClientError> {
        match self.call(Request::Scan(request)).await? {
            Response::ScanAccepted { id, queued_behind } => Ok(Accepted { id, queued_behind }),
            other => unexpected("scan", other),
        }
    }

    /// Running and queued scans, or the one `scan`.
    pub async fn status(&mut self, scan: Option<ScanId>) -> Result<Vec<ScanProgress>, ClientError> {
        match self.call(Request::Status { scan }).await? {
            Response::Status(s) => Ok(s),
            other => unexpected("status", other),
        }
    }

    pub async fn list(&mut self, query: ListQuery) -> Result<ScanPage, ClientError> {
        match self.call(Request::List(query)).await? {
            Response::Scans(page) => Ok(page),
            other => unexpected("list", other),
        }
    }

    pub async fn show(&mut self, scan: ScanId) -> Result<ScanDetail, ClientError> {
        match self.call(Request::Show { scan }).await? {
            Response::Scan(d) => Ok(*d),
            other => unexpected("show", other),
        }
    }

    pub async fn findings(&mut self, query: FindingsQuery) -> Result<FindingPage, ClientError> {
        match self.call(Request::Findings(query)).await? {
            Response::Findings(page) => Ok(page),
            other => unexpected("findings", other),
        }
    }

    /// One finding with the scans and the run that produced it.
    pub async fn finding(&mut self, id: i64) -> Result<FindingDetail, ClientError> {
        match self.call(Request::Finding { id }).await? {
            Response::Finding(d) => Ok(*d),
            other => unexpected("finding", other),
        }
    }

    /// A run's raw output as stored (joined from parts when big).
    pub async fn output(&mut self, run: i64) -> Result<RunOutput, ClientError> {
        match self.call(Request::Output { run }).await? {
            Response::Output(o) => Ok(*o),
            other => unexpected("output", other),
        }
    }

    /// The cluster as the daemon's Redis shows it (`picket cluster`).
    pub async fn cluster(&mut self) -> Result<ClusterReport, ClientError> {
        match self.call(Request::Cluster).await? {
            Response::Cluster(c) => Ok(*c),
            other => unexpected("cluster", other),
        }
    }

    /// Cancels a queued or running scan; returns the status it had.
    pub async fn cancel(&mut self, scan: ScanId) -> Result<ScanStatus, ClientError> {
        match self.call(Request::Cancel { scan }).await? {
            Response::Cancelled { was, .. } => Ok(was),
            other => unexpected("cancel", other),
        }
    }

    pub async fn tools(&mut self) -> Result<Vec<ToolInfo>, ClientError> {
        match self.call(Request::Tools).await? {
            Response::Tools(t) => Ok(t),
            other => unexpected("tools", other),
        }
    }

    /// Stores an existing tool report as a scan; returns the new scan's id.
    pub async fn import(&mut self, request: ImportRequest) -> Result<ScanId, ClientError> {
        match self.call(Request::Import(request)).await? {
            Response::ScanAccepted { id, .. } => Ok(id),
            other => unexpected("import", other),
        }
    }

    /// `Stats` answers with the statistics, every other command with what it removed.
    pub async fn cache(&mut self, command: CacheCommand) -> Result<CacheReply, ClientError> {
        let wants_stats = command == CacheCommand::Stats;
        match self.call(Request::Cache(command)).await? {
            Response::CacheStats(s) if wants_stats => Ok(CacheReply::Stats(s)),
            Response::CacheChanged { removed } if !wants_stats => Ok(CacheReply::Removed(removed)),
            other => unexpected("cache", other),
        }
    }

    /// Follows `scans` until each is final: `follow` asks for every step, not only the ends.
    /// The events are read from the returned `Events`, which ends at the daemon's `End`.
    pub async fn wait(
        &mut self,
        scans: Vec<ScanId>,
        follow: bool,
    ) -> Result<Events<'_>, ClientError> {
        let id = self.send(Request::Wait { scans, follow }).await?;
        Ok(Events::new(self, id))
    }
}

/// `f`'s output, or None once `deadline` (if any) has passed.
async fn within<F: std::future::Future>(
    deadline: Option<tokio::time::Instant>,
    f: F,
) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, f).await.ok(),
        None => Some(f.await),
    }
}

/// Connects; a full accept queue (EAGAIN: the daemon is stopped, or out of descriptors and
/// not accepting) is waited out when the caller has a deadline to bound the wait.
async fn connect_queued(socket: &Path, wait_when_full: bool) -> std::io::Result<UnixStream> {
    loop {
        match UnixStream::connect(socket).await {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && wait_when_full => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

fn connect_error(socket: &Path, e: std::io::Error) -> ClientError {
    if e.kind() == std::io::ErrorKind::WouldBlock {
        return unreachable(
            socket,
            format!(
                "its queue of connections waiting to be accepted is full ({e}): the daemon is \
                 stopped or out of file descriptors; see its log"
            ),
        );
    }
    if is_absent(&e) {
        ClientError::NotRunning {
            socket: socket.to_path_buf(),
        }
    } else if e.kind() == std::io::ErrorKind::PermissionDenied {
        ClientError::SocketDenied {
            socket: socket.to_path_buf(),
            uid: nix::unistd::geteuid().as_raw(),
        }
    } else {
        unreachable(socket, e.to_string())
    }
}

/// The daemon's answer to our hello: its welcome, or why not.
fn welcome_from(
    socket: &Path,
    reply: Option<Result<HelloReply, ProtocolError>>,
) -> Result<Welcome, ClientError> {
    match reply {
        Some(Ok(HelloReply::Welcome {
            protocol,
            daemon_version,
            pid,
        })) => Ok(Welcome {
            protocol,
            daemon_version,
            pid,
        }),
        Some(Ok(HelloReply::Rejected {
            kind,
            reason,
            daemon_version,
            daemon_protocol,
        })) => Err(ClientError::Rejected {
            kind,
            reason,
            daemon_version,
            daemon_protocol,
        }),
        Some(Err(e)) if peer_gone(&e) => Err(ClientError::Closed),
        Some(Err(e)) => Err(unreachable(socket, format!("bad handshake answer: {e}"))),
        None => Err(ClientError::Closed),
    }
}

fn unreachable(socket: &Path, reason: String) -> ClientError {
    ClientError::Unreachable {
        socket: socket.to_path_buf(),
        reason,
    }
}

pub(crate) fn unexpected<T>(request: &'static str, answer: Response) -> Result<T, ClientError> {
    Err(ClientError::Unexpected {
        request,
        answer: Box::new(answer),
    })
}

/// Where the daemon listens unless told otherwise (--socket / PICKET_SOCKET are the
/// caller's): $XDG_RUNTIME_DIR/picket/picketd.sock, else /tmp/picket-$UID/picketd.sock,
/// the same rule as the daemon's.
pub fn default_socket() -> PathBuf {
    socket_for(
        std::env::var_os("XDG_RUNTIME_DIR"),
        nix::unistd::getuid().as_raw(),
    )
}

fn socket_for(runtime_dir: Option<std::ffi::OsString>, uid: u32) -> PathBuf {
    match runtime_dir.filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("picket/picketd.sock"),
        None => PathBuf::from(format!("/tmp/picket-{uid}/picketd.sock")),
    }
}

#[cfg(test)]
mod tests {
    use super::socket_for;

    #[test]
    fn default_socket_is_under_the_runtime_dir_else_per_uid_in_tmp() {
        assert_eq!(
            socket_for(Some("/run/user/7".into()), 7),
            std::path::Path::new("/run/user/7/picket/picketd.sock")
        );
        for unset in [None, Some("".into())] {
            assert_eq!(
                socket_for(unset, 7),
                std::path::Path::new("/tmp/picket-7/picketd.sock")
            );
        }
    }
}
