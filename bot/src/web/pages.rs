//! The page's HTML, server-rendered with maud from what the store holds: environments,
//! jobs, a job, incidents, an incident, secrets, DORA. Pure: the data is handed in.

use maud::{DOCTYPE, Markup, html};

use super::dora::{LeadFrom, Report};
use super::session::Viewer;
use crate::clock::Clock;
use crate::freezes::Window;
use crate::refusal::GatingIncident;
use crate::render::{duration, state_icon, state_words, subject};
use crate::store::approvals::{Approval, Decision};
use crate::store::audit::AuditEntry;
use crate::store::incidents::Incident;
use crate::store::jobs::Job;
use crate::store::locks::EnvLock;
use crate::store::steps::{Step, StepState};

/// Every page: the navigation, who is signed in, the title and the body.
pub fn layout(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · deckhand" }
                link rel="stylesheet" href="/static/deckhand.css";
                script src="/static/live.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "⚓ deckhand" }
                    @if viewer.is_some() {
                        nav {
                            a href="/" { "Environments" }
                            a href="/jobs" { "Jobs" }
                            a href="/incidents" { "Incidents" }
                            a href="/secrets" { "Secrets" }
                            a href="/metrics/dora" { "DORA" }
                        }
                    }
                    @if let Some(viewer) = viewer {
                        span.who { "signed in as " strong { (viewer.name) } }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The page for people without a session.
pub fn sign_in(problem: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(problem) = problem {
                p.problem { (problem) }
            }
            p { "This page shows who deployed what and when, so it is for your team only." }
            p { "Type " code { "/login" } " to deckhand in Slack, Discord or the console: it answers with a link for you alone, valid for 10 minutes and once." }
        },
    )
}

/// One env's row on the environments page.
pub struct EnvRow {
    pub name: String,
    pub current: Option<Job>,
    pub lock: Option<EnvLock>,
    pub freeze: Option<Window>,
    pub next_freeze: Option<Window>,
    pub incidents: Vec<GatingIncident>,
    /// Jobs waiting or running now, with the running step's name.
    pub live: Vec<(Job, Option<String>)>,
}

fn time(clock: &Clock, ms: i64) -> Markup {
    html! { time datetime=(chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339()).unwrap_or_default()) { (clock.time(ms)) } }
}

fn job_link(job: &Job) -> Markup {
    html! { a href={ "/jobs/" (job.id) } { "#" (job.id) } }
}

fn commit(job: &Job) -> Markup {
    html! {
        @if let Some(sha) = &job.github.commit_sha {
            " " code.sha { (crate::github::short(sha)) }
        }
    }
}

pub fn environments(rows: &[EnvRow], clock: &Clock, now: i64, viewer: &Viewer) -> Markup {
    layout(
        "Environments",
        Some(viewer),
        html! {
            table.envs {
                thead { tr { th { "env" } th { "runs" } th { "lock" } th { "freeze" } th { "incidents" } th { "now" } } }
                tbody {
                    @for row in rows {
                        tr {
                            th { a href={ "/jobs?env=" (row.name) } { (row.name) } }
                            td {
                                @match &row.current {
                                    Some(job) => {
                                        code { (subject(job)) } (commit(job))
                                        br;
                                        small { "by " (job.requester_name) " · " (time(clock, job.finished_at.unwrap_or(job.created_at))) " · " (job_link(job)) }
                                    }
                                    None => { span.quiet { "no successful deploy yet" } }
                                }
                            }
                            td {
                                @match &row.lock {
                                    Some(lock) if lock.job_id.is_none() => {
                                        "🔒 " (lock.holder_name)
                                        @if let Some(reason) = &lock.reason { ": " (reason) }
                                        br; small { "since " (time(clock, lock.since)) }
                                    }
                                    Some(lock) => { span.quiet { "held by #" (lock.job_id.unwrap_or_default()) } }
                                    None => { span.quiet { "free" } }
                                }
                            }
                            td {
                                @if let Some(window) = &row.freeze {
                                    "❄️ “" (window.reason) "”" br;
                                    small { "until " (time(clock, window.until)) }
                                } @else if let Some(next) = &row.next_freeze {
                                    span.quiet { "next: “" (next.reason) "” " } br;
                                    small { "from " (time(clock, next.from)) }
                                } @else {
                                    span.quiet { "none" }
                                }
                            }
                            td {
                                @if row.incidents.is_empty() {
                                    span.quiet { "none gating" }
                                }
                                @for incident in &row.incidents {
                                    a href={ "/incidents/INC-" (incident.id) } { "INC-" (incident.id) } " " (incident.severity) ": " (incident.title) br;
                                }
                            }
                            td {
                                @if row.live.is_empty() { span.quiet { "idle" } }
                                @for (job, step) in &row.live {
                                    (state_icon(job.state)) " " (job_link(job)) " " (job.kind.as_str()) " " code { (subject(job)) } " " (state_words(job.state))
                                    @if let Some(step) = step { " · " em { (step) } }
                                    br;
                                }
                            }
                        }
                    }
                }
            }
            p.quiet { "As of " (time(clock, now)) "." }
        },
    )
}

