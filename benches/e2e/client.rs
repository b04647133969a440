//! A minimal protocol client for the benchmarks: one persistent Unix-socket connection,
//! the handshake, then framed requests, the same way client/src/connection.rs does it but
//! without the CLI's process start, autostart and rendering, so a figure measures the
//! daemon and the socket rather than `picket`'s start-up.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use futures::{SinkExt, StreamExt};
use picket_protocol::*;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

pub struct Client {
    framed: Framed<UnixStream, FrameCodec<ServerFrame, ClientFrame>>,
    next_id: u64,
}

impl Client {
    pub async fn connect(socket: &Path) -> anyhow::Result<Client> {
        let stream = UnixStream::connect(socket).await?;
        let mut hello = Framed::new(
            stream,
            FrameCodec::<HelloReply, Hello>::new(DEFAULT_MAX_FRAME),
        );
        hello.send(Hello::current()).await?;
        match hello.next().await {
            Some(Ok(HelloReply::Welcome { .. })) => {}
            Some(Ok(HelloReply::Rejected { reason, .. })) => bail!("handshake refused: {reason}"),
            Some(Err(e)) => bail!("bad handshake answer: {e}"),
            None => bail!("the daemon closed the connection during the handshake"),
        }
        let framed =
            hello.map_codec(|_| FrameCodec::<ServerFrame, ClientFrame>::new(DEFAULT_MAX_FRAME));
        Ok(Client { framed, next_id: 1 })
    }

    async fn send(&mut self, request: Request) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.framed.send(ClientFrame { id, request }).await?;
        Ok(id)
    }

    async fn receive(&mut self, id: u64) -> anyhow::Result<Response> {
        loop {
            match self.framed.next().await {
                Some(Ok(f)) if f.id == id || f.id == 0 => return Ok(f.response),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("the daemon closed the connection"),
            }
        }
    }

    /// One request, one answer; an error answer is an `Err`.
    pub async fn call(&mut self, request: Request) -> anyhow::Result<Response> {
        let id = self.send(request).await?;
        match self.receive(id).await? {
            Response::Error(e) => Err(anyhow!("daemon error: {} ({})", e.message, e.hint)),
            r => Ok(r),
        }
    }

    pub async fn ping(&mut self) -> anyhow::Result<PingInfo> {
        match self.call(Request::Ping).await? {
            Response::Pong(p) => Ok(p),
            other => bail!("unexpected answer to ping: {other:?}"),
        }
    }

    /// Submits a scan of `targets` with exactly `tools`; returns its id.
    pub async fn scan(&mut self, targets: Vec<String>, tools: &[&str]) -> anyhow::Result<ScanId> {
        let req = ScanRequest {
            targets,
            tools: tools.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        };
        match self.call(Request::Scan(req)).await? {
            Response::ScanAccepted { id, .. } => Ok(id),
            other => bail!("unexpected answer to scan: {other:?}"),
        }
    }

    /// Waits until every scan is final (the `picket wait` stream); returns the statuses
    /// the stream reported (scans already final when asked are not reported).
    pub async fn wait(&mut self, scans: Vec<ScanId>) -> anyhow::Result<Vec<(ScanId, ScanStatus)>> {
        let id = self
            .send(Request::Wait {
                scans,
                follow: false,
            })
            .await?;
        let mut ended = Vec::new();
        loop {
            match self.receive(id).await? {
                Response::End => return Ok(ended),
                Response::Event(ScanEvent::Finished { scan, status }) => ended.push((scan, status)),
                Response::Event(_) => {}
                Response::Error(e) => bail!("daemon error while waiting: {}", e.message),
                other => bail!("unexpected answer while waiting: {other:?}"),
            }
        }
    }

    pub async fn show(&mut self, scan: ScanId) -> anyhow::Result<ScanDetail> {
        match self
            .call(Request::Show { scan })
            .await
            .with_context(|| format!("show {scan}"))?
        {
            Response::Scan(d) => Ok(*d),
            other => bail!("unexpected answer to show: {other:?}"),
        }
    }
}
