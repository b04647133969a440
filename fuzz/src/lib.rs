//! Fuzz harnesses for Picket, one function per fuzz target.
//!
//! Plain Rust, no libFuzzer: `fuzz_targets/*.rs` call these functions, and the root
//! package's `tests/fuzz_regressions.rs` includes this very file (`#[path]`) to replay the
//! regression corpus under an ordinary `cargo test`, so a replay runs exactly the code a
//! campaign ran. Only crates that both packages depend on are used here (picket-protocol,
//! picketd, bytes, tokio-util); that is also why the decoding helpers are macros and not
//! generic functions (no `serde` bounds to name).
//!
//! A harness returns normally for any input; a panic (or abort, or a hang) is a bug in the
//! code under test, or one of the properties below not holding.

use bytes::BytesMut;
use picket_protocol::frame::{decode_payload, encode_payload};
use picket_protocol::{ClientFrame, FrameCodec, Hello, HelloReply, ServerFrame, DEFAULT_MAX_FRAME};
use picketd::parsers::generic::{examples, GenericMapping};
use picketd::parsers::{self, ParsedOutput};
use tokio_util::codec::Decoder;

/// The daemon reads the hello with this cap (`HELLO_CAP` in daemon/src/ipc/server.rs).
pub const HELLO_CAP: usize = 4096;

/// A harness: returns for any input, panics on a bug.
pub type Harness = fn(&[u8]);

/// Every fuzz target, by name, for the replay test.
pub const TARGETS: &[(&str, Harness)] = &[
    ("frame_decoder", frame_decoder),
    ("parse_nmap", parse_nmap),
    ("parse_sslscan", parse_sslscan),
    ("parse_whatweb", parse_whatweb),
    ("parse_testssl", parse_testssl),
    ("parse_nuclei", parse_nuclei),
    ("parse_generic", parse_generic),
];

/// Decoding must be stable: a value that decoded re-encodes to bytes that decode again to
/// a value with the same encoding. (Compared as bytes, since stats carry `f64`s and NaN is
/// not equal to itself.) Evaluates to the canonical encoding.
macro_rules! canonical {
    ($ty:ty, $value:expr) => {{
        let bytes = encode_payload::<$ty>($value).expect("a decoded value must encode");
        let again: $ty = decode_payload(&bytes, usize::MAX).unwrap_or_else(|e| {
            panic!(
                "{} re-encoded from a decoded value does not decode: {e}",
                stringify!($ty)
            )
        });
        let bytes_again = encode_payload::<$ty>(&again).expect("a decoded value must encode");
        assert_eq!(
            bytes,
            bytes_again,
            "{} does not survive an encode/decode round trip",
            stringify!($ty)
        );
        bytes
    }};
}

/// Feeds `data` to a fresh `FrameCodec<$in, $out>` with `$cap`, `$chunk` bytes per read
/// (0: all at once), the way a connection does: decode until it needs more bytes, stop at
/// the first error (the connection is dropped then), `decode_eof` at the end. Evaluates to
/// the canonical encodings of the decoded values and whether the stream ended in an error.
macro_rules! feed {
    ($in:ty, $out:ty, $cap:expr, $data:expr, $chunk:expr) => {{
        let data: &[u8] = $data;
        let chunk: usize = $chunk;
        let mut codec = FrameCodec::<$in, $out>::new($cap);
        let mut buf = BytesMut::new();
        let mut items: Vec<Vec<u8>> = Vec::new();
        let mut failed = false;
        let step = if chunk == 0 { data.len().max(1) } else { chunk };
        'reads: for piece in data.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                let before = buf.len();
                match codec.decode(&mut buf) {
                    Ok(Some(v)) => {
                        assert!(buf.len() < before, "a decoded frame must consume bytes");
                        items.push(canonical!($in, &v));
                    }
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break 'reads;
                    }
                }
            }
        }
        if !failed {
            loop {
                match codec.decode_eof(&mut buf) {
                    Ok(Some(v)) => items.push(canonical!($in, &v)),
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
        }
        (items, failed)
    }};
}

