//! picket-protocol: the contract between `picketd` and its clients.
//!
//! Owns the message types, the length-delimited bincode framing and the handshake.
//! It must not hold I/O policy (sockets, timeouts, retries): those belong to the daemon
//! and the client, which both build on the codec here.

pub mod error;
pub mod frame;
pub mod handshake;
pub mod json;
pub mod messages;
pub mod model;
pub mod parts;
pub mod prometheus;
pub mod time;

pub use error::{ErrorKind, ErrorReply, ProtocolError};
pub use frame::{
    decode_frames, encode_frame, frame_raw, FrameBudget, FrameCodec, DEFAULT_MAX_FRAME,
};
pub use handshake::{
    check_hello, Hello, HelloRefusal, HelloReply, RejectKind, MAGIC, PACKAGE_VERSION,
    PROTOCOL_VERSION,
};
pub use messages::*;
pub use model::*;
pub use parts::{encoded_len, split_answer, AnswerPart, PART_BUDGET};
pub use time::Timestamp;
