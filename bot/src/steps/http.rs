//! `http` (call a URL, e.g. a deploy hook, with retries) and `health` (poll until healthy).

use std::time::Duration;

use tokio::time::Instant;

use super::{Outcome, StepContext};
use crate::config::{HealthStep, HttpStep};

/// The most of a response body an http step reads: its first lines go in the step's
/// output, and a hook that answers with a gigabyte must not cost deckhand one.
pub const MAX_RESPONSE: usize = 1024 * 1024;
/// Redirects followed within one origin.
const MAX_REDIRECTS: usize = 5;

/// Steps follow redirects only within the origin they called: a hook that redirects
/// elsewhere would carry the step's configured headers (API keys) to another host. The
/// redirect itself is then the answer, and the step says so.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(|url| url.origin());
        if first.is_some_and(|origin| origin != attempt.url().origin()) {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// Up to `MAX_RESPONSE` bytes of the body, as text; the rest is never read.
async fn bounded_text(mut response: reqwest::Response) -> (String, bool) {
    let mut body = Vec::new();
    let mut cut = false;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_RESPONSE - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    (String::from_utf8_lossy(&body).into_owned(), cut)
}

fn url(
    ctx: &StepContext<'_>,
    url: &Option<String>,
    url_env: &Option<String>,
) -> Result<String, String> {
    match (url, url_env) {
        (Some(url), _) => Ok(url.clone()),
        (None, Some(name)) => ctx.secret_env(name),
        (None, None) => Err("no `url` or `url_env`".into()),
    }
}

pub(super) async fn http(
    step: &HttpStep,
    ctx: &StepContext<'_>,
    timeout: Duration,
    outcome: &mut Outcome,
) {
    let url = match url(ctx, &step.url, &step.url_env) {
        Ok(url) => url,
        Err(e) => return outcome.fail(e),
    };
    let shown = ctx.redactor.redact(&url);
    let Ok(method) = reqwest::Method::from_bytes(step.method.to_ascii_uppercase().as_bytes())
    else {
        return outcome.fail(format!("`{}` is not an HTTP method", step.method));
    };
    let mut delays = crate::retry::http_step(step.retries.unwrap_or(2));
    loop {
        let mut request = ctx.http.request(method.clone(), &url);
        for (header, var) in &step.headers {
            match ctx.secret_env(var) {
                Ok(value) => request = request.header(header, value),
                Err(e) => return outcome.fail(e),
            }
        }
        if let Some(body) = &step.body {
            request = request.body(body.clone());
        }
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        let sent = tokio::select! {
            _ = ctx.cancel.cancelled() => return ctx.stopped(outcome, super::Stop::Cancelled, timeout),
            sent = request.timeout(remaining).send() => sent,
        };
        let problem = match sent {
            Ok(response) => {
                let status = response.status();
                let location = status
                    .is_redirection()
                    .then(|| response.headers().get("location").cloned())
                    .flatten();
                let (body, cut) = bounded_text(response).await;
                outcome.tail.push(&format!("{method} {shown} -> {status}"));
                if let Some(location) = location {
                    let to = ctx
                        .redactor
                        .redact(&String::from_utf8_lossy(location.as_bytes()));
                    outcome.tail.push(&format!(
                        "not following the redirect to {to}: another origin would get this step's headers"
                    ));
                }
                for line in body.lines().take(10) {
                    outcome.tail.push(&ctx.redactor.redact(line));
                }
                if cut {
                    outcome
                        .tail
                        .push("(the answer was longer than 1 MiB; the rest was not read)");
                }
                let expected = match step.expect {
                    Some(code) => status.as_u16() == code,
                    None => status.is_success(),
                };
                if expected {
                    return;
                }
                match step.expect {
                    Some(code) => format!("{method} {shown} answered {status}, expected {code}"),
                    None => format!("{method} {shown} answered {status}"),
                }
            }
            Err(e) => {
                let e = ctx.redactor.redact(&format!("{e}"));
                outcome.tail.push(&format!("{method} {shown} -> {e}"));
                format!("{method} {shown} failed: {e}")
            }
        };
        let Some(delay) = delays.next() else {
            return outcome.fail(problem);
        };
        outcome.tail.push(&format!(
            "retrying in {}",
            crate::render::duration(delay.as_millis() as i64)
        ));
        if let Err(stop) = ctx.sleep(delay).await {
            return ctx.stopped(outcome, stop, timeout);
        }
    }
}

pub(super) async fn health(
    step: &HealthStep,
    ctx: &StepContext<'_>,
    timeout: Duration,
    outcome: &mut Outcome,
) {
    let url = match url(ctx, &step.url, &step.url_env) {
        Ok(url) => url,
        Err(e) => return outcome.fail(e),
    };
    let shown = ctx.redactor.redact(&url);
    let expect = step.expect.unwrap_or(200);
    let within = step
        .within
        .map(|d| d.as_std())
        .unwrap_or(Duration::from_secs(120));
    let every = step
        .every
        .map(|d| d.as_std())
        .unwrap_or(Duration::from_secs(2));
    let give_up = Instant::now() + within;
    loop {
        let remaining = ctx
            .deadline
            .min(give_up)
            .saturating_duration_since(Instant::now());
        let answer = tokio::select! {
            _ = ctx.cancel.cancelled() => return ctx.stopped(outcome, super::Stop::Cancelled, timeout),
            answer = ctx.http.get(&url).timeout(remaining.max(Duration::from_millis(1))).send() => answer,
        };
        let last = match answer {
            Ok(response) if response.status().as_u16() == expect => {
                outcome
                    .tail
                    .push(&format!("GET {shown} -> {}", response.status()));
                return;
            }
            Ok(response) => format!("{}", response.status()),
            Err(e) => ctx.redactor.redact(&e.to_string()),
        };
        outcome.tail.push(&format!("GET {shown} -> {last}"));
        if Instant::now() + every > give_up {
            return outcome.fail(format!(
                "{shown} did not answer {expect} within {} (last: {last})",
                crate::render::duration(within.as_millis() as i64)
            ));
        }
        if let Err(stop) = ctx.sleep(every).await {
            return ctx.stopped(outcome, stop, timeout);
        }
    }
}
