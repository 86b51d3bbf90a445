//! Finding and stopping a step's process group that a dead deckhand left running. Linux
//! only: process start times and group membership come from `/proc`.
//!
//! A group is known by its leader's pid and start time. The kernel never hands out a pid
//! that is still some group's id, so while any member of group G lives, G is still the
//! step's group even if its leader exited; and if a process G lives with another start
//! time, G was reused and is left alone.
//!
//! The group is recorded just after the program starts; a deckhand killed in between
//! leaves only the marker it wrote before starting it, which every process of the step
//! carries in its environment as `DECKHAND_STEP`.

use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::store::steps::StepProcess;

/// How long a group gets to die after SIGKILL before deckhand reports it as stuck.
const KILL_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// This machine and boot: a group is only signalled by the machine, and boot, that
/// started it.
pub fn this_host() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    format!("{}/{}", crate::jobs::hostname(), boot.trim())
}

/// The environment variable that marks a step's processes.
pub const MARKER_VAR: &str = "DECKHAND_STEP";

/// A marker no other step on this host shares: job, step, this process and the time.
pub fn new_marker(job_id: i64, idx: i64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{job_id}.{idx}.{}.{nanos}", std::process::id())
}

/// The record of a group just started with leader `pid`.
pub fn record(pid: u32) -> Option<StepProcess> {
    Some(StepProcess {
        group: i64::from(pid),
        started: start_time(pid as i32)? as i64,
        host: this_host(),
    })
}

/// The fields of `/proc/PID/stat` after the command name (which is in parentheses and
/// may hold spaces): index 0 is field 3 (the state).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// Field 22: when the process started, in ticks since boot.
fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Field 5: the process group.
fn group_of(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// Field 3 is `Z` for a process that exited and was not reaped; a vanished one is dead too.
fn is_zombie(pid: i32) -> bool {
    stat_fields(pid).is_none_or(|fields| fields.first().is_some_and(|s| s == "Z"))
}

/// Living processes (not zombies) in group `group`.
fn members(group: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| group_of(pid) == Some(group) && !is_zombie(pid))
        .collect()
}

/// Living processes (not zombies) whose environment carries `marker`. Processes of other
/// users cannot be read, and are not a step's.
fn marked(marker: &str) -> Vec<i32> {
    let wanted = format!("{MARKER_VAR}={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|&b| b == 0)
                    .any(|entry| entry == wanted.as_bytes())
            }) && !is_zombie(pid)
        })
        .collect()
}

/// What became of a group a dead deckhand left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// Nothing of it runs any more.
    Gone,
    /// It was running; it was stopped with SIGTERM (or SIGKILL after the grace).
    Stopped { killed: bool },
    /// Its pid now belongs to another program, or it runs on another machine or boot.
    NotOurs,
    /// Still alive after SIGKILL (stuck in the kernel); the caller must not free the env.
    Stuck,
}

/// Whether the group still runs here, without touching it.
#[cfg(test)]
pub fn still_running(process: &StepProcess) -> bool {
    ours(process) && !members(process.group as i32).is_empty()
}

fn ours(process: &StepProcess) -> bool {
    if process.host != this_host() {
        return false;
    }
    let group = process.group as i32;
    // A living leader must be the one that was recorded.
    match start_time(group) {
        Some(started) if !is_zombie(group) => started as i64 == process.started,
        _ => true,
    }
}

/// Stops the group: SIGTERM, then SIGKILL after `grace`, and waits until no member is left.
pub async fn stop(process: &StepProcess, grace: Duration) -> Leftover {
    if !ours(process) {
        return Leftover::NotOurs;
    }
    let group = process.group as i32;
    escalate(
        || members(group).is_empty(),
        |signal| {
            let _ = killpg(Pid::from_raw(group), signal);
        },
        grace,
    )
    .await
}

/// Stops every process that carries `marker` (started on `host`), with their groups:
/// SIGTERM, then SIGKILL after `grace`.
pub async fn stop_marked(marker: &str, host: &str, grace: Duration) -> Leftover {
    if host != this_host() {
        return Leftover::NotOurs;
    }
    escalate(
        || marked(marker).is_empty(),
        |signal| {
            for pid in marked(marker) {
                if let Some(group) = group_of(pid) {
                    let _ = killpg(Pid::from_raw(group), signal);
                }
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
            }
        },
        grace,
    )
    .await
}

