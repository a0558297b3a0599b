//! Reading a request body under the memory budget: room is reserved before bytes are
//! buffered, so a collector short of memory refuses a request before it reads it, not after.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::in_flight::Call;
use crate::core::{MemoryBudget, OverBudget, Reservation};

/// Why a body was not read.
pub(super) enum ReadError {
    /// Longer than the limit.
    TooLarge,
    /// No room in the memory budget (retryable).
    OverBudget(OverBudget),
    /// The connection failed while reading.
    Failed(String),
    /// The body did not arrive within the read timeout.
    TimedOut(Duration),
    /// The call was ended to make room under `max_concurrent_requests`: its body had stalled.
    Evicted,
}

impl From<OverBudget> for ReadError {
    fn from(over: OverBudget) -> Self {
        ReadError::OverBudget(over)
    }
}

/// How the body announces its length before it arrives.
#[derive(Clone, Copy)]
pub(super) enum Announced {
    /// `Content-Length` (or nothing).
    Header(Option<u64>),
    /// A gRPC message: the length prefix in its first 5 bytes.
    GrpcFrame,
}

/// Reads the whole body, at most `limit` bytes. Admission is decided on what the request
/// announces (its `Content-Length`, or its gRPC length prefix), under the soft limit, before
/// the body is buffered; the reservation then grows with what arrives, up to the hard limit.
///
/// Over HTTP/1.1 a refused body is still read, and thrown away frame by frame, so the client
/// gets the 503 instead of a connection reset in the middle of its upload (gRPC over HTTP/2
/// ends just the stream).
///
/// The whole read is bounded by `timeout`: a client that sends slower is cut off, and what it
/// had reserved is released at once. Every frame is `call`'s progress; a call that stalls can
/// be ended for another (`in_flight`), which ends the read at once.
pub(super) async fn read(
    mut body: Incoming,
    limit: usize,
    budget: &MemoryBudget,
    announced: Announced,
    timeout: Duration,
    call: &Call,
) -> Result<(Bytes, Reservation), ReadError> {
    call.progress();
    let read = tokio::select! {
        read = tokio::time::timeout(
            timeout,
            read_under_budget(&mut body, limit, budget, announced, call),
        ) => read.unwrap_or(Err(ReadError::TimedOut(timeout))),
        () = call.ended() => Err(ReadError::Evicted),
    };
    if let (Err(ReadError::OverBudget(_)), Announced::Header(_)) = (&read, announced) {
        tokio::select! {
            () = discard(&mut body, limit, call) => {}
            () = call.ended() => {}
        }
    }
    call.done_reading();
    read
}

/// Reads and drops what is left of the body, at most `limit` bytes.
async fn discard(body: &mut Incoming, limit: usize, call: &Call) {
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        call.progress();
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > limit {
                return;
            }
        }
    }
}

async fn read_under_budget(
    body: &mut Incoming,
    limit: usize,
    budget: &MemoryBudget,
    announced: Announced,
    call: &Call,
) -> Result<(Bytes, Reservation), ReadError> {
    let limit64 = limit as u64;
    // Refused at once, before a byte is read, while the budget is over its soft limit.
    drop(budget.try_reserve(0)?);
    let mut reservation = match announced {
        Announced::Header(Some(len)) if len > limit64 => return Err(ReadError::TooLarge),
        Announced::Header(len) => Some(budget.try_reserve(len.unwrap_or(0))?),
        // Reserved once the length prefix is in (the first frame, at most 16 KiB by default).
        Announced::GrpcFrame => None,
    };
    let mut buf = BytesMut::with_capacity(
        reservation
            .as_ref()
            .map_or(0, |r| usize::try_from(r.bytes()).unwrap_or(0)),
    );
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| ReadError::Failed(err.to_string()))?;
        call.progress();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = buf.len().saturating_add(data.len());
        if len > limit {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&data);
        match &mut reservation {
            Some(reservation) => reservation.try_grow_to(len as u64)?,
            None => {
                if let Some(total) = grpc_length(&buf) {
                    // A prefix claiming more than the limit (up to 4 GiB) is refused as soon
                    // as it is read: nothing is reserved or buffered for it, and the client
                    // is not left to send the rest.
                    if total > limit64 {
                        return Err(ReadError::TooLarge);
                    }
                    // Admission: the whole message must fit under the soft limit.
                    let total = total.max(len as u64);
                    reservation = Some(budget.try_reserve(total)?);
                    buf.reserve(usize::try_from(total).unwrap_or(0).saturating_sub(len));
                }
            }
        }
    }
    let mut reservation = match reservation {
        Some(reservation) => reservation,
        None => budget.try_reserve(buf.len() as u64)?,
    };
    reservation.shrink_to(buf.len() as u64);
    Ok((buf.freeze(), reservation))
}

/// The whole length of a gRPC message (prefix included) once its 5-byte prefix is in `buf`.
fn grpc_length(buf: &[u8]) -> Option<u64> {
    let prefix: [u8; 4] = buf.get(1..5)?.try_into().ok()?;
    Some(u64::from(u32::from_be_bytes(prefix)) + 5)
}

#[cfg(test)]
mod tests {
    use super::grpc_length;

    #[test]
    fn grpc_length_reads_the_prefix_once_complete() {
        assert_eq!(grpc_length(&[0, 0, 0]), None);
        assert_eq!(grpc_length(&[0, 0, 0, 1, 0]), Some(256 + 5));
    }
}
