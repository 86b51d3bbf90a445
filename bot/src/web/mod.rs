//! The team's web page, served by `deckhand run` itself: environments, jobs (live while
//! they run), incidents, secrets and DORA metrics. Server-rendered HTML, one stylesheet,
//! one small script; read-only; for signed-in people only (sign-in through chat).

pub mod dora;
pub mod pages;
pub mod session;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::Stream;

use crate::jobs::Engine;
use crate::store::jobs::{self, Job, JobState};
use crate::store::{incidents, locks, now_ms, steps};
use pages::JobFilter;
use session::{Sessions, Viewer};

/// Live job streams open at once; more wait for one to end (503, the browser retries).
const MAX_STREAMS: usize = 64;

/// How often a live stream looks at its job's steps.
const STREAM_POLL: Duration = Duration::from_millis(400);

/// The most jobs `/jobs` lists.
const JOBS_SHOWN: i64 = 200;

#[derive(Clone)]
struct Web {
    engine: Arc<Engine>,
    sessions: Arc<Sessions>,
    streams: Arc<tokio::sync::Semaphore>,
}

/// The page's routes (`http::router` adds the security headers to every answer).
pub fn routes(engine: Arc<Engine>, sessions: Arc<Sessions>) -> Router {
    let web = Web {
        engine,
        sessions,
        streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
    };
    Router::new()
        .route("/", get(environments))
        .route("/jobs", get(job_list))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/events", get(job_events))
        .route("/incidents", get(incident_list))
        .route("/incidents/{id}", get(incident))
        .route("/secrets", get(secrets))
        .route("/metrics/dora", get(dora_page))
        .route("/login", get(sign_in))
        .route("/login/{token}", get(use_link))
        .route("/static/deckhand.css", get(css))
        .route("/static/live.js", get(js))
        .with_state(web)
}

/// The headers of every answer deckhand's own routes give (pages, API, health): no
/// inline script or style, no framing, no referrer (a sign-in link's token must not
/// leak), no sniffing, and nothing cached (what they show is private).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A request from a signed-in person; anyone else is sent to the sign-in page.
struct SignedIn(Viewer);

impl FromRequestParts<Web> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        web.sessions
            .viewer(&parts.headers, now_ms())
            .map(SignedIn)
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// A failure reading the store: logged, and a short page.
fn unavailable(error: anyhow::Error) -> Response {
    tracing::error!(error = %format!("{error:#}"), "the page could not read the store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(pages::layout("Unavailable", None, maud::html! { p { "deckhand cannot read its database right now; try again in a moment." } }).into_string()),
    )
        .into_response()
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(pages::layout("Not found", None, maud::html! { p { (what) } }).into_string()),
    )
        .into_response()
}

fn page(markup: maud::Markup) -> Response {
    Html(markup.into_string()).into_response()
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        pages::JS,
    )
}

async fn sign_in(State(web): State<Web>, headers: axum::http::HeaderMap) -> Response {
    if web.sessions.viewer(&headers, now_ms()).is_some() {
        return Redirect::to("/").into_response();
    }
    page(pages::sign_in(None))
}

