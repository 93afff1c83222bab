//! A real SMTP server for tests (mailin-embedded on an ephemeral port): point
//! `TESSERA_SMTP_URL` at [`SmtpSink::url`], then wait for what arrives.

use std::{
    io,
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

/// One message as the SMTP server received it, decoded.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// Envelope recipients (`RCPT TO`).
    pub recipients: Vec<String>,
    /// Decoded `Subject` header.
    pub subject: String,
    /// Decoded plain-text body.
    pub text: String,
    /// The raw message as sent over the wire.
    pub raw: String,
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    recipients: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.recipients = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let parsed = mail_parser::MessageParser::default().parse(&self.data);
        let (subject, text) = parsed
            .map(|m| {
                (
                    m.subject().unwrap_or_default().to_owned(),
                    m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                )
            })
            .unwrap_or_default();
        let mail = ReceivedMail {
            recipients: std::mem::take(&mut self.recipients),
            subject,
            text,
            raw: String::from_utf8_lossy(&self.data).into_owned(),
        };
        self.inbox.lock().expect("inbox lock").push(mail);
        response::OK
    }
}

/// An SMTP server running on a background thread for the rest of the test process.
pub struct SmtpSink {
    port: u16,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl SmtpSink {
    /// Starts a server on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the SMTP sink");
        let port = listener.local_addr().expect("SMTP sink address").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(Collector {
            inbox: inbox.clone(),
            recipients: Vec::new(),
            data: Vec::new(),
        });
        server
            .with_name("smtp-sink.test")
            .with_ssl(SslConfig::None)
            .expect("SMTP sink without TLS")
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, inbox }
    }

    /// The URL to give Tessera as `TESSERA_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Everything received so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.inbox.lock().expect("inbox lock").clone()
    }

    /// Waits (up to 10 s) for a message `matches` accepts and returns it.
    pub async fn wait_for(&self, matches: impl Fn(&ReceivedMail) -> bool) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mail) = self.messages().into_iter().find(|m| matches(m)) {
                return mail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no matching email arrived within 10 s; received: {:?}",
                self.messages()
                    .iter()
                    .map(|m| (&m.recipients, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first message to `recipient`.
    pub async fn wait_for_mail_to(&self, recipient: &str) -> ReceivedMail {
        self.wait_for(|m| m.recipients.iter().any(|r| r == recipient))
            .await
    }
}
