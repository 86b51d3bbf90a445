//! `backup` and `restore`: Postgres with `pg_dump`/`pg_restore`, or a plain file; each
//! backup is recorded with its size and sha256, checked again before any restore.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{Outcome, StepContext};
use crate::config::{BackupStep, RestoreStep, StepConfig};
use crate::store::jobs::Artifact;

const DEFAULT_KEEP: usize = 10;

pub(super) async fn backup(
    step: &BackupStep,
    config: &StepConfig,
    ctx: &StepContext<'_>,
    outcome: &mut Outcome,
) {
    if let Err(e) = private_dir(&step.dir).await {
        return outcome.fail(format!("cannot create {}: {e}", step.dir.display()));
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let extension = if step.file.is_some() { "bak" } else { "dump" };
    let path = step
        .dir
        .join(format!("{}-job{}-{stamp}.{extension}", ctx.env, ctx.job_id));
    if let Some(file) = &step.file {
        if let Err(e) = tokio::fs::copy(file, &path).await {
            return outcome.fail(format!(
                "cannot copy {} to {}: {e}",
                file.display(),
                path.display()
            ));
        }
        outcome
            .tail
            .push(&format!("copied {} to {}", file.display(), path.display()));
    } else if let Some(var) = &step.database_url_env {
        let url = match ctx.secret_env(var) {
            Ok(url) => url,
            Err(e) => return outcome.fail(e),
        };
        let argv = vec![
            "pg_dump".to_owned(),
            "--format=custom".to_owned(),
            "--no-password".to_owned(),
            format!("--file={}", path.display()),
        ];
        if !postgres_tool(&argv, &url, config, ctx, outcome).await {
            let _ = tokio::fs::remove_file(&path).await;
            return;
        }
    }
    // A backup is the database: nobody but deckhand's user reads it.
    if let Err(e) = private(&path, 0o600).await {
        return outcome.fail(format!("cannot make {} private: {e}", path.display()));
    }
    match fingerprint(&path).await {
        Ok((size, sha256)) => {
            outcome.tail.push(&format!(
                "{} ({}, sha256 {sha256})",
                path.display(),
                crate::render::bytes(size)
            ));
            outcome.artifact = Some(Artifact {
                path: path.display().to_string(),
                size,
                sha256,
            });
        }
        Err(e) => return outcome.fail(format!("cannot read back {}: {e}", path.display())),
    }
    prune(
        &step.dir,
        ctx.env,
        step.keep.unwrap_or(DEFAULT_KEEP),
        ctx,
        outcome,
    )
    .await;
}

pub(super) async fn restore(
    step: &RestoreStep,
    config: &StepConfig,
    ctx: &StepContext<'_>,
    outcome: &mut Outcome,
) {
    let Some(artifact) = ctx.restore_from else {
        return outcome.fail("this job names no backup to restore");
    };
    let path = PathBuf::from(&artifact.path);
    match fingerprint(&path).await {
        Ok((_, sha256)) if sha256 == artifact.sha256 => {
            outcome
                .tail
                .push(&format!("{} matches its recorded sha256", path.display()));
        }
        Ok((_, sha256)) => {
            return outcome.fail(format!(
                "{} has changed since the backup (sha256 {sha256}, recorded {}); not restoring it",
                path.display(),
                artifact.sha256
            ));
        }
        Err(e) => {
            return outcome.fail(format!(
                "the backup {} is not reachable from this replica ({}): {e}; nothing was changed. Backups must be in a directory every replica shares",
                path.display(),
                crate::jobs::hostname()
            ));
        }
    }
    if let Some(file) = &step.file {
        // Copy next to the target, then rename: the target is never half-written.
        let staging = file.with_extension("deckhand-restore");
        if let Err(e) = tokio::fs::copy(&path, &staging).await {
            return outcome.fail(format!(
                "cannot copy the backup to {}: {e}",
                staging.display()
            ));
        }
        if let Err(e) = tokio::fs::rename(&staging, file).await {
            return outcome.fail(format!("cannot replace {}: {e}", file.display()));
        }
        outcome.tail.push(&format!(
            "restored {} from {}",
            file.display(),
            path.display()
        ));
    } else if let Some(var) = &step.database_url_env {
        let url = match ctx.secret_env(var) {
            Ok(url) => url,
            Err(e) => return outcome.fail(e),
        };
        let database = reqwest::Url::parse(&url)
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "postgres".to_owned());
        let argv = vec![
            "pg_restore".to_owned(),
            "--clean".to_owned(),
            "--if-exists".to_owned(),
            "--no-owner".to_owned(),
            "--no-password".to_owned(),
            "--exit-on-error".to_owned(),
            format!("--dbname={database}"),
            artifact.path.clone(),
        ];
        postgres_tool(&argv, &url, config, ctx, outcome).await;
    }
}

