//! One `deckhand run` per SQLite file: an exclusive `flock` on `FILE.run-lock`, held for
//! the life of the process and released by the kernel when it dies, however it dies.

use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Held while this process serves a SQLite file.
pub struct RunLock {
    _held: Flock<std::fs::File>,
}

/// The database file a `sqlite:` URL names, unless it is in memory.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

impl RunLock {
    /// Takes the lock for the SQLite file `url` names (nothing to take for Postgres or
    /// an in-memory database), or says which process holds it.
    pub fn take(url: &str) -> anyhow::Result<Option<RunLock>> {
        let Some(database) = sqlite_file(url) else {
            return Ok(None);
        };
        let path = lock_path(&database);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open the run lock {}: {e}", path.display()))?;
        let mut held = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => held,
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_owned(),
                    pid => format!("process {pid}"),
                };
                anyhow::bail!(
                    "another `deckhand run` ({holder}) is serving {}: SQLite allows one per file \
                     (a `deckhand console` beside it is fine). Stop it first, or use Postgres \
                     (DATABASE_URL=postgres://…) to run several replicas.",
                    database.display()
                );
            }
        };
        // Who holds it, for the message the next one prints.
        let _ = held.set_len(0);
        let _ = held.rewind();
        let _ = writeln!(held, "{}", std::process::id());
        Ok(Some(RunLock { _held: held }))
    }
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".run-lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_on_one_file_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("deckhand-run-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/deckhand.db", dir.display());
        let first = RunLock::take(&url).unwrap();
        assert!(first.is_some());
        let refused = RunLock::take(&url).err().expect("refused").to_string();
        assert!(
            refused.contains(&format!("process {}", std::process::id()))
                && refused.contains("deckhand.db")
                && refused.contains("Postgres"),
            "{refused}"
        );
        drop(first);
        assert!(RunLock::take(&url).unwrap().is_some());
        assert!(RunLock::take("postgres://localhost/x").unwrap().is_none());
        assert!(RunLock::take("sqlite::memory:").unwrap().is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
