//! Framing: 4-byte big-endian length, then one bincode-encoded value.
//!
//! The length is checked against the cap before any buffer grows (LengthDelimitedCodec
//! does that), and bincode decodes with a limit equal to the cap: without it, a tiny frame
//! claiming a huge string aborts the process on allocation (see STACK-NOTES.md).
//! Trailing bytes after a value are rejected, since bincode would silently ignore them.
//! A codec may share a `FrameBudget` with others: the cap bounds one frame, the budget
//! bounds what all partly received frames hold together (many peers each sending half of a
//! capped frame would otherwise add up without limit).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::error::ProtocolError;

/// Default cap for one frame: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Upper bound that bincode's compile-time limit can express; runtime caps above it are clamped.
const BINCODE_LIMIT: usize = 1 << 30;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<BINCODE_LIMIT>()
}

/// Encode one value into a frame payload (no length prefix).
pub fn encode_payload<T: Serialize>(value: &T) -> Result<Vec<u8>, ProtocolError> {
    bincode::serde::encode_to_vec(value, bincode_config())
        .map_err(|e| ProtocolError::Encode(e.to_string()))
}

/// Decode one frame payload. `cap` bounds every allocation the decoder may make.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8], cap: usize) -> Result<T, ProtocolError> {
    if payload.len() > cap {
        return Err(ProtocolError::FrameTooLarge {
            size: payload.len(),
            cap,
        });
    }
    // bincode's limit is a const generic; the frame cap (<= 1 GiB) is further enforced by
    // the length check above, and any length field inside the payload larger than the
    // payload itself fails with UnexpectedEnd before allocating beyond the limit.
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(payload, bincode_config())
        .map_err(|e| ProtocolError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(ProtocolError::TrailingBytes {
            trailing: payload.len() - used,
        });
    }
    Ok(value)
}

/// Frames up to this size never wait on the budget: a ping must get through while big
/// uploads fill it, and what small frames hold is bounded by the connection limit instead.
pub const UNBUDGETED_FRAME: usize = 64 * 1024;

/// Bytes that partly received frames may hold, shared by every codec given a clone.
/// A frame over `UNBUDGETED_FRAME` reserves its announced length when its header arrives
/// without its whole body, and gives it back once complete or when its codec is dropped
/// (the peer left).
#[derive(Debug, Clone)]
pub struct FrameBudget {
    limit: usize,
    held: Arc<AtomicUsize>,
}