/// `GET /login/TOKEN`: a one-time link sets the session and sends the person home, so
/// the token leaves the address bar at once.
async fn use_link(State(web): State<Web>, Path(token): Path<String>) -> Response {
    match session::use_link(web.engine.store(), &token).await {
        Ok(Some((account, name))) => {
            let cookie = web.sessions.set_cookie(&account, &name, now_ms());
            (
                [(header::SET_COOKIE, cookie)],
                Redirect::to("/"),
            )
                .into_response()
        }
        Ok(None) => (
            StatusCode::FORBIDDEN,
            page(pages::sign_in(Some(
                "That sign-in link was used already or has expired (links work once, for 10 minutes). Ask for a new one with /login.",
            ))),
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

async fn environments(State(web): State<Web>, SignedIn(viewer): SignedIn) -> Response {
    match env_rows(&web.engine).await {
        Ok(rows) => page(pages::environments(
            &rows,
            &web.engine.config().clock,
            now_ms(),
            &viewer,
        )),
        Err(e) => unavailable(e),
    }
}

async fn env_rows(engine: &Engine) -> anyhow::Result<Vec<pages::EnvRow>> {
    let pool = &engine.store().pool;
    let now = now_ms();
    let active = jobs::in_states(
        pool,
        &[
            JobState::AwaitingApproval,
            JobState::Queued,
            JobState::Running,
        ],
    )
    .await?;
    let mut rows = Vec::new();
    for name in engine.config().environments.keys() {
        let current = jobs::releases(pool, name, None, 1)
            .await?
            .into_iter()
            .next();
        let lock = locks::get(pool, name, now).await?;
        let freezes = engine.freezes_on(name).await?;
        let incidents = engine.incidents().gating(name).await?;
        let mut live = Vec::new();
        for job in active.iter().filter(|j| &j.env == name) {
            let step = steps::list(pool, job.id)
                .await?
                .into_iter()
                .find(|s| s.state == steps::StepState::Running)
                .map(|s| s.name);
            live.push((job.clone(), step));
        }
        rows.push(pages::EnvRow {
            name: name.clone(),
            current,
            lock,
            freeze: freezes.holding().cloned(),
            next_freeze: freezes.next.clone(),
            incidents,
            live,
        });
    }
    Ok(rows)
}

async fn job_list(
    State(web): State<Web>,
    SignedIn(viewer): SignedIn,
    Query(filter): Query<JobFilter>,
) -> Response {
    let engine = &web.engine;
    let clock = engine.config().clock;
    let env = filter.env.clone().filter(|e| !e.is_empty());
    match engine.recent_jobs(env, crate::MAX_JOBS_SCANNED).await {
        Ok(list) => {
            let shown: Vec<Job> = list
                .into_iter()
                .filter(|j| filter.admits(j, &clock))
                .take(JOBS_SHOWN as usize)
                .collect();
            let envs: Vec<String> = engine.config().environments.keys().cloned().collect();
            page(pages::jobs(&shown, &filter, &envs, &clock, &viewer))
        }
        Err(e) => unavailable(e),
    }
}

async fn job(State(web): State<Web>, SignedIn(viewer): SignedIn, Path(id): Path<i64>) -> Response {
    match job_page(&web.engine, id).await {
        Ok(Some(data)) => page(pages::job(
            &data,
            &web.engine.config().clock,
            now_ms(),
            &viewer,
        )),
        Ok(None) => not_found(&format!("There is no job #{id}.")),
        Err(e) => unavailable(e),
    }
}

async fn job_page(engine: &Engine, id: i64) -> anyhow::Result<Option<pages::JobPage>> {
    let pool = &engine.store().pool;
    let Some(job) = jobs::get(pool, id).await? else {
        return Ok(None);
    };
    let cards = crate::store::messages::for_subject(pool, crate::store::messages::Subject::Job(id))
        .await?
        .into_iter()
        .map(|m| (m.platform, m.channel, m.message_id))
        .collect();
    let repo_url = job
        .app
        .as_ref()
        .and_then(|a| engine.config().apps.get(a))
        .and_then(|a| a.repo.as_ref())
        .map(|repo| format!("https://github.com/{repo}"));
    Ok(Some(pages::JobPage {
        steps: steps::list(pool, id).await?,
        approvals: crate::store::approvals::list(pool, id).await?,
        audit: crate::store::audit::for_job(pool, id).await?,
        rolled_back_by: jobs::rolled_back_by(pool, id).await?,
        cards,
        repo_url,
        job,
    }))
}

/// `GET /jobs/N/events`: the steps' table each time it changes, then `done`.
async fn job_events(
    State(web): State<Web>,
    SignedIn(_): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    let Ok(permit) = web.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many live pages open",
        )
            .into_response();
    };
    let engine = web.engine.clone();
    let stream = live_steps(engine, id, permit);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn live_steps(
    engine: Arc<Engine>,
    id: i64,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (engine, None::<String>, false, permit),
        move |(engine, last, done, permit)| async move {
            if done {
                return None;
            }
            loop {
                let pool = &engine.store().pool;
                let (job, list) = match (jobs::get(pool, id).await, steps::list(pool, id).await) {
                    (Ok(Some(job)), Ok(list)) => (job, list),
                    (Ok(None), _) => {
                        let event = Event::default().event("done").data("gone");
                        return Some((Ok(event), (engine, last, true, permit)));
                    }
                    _ => {
                        tokio::time::sleep(STREAM_POLL).await;
                        continue;
                    }
                };
                let clock = engine.config().clock;
                let html = pages::fragment(pages::live_part(&job, &list, &clock, now_ms()));
                // What changes, not the running clock: the job's state, its steps' states
                // and notes.
                let fingerprint = format!(
                    "{:?} {:?}",
                    job.state,
                    list.iter()
                        .map(|s| (s.state, &s.detail, &s.error, s.finished_at))
                        .collect::<Vec<_>>()
                );
                if last.as_deref() != Some(fingerprint.as_str()) {
                    let event = Event::default().event("steps").data(html);
                    return Some((Ok(event), (engine, Some(fingerprint), false, permit)));
                }
                if job.state.is_terminal() {
                    let event = Event::default().event("done").data(job.state.as_str());
                    return Some((Ok(event), (engine, last, true, permit)));
                }
                tokio::time::sleep(STREAM_POLL).await;
            }
        },
    )
}

async fn incident_list(State(web): State<Web>, SignedIn(viewer): SignedIn) -> Response {
    match incidents::recent(&web.engine.store().pool, 200).await {
        Ok(list) => page(pages::incidents(
            &list,
            &web.engine.config().clock,
            now_ms(),
            &viewer,
        )),
        Err(e) => unavailable(e.into()),
    }
}

async fn incident(
    State(web): State<Web>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let Some(number) = deckhand_commands::IncidentId::parse(&id) else {
        return not_found(&format!(
            "`{id}` is not an incident id; they read like INC-3."
        ));
    };
    let pool = &web.engine.store().pool;
    let result: anyhow::Result<Option<Response>> = async {
        let Some(incident) = incidents::get(pool, number.0 as i64).await? else {
            return Ok(None);
        };
        let timeline = incidents::timeline(pool, incident.id)
            .await?
            .into_iter()
            .map(|e| pages::TimelineEntry {
                at: e.at,
                who: e.actor,
                kind: e.kind,
                text: e.text,
            })
            .collect::<Vec<_>>();
        let until = incident.resolved_at.unwrap_or(i64::MAX);
        let during: Vec<Job> = web
            .engine
            .recent_jobs(None, crate::MAX_JOBS_SCANNED)
            .await?
            .into_iter()
            .filter(|j| j.created_at >= incident.declared_at && j.created_at <= until)
            .collect();
        let clock = web.engine.config().clock;
        Ok(Some(page(pages::incident(
            &incident,
            &timeline,
            &during,
            &clock,
            now_ms(),
            &viewer,
        ))))
    }
    .await;
    match result {
        Ok(Some(response)) => response,
        Ok(None) => not_found(&format!("There is no {id}.")),
        Err(e) => unavailable(e),
    }
}

async fn secrets(State(web): State<Web>, SignedIn(viewer): SignedIn) -> Response {
    use crate::secrets::due::{self, Tier};
    let pool = &web.engine.store().pool;
    match crate::store::secrets::all(pool).await {
        Ok(all) => {
            let now = now_ms();
            let tiers = web.engine.secrets().tiers();
            let mut rows: Vec<pages::SecretRow> = all
                .iter()
                .map(|s| {
                    let status = due::status(s, now, &tiers);
                    pages::SecretRow {
                        name: s.name.clone(),
                        env: s.env.clone(),
                        owner: s.owner.clone(),
                        due_at: status.due_at,
                        status: match status.tier {
                            Tier::Escalated => "overdue",
                            Tier::Due if status.days_left.is_some_and(|d| d < 0) => "overdue",
                            Tier::Due => "due",
                            Tier::Soon => "soon",
                            Tier::Fine => "ok",
                            Tier::NoInterval => "no interval",
                        },
                        days_left: status.days_left,
                        runbook: s.runbook.clone(),
                    }
                })
                .collect();
            rows.sort_by_key(|r| (r.due_at.unwrap_or(i64::MAX), r.env.clone(), r.name.clone()));
            page(pages::secrets(&rows, &web.engine.config().clock, &viewer))
        }
        Err(e) => unavailable(e.into()),
    }
}

#[derive(serde::Deserialize)]
struct Window {
    days: Option<i64>,
}

/// 7, 30 or 90 days (30 when asked for anything else), for the page and the API.
pub fn window_days(days: Option<i64>) -> i64 {
    days.filter(|d| [7, 30, 90].contains(d)).unwrap_or(30)
}

/// The DORA reports: every env together, then each env.
pub async fn dora_reports(
    engine: &Engine,
    days: i64,
) -> anyhow::Result<(dora::Report, Vec<dora::Report>)> {
    let now = now_ms();
    let since = now - 2 * days * 86_400_000;
    let pool = &engine.store().pool;
    let history = jobs::finished_since(pool, since).await?;
    let outages: Vec<dora::Outage> = incidents::declared_since(pool, since)
        .await?
        .into_iter()
        .map(|i| dora::Outage {
            opened_at: i.declared_at,
            resolved_at: i.resolved_at,
        })
        .collect();
    let overall = dora::report(&history, &outages, None, days, now);
    let per_env = engine
        .config()
        .environments
        .keys()
        .map(|env| dora::report(&history, &outages, Some(env), days, now))
        .collect();
    Ok((overall, per_env))
}

async fn dora_page(
    State(web): State<Web>,
    SignedIn(viewer): SignedIn,
    Query(window): Query<Window>,
) -> Response {
    match dora_reports(&web.engine, window_days(window.days)).await {
        Ok((overall, per_env)) => page(pages::dora(&overall, &per_env, &viewer)),
        Err(e) => unavailable(e),
    }
}

impl Engine {
    /// `/login`: a one-time sign-in link, whispered, for anyone who holds a role.
    pub(crate) async fn login(&self, origin: &crate::chat::Origin) -> anyhow::Result<()> {
        let config = self.config();
        let person = &origin.user.id;
        if !(config.holds_a_role(person) || config.is_admin(person)) {
            return Err(crate::refusal::Refusal::NotOnTheTeam.into());
        }
        let Some(public_url) = config.bot.public_url.as_deref() else {
            return Err(crate::refusal::Refusal::NoWebPage.into());
        };
        let audit = self.ctx.audit_row(
            person,
            &origin.platform,
            "web.link",
            None,
            None,
            "sign-in link whispered",
        );
        let link =
            session::new_link(self.store(), public_url, person, &origin.user.name, &audit).await?;
        self.ctx
            .whisper(
                origin,
                format!("🔑 Your sign-in link for deckhand's page, for you alone (it works once, for 10 minutes): {link}"),
            )
            .await;
        Ok(())
    }
}
