//! Development keys: random, generated on first start and kept in a file, never constants.
//!
//! Without `JWT_SECRET` and `SECRET_KEY`, a development server reads its keys from
//! `DATA_DIR/dev-keys` (default `./data/dev-keys`), creating the file with fresh random
//! keys on first start: readable by the owner only (0600, in a 0700 directory), stable
//! across restarts so tokens and encrypted channel secrets survive, and different on
//! every machine, so nobody can mint a token for someone else's development server.
//! A file rather than a database table: the database is shared by everyone who can
//! reach it, and the keys must exist before the first connection.
//!
//! Production never generates keys: it requires both variables and refuses values that
//! are, or once were, development keys ([`is_development_key`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

/// Name of the key file inside the data directory.
pub const FILE_NAME: &str = "dev-keys";

/// A development key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct DevKeys {
    /// HS256 key of access tokens.
    pub jwt_secret: [u8; 32],
    /// AES-256-GCM key of secrets at rest.
    pub secret_key: [u8; 32],
}

impl std::fmt::Debug for DevKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevKeys(..)")
    }
}

impl DevKeys {
    /// Fresh random keys.
    pub fn random() -> Self {
        Self {
            jwt_secret: rand::random(),
            secret_key: rand::random(),
        }
    }

    /// The JWT secret as configured (`JWT_SECRET` is text: hex of the 32 bytes).
    pub fn jwt_secret_text(&self) -> String {
        hex::encode(self.jwt_secret)
    }
}

/// Path of the key file in `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads the keys of `data_dir`, creating them (and the directory) on first use.
/// Concurrent first starts agree: the file is written aside and linked into place only
/// if no other process got there first.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<DevKeys> {
    let file = path(data_dir);
    if let Some(keys) = read(&file)? {
        return Ok(keys);
    }
    create_private_dir(data_dir)?;
    let keys = DevKeys::random();
    let temporary = data_dir.join(format!(".{FILE_NAME}.{}", uuid::Uuid::new_v4().simple()));
    write_private(&temporary, &render(&keys))?;
    let linked = std::fs::hard_link(&temporary, &file);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::warn!(path = %file.display(), "generated development keys (random, kept in this file; production requires JWT_SECRET and SECRET_KEY)");
            Ok(keys)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&file)?.context("development key file vanished while starting")
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", file.display())),
    }
}

/// Reads the key file if it exists (`None` when missing).
pub fn read(file: &Path) -> anyhow::Result<Option<DevKeys>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    parse(&text).map(Some).with_context(|| {
        format!(
            "{} is damaged: delete it to generate new development keys",
            file.display()
        )
    })
}

/// Whether `jwt_secret` or `secret_key` is a development key: one of `data_dir`'s
/// generated keys, or one of the constants that earlier versions used (they are public
/// in the git history, so anyone could mint tokens with them).
pub fn is_development_key(data_dir: &Path, jwt_secret: &[u8], secret_key: &[u8; 32]) -> bool {
    let public = |purpose: &str| -> [u8; 32] {
        Sha256::digest(format!("delightchat insecure development {purpose}")).into()
    };
    if jwt_secret == public("jwt") || *secret_key == public("secret-key") {
        return true;
    }
    match read(&path(data_dir)) {
        Ok(Some(keys)) => {
            jwt_secret == keys.jwt_secret_text().as_bytes()
                || jwt_secret == keys.jwt_secret
                || *secret_key == keys.secret_key
        }
        _ => false,
    }
}

fn render(keys: &DevKeys) -> String {
    format!(
        "# Development keys of DelightChat, generated on first start. Never use in production.\n\
         jwt_secret={}\nsecret_key={}\n",
        hex::encode(keys.jwt_secret),
        hex::encode(keys.secret_key)
    )
}

fn parse(text: &str) -> anyhow::Result<DevKeys> {
    let field = |name: &str| -> anyhow::Result<[u8; 32]> {
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("no {name}"))?;
        hex::decode(value.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .with_context(|| format!("{name} is not 64 hex characters"))
    };
    Ok(DevKeys {
        jwt_secret: field("jwt_secret")?,
        secret_key: field("secret_key")?,
    })
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn write_private(file: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut handle = options
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    handle.write_all(text.as_bytes())?;
    handle.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("dc-dev-keys-{}", uuid::Uuid::new_v4().simple()))
    }

    #[test]
    fn development_keys_are_not_a_public_constant() {
        let (a, b) = (temp_dir(), temp_dir());
        let keys_a = load_or_create(&a).unwrap();
        let keys_b = load_or_create(&b).unwrap();
        assert_ne!(keys_a, keys_b, "two machines must get different keys");
        assert_ne!(keys_a.jwt_secret, keys_a.secret_key);
        // Stable across restarts.
        assert_eq!(load_or_create(&a).unwrap(), keys_a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path(&a)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
            let mode = std::fs::metadata(&a).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        for dir in [a, b] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key_file() {
        let dir = temp_dir();
        let keys: Vec<DevKeys> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&dir).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn old_public_constants_and_generated_keys_count_as_development_keys() {
        let dir = temp_dir();
        let public_jwt: [u8; 32] = Sha256::digest("delightchat insecure development jwt").into();
        assert!(is_development_key(&dir, &public_jwt, &[7; 32]));
        assert!(!is_development_key(
            &dir,
            b"a real secret of thirty-two bytes!",
            &[7; 32]
        ));
        let keys = load_or_create(&dir).unwrap();
        assert!(is_development_key(
            &dir,
            keys.jwt_secret_text().as_bytes(),
            &[7; 32]
        ));
        assert!(is_development_key(
            &dir,
            b"a real secret of thirty-two bytes!",
            &keys.secret_key
        ));
        std::fs::write(path(&dir), "garbage").unwrap();
        assert!(read(&path(&dir)).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
