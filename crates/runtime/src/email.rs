//! Email to people (invitations now; review requests with the approval gate), over SMTP with
//! lettre. Optional: without `[email] smtp_url` nothing is sent and the links are printed or
//! answered instead, so an install without a mail server loses nothing.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why a mail could not be prepared or sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email.smtp_url: {0}")]
    Url(String),
    #[error("email.from: {0:?} is not an address (e.g. \"Pressroom <pressroom@example.com>\")")]
    From(String),
    #[error("{0:?} is not an email address")]
    To(String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("sending to {to}: {reason}")]
    Send { to: String, reason: String },
}

/// Sends mail through one SMTP server (`smtp://host:port` in the clear, `smtps://` with TLS,
/// `smtp://…?tls=required` for STARTTLS; credentials in the URL's user and password).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The mailer of `[email]`, or None when `smtp_url` is empty (email off).
    pub fn from_config(smtp_url: &str, from: &str) -> Result<Option<Self>, EmailError> {
        if smtp_url.trim().is_empty() {
            return Ok(None);
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| EmailError::Url(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| EmailError::From(from.to_owned()))?;
        Ok(Some(Self { transport, from }))
    }

    /// Sends one plain-text mail.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), EmailError> {
        let to_box = to
            .parse::<Mailbox>()
            .map_err(|_| EmailError::To(to.to_owned()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to_box)
            .subject(subject)
            .body(body.to_owned())
            .map_err(|e| EmailError::Build(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| EmailError::Send {
                to: to.to_owned(),
                reason: e.to_string(),
            })
    }

    /// The invitation mail: who invited them where, and the link (used once, 72 hours).
    pub async fn send_invitation(
        &self,
        to: &str,
        workspace: &str,
        role: &str,
        link: &str,
    ) -> Result<(), EmailError> {
        let body = format!(
            "You have been added to the workspace \"{workspace}\" on Pressroom as {role}.\n\n\
             Set your password and sign in here (the link works once, for 72 hours):\n\n{link}\n\n\
             If you did not expect this, ignore this mail.\n"
        );
        self.send(
            to,
            &format!("Your Pressroom invitation to {workspace}"),
            &body,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn email_is_off_without_a_url_and_bad_settings_name_their_field() {
        assert!(matches!(Mailer::from_config("", "x"), Ok(None)));
        let bad_url = Mailer::from_config("ftp://mail.example.com", "a@b.example");
        assert!(
            matches!(&bad_url, Err(e) if e.to_string().starts_with("email.smtp_url")),
            "{:?}",
            bad_url.err()
        );
        let bad_from = Mailer::from_config("smtp://127.0.0.1:2525", "not an address");
        assert!(
            matches!(&bad_from, Err(e) if e.to_string().starts_with("email.from")),
            "{:?}",
            bad_from.err()
        );
        assert!(matches!(
            Mailer::from_config("smtp://127.0.0.1:2525", "Pressroom <p@acme.example>"),
            Ok(Some(_))
        ));
    }
}
