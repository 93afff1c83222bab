//! Shutdown in two steps: stop accepting, then let the accepted connections finish.
//!
//! poem starts hyper's graceful shutdown on every connection at the moment the signal
//! fires. hyper closes an HTTP/1 connection at once when no request has started on it
//! (hyperium/hyper#2730), so a connection accepted a millisecond before SIGTERM, whose
//! request bytes were still on the way, is closed unanswered: the client sees the
//! connection drop after it sent a request (RFC 9110 §9.2.2 lets it retry only
//! idempotent requests, and a token request is not one). [`DrainingAcceptor`] closes
//! the listening socket first, so new connections are refused and a balancer moves on,
//! and the server waits [`DRAIN`] before starting the graceful shutdown, long enough for
//! every accepted connection to have its request read and so be finished, not dropped.

use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, BoxAcceptor, BoxIo, DynAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::sync::watch;

/// How long accepted connections get to send their request after the listening socket
/// closes and before idle connections are closed (capped by the shutdown grace period).
pub const DRAIN: Duration = Duration::from_millis(500);

/// An acceptor that drops its listening socket when told to stop accepting.
pub struct DrainingAcceptor {
    inner: Option<BoxAcceptor>,
    local_addr: Vec<LocalAddr>,
    stopping: watch::Receiver<bool>,
}

/// Tells a [`DrainingAcceptor`] to close its listening socket.
pub struct StopAccepting(watch::Sender<bool>);

impl StopAccepting {
    /// Closes the listening socket: connections not yet accepted are refused or reset.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl DrainingAcceptor {
    /// Wraps `inner`; the returned handle stops it.
    pub fn new(inner: BoxAcceptor) -> (Self, StopAccepting) {
        let (tell, stopping) = watch::channel(false);
        let local_addr = DynAcceptor::local_addr(&*inner);
        let acceptor = Self {
            inner: Some(inner),
            local_addr,
            stopping,
        };
        (acceptor, StopAccepting(tell))
    }
}

impl Acceptor for DrainingAcceptor {
    type Io = BoxIo;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.local_addr.clone()
    }

    async fn accept(&mut self) -> std::io::Result<(BoxIo, LocalAddr, RemoteAddr, Scheme)> {
        if let Some(inner) = self.inner.as_mut()
            && !*self.stopping.borrow()
        {
            tokio::select! {
                accepted = DynAcceptor::accept(&mut **inner) => return accepted,
                _ = self.stopping.wait_for(|stop| *stop) => {}
            }
        }
        // Dropping the listener closes the socket: later connects are refused.
        self.inner = None;
        std::future::pending().await
    }
}

/// The shutdown poem sees: `signal`, then closing the listener, then [`DRAIN`] (at most
/// `grace`) for accepted connections to get their requests in.
pub async fn after_drain(
    signal: impl std::future::Future<Output = ()>,
    stop: StopAccepting,
    grace: Duration,
) {
    signal.await;
    stop.stop();
    tokio::time::sleep(DRAIN.min(grace)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::listener::{AcceptorExt, Listener, TcpListener};

    #[tokio::test]
    async fn stopping_closes_the_listening_socket() {
        let inner = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind");
        let addr = Acceptor::local_addr(&inner)[0]
            .as_socket_addr()
            .copied()
            .expect("tcp address");
        let (mut acceptor, stop) = DrainingAcceptor::new(inner.boxed());

        let client = tokio::spawn(async move { tokio::net::TcpStream::connect(addr).await });
        acceptor.accept().await.expect("accepted before stopping");
        client.await.expect("join").expect("connected");

        stop.stop();
        let pending = tokio::time::timeout(Duration::from_millis(100), acceptor.accept()).await;
        assert!(pending.is_err(), "a stopped acceptor accepts nothing");
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "the listening socket is closed");
    }
}
