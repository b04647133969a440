//! One webhook delivery: POST the body, signed with HMAC-SHA256 when the hook has a secret
//! (`X-Picket-Signature: sha256=<hex>` over the exact bytes sent), each attempt bounded by the
//! hook's timeout, retried with exponential backoff on network errors, 5xx and 429.
//! Must not follow redirects (the client has them off) nor reach a URL `[notify] allow` did not
//! admit (settings.rs checks at load; nothing here builds a URL).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{body, Hook, Payload};

pub const SIGNATURE_HEADER: &str = "X-Picket-Signature";

/// First backoff; doubled after each failed attempt, at most `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `sha256=<lowercase hex>` of HMAC-SHA256(secret, body).
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

pub async fn send(client: &reqwest::Client, hook: &Hook, payload: &Payload) -> Result<(), String> {
    let url = hook.url.as_deref().ok_or("no url")?;
    let body = body(hook, payload);
    let signed = hook.secret.as_deref().map(|s| signature(s, &body));
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        let mut req = client
            .post(url)
            .timeout(Duration::from_secs(hook.timeout_secs))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Picket-Event", payload.event)
            .body(body.clone());
        if let Some(sig) = &signed {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        let (error, retry) = match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let s = r.status();
                (
                    format!("answered {s}"),
                    s.is_server_error() || s == reqwest::StatusCode::TOO_MANY_REQUESTS,
                )
            }
            Err(e) => (e.to_string(), true),
        };
        if !retry || attempt >= hook.retries {
            return Err(format!("{error} (after {} attempt(s))", attempt + 1));
        }
        tracing::debug!(url, attempt, "webhook {error}; retrying in {backoff:?}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