/// SIGTERM, a `grace` to go, then SIGKILL and a last wait: what `gone` says at each step.
async fn escalate(gone: impl Fn() -> bool, signal: impl Fn(Signal), grace: Duration) -> Leftover {
    if gone() {
        return Leftover::Gone;
    }
    signal(Signal::SIGTERM);
    if wait_until(&gone, grace).await {
        return Leftover::Stopped { killed: false };
    }
    signal(Signal::SIGKILL);
    if wait_until(&gone, KILL_WAIT).await {
        Leftover::Stopped { killed: true }
    } else {
        Leftover::Stuck
    }
}

impl Leftover {
    /// The worse of two findings about one step, for the report.
    pub fn worse(self, other: Leftover) -> Leftover {
        let rank = |l: &Leftover| match l {
            Leftover::Gone => 0,
            Leftover::NotOurs => 1,
            Leftover::Stopped { killed: false } => 2,
            Leftover::Stopped { killed: true } => 3,
            Leftover::Stuck => 4,
        };
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

async fn wait_until(done: impl Fn() -> bool, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn_group(script: &str) -> std::process::Child {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .expect("sh")
    }

    #[tokio::test]
    async fn a_left_group_is_stopped_with_its_children() {
        let mut leader = spawn_group("sleep 300 & sleep 300 & wait");
        let process = record(leader.id()).expect("a start time");
        // Let the children start.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(still_running(&process));
        assert_eq!(members(process.group as i32).len(), 3);
        let stopped = stop(&process, Duration::from_secs(2)).await;
        assert_eq!(stopped, Leftover::Stopped { killed: false });
        leader.wait().ok();
        assert!(!still_running(&process));
    }

    #[tokio::test]
    async fn a_group_that_ignores_sigterm_is_killed_after_the_grace() {
        let mut leader = spawn_group("trap '' TERM; sleep 300 & wait; sleep 300");
        let process = record(leader.id()).expect("a start time");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stopped = stop(&process, Duration::from_millis(300)).await;
        assert_eq!(stopped, Leftover::Stopped { killed: true });
        leader.wait().ok();
    }

    #[tokio::test]
    async fn marked_processes_are_found_and_stopped_without_a_recorded_group() {
        use std::os::unix::process::CommandExt;
        let marker = new_marker(7, 0);
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "sleep 300 & sleep 300 & wait"])
            .env(MARKER_VAR, &marker)
            .process_group(0)
            .spawn()
            .expect("sh");
        let mut unmarked = spawn_group("sleep 300");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(marked(&marker).len(), 3, "the shell and both children");
        assert_eq!(
            stop_marked(&marker, "another-machine/boot", Duration::from_secs(2)).await,
            Leftover::NotOurs
        );
        assert_eq!(
            stop_marked(&marker, &this_host(), Duration::from_secs(2)).await,
            Leftover::Stopped { killed: false }
        );
        leader.wait().ok();
        assert!(marked(&marker).is_empty());
        assert_eq!(
            stop_marked(&marker, &this_host(), Duration::from_secs(2)).await,
            Leftover::Gone
        );
        assert!(!members(unmarked.id() as i32).is_empty(), "left alone");
        let _ = killpg(Pid::from_raw(unmarked.id() as i32), Signal::SIGKILL);
        unmarked.wait().ok();
    }

    #[tokio::test]
    async fn a_reused_pid_or_another_host_is_never_signalled() {
        let mut other = spawn_group("sleep 300");
        let mut process = record(other.id()).expect("a start time");
        process.started -= 1;
        assert_eq!(
            stop(&process, Duration::from_millis(100)).await,
            Leftover::NotOurs
        );
        let mut elsewhere = record(other.id()).expect("a start time");
        elsewhere.host = "another-machine/boot".into();
        assert_eq!(
            stop(&elsewhere, Duration::from_millis(100)).await,
            Leftover::NotOurs
        );
        assert!(!members(other.id() as i32).is_empty(), "left alone");
        let _ = killpg(Pid::from_raw(other.id() as i32), Signal::SIGKILL);
        other.wait().ok();
    }
}