/// The filters of `/jobs`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct JobFilter {
    pub env: Option<String>,
    pub kind: Option<String>,
    pub state: Option<String>,
    pub person: Option<String>,
    /// `YYYY-MM-DD`: jobs created that day (in `bot.timezone`).
    pub date: Option<String>,
}

impl JobFilter {
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whether `job` passes the filters.
    pub fn admits(&self, job: &Job, clock: &Clock) -> bool {
        Self::given(&self.env).is_none_or(|e| job.env == e)
            && Self::given(&self.kind).is_none_or(|k| job.kind.as_str() == k)
            && Self::given(&self.state).is_none_or(|s| job.state.as_str() == s)
            && Self::given(&self.person)
                .is_none_or(|p| job.requester_name.eq_ignore_ascii_case(p) || job.requester == p)
            && Self::given(&self.date).is_none_or(|d| clock.date(job.created_at) == d)
    }
}

pub fn jobs(
    list: &[Job],
    filter: &JobFilter,
    envs: &[String],
    clock: &Clock,
    viewer: &Viewer,
) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    layout(
        "Jobs",
        Some(viewer),
        html! {
            form.filters method="get" action="/jobs" {
                label { "env " select name="env" {
                    option value="" { "any" }
                    @for env in envs { option value=(env) selected[filter.env.as_deref() == Some(env)] { (env) } }
                } }
                label { "kind " select name="kind" {
                    option value="" { "any" }
                    @for kind in ["deploy", "rollback", "backup", "restore"] { option value=(kind) selected[filter.kind.as_deref() == Some(kind)] { (kind) } }
                } }
                label { "state " select name="state" {
                    option value="" { "any" }
                    @for state in ["awaiting_approval", "queued", "running", "succeeded", "failed", "cancelled", "rejected", "expired", "interrupted"] {
                        option value=(state) selected[filter.state.as_deref() == Some(state)] { (state) }
                    }
                } }
                label { "person " input name="person" value=(value(&filter.person)) size="12"; }
                label { "date " input type="date" name="date" value=(value(&filter.date)); }
                button type="submit" { "Filter" }
            }
            @if list.is_empty() {
                p.quiet { "No jobs match." }
            } @else {
                table.jobs {
                    thead { tr { th { "job" } th { "kind" } th { "env" } th { "what" } th { "by" } th { "requested" } th { "took" } th { "state" } } }
                    tbody {
                        @for job in list {
                            tr class={ "state-" (job.state.as_str()) } {
                                td { (job_link(job)) }
                                td { (job.kind.as_str()) }
                                td { (job.env) }
                                td { code { (subject(job)) } (commit(job))
                                    @if job.break_glass.is_some() { " " span.glass title="break-glass" { "🔥" } } }
                                td { (job.requester_name) }
                                td { (time(clock, job.created_at)) }
                                td { @if let (Some(s), Some(f)) = (job.started_at, job.finished_at) { (duration(f - s)) } }
                                td { (state_icon(job.state)) " " (state_words(job.state)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What a job page shows beside the job itself.
pub struct JobPage {
    pub job: Job,
    pub steps: Vec<Step>,
    pub approvals: Vec<Approval>,
    pub audit: Vec<AuditEntry>,
    /// Jobs that rolled this one back.
    pub rolled_back_by: Vec<Job>,
    /// Where its card was posted: (platform, channel, message id).
    pub cards: Vec<(String, String, String)>,
    /// `https://github.com/owner/repo`, when the app has one.
    pub repo_url: Option<String>,
}

/// What changes while a job runs: its state line and its steps. The page draws it, and
/// the live stream sends it again each time it changes.
pub fn live_part(job: &Job, steps: &[Step], clock: &Clock, now: i64) -> Markup {
    html! {
        p.summary {
            (state_icon(job.state)) " " strong { (state_words(job.state)) } " · " code { (subject(job)) } (commit(job))
            " · requested by " (job.requester_name) " on " (job.platform) " · " (time(clock, job.created_at))
            @if let (Some(s), Some(f)) = (job.started_at, job.finished_at) { " · took " (duration(f - s)) }
        }
        h2 { "Steps" }
        (steps_table(steps, now))
    }
}

/// The steps' table, with each step's output.
pub fn steps_table(steps: &[Step], now: i64) -> Markup {
    html! {
        table.steps {
            thead { tr { th { "" } th { "step" } th { "took" } th { "note" } } }
            tbody {
                @for step in steps {
                    tr class={ "step-" (step.state.as_str()) } {
                        td.icon { (step_icon(step.state)) }
                        td { (step.name)
                            @if let Some(detail) = &step.detail {
                                @for line in detail.lines() { br; small { (link_line(line)) } }
                            }
                        }
                        td { @match (step.started_at, step.finished_at) {
                            (Some(s), Some(f)) => { (duration(f - s)) }
                            (Some(s), None) => { (duration(now - s)) "…" }
                            _ => {}
                        } }
                        td { @if let Some(error) = &step.error { span.problem { (error) } } }
                    }
                }
            }
        }
        @for step in steps.iter().filter(|s| !s.output_tail.trim().is_empty()) {
            details open[step.state == StepState::Failed] {
                summary { "output of " (step.name) }
                pre { (step.output_tail) }
            }
        }
    }
}

fn step_icon(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "◻️",
        StepState::Running => "⏳",
        StepState::Succeeded => "✅",
        StepState::Failed => "❌",
        StepState::FailedIgnored => "⚠️",
        StepState::Skipped => "⏭️",
    }
}

pub fn job(page: &JobPage, clock: &Clock, now: i64, viewer: &Viewer) -> Markup {
    let job = &page.job;
    let title = format!("{} #{} · {}", job.kind.title(), job.id, job.env);
    layout(
        &title,
        Some(viewer),
        html! {
            @if job.state.is_terminal() {
                div { (live_part(job, &page.steps, clock, now)) }
            } @else {
                // Followed live by live.js until the job ends.
                div.live data-live={ "/jobs/" (job.id) "/events" } { (live_part(job, &page.steps, clock, now)) }
            }
            @if let Some(why) = &job.break_glass { p.glass { "🔥 break-glass: went through a freeze: " (why) } }
            @if let Some(why) = &job.github.skip_checks { p.warn { "⚠️ required checks skipped: " (why) } }
            @if let Some(reason) = &job.reason { p { "reason: " (reason) } }
            @if let Some(error) = &job.error { p.problem { (error) } }
            @if let Some(hold) = &job.held { p.warn { "⏸️ " (hold.reason) } }
            ul.facts {
                @if let Some(previous) = &job.previous_ref { li { "was " code { (previous) } } }
                @if let Some(target) = job.rolls_back { li { "rolls back " a href={ "/jobs/" (target) } { "#" (target) } } }
                @for rollback in &page.rolled_back_by { li { "rolled back by " (job_link(rollback)) " (" (state_words(rollback.state)) ")" } }
                @if let Some(backup) = job.restore_of { li { "restores backup " a href={ "/jobs/" (backup) } { "#" (backup) } } }
                @if let Some(artifact) = &job.artifact {
                    li { "backup: " code { (artifact.path) } " · " (crate::render::bytes(artifact.size)) " · sha256 " code { (artifact.sha256) } }
                }
                @if let (Some(repo), Some(sha)) = (&page.repo_url, &job.github.commit_sha) {
                    li { "commit: " a href={ (repo) "/commit/" (sha) } { (crate::github::short(sha)) } }
                }
                @if let Some(change) = &job.github.change_summary {
                    @for line in change.lines() { li { (link_line(line)) } }
                }
                @for (platform, channel, message) in &page.cards {
                    li { "card: " (platform) " " code { (channel) } " message " code { (message) } }
                }
            }
            h2 { "Approvals" }
            @if job.approvals_required == 0 {
                p.quiet { "none needed" }
            } @else {
                p { (page.approvals.iter().filter(|a| a.decision == Decision::Approve).count()) " of " (job.approvals_required) " needed" }
                ul {
                    @for approval in &page.approvals {
                        li {
                            @if approval.decision == Decision::Approve { "✅ " } @else { "❌ " }
                            (approval.person_name) " · " (time(clock, approval.created_at))
                            " · by " (approval.via.as_deref().unwrap_or("reaction or command"))
                        }
                    }
                }
            }
            h2 { "Audit trail" }
            table.audit {
                tbody {
                    @for row in &page.audit {
                        tr {
                            td { (time(clock, row.at)) }
                            td { code { (row.action) } @if row.mark.is_some() { " 🔥" } }
                            td { (row.actor) }
                            td { (row.detail) }
                        }
                    }
                }
            }
        },
    )
}

/// A change line or a step's sub-line (a workflow run's job), with its trailing URL
/// (`compare: URL`, `… https://github.com/…/runs/1`) as a link.
fn link_line(line: &str) -> Markup {
    match line.rsplit_once(' ') {
        Some((lead, url)) if url.starts_with("https://") => {
            html! { (lead) " " a href=(url) { (url) } }
        }
        _ => html! { (line) },
    }
}

pub fn incidents(list: &[Incident], clock: &Clock, now: i64, viewer: &Viewer) -> Markup {
    layout(
        "Incidents",
        Some(viewer),
        html! {
            @if list.is_empty() { p.quiet { "No incidents. May it stay so." } }
            @else {
                table.incidents {
                    thead { tr { th { "id" } th { "severity" } th { "title" } th { "commander" } th { "declared" } th { "lasted" } th { "status" } } }
                    tbody {
                        @for incident in list {
                            tr class={ "incident-" (incident.status) } {
                                td { a href={ "/incidents/INC-" (incident.id) } { "INC-" (incident.id) } }
                                td { (incident.severity) }
                                td { (incident.title) }
                                td { (incident.commander_name) }
                                td { (time(clock, incident.declared_at)) }
                                td { (duration(incident.resolved_at.unwrap_or(now) - incident.declared_at)) @if incident.is_open() { " so far" } }
                                td { (incident.status) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// An incident's timeline entry: when, who, what kind, the text.
pub struct TimelineEntry {
    pub at: i64,
    pub who: String,
    pub kind: String,
    pub text: String,
}

pub fn incident(
    incident: &Incident,
    timeline: &[TimelineEntry],
    jobs_during: &[Job],
    clock: &Clock,
    now: i64,
    viewer: &Viewer,
) -> Markup {
    layout(
        &format!("INC-{} · {}", incident.id, incident.title),
        Some(viewer),
        html! {
            p.summary {
                strong { (incident.severity) } " · " (incident.status) " · commander " (incident.commander_name)
                " · declared " (time(clock, incident.declared_at))
                " · " (duration(incident.resolved_at.unwrap_or(now) - incident.declared_at)) @if incident.is_open() { " so far" }
            }
            @if let Some(summary) = &incident.summary { p { "summary: " (summary) } }
            h2 { "Timeline" }
            ol.timeline {
                @for entry in timeline {
                    li { (time(clock, entry.at)) " · " strong { (entry.who) } " · " (entry.kind) ": " (entry.text) }
                }
            }
            h2 { "Jobs that ran during it" }
            @if jobs_during.is_empty() { p.quiet { "none" } }
            ul {
                @for job in jobs_during {
                    li { (state_icon(job.state)) " " (job_link(job)) " " (job.kind.as_str()) " " code { (subject(job)) } " to " (job.env) " · " (time(clock, job.created_at)) }
                }
            }
        },
    )
}

/// One secret's row: name, env, owner, due, status word, runbook.
pub struct SecretRow {
    pub name: String,
    pub env: String,
    pub owner: String,
    pub due_at: Option<i64>,
    /// `overdue`, `due`, `soon`, `ok`, `no interval`.
    pub status: &'static str,
    pub days_left: Option<i64>,
    pub runbook: Option<String>,
}

pub fn secrets(rows: &[SecretRow], clock: &Clock, viewer: &Viewer) -> Markup {
    layout(
        "Secrets",
        Some(viewer),
        html! {
            p.quiet { "Names and rotation dates only: deckhand never holds a secret's value." }
            table.secrets {
                thead { tr { th { "secret" } th { "env" } th { "owner" } th { "due" } th { "status" } th { "runbook" } } }
                tbody {
                    @for row in rows {
                        tr class={ "secret-" (row.status.replace(' ', "-")) } {
                            td { code { (row.name) } }
                            td { (row.env) }
                            td { (row.owner) }
                            td { @if let Some(at) = row.due_at { (clock.date(at)) } }
                            td { (row.status)
                                @if let Some(days) = row.days_left {
                                    @if days < 0 { " (" (-days) "d over)" } @else { " (in " (days) "d)" }
                                } }
                            td { @if let Some(url) = &row.runbook { a href=(url) rel="noreferrer" { "runbook" } } }
                        }
                    }
                }
            }
        },
    )
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

/// A small bar chart, drawn on the server (no script, no style attributes: CSP).
fn bars(label: &str, values: &[Option<f64>]) -> Markup {
    const W: usize = 300;
    const H: f64 = 60.0;
    let most = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let width = W as f64 / values.len().max(1) as f64;
    html! {
        svg.chart role="img" aria-label=(label) viewBox={ "0 0 " (W) " " (H as i64 + 2) } width=(W) height=(H as i64 + 2) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            line x1="0" y1=(H + 1.0) x2=(W) y2=(H + 1.0) stroke="#99a" stroke-width="1" {}
            @for (i, value) in values.iter().enumerate() {
                @if let Some(v) = value {
                    @let h = if most > 0.0 { (v / most * H).max(1.0) } else { 1.0 };
                    rect x=(format!("{:.1}", i as f64 * width + 1.0)) y=(format!("{:.1}", H - h + 1.0)) width=(format!("{:.1}", (width - 2.0).max(1.0))) height=(format!("{h:.1}")) fill="#3a6ea5" {}
                }
            }
        }
    }
}

/// The four measures of one report, each a number, its trend and a chart.
fn measures(report: &Report) -> Markup {
    let (now, before) = (&report.now, &report.before);
    let lead_label = match now.lead_from {
        LeadFrom::Commit => "lead time for changes (commit → deployed)",
        LeadFrom::Request => "lead time for changes (request → deployed; no commit times)",
    };
    let bucket_values = |f: &dyn Fn(&super::dora::Bucket) -> Option<f64>| -> Vec<Option<f64>> {
        report.buckets.iter().map(f).collect()
    };
    html! {
        div.measures {
            div.measure {
                h3 { "deployment frequency" }
                p.figure { (format!("{:.2}", now.per_day)) " / day" }
                p.small { (now.deploys) " deploys · " (super::dora::trend(Some(now.per_day), Some(before.per_day))) }
                (bars("deploys per bucket", &bucket_values(&|b| Some(f64::from(b.deploys)))))
            }
            div.measure {
                h3 { (lead_label) }
                p.figure { (now.lead_time_ms.map(duration).unwrap_or_else(|| "—".into())) }
                p.small { "median · " (super::dora::trend(now.lead_time_ms.map(|v| v as f64), before.lead_time_ms.map(|v| v as f64))) }
                (bars("median lead time per bucket", &bucket_values(&|b| b.lead_time_ms.map(|v| v as f64))))
            }
            div.measure {
                h3 { "change failure rate" }
                p.figure { (now.change_failure_rate.map(percent).unwrap_or_else(|| "—".into())) }
                p.small { "failed, rolled back or hotfixed · " (super::dora::trend(now.change_failure_rate, before.change_failure_rate)) }
                (bars("change failure rate per bucket", &bucket_values(&|b| b.change_failure_rate)))
            }
            div.measure {
                h3 { "time to restore" }
                p.figure { (now.time_to_restore_ms.map(duration).unwrap_or_else(|| "—".into())) }
                p.small { "median"
                    @if now.unrestored > 0 { " · " (now.unrestored) " not restored yet" }
                    " · " (super::dora::trend(now.time_to_restore_ms.map(|v| v as f64), before.time_to_restore_ms.map(|v| v as f64))) }
                (bars("median time to restore per bucket", &bucket_values(&|b| b.time_to_restore_ms.map(|v| v as f64))))
            }
        }
    }
}

pub fn dora(overall: &Report, per_env: &[Report], viewer: &Viewer) -> Markup {
    layout(
        "DORA metrics",
        Some(viewer),
        html! {
            p.windows {
                "Last "
                @for days in [7, 30, 90] {
                    @if days == overall.days { strong { (days) " days" } } @else { a href={ "/metrics/dora?days=" (days) } { (days) " days" } }
                    " "
                }
                "· trends compare with the " (overall.days) " days before · JSON at " code { "/api/v1/metrics/dora" }
            }
            h2 { "All environments" }
            (measures(overall))
            @for report in per_env {
                h2 { (report.env.as_deref().unwrap_or("?")) }
                (measures(report))
            }
        },
    )
}

/// The hand-written stylesheet.
pub const CSS: &str = include_str!("assets/deckhand.css");
/// The one script: a live job page follows its steps (server-sent events).
pub const JS: &str = include_str!("assets/live.js");

/// A fragment for the live stream: one line of HTML (SSE data lines cannot hold
/// newlines unescaped).
pub fn fragment(markup: Markup) -> String {
    markup.into_string().replace(['\n', '\r'], " ")
}
