//! The TCP door's bearer token: `DATA_DIR/http-token`, made at first start from the OS's
//! randomness, readable by the daemon's user only (0600), and compared in constant time.
//! Must not decide who needs a token (http/auth.rs does) nor ever log its value.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// The token file's name in the data directory; `picket web` names it too.
pub const TOKEN_FILE: &str = "http-token";

/// A secret of 32 random bytes, as 64 hex digits (the token, session ids, CSRF tokens).
pub fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal in constant time, so the answer's timing says nothing about the secret.
pub fn same_secret(given: &str, secret: &str) -> bool {
    given.as_bytes().ct_eq(secret.as_bytes()).into()
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read or create the API token {path}: {source}; check the data directory's owner and modes")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the operating system gave no randomness for the API token: {0}")]
    Random(getrandom::Error),
    #[error(
        "the API token {0} is shorter than 32 characters; delete it and restart picketd to \
         make a new one"
    )]
    TooShort(PathBuf),
}

/// Reads the token, making it first if there is none. A file others can read is narrowed
/// to 0600 (with a warning): the token opens the whole API.
pub fn load_or_create(data_dir: &Path) -> Result<String, TokenError> {
    let path = data_dir.join(TOKEN_FILE);
    let io = |source| TokenError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the API token was readable by others; its mode is now 0600");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
            let token = text.trim().to_string();
            if token.len() < 32 {
                return Err(TokenError::TooShort(path));
            }
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = random_hex().map_err(TokenError::Random)?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            writeln!(file, "{token}").map_err(io)?;
            tracing::info!(path = %path.display(), "made the HTTP API's token");
            Ok(token)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
    }

    #[test]
    fn a_readable_token_is_narrowed_and_a_short_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        std::fs::write(&path, "x".repeat(40)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(TokenError::TooShort(_))
        ));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("abd", "abc"));
    }
}
