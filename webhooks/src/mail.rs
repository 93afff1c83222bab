//! Outgoing email through lettre: SMTP when `TESSERA_SMTP_URL` is set, otherwise one
//! `.eml` file per message in a local folder (the embedded default, so a developer can
//! open what would have been sent).
//!
//! Messages can carry links with single-use tokens, so neither a message's body nor
//! its subject is ever logged; only the recipient count and the transport are.

use std::{path::Path, time::Duration};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};

/// How long one SMTP conversation may take before it is given up.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an email could not be built or handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address (sender or recipient) is not a valid mailbox.
    #[error("not a valid email address: {0}")]
    Address(String),
    /// The SMTP URL could not be used.
    #[error("TESSERA_SMTP_URL is not usable: {0}")]
    Config(String),
    /// lettre could not assemble the message.
    #[error("building the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server refused the message or could not be reached.
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The message file could not be written.
    #[error("writing the message file failed: {0}")]
    File(#[from] lettre::transport::file::Error),
    /// The mail folder could not be created.
    #[error("creating the mail folder failed: {0}")]
    Folder(#[from] std::io::Error),
}

/// One plain-text message to one recipient.
#[derive(Clone)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (may contain single-use links: never log it).
    pub text: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(AsyncFileTransport<Tokio1Executor>),
}

/// Sends email for every part of the server (account emails, security alerts).
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    description: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("transport", &self.description)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer speaking SMTP to `url` (`smtp://host:port`, `smtp://…?tls=required`
    /// for STARTTLS, `smtps://` for implicit TLS, credentials in the userinfo part).
    pub fn smtp(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self {
            transport: Transport::Smtp(transport),
            from: mailbox(from)?,
            description: "SMTP".into(),
        })
    }

    /// A mailer writing each message as an `.eml` file into `dir` (created if missing).
    pub fn folder(dir: &Path, from: &str) -> Result<Self, MailError> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            transport: Transport::Folder(AsyncFileTransport::new(dir)),
            from: mailbox(from)?,
            description: format!("files in {}", dir.display()),
        })
    }

    /// Where messages go, for the start-up log.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Builds and hands over one message.
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mailbox(&email.to)?)
            .subject(email.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone())?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Folder(folder) => {
                folder.send(message).await?;
            }
        }
        tracing::info!(transport = %self.description, "email sent");
        Ok(())
    }
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .parse()
        .map_err(|_| MailError::Address(address.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_folder_transport_writes_one_eml_file_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let mailer =
            Mailer::folder(&dir.path().join("mail"), "Tessera <tessera@localhost>").unwrap();
        mailer
            .send(&Email {
                to: "ann@example.com".into(),
                subject: "Hello".into(),
                text: "Body line".into(),
            })
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        let raw = std::fs::read_to_string(&files[0]).unwrap();
        assert!(raw.contains("To: ann@example.com"));
        assert!(raw.contains("Subject: Hello"));
        assert!(raw.contains("Body line"));
    }

    #[test]
    fn a_bad_address_is_refused_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Mailer::folder(dir.path(), "not an address"),
            Err(MailError::Address(_))
        ));
        assert!(matches!(
            Mailer::smtp("ftp://example.com", "tessera@localhost"),
            Err(MailError::Config(_))
        ));
    }
}
