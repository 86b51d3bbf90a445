//! `run`: a program with arguments, in its own process group, with a clean environment,
//! output streamed into a redacted tail, stopped with SIGTERM then SIGKILL.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, BufReader};

use super::lines::{LINE_QUEUE, read_lines};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::{Outcome, StepContext, Stop, step_environment, working_dir};
use crate::config::StepConfig;

pub(super) async fn run(
    argv: &[String],
    step: &StepConfig,
    ctx: &StepContext<'_>,
    timeout: Duration,
    outcome: &mut Outcome,
) {
    let Some((program, args)) = argv.split_first() else {
        outcome.fail("`run` has no program");
        return;
    };
    // Written before the program starts: from here on, a deckhand that dies leaves
    // processes its successor can find and stop before it frees the env.
    let marker = super::supervise::new_marker(ctx.job_id, ctx.step_idx);
    if let Err(e) = crate::store::steps::mark_process(
        &ctx.store.pool,
        ctx.job_id,
        ctx.step_idx,
        &marker,
        &super::supervise::this_host(),
    )
    .await
    {
        outcome.fail(format!("not started: could not record it ({e})"));
        return;
    }
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(step_environment(step, &ctx.vars))
        .env(super::supervise::MARKER_VAR, &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so cancel and timeout reach every child it starts.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = working_dir(step) {
        command.current_dir(dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            outcome.fail(format!("cannot start `{program}`: {e}"));
            return;
        }
    };
    let group = child.id().map(|id| Pid::from_raw(id as i32));
    // Recorded before anything else happens, so a successor finds the group even if a
    // process clears its environment.
    if let Err(why) = remember(child.id(), ctx).await {
        if let Some(group) = group {
            stop_group(group, &mut child, ctx.grace).await;
        }
        outcome.fail(format!("stopped: {why}"));
        return;
    }

    // Both streams feed one channel, line by line, as the program writes them.
    // Bounded: a step that prints faster than deckhand keeps up waits on its pipe.
    let (lines, mut received) = mpsc::channel(LINE_QUEUE);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(forward(stdout, lines.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward(stderr, lines.clone()));
    }
    drop(lines);

    let status = loop {
        tokio::select! {
            status = child.wait() => break Ok(status),
            Some(line) = received.recv() => {
                let line = ctx.redactor.redact(&line);
                tracing::debug!(step = %step.name, "{line}");
                outcome.tail.push(&line);
            }
            _ = ctx.cancel.cancelled() => break Err(Stop::Cancelled),
            _ = tokio::time::sleep_until(ctx.deadline) => break Err(Stop::TimedOut),
        }
    };
    let status = match status {
        Ok(status) => status,
        Err(stop) => {
            if let Some(group) = group {
                stop_group(group, &mut child, ctx.grace).await;
            }
            ctx.stopped(outcome, stop, timeout);
            child.wait().await
        }
    };
    // Whatever the program printed last, up to a moment after it exited (children that
    // kept the pipes open are not waited for).
    let drain_until = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(line)) = tokio::time::timeout_at(drain_until, received.recv()).await {
        outcome.tail.push(&ctx.redactor.redact(&line));
    }
    if outcome.error.is_some() {
        return;
    }
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => match status.code() {
            Some(code) => outcome.fail(format!("exited with status {code}")),
            None => outcome.fail(format!("killed by a signal ({status})")),
        },
        Err(e) => outcome.fail(format!("lost track of `{program}`: {e}")),
    }
}

async fn forward(stream: impl AsyncRead + Unpin, lines: mpsc::Sender<String>) {
    read_lines(BufReader::new(stream), |line| {
        let lines = lines.clone();
        async move { lines.send(line).await.is_ok() }
    })
    .await;
}

/// Stores the step's process group; a step deckhand cannot find again must not run.
async fn remember(pid: Option<u32>, ctx: &StepContext<'_>) -> Result<(), String> {
    let process = pid
        .and_then(super::supervise::record)
        .ok_or("its process exited before deckhand could record it")?;
    crate::store::steps::record_process(&ctx.store.pool, ctx.job_id, ctx.step_idx, &process)
        .await
        .map_err(|e| format!("could not record its process group ({e})"))
}

/// SIGTERM to the whole group, then SIGKILL after `grace`.
async fn stop_group(group: Pid, child: &mut tokio::process::Child, grace: Duration) {
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
    // Children that ignored SIGTERM while their parent exited still get the SIGKILL.
    let _ = killpg(group, Signal::SIGKILL);
}
