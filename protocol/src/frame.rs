//! Framing: 4-byte big-endian length, then one bincode-encoded value.
//!
//! The length is checked against the cap before any buffer grows (LengthDelimitedCodec
//! does that), and bincode decodes with a limit equal to the cap: without it, a tiny frame
//! claiming a huge string aborts the process on allocation (see STACK-NOTES.md).
//! Trailing bytes after a value are rejected, since bincode would silently ignore them.

use std::marker::PhantomData;

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

/// A tokio codec reading `In` values and writing `Out` values.
pub struct FrameCodec<In, Out> {
    inner: LengthDelimitedCodec,
    cap: usize,
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
            _types: PhantomData,
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, ProtocolError> {
        // LengthDelimitedCodec refuses a length over the cap from the header alone, before
        // buffering the body, and leaves the header in `src` when it does.
        match self.inner.decode(src) {
            Ok(Some(frame)) => decode_payload(&frame, self.cap).map(Some),
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
}
