//! Dev mode's kept secret: read from the data directory, or generated and written there
//! readable by the owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use portcullis_domain::config::MIN_SECRET_BYTES;
use rand_core::{OsRng, RngCore};

use crate::error::StartupError;

/// Creates the data directory (owner-only on Unix) if it is missing.
pub(super) fn create_data_dir(dir: &Path) -> Result<(), StartupError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| StartupError::Io {
        what: "create the data directory",
        path: dir.to_owned(),
        source,
    })
}

/// The dev-mode secret: read from `<data_dir>/secret`, or generated (32 random bytes from
/// the OS, hex) and written there with mode 0600.
pub fn dev_secret(data_dir: &Path) -> Result<String, StartupError> {
    let path = data_dir.join("secret");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim().to_owned();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(StartupError::SecretFile {
                    path,
                    message: format!(
                        "holds {} bytes; at least {MIN_SECRET_BYTES} are needed (delete it to generate a new one)",
                        secret.len()
                    ),
                });
            }
            warn_if_readable_by_others(&path);
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_data_dir(data_dir)?;
            let mut bytes = [0u8; 32];
            OsRng.fill_bytes(&mut bytes);
            let secret = hex::encode(bytes);
            write_new_private(&path, secret.as_bytes())?;
            tracing::info!(target: "portcullis", path = %path.display(), "dev mode: generated a new secret");
            Ok(secret)
        }
        Err(source) => Err(StartupError::Io {
            what: "read the secret file",
            path,
            source,
        }),
    }
}

/// Creates `path` (which must not exist) readable and writable by the owner only.
fn write_new_private(path: &PathBuf, contents: &[u8]) -> Result<(), StartupError> {
    let io = |source| StartupError::Io {
        what: "write the secret file",
        path: path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    target: "portcullis",
                    path = %path.display(),
                    "the secret file is readable by other users; `chmod 600` it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
