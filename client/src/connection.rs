//! A client connection to picketd: connect, handshake, send requests, read answers.
//! Must not print or pick exit codes: callers turn `ClientError` into output.

use std::path::{Path, PathBuf};

use futures::{SinkExt, StreamExt};
use interprocess::local_socket::tokio::{prelude::*, Stream};
use interprocess::local_socket::{GenericFilePath, ToFsName};
use picket_protocol::*;
use tokio_util::codec::Framed;

use crate::failure::ClientError;

pub struct Connection {
    framed: Framed<Stream, FrameCodec<ServerFrame, ClientFrame>>,
    next_id: u64,
}

/// Whether an I/O error means "nobody is listening there".
fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
    )
}

impl Connection {
    pub async fn connect(socket: &Path) -> Result<Connection, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            socket: socket.to_path_buf(),
            reason,
        };
        let name = socket
            .to_fs_name::<GenericFilePath>()
            .map_err(|e| unreachable(e.to_string()))?;
        let stream = match Stream::connect(name).await {
            Ok(s) => s,
            Err(e) if is_absent(&e) => return Err(ClientError::NotRunning { socket: socket.to_path_buf() }),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ClientError::Rejected {
                    reason: format!(
                        "permission denied on {}: the socket belongs to another user (uid {} may not use it)",
                        socket.display(),
                        nix::unistd::geteuid()
                    ),
                    daemon_version: String::new(),
                    daemon_protocol: 0,
                })
            }
            Err(e) => return Err(unreachable(e.to_string())),
        };
        let mut hello = Framed::new(
            stream,
            FrameCodec::<HelloReply, Hello>::new(DEFAULT_MAX_FRAME),
        );
        hello
            .send(Hello::current())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        match hello.next().await {
            Some(Ok(HelloReply::Welcome { .. })) => {}
            Some(Ok(HelloReply::Rejected {
                reason,
                daemon_version,
                daemon_protocol,
                ..
            })) => {
                return Err(ClientError::Rejected {
                    reason,
                    daemon_version,
                    daemon_protocol,
                });
            }
            Some(Err(e)) => return Err(unreachable(format!("bad handshake answer: {e}"))),
            None => {
                return Err(unreachable(
                    "the daemon closed the connection during the handshake".into(),
                ))
            }
        }
        let framed =
            hello.map_codec(|_| FrameCodec::<ServerFrame, ClientFrame>::new(DEFAULT_MAX_FRAME));
        Ok(Connection { framed, next_id: 1 })
    }

    async fn send(&mut self, request: Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.framed
            .send(ClientFrame { id, request })
            .await
            .map_err(ClientError::Lost)?;
        Ok(id)
    }

    async fn receive(&mut self, id: u64) -> Result<Response, ClientError> {
        loop {
            match self.framed.next().await {
                Some(Ok(frame)) if frame.id == id || frame.id == 0 => return Ok(frame.response),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(ClientError::Lost(e)),
                None => {
                    return Err(ClientError::Lost(ProtocolError::Decode(
                        "the daemon closed the connection".into(),
                    )))
                }
            }
        }
    }

    /// One request, one answer. An error answer becomes `ClientError::Daemon`.
    pub async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let id = self.send(request).await?;
        match self.receive(id).await? {
            Response::Error(e) => Err(ClientError::Daemon(e)),
            r => Ok(r),
        }
    }

    /// A streaming request: `on_event` sees each answer until `End`.
    pub async fn stream(
        &mut self,
        request: Request,
        mut on_event: impl FnMut(Response),
    ) -> Result<(), ClientError> {
        let id = self.send(request).await?;
        loop {
            match self.receive(id).await? {
                Response::End => return Ok(()),
                Response::Error(e) => return Err(ClientError::Daemon(e)),
                r => on_event(r),
            }
        }
    }
}

/// Socket path: --socket / PICKET_SOCKET (clap reads both), then $XDG_RUNTIME_DIR/picket,
/// then /tmp/picket-$UID, the same rule as the daemon's.
pub fn default_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("picket/picketd.sock"),
        None => PathBuf::from(format!(
            "/tmp/picket-{}/picketd.sock",
            nix::unistd::getuid()
        )),
    }
}
