//! Figure 3, IPC: `ping` round trips over one persistent connection against a bare
//! Unix-socket echo measured in the same run, then 16 concurrent clients for 10 s (3 s with
//! --quick) against both.
//!
//! The echo is this same binary started as a separate process (`--echo-server`), a
//! current-thread tokio runtime like picketd's, that answers each request-sized read with
//! a response-sized write: the same bytes as a ping frame and a pong frame, without
//! decoding, dispatch or encoding. Both sides of both measures use the same client
//! runtime (current-thread, one core; the server gets the other).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use picket_client::Client;
use picket_protocol::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::env::{bench_env, runtime, start_daemon};
use crate::report::{Cmp, Report, Samples};
use crate::Opts;

const CLIENTS: usize = 16;

/// The bytes of a ping request frame and of a pong answer frame (length prefix included).
fn frame_sizes() -> (usize, usize) {
    let request = ClientFrame {
        id: 1000,
        request: Request::Ping,
    };
    let answer = ServerFrame {
        id: 1000,
        response: Response::Pong(PingInfo {
            daemon_version: PACKAGE_VERSION.into(),
            protocol_version: PROTOCOL_VERSION,
            pid: 123_456,
            uptime_ms: 1_000_000,
        }),
    };
    let size = |frame: Result<Vec<u8>, ProtocolError>| frame.expect("encode").len();
    (size(encode_frame(&request)), size(encode_frame(&answer)))
}

