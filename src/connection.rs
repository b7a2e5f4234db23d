//! Client connections: a cap on how many are open, a deadline for each one's first request, and
//! the socket as HTTP/2 gets it. A connection that never speaks costs a file descriptor and
//! memory for as long as it is held; these bound both (HTTP/2 keepalive pings, set on the server
//! builder, close the ones whose peer has gone).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::config::{ServeArgs, seconds};

/// How many connections the server holds and for how long they may stay silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at once; a connection accepted beyond it is closed at once.
    pub max_connections: usize,
    /// Time from accepting a connection to its first request; past it, a connection that has
    /// sent none is closed. `None`: no deadline.
    pub first_request: Option<Duration>,
    /// Interval of the HTTP/2 keepalive pings; `None`: none are sent.
    pub keepalive_interval: Option<Duration>,
    /// Time a keepalive ping waits for its answer before the connection is closed.
    pub keepalive_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 10,000 connections, 10 s to the first request, a ping every 60 s answered within 20 s.
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            first_request: Some(Duration::from_secs(10)),
            keepalive_interval: Some(Duration::from_secs(60)),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

impl ConnectionLimits {
    /// The limits the serve settings ask for.
    pub fn from_settings(args: &ServeArgs) -> Self {
        Self {
            max_connections: args.max_connections as usize,
            first_request: seconds(args.first_request_timeout_seconds),
            keepalive_interval: seconds(args.keepalive_interval_seconds),
            keepalive_timeout: Duration::from_secs(args.keepalive_timeout_seconds),
        }
    }
}

/// What the services see of the connection a request came on (a request extension, also under
/// TLS): its TCP addresses, and whether it has spoken.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's and our addresses.
    pub tcp: TcpConnectInfo,
    spoke: Arc<AtomicBool>,
}

/// Notes that a request arrived on its connection, which lifts the connection's first-request
/// deadline. Called by the outermost layer for every request.
pub fn note_request(extensions: &http::Extensions) {
    if let Some(info) = extensions.get::<ConnectionInfo>() {
        info.spoke.store(true, Ordering::Relaxed);
    }
}

/// The open connections' slots.
#[derive(Debug, Clone)]
pub struct Gate {
    slots: Arc<Semaphore>,
    limits: ConnectionLimits,
}

impl Gate {
    /// A gate holding at most `limits.max_connections` connections.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
        }
    }

    /// The accepted `stream` as a connection holding a slot, or `None` (the stream is dropped,
    /// which closes it) when every slot is taken.
    pub fn admit(&self, stream: TcpStream) -> Option<Connection> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(
                peer = ?stream.peer_addr().ok(),
                max = self.limits.max_connections,
                "connection refused: the server holds its maximum of open connections"
            );
            return None;
        };
        Some(Connection {
            stream,
            _slot: slot,
            spoke: Arc::new(AtomicBool::new(false)),
            first_request: self
                .limits
                .first_request
                .map(|d| Box::pin(tokio::time::sleep(d))),
        })
    }
}

/// A client's TCP connection, holding its slot until it closes.
///
/// It is offered to HTTP/2 as one without vectored writes. h2 copies a response's body into its
/// write buffer, beside other streams' frames, only when the body is under 256 bytes on a
/// connection with vectored writes (1,024 without): a larger one is kept aside and the buffer
/// must be written out before the next frame is taken, one write per response. Most of our
/// answers are a few hundred bytes, so with many calls in flight each cost its own system call
/// where the health Check's answers shared one (BENCHMARKS.md). Bodies of 1 KB and more still
/// go out without a copy, in two writes instead of one.
pub struct Connection {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    spoke: Arc<AtomicBool>,
    /// Until the first request: when the connection is closed if none came.
    first_request: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // HTTP/2 always waits on a read, so this is polled when the deadline fires.
        let this = &mut *self;
        if let Some(deadline) = this.first_request.as_mut() {
            if this.spoke.load(Ordering::Relaxed) {
                this.first_request = None;
            } else if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no request within the first-request deadline",
                )));
            }
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            tcp: self.stream.connect_info(),
            spoke: self.spoke.clone(),
        }
    }
}