/// Runs `pg_dump` or `pg_restore` with the connection in `PG*` variables, so the
/// password never appears on a command line.
async fn postgres_tool(
    argv: &[String],
    url: &str,
    config: &StepConfig,
    ctx: &StepContext<'_>,
    outcome: &mut Outcome,
) -> bool {
    let connection = match libpq_env(url) {
        Ok(vars) => vars,
        Err(e) => {
            outcome.fail(e);
            return false;
        }
    };
    let mut step = config.clone();
    step.env.clear();
    let mut with_connection = StepContext {
        vars: ctx.vars.clone(),
        redactor: ctx.redactor,
        cancel: ctx.cancel.clone(),
        deadline: ctx.deadline,
        http: ctx.http,
        job_id: ctx.job_id,
        env: ctx.env,
        restore_from: ctx.restore_from,
        grace: ctx.grace,
        store: ctx.store,
        step_idx: ctx.step_idx,
        github: ctx.github,
        repo: ctx.repo.clone(),
        progress: ctx.progress.clone(),
        clock: ctx.clock,
    };
    with_connection.vars.extend(connection);
    let timeout = ctx
        .deadline
        .saturating_duration_since(tokio::time::Instant::now());
    super::run::run(argv, &step, &with_connection, timeout, outcome).await;
    outcome.ok()
}

/// `postgres://user:pw@host:port/db?sslmode=require` as libpq environment variables.
fn libpq_env(url: &str) -> Result<Vec<(String, String)>, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| "the database URL is not a URL".to_owned())?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err("the database URL must start with postgres://".into());
    }
    let decode = percent_decode;
    let mut vars = Vec::new();
    if let Some(host) = parsed.host_str() {
        vars.push(("PGHOST".into(), host.to_owned()));
    }
    if let Some(port) = parsed.port() {
        vars.push(("PGPORT".into(), port.to_string()));
    }
    if !parsed.username().is_empty() {
        vars.push(("PGUSER".into(), decode(parsed.username())));
    }
    if let Some(password) = parsed.password() {
        vars.push(("PGPASSWORD".into(), decode(password)));
    }
    let database = parsed.path().trim_start_matches('/');
    if !database.is_empty() {
        vars.push(("PGDATABASE".into(), decode(database)));
    }
    for (key, value) in parsed.query_pairs() {
        if key == "sslmode" {
            vars.push(("PGSSLMODE".into(), value.into_owned()));
        }
    }
    Ok(vars)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Size and sha256 of a file.
pub async fn fingerprint(path: &Path) -> std::io::Result<(i64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0i64;
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        size += n as i64;
        hasher.update(&buffer[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Keeps the newest `keep` backups of `env` in `dir`, and records each one removed, so
/// no replica lists or offers to restore it again.
async fn prune(dir: &Path, env: &str, keep: usize, ctx: &StepContext<'_>, outcome: &mut Outcome) {
    let prefix = format!("{env}-job");
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    let mut backups = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix)
            && let Ok(meta) = entry.metadata().await
            && let Ok(modified) = meta.modified()
        {
            backups.push((modified, entry.path()));
        }
    }
    backups.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    for (_, path) in backups.into_iter().skip(keep) {
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                outcome
                    .tail
                    .push(&format!("removed old backup {}", path.display()));
                let recorded = path.display().to_string();
                if let Err(e) = crate::store::jobs::mark_pruned(
                    &ctx.store.pool,
                    &recorded,
                    crate::store::now_ms(),
                )
                .await
                {
                    outcome.tail.push(&format!(
                        "could not record that {recorded} was removed: {e}"
                    ));
                }
            }
            Err(e) => outcome.tail.push(&format!(
                "could not remove old backup {}: {e}",
                path.display()
            )),
        }
    }
}

/// Creates `dir` (and its parents) when missing; the backup directory itself is 0700.
async fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    private(dir, 0o700).await
}

async fn private(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_goes_into_libpq_variables() {
        let vars =
            libpq_env("postgres://deck%40hand:p%2Fw@db.example.com:6543/app?sslmode=require")
                .unwrap();
        assert_eq!(
            vars,
            vec![
                ("PGHOST".into(), "db.example.com".into()),
                ("PGPORT".into(), "6543".into()),
                ("PGUSER".into(), "deck@hand".into()),
                ("PGPASSWORD".into(), "p/w".into()),
                ("PGDATABASE".into(), "app".into()),
                ("PGSSLMODE".into(), "require".into()),
            ]
        );
        assert!(libpq_env("mysql://x").is_err());
    }
}