/// Target `frame_decoder`: the length-delimited bincode framing and the message decoder.
///
/// The first byte picks how many bytes each simulated read brings (so a frame can arrive in
/// pieces), the rest is the byte stream. Checks that the decoded frames do not depend on
/// how the stream was cut into reads, and that every decoded value round-trips.
pub fn frame_decoder(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;

    // The daemon's side after the handshake, with the production cap.
    let whole = feed!(ClientFrame, ServerFrame, DEFAULT_MAX_FRAME, stream, 0);
    let pieces = feed!(ClientFrame, ServerFrame, DEFAULT_MAX_FRAME, stream, chunk);
    assert_eq!(whole, pieces, "framing depends on how reads were cut");

    // The same with a tiny cap: the header-refusal path (FrameTooLarge) gets exercised.
    let _ = feed!(ClientFrame, ServerFrame, 64, stream, chunk);

    // The daemon reading the hello; the client reading the daemon's frames and hello reply.
    let _ = feed!(Hello, HelloReply, HELLO_CAP, stream, chunk);
    let _ = feed!(ServerFrame, ClientFrame, DEFAULT_MAX_FRAME, stream, chunk);
    let _ = feed!(HelloReply, Hello, DEFAULT_MAX_FRAME, stream, 0);

    // The bare payload decoder, without the length prefix.
    if let Ok(v) = decode_payload::<Hello>(stream, HELLO_CAP) {
        let _ = canonical!(Hello, &v);
    }
    if let Ok(v) = decode_payload::<ClientFrame>(stream, DEFAULT_MAX_FRAME) {
        let _ = canonical!(ClientFrame, &v);
    }
    if let Ok(v) = decode_payload::<ServerFrame>(stream, DEFAULT_MAX_FRAME) {
        let _ = canonical!(ServerFrame, &v);
    }
    if let Ok(v) = decode_payload::<HelloReply>(stream, DEFAULT_MAX_FRAME) {
        let _ = canonical!(HelloReply, &v);
    }
}

/// What every parser result must satisfy, whatever the input.
fn check_output(out: &ParsedOutput) {
    for f in &out.findings {
        assert!(
            f.fingerprint.len() == 24 && f.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()),
            "bad fingerprint {:?}",
            f.fingerprint
        );
    }
}

fn check(result: Result<ParsedOutput, parsers::ParseError>) {
    if let Ok(out) = result {
        check_output(&out);
    }
}

/// Target `parse_nmap`: `nmap -oX` output.
pub fn parse_nmap(data: &[u8]) {
    check(parsers::nmap::parse(data));
}

/// Target `parse_sslscan`: `sslscan --xml` output.
pub fn parse_sslscan(data: &[u8]) {
    check(parsers::sslscan::parse(data));
}

/// Target `parse_whatweb`: whatweb JSON log (or its mixed stdout).
pub fn parse_whatweb(data: &[u8]) {
    check(parsers::whatweb::parse(data));
}

/// Target `parse_testssl`: testssl.sh JSON (flat or pretty).
pub fn parse_testssl(data: &[u8]) {
    check(parsers::testssl::parse(data));
}

/// Target `parse_nuclei`: nuclei JSON lines.
pub fn parse_nuclei(data: &[u8]) {
    check(parsers::nuclei::parse(data));
}

/// The fixed mappings `parse_generic` runs every input through: the daemon's example
/// mappings (`picketd::parsers::generic::examples`), which its unit tests and the parser
/// bench use too: the gobuster regex, a regex naming every group, a nuclei-like json_lines
/// mapping, and a json_lines mapping that relies on its defaults.
pub fn generic_mappings() -> Vec<GenericMapping> {
    examples::all()
}

/// Target `parse_generic`: arbitrary output through each fixed mapping. The mappings are
/// built once, as the daemon builds them once per config load: compiling their patterns
/// on every input would time the regex compiler rather than the parser.
pub fn parse_generic(data: &[u8]) {
    static MAPPINGS: std::sync::OnceLock<Vec<GenericMapping>> = std::sync::OnceLock::new();
    for mapping in MAPPINGS.get_or_init(generic_mappings) {
        check(parsers::generic::parse(
            mapping,
            "fuzz",
            "scan.example",
            data,
        ));
    }
}
