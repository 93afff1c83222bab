//! A local webhook receiver for tests: a real HTTP server on an ephemeral port that
//! records every request and answers with scripted statuses (then 200).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use tokio::sync::{Notify, oneshot};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    /// Lower-case header names and their values.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status the receiver answered.
    pub answered: u16,
}

impl Received {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<u16>>,
    notify: Notify,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// Its URL, e.g. `http://127.0.0.1:41234/hook`.
    pub url: String,
    inner: Arc<Inner>,
    _stop: oneshot::Sender<()>,
}

#[handler]
async fn hook(req: &Request, body: poem::Body, Data(inner): Data<&Arc<Inner>>) -> Response {
    let body = body.into_vec().await.unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let answered = inner
        .script
        .lock()
        .expect("script lock")
        .pop_front()
        .unwrap_or(200);
    inner
        .received
        .lock()
        .expect("received lock")
        .push(Received {
            headers,
            body,
            answered,
        });
    inner.notify.notify_waiters();
    Response::builder()
        .status(StatusCode::from_u16(answered).unwrap_or(StatusCode::OK))
        .finish()
}

impl Receiver {
    /// A receiver that accepts everything.
    pub async fn start() -> Self {
        Self::scripted(Vec::new()).await
    }

    /// A receiver that answers the first requests with `statuses`, then 200.
    pub async fn scripted(statuses: Vec<u16>) -> Self {
        let inner = Arc::new(Inner {
            script: Mutex::new(statuses.into()),
            ..Inner::default()
        });
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("receiver bind");
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .expect("receiver port");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Route::new().at("/*path", hook).data(inner.clone());
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async {
                        let _ = stopped.await;
                    },
                    Some(Duration::from_secs(1)),
                )
                .await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            inner,
            _stop: stop,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("received lock").clone()
    }

    /// Waits (at most 20 s) until `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_until(|r| r.len() >= n).await
    }

    /// Waits (at most 20 s) until `done` holds for what has arrived; returns it all.
    pub async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.inner.notify.notified();
            let now = self.received();
            if done(&now) {
                return now;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let now = self.received();
                assert!(
                    done(&now),
                    "the receiver did not get what was expected in time; got {} requests",
                    now.len()
                );
                return now;
            }
        }
    }
}
