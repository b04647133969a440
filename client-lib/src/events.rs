//! The answer to a wait/follow request: scan events until the daemon's `End`.
//! Must not render or decide what an event means to the caller; it only reads them in order.

use picket_protocol::{Response, ScanEvent, ScanId, ScanStatus};

use crate::client::{unexpected, Client};
use crate::error::ClientError;

/// The events of one `Client::wait`. It holds the connection: other requests wait until it
/// is read to the end or dropped (then the next request skips the rest of its events).
pub struct Events<'c> {
    client: &'c mut Client,
    id: u64,
    ended: bool,
}

impl<'c> Events<'c> {
    pub(crate) fn new(client: &'c mut Client, id: u64) -> Self {
        Events {
            client,
            id,
            ended: false,
        }
    }

    /// The next event, or `None` once the daemon has said `End`. An error answer or a broken
    /// connection ends the stream too: after an `Err`, `next` gives `None`.
    pub async fn next(&mut self) -> Result<Option<ScanEvent>, ClientError> {
        if self.ended {
            return Ok(None);
        }
        let answer = self.client.receive(self.id).await;
        let event = match answer {
            Ok(Response::Event(e)) => return Ok(Some(e)),
            Ok(Response::End) => Ok(None),
            Ok(Response::Error(e)) => Err(ClientError::Daemon(e)),
            Ok(other) => unexpected("wait", other),
            Err(e) => Err(e),
        };
        self.ended = true;
        event
    }

    /// Reads to the end; returns how each scan that ended meanwhile ended (scans already
    /// final when asked are not reported: `Client::show` tells their status).
    pub async fn finished(mut self) -> Result<Vec<(ScanId, ScanStatus)>, ClientError> {
        let mut ended = Vec::new();
        while let Some(event) = self.next().await? {
            if let ScanEvent::Finished { scan, status } = event {
                ended.push((scan, status));
            }
        }
        Ok(ended)
    }
}