impl FrameBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            held: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved now by frames still arriving.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn reserve(&self, n: usize) -> Result<(), ProtocolError> {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&total| total <= self.limit)
            })
            .map(|_| ())
            .map_err(|held| ProtocolError::OverBudget {
                announced: n,
                held,
                limit: self.limit,
            })
    }

    fn release(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A tokio codec reading `In` values and writing `Out` values.
pub struct FrameCodec<In, Out> {
    inner: LengthDelimitedCodec,
    cap: usize,
    budget: Option<FrameBudget>,
    /// What the frame being received reserved from `budget`; 0 between frames.
    reserved: usize,
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> FrameCodec<In, Out> {
    pub fn new(cap: usize) -> Self {
        let cap = cap.min(BINCODE_LIMIT);
        let inner = LengthDelimitedCodec::builder()
            .length_field_length(4)
            .big_endian()
            .max_frame_length(cap)
            .new_codec();
        Self {
            inner,
            cap,
            budget: None,
            reserved: 0,
            _types: PhantomData,
        }
    }

    /// This codec's partly received frames count against `budget`.
    pub fn with_budget(mut self, budget: FrameBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Reserves the body of a frame whose header is in `src` and whose body is not yet,
    /// before the inner codec reads the header (it consumes it, and grows the buffer).
    fn reserve_for(&mut self, src: &BytesMut) -> Result<(), ProtocolError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if self.reserved != 0 || src.len() < 4 {
            return Ok(());
        }
        let announced = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        // Over the cap: the inner codec refuses it. Whole already: nothing left to wait for.
        if announced <= UNBUDGETED_FRAME || announced > self.cap || src.len() >= 4 + announced {
            return Ok(());
        }
        budget.reserve(announced)?;
        self.reserved = announced;
        Ok(())
    }

    fn release(&mut self) {
        if let Some(budget) = &self.budget {
            budget.release(self.reserved);
        }
        self.reserved = 0;
    }
}

impl<In, Out> Drop for FrameCodec<In, Out> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, ProtocolError> {
        // LengthDelimitedCodec refuses a length over the cap from the header alone, before
        // buffering the body, and leaves the header in `src` when it does.
        self.reserve_for(src)?;
        match self.inner.decode(src) {
            Ok(Some(frame)) => {
                self.release();
                decode_payload(&frame, self.cap).map(Some)
            }
            Ok(None) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData && src.len() >= 4 => {
                let announced = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
                Err(ProtocolError::FrameTooLarge {
                    size: announced,
                    cap: self.cap,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<In>, ProtocolError> {
        match self.decode(buf)? {
            Some(v) => Ok(Some(v)),
            None if buf.is_empty() => Ok(None),
            None => Err(ProtocolError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed in the middle of a frame ({} bytes buffered)",
                    buf.len()
                ),
            ))),
        }
    }
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = ProtocolError;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let payload = encode_payload(&item)?;
        if payload.len() > self.cap {
            return Err(ProtocolError::FrameTooLarge {
                size: payload.len(),
                cap: self.cap,
            });
        }
        self.inner.encode(Bytes::from(payload), dst)?;
        Ok(())
    }
}

/// One whole frame (length prefix and payload) holding `value`: what a peer writes for it.
/// For code that writes to a socket by hand (tests, benchmarks); a connection uses the codec.
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, ProtocolError> {
    let payload = encode_payload(value)?;
    if payload.len() > DEFAULT_MAX_FRAME {
        return Err(ProtocolError::FrameTooLarge {
            size: payload.len(),
            cap: DEFAULT_MAX_FRAME,
        });
    }
    Ok(frame_raw(&payload))
}

/// Frames an arbitrary payload, valid or not: lets a test send well-framed garbage without
/// writing a length prefix by hand.
pub fn frame_raw(payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .big_endian()
        .max_frame_length(u32::MAX as usize)
        .new_codec()
        .encode(Bytes::copy_from_slice(payload), &mut out)
        .expect("a 4-byte length field holds any payload a test can build");
    out.to_vec()
}

/// Decodes every complete frame in `bytes` (all a peer sent, read to its end), each with
/// `cap`. Returns the values and how many bytes a trailing incomplete frame left over: a
/// peer cut off mid-frame is the caller's to judge.
pub fn decode_frames<T: DeserializeOwned>(
    bytes: &[u8],
    cap: usize,
) -> Result<(Vec<T>, usize), ProtocolError> {
    let mut codec = FrameCodec::<T, ()>::new(cap);
    let mut buf = BytesMut::from(bytes);
    let (mut values, mut complete) = (Vec::new(), 0);
    // The codec keeps a frame's header once it has read it, so what is left in `buf` would
    // undercount a cut frame: count from the end of the last whole one instead.
    while let Some(value) = codec.decode(&mut buf)? {
        values.push(value);
        complete = bytes.len() - buf.len();
    }
    Ok((values, bytes.len() - complete))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Codec = FrameCodec<String, String>;

    #[test]
    fn round_trip() {
        let mut codec = Codec::new(1024);
        let mut buf = BytesMut::new();
        codec.encode("hello".to_string(), &mut buf).unwrap();
        assert_eq!(codec.decode(&mut buf).unwrap().as_deref(), Some("hello"));
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_header_is_refused_before_body_arrives() {
        let mut codec = Codec::new(1024);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn huge_inner_length_does_not_allocate() {
        // A string claiming 2^40 bytes in a 14-byte payload: must be an error, not an abort.
        let mut payload = vec![253u8];
        payload.extend_from_slice(&(1u64 << 40).to_le_bytes());
        payload.extend_from_slice(b"abcde");
        assert!(decode_payload::<String>(&payload, 1024).is_err());
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut payload = encode_payload(&"x".to_string()).unwrap();
        payload.push(0);
        assert!(matches!(
            decode_payload::<String>(&payload, 1024),
            Err(ProtocolError::TrailingBytes { trailing: 1 })
        ));
    }

    #[test]
    fn a_frame_arriving_in_pieces_decodes() {
        // The body comes in several reads: the codec must remember it is inside a frame.
        let mut codec = Codec::new(1 << 20);
        let mut whole = BytesMut::new();
        codec.encode("x".repeat(100_000), &mut whole).unwrap();
        let mut buf = BytesMut::new();
        let mut got = None;
        for chunk in whole.chunks(4096) {
            buf.extend_from_slice(chunk);
            if let Some(v) = codec.decode(&mut buf).unwrap() {
                got = Some(v);
            }
        }
        assert_eq!(got.map(|s| s.len()), Some(100_000));
    }

    #[test]
    fn truncated_frame_at_eof_is_an_error() {
        let mut codec = Codec::new(1024);
        let mut buf = BytesMut::from(&[0, 0, 0, 10, 1, 2][..]);
        assert!(codec.decode_eof(&mut buf).is_err());
    }

    #[test]
    fn encode_frame_and_decode_frames_round_trip_and_report_a_cut_frame() {
        let mut bytes = encode_frame(&"one".to_string()).unwrap();
        bytes.extend(encode_frame(&"two".to_string()).unwrap());
        let (values, left) = decode_frames::<String>(&bytes, 1024).unwrap();
        assert_eq!(values, ["one", "two"]);
        assert_eq!(left, 0);
        // Cut after the header, and inside the body: both are left over, whole.
        for cut in [4, 5] {
            let mut cut_off = bytes.clone();
            cut_off.extend(&encode_frame(&"three".to_string()).unwrap()[..cut]);
            let (values, left) = decode_frames::<String>(&cut_off, 1024).unwrap();
            assert_eq!((values.len(), left), (2, cut));
        }
    }

    #[test]
    fn partly_received_frames_share_one_budget_and_give_it_back() {
        const K: usize = UNBUDGETED_FRAME;
        let budget = FrameBudget::new(3 * K);
        let mut a = Codec::new(4 * K).with_budget(budget.clone());
        let mut b = Codec::new(4 * K).with_budget(budget.clone());
        let header = |n: usize| BytesMut::from(&(n as u32).to_be_bytes()[..]);
        // a announces 2K + 1 bytes and sends 10 of them: 2K + 1 are held.
        let mut buf_a = header(2 * K + 1);
        buf_a.extend_from_slice(&[0; 10]);
        assert!(a.decode(&mut buf_a).unwrap().is_none());
        assert_eq!(budget.held(), 2 * K + 1);
        // b announcing K more does not fit, and says so...
        let mut buf_b = header(K + 1);
        buf_b.extend_from_slice(&[1]);
        assert!(matches!(
            b.decode(&mut buf_b),
            Err(ProtocolError::OverBudget { announced, held, limit })
                if announced == K + 1 && held == 2 * K + 1 && limit == 3 * K
        ));
        // ...while a small frame still arriving does not wait on the budget.
        let mut small = header(100);
        small.extend_from_slice(&[1]);
        assert!(b.decode(&mut small).unwrap().is_none());
        // A big frame that arrived whole needs no reservation.
        let mut c = Codec::new(4 * K).with_budget(budget.clone());
        let mut whole = BytesMut::new();
        c.encode("h".repeat(2 * K), &mut whole).unwrap();
        assert_eq!(c.decode(&mut whole).unwrap().map(|s| s.len()), Some(2 * K));
        // a's peer leaving gives its reservation back.
        drop(a);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn a_completed_frame_releases_its_reservation() {
        let budget = FrameBudget::new(1 << 20);
        let mut codec = Codec::new(1 << 20).with_budget(budget.clone());
        let mut whole = BytesMut::new();
        codec.encode("y".repeat(100_000), &mut whole).unwrap();
        let mut buf = BytesMut::new();
        let mut got = None;
        for chunk in whole.chunks(10_000) {
            buf.extend_from_slice(chunk);
            if let Some(v) = codec.decode(&mut buf).unwrap() {
                got = Some(v);
            } else {
                assert!(budget.held() > 0, "a frame still arriving holds its bytes");
            }
        }
        assert_eq!(got.map(|s| s.len()), Some(100_000));
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn frame_raw_prefixes_the_length_big_endian() {
        assert_eq!(frame_raw(b"abc"), [0, 0, 0, 3, b'a', b'b', b'c']);
        assert!(matches!(
            decode_frames::<String>(&frame_raw(&[0xff; 8]), 1024),
            Err(ProtocolError::Decode(_))
        ));
    }
}
