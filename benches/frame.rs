//! Frame encode/decode (picket_protocol::frame): a Ping request and a large ScanDetail
//! answer (1,000 findings, 100 services, 50 tool runs), as bare payloads
//! (`encode_payload`/`decode_payload`) and through the tokio codec (`FrameCodec`, length
//! prefix and cap checks included).
//!
//! `cargo bench --bench frame`

use bytes::BytesMut;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use picket_protocol::frame::{decode_payload, encode_payload};
use picket_protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::hint::black_box;
use tokio_util::codec::{Decoder, Encoder};

fn ping() -> ClientFrame {
    ClientFrame {
        id: 1000,
        request: Request::Ping,
    }
}

fn big_scan() -> ServerFrame {
    let run = |i: usize| ToolRun {
        tool: "nmap".into(),
        target: format!("127.0.0.{}", i % 250 + 1),
        status: RunStatus::Done,
        exit_code: Some(0),
        duration_ms: Some(1234),
        cache_hit: false,
        attempts: 1,
        tool_version: Some("Nmap version 7.93 ( https://nmap.org )".into()),
        started_at: Some(picket_protocol::Timestamp(1_700_000_000_000)),
        finished_at: Some(picket_protocol::Timestamp(1_700_000_001_234)),
        truncated: false,
        error: None,
        warnings: vec![],
        cached_at: None,
        id: 0,
        output_removed_at: None,
    };
    let service = |i: usize| Service {
        host: format!("127.0.0.{}", i % 250 + 1),
        port: 8000 + i as u16,
        proto: "tcp".into(),
        name: "http".into(),
        product: Some("nginx".into()),
        version: Some("1.22.1".into()),
        tls: i.is_multiple_of(2),
    };
    let finding = |i: usize| Finding {
        id: i as i64,
        tool: "sslscan".into(),
        host: format!("127.0.0.{}", i % 250 + 1),
        port: Some(443),
        severity: Severity::ALL[i % 5],
        title: format!("Weak cipher suite offered ({i})"),
        detail: "TLSv1.2 ECDHE-RSA-DES-CBC3-SHA 112 bits: a 64-bit block cipher (SWEET32)".into(),
        cve: if i.is_multiple_of(10) {
            vec!["CVE-2016-2183".into()]
        } else {
            vec![]
        },
        evidence: format!("ECDHE-RSA-DES-CBC3-SHA-{i}"),
        fingerprint: format!("{:024x}", i * 7919),
        first_seen: Some("2026-11-22T10:00:00.000Z".into()),
        last_seen: Some("2026-11-22T10:05:00.000Z".into()),
        state: Default::default(),
        resolved_at: None,
        resolved_scan: None,
        reopened_count: 0,
    };
    ServerFrame {
        id: 1000,
        response: Response::Scan(Box::new(ScanDetail {
            id: 42,
            targets: vec!["127.0.0.0/24".into()],
            profile: "quick".into(),
            ports: Some("1-1024".into()),
            tools: vec![],
            priority: 0,
            status: ScanStatus::Done,
            created_at: "2026-11-22T10:00:00.000Z".into(),
            started_at: Some("2026-11-22T10:00:00.010Z".into()),
            finished_at: Some("2026-11-22T10:05:00.000Z".into()),
            error: None,
            warnings: vec![],
            tool_runs: (0..50).map(run).collect(),
            hosts: vec![],
            services: (0..100).map(service).collect(),
            findings: (0..1000).map(finding).collect(),
            new_count: 0,
            resolved: vec![],
        })),
    }
}

/// `encode WHAT` and `decode WHAT` of `value` as a bare payload, its size as throughput.
fn encode_and_decode<T: Serialize + DeserializeOwned>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    what: &str,
    value: &T,
) {
    let bytes = encode_payload(value).unwrap();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function(format!("encode {what}"), |b| {
        b.iter(|| encode_payload(black_box(value)).unwrap())
    });
    g.bench_function(format!("decode {what}"), |b| {
        b.iter(|| decode_payload::<T>(black_box(&bytes), DEFAULT_MAX_FRAME).unwrap())
    });
}

fn payloads(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload");
    encode_and_decode(&mut g, "ping request", &ping());
    encode_and_decode(&mut g, "ScanDetail (1,000 findings)", &big_scan());
    g.finish();
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("FrameCodec");
    let mut enc = FrameCodec::<ServerFrame, ClientFrame>::new(DEFAULT_MAX_FRAME);
    let mut dec = FrameCodec::<ClientFrame, ServerFrame>::new(DEFAULT_MAX_FRAME);
    let mut frame = BytesMut::new();
    enc.encode(ping(), &mut frame).unwrap();
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("encode ping request", |b| {
        let mut buf = BytesMut::with_capacity(64);
        b.iter(|| {
            buf.clear();
            enc.encode(black_box(ping()), &mut buf).unwrap();
        })
    });
    g.bench_function("decode ping request", |b| {
        b.iter_batched(
            || frame.clone(),
            |mut buf| dec.decode(&mut buf).unwrap().unwrap(),
            BatchSize::SmallInput,
        )
    });

    let mut enc = FrameCodec::<ClientFrame, ServerFrame>::new(DEFAULT_MAX_FRAME);
    let mut dec = FrameCodec::<ServerFrame, ClientFrame>::new(DEFAULT_MAX_FRAME);
    let big = big_scan();
    let mut frame = BytesMut::new();
    enc.encode(big.clone(), &mut frame).unwrap();
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("encode ScanDetail (1,000 findings)", |b| {
        b.iter_batched(
            || big.clone(),
            |v| {
                let mut buf = BytesMut::new();
                enc.encode(v, &mut buf).unwrap();
                buf
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("decode ScanDetail (1,000 findings)", |b| {
        b.iter_batched(
            || frame.clone(),
            |mut buf| dec.decode(&mut buf).unwrap().unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, payloads, codec);
criterion_main!(benches);