/// `--echo-server SOCKET REQ_BYTES RESP_BYTES`: serves until killed.
pub fn echo_server(args: &[String]) -> anyhow::Result<()> {
    let [path, req, resp] = args else {
        bail!("usage: --echo-server SOCKET REQ_BYTES RESP_BYTES");
    };
    let (req, resp): (usize, usize) = (req.parse()?, resp.parse()?);
    runtime().block_on(async move {
        let listener = UnixListener::bind(path)?;
        loop {
            let (mut s, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; req];
                let answer = vec![7u8; resp];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

struct EchoServer {
    child: Child,
    socket: PathBuf,
    /// Bytes of one request and of one answer, as in `frame_sizes`.
    req: usize,
    resp: usize,
}

impl EchoServer {
    fn start(dir: &Path, req: usize, resp: usize) -> anyhow::Result<EchoServer> {
        let socket = dir.join("echo.sock");
        let child = Command::new(std::env::current_exe()?)
            .arg("--echo-server")
            .arg(&socket)
            .arg(req.to_string())
            .arg(resp.to_string())
            .stdin(Stdio::null())
            .spawn()
            .context("start the echo server")?;
        let end = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            if Instant::now() > end {
                bail!("the echo server did not listen within 10 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(EchoServer {
            child,
            socket,
            req,
            resp,
        })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Echo {
    stream: UnixStream,
    req: Vec<u8>,
    resp: Vec<u8>,
}

impl Echo {
    async fn connect(socket: &Path, req: usize, resp: usize) -> anyhow::Result<Echo> {
        Ok(Echo {
            stream: UnixStream::connect(socket).await?,
            req: vec![1u8; req],
            resp: vec![0u8; resp],
        })
    }
}

/// Something that does one request/answer exchange.
trait RoundTrip {
    async fn round_trip(&mut self) -> anyhow::Result<()>;
}

impl RoundTrip for Client {
    async fn round_trip(&mut self) -> anyhow::Result<()> {
        self.ping().await?;
        Ok(())
    }
}

impl RoundTrip for Echo {
    async fn round_trip(&mut self) -> anyhow::Result<()> {
        self.stream.write_all(&self.req).await?;
        self.stream.read_exact(&mut self.resp).await?;
        Ok(())
    }
}

/// Times `n` sequential round trips after `warm` unmeasured ones.
async fn sequential(
    c: &mut impl RoundTrip,
    warm: usize,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    for _ in 0..warm {
        c.round_trip().await?;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        c.round_trip().await?;
        v.push(t.elapsed());
    }
    Ok(v)
}

struct Load {
    samples: Samples,
    errors: usize,
    rps: f64,
}

/// `CLIENTS` connections, each doing round trips back to back for `dur`.
async fn load<C: RoundTrip, F: std::future::Future<Output = anyhow::Result<C>>>(
    dur: Duration,
    connect: impl Fn() -> F,
) -> Load {
    let start = Instant::now();
    let end = start + dur;
    let tasks = (0..CLIENTS).map(|_| {
        let conn = connect();
        async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut c = match conn.await {
                Ok(c) => c,
                Err(_) => return (lat, 1),
            };
            while Instant::now() < end {
                let t = Instant::now();
                match c.round_trip().await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(_) => return (lat, 1),
                }
            }
            (lat, 0)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let took = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    let mut errors = 0;
    for (lat, e) in results {
        all.extend(lat);
        errors += e;
    }
    let n = all.len();
    Load {
        samples: Samples::new(all),
        errors,
        rps: n as f64 / took,
    }
}

/// `n` pings on one connection and `n` echoes on another, in alternating blocks so both
/// see the same machine state; the first block is preceded by a longer warm-up.
async fn one_connection_each(
    socket: &Path,
    echo: &EchoServer,
    n: usize,
) -> anyhow::Result<(Samples, Samples)> {
    let mut client = Client::connect(socket).await?;
    let mut bare = Echo::connect(&echo.socket, echo.req, echo.resp).await?;
    let (mut picket_all, mut echo_all) = (Vec::new(), Vec::new());
    for block in 0..4 {
        let warm = if block == 0 { 1_000 } else { 100 };
        picket_all.extend(sequential(&mut client, warm, n / 4).await?);
        echo_all.extend(sequential(&mut bare, warm, n / 4).await?);
    }
    Ok((Samples::new(picket_all), Samples::new(echo_all)))
}

pub fn run(opts: &Opts, report: &mut Report) -> anyhow::Result<()> {
    let env = bench_env("")?;
    let (_daemon, _) = start_daemon(&env)?;
    let (req, resp) = frame_sizes();
    let echo = EchoServer::start(env.root(), req, resp)?;
    let rt = runtime();
    one_connection(opts, report, &rt, env.socket(), &echo)?;
    sixteen_clients(opts, report, &rt, env.socket(), &echo);
    Ok(())
}

/// Ping against echo round trips on one connection each.
fn one_connection(
    opts: &Opts,
    report: &mut Report,
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    echo: &EchoServer,
) -> anyhow::Result<()> {
    let n = opts.size(20_000, 5_000);
    let (req, resp) = (echo.req, echo.resp);
    let (p, e) = rt.block_on(one_connection_each(socket, echo, n))?;
    report.add(
        "ipc: ping p50 / bare Unix-socket echo p50",
        p.us(50.0) / e.us(50.0),
        "ratio",
        Cmp::AtMost,
        2.0,
        format!(
            "{n} round trips each on one connection; ping p50 {:.1} us p99 {:.1} us; \
             echo p50 {:.1} us p99 {:.1} us ({req} B request, {resp} B answer)",
            p.us(50.0),
            p.us(99.0),
            e.us(50.0),
            e.us(99.0)
        ),
    );
    Ok(())
}

/// `CLIENTS` concurrent clients against picketd, then against the echo.
fn sixteen_clients(
    opts: &Opts,
    report: &mut Report,
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    echo: &EchoServer,
) {
    let dur = Duration::from_secs(opts.size(10, 3));
    let (req, resp) = (echo.req, echo.resp);
    let socket = socket.to_path_buf();
    let pl = rt.block_on(load(dur, || {
        let s = socket.clone();
        async move { Ok(Client::connect(&s).await?) }
    }));
    let es = echo.socket.clone();
    let el = rt.block_on(load(dur, || {
        let s = es.clone();
        async move { Echo::connect(&s, req, resp).await }
    }));
    let detail = format!(
        "{CLIENTS} clients x {} s each; picket {:.0} req/s p50 {:.1} us p99 {:.1} us ({} requests); \
         echo {:.0} req/s p50 {:.1} us p99 {:.1} us",
        dur.as_secs(),
        pl.rps,
        pl.samples.us(50.0),
        pl.samples.us(99.0),
        pl.samples.len(),
        el.rps,
        el.samples.us(50.0),
        el.samples.us(99.0)
    );
    report.add(
        "ipc: 16 clients, errors",
        pl.errors as f64,
        "count",
        Cmp::AtMost,
        0.0,
        String::new(),
    );
    report.add(
        "ipc: 16 clients, ping requests/s / bare echo",
        pl.rps / el.rps,
        "ratio",
        Cmp::AtLeast,
        0.5,
        detail,
    );
    report.add(
        "ipc: 16 clients, ping p99 / bare echo p99",
        pl.samples.us(99.0) / el.samples.us(99.0),
        "ratio",
        Cmp::AtMost,
        2.0,
        String::new(),
    );
}
