//! Every refusal's text and audit row, pinned: one snapshot lists them all, so a changed
//! word shows in review and a new refusal cannot ship without its text.

use deckhand::clock::Clock;
use deckhand::config::JobKind;
use deckhand::refusal::{Act, GatingIncident, Refusal};
use deckhand::store::jobs::JobState;
use deckhand::store::locks::EnvLock;
use deckhand_commands::{IncidentId, parse};

const HOUR: i64 = 3_600_000;
/// 2026-12-01 09:00 UTC.
const NOW: i64 = 1_796_115_600_000;

fn lock(job_id: Option<i64>, expires_at: Option<i64>) -> Box<EnvLock> {
    Box::new(EnvLock {
        env: "prod".into(),
        job_id,
        holder: "console:alice".into(),
        holder_name: "alice".into(),
        reason: job_id.is_none().then(|| "db migration".into()),
        since: NOW - HOUR,
        expires_at,
    })
}

fn every_refusal() -> Vec<Refusal> {
    let envs = vec!["prod".to_owned(), "staging".to_owned()];
    vec![
        Refusal::Unparsed(parse("/deplyo prod").unwrap_err()),
        Refusal::RateLimited,
        Refusal::NoSuchEnv {
            given: "prdo".into(),
            near: Some("prod".into()),
            known: envs.clone(),
        },
        Refusal::NoSuchApp {
            given: "wbe".into(),
            near: Some("web".into()),
            known: vec!["api".into(), "web".into()],
        },
        Refusal::WhichApp {
            known: vec!["api".into(), "web".into()],
        },
        Refusal::NotDeployer {
            env: "prod".into(),
            act: Act::Deploy,
            roles: vec!["devs".into()],
        },
        Refusal::NotDeployer {
            env: "prod".into(),
            act: Act::Unlock,
            roles: Vec::new(),
        },
        Refusal::NoPipeline {
            env: "staging".into(),
            kind: JobKind::Backup,
        },
        Refusal::Locked {
            lock: lock(Some(4), None),
            job: Some((JobKind::Deploy, JobState::Running)),
            now: NOW,
        },
        Refusal::Locked {
            lock: lock(None, Some(NOW + HOUR)),
            job: None,
            now: NOW,
        },
        Refusal::Locked {
            lock: lock(None, None),
            job: None,
            now: NOW,
        },
        Refusal::IncidentGate {
            env: "prod".into(),
            git_ref: "v1.4.2".into(),
            incidents: vec![GatingIncident {
                id: 3,
                severity: "sev1".into(),
                title: "checkout down".into(),
            }],
        },
        Refusal::NothingToRollBack { env: "prod".into() },
        Refusal::NoEarlierRelease {
            env: "prod".into(),
            current_ref: Some("v1".into()),
            current_job: 2,
        },
        Refusal::NotASuccessfulDeploy {
            job: 9,
            env: "prod".into(),
        },
        Refusal::NotABackup {
            backup: 5,
            env: "prod".into(),
        },
        Refusal::NoSuchJob { job: 99 },
        Refusal::NotCanceller {
            job: 4,
            env: "prod".into(),
        },
        Refusal::AlreadyEnded {
            job: 4,
            state: JobState::Succeeded,
        },
        Refusal::NotLocked { env: "prod".into() },
        Refusal::HeldByJob {
            env: "prod".into(),
            job: 4,
        },
        Refusal::NotAwaitingApproval {
            job: 4,
            env: "prod".into(),
            state: JobState::Running,
        },
        Refusal::ApprovalExpired {
            job: 4,
            env: "prod".into(),
        },
        Refusal::SelfApproval {
            job: 4,
            env: "prod".into(),
        },
        Refusal::SelfRejection {
            job: 4,
            env: "prod".into(),
        },
        Refusal::NotApprover {
            job: 4,
            env: "prod".into(),
            approve: true,
            approvers: vec!["leads".into()],
        },
        Refusal::AlreadyDecided {
            job: 4,
            env: "prod".into(),
        },
        Refusal::NotAnnouncer,
        Refusal::NoSuchIncident { id: IncidentId(7) },
        Refusal::IncidentResolved { id: IncidentId(7) },
        Refusal::NoSuchSecret {
            name: "STRIPE_KEY".into(),
            env: Some("prod".into()),
        },
        Refusal::AmbiguousSecret {
            name: "STRIPE_KEY".into(),
            envs,
        },
        Refusal::NotSecretManager {
            name: "STRIPE_KEY".into(),
            env: "prod".into(),
            owner: "slack:U01ALICE".into(),
        },
        Refusal::NotSecretOwner {
            name: "STRIPE_KEY".into(),
            env: "prod".into(),
            owner: "security".into(),
        },
        Refusal::NotSecretAdder { env: "prod".into() },
        Refusal::SecretAlreadyTracked {
            name: "STRIPE_KEY".into(),
            env: "prod".into(),
        },
    ]
}

#[test]
fn every_refusal_reads_and_audits_as_pinned() {
    let clock = Clock::new(chrono_tz::Europe::Berlin);
    let mut out = String::new();
    for refusal in every_refusal() {
        let audit = refusal.audit();
        out.push_str(&format!(
            "## {}\n{}\naudit: {} env={} job={} detail={:?}\n\n",
            refusal.kind(),
            refusal.render(&clock),
            audit.action,
            audit.env.as_deref().unwrap_or("-"),
            audit
                .job
                .map(|j| j.to_string())
                .unwrap_or_else(|| "-".into()),
            audit.detail
        ));
    }
    insta::assert_snapshot!("every_refusal", out);
}

#[test]
fn no_refusal_audits_the_words_a_person_typed() {
    // A pasted credential is refused by the parser; its audit row must not carry it.
    let pasted = "/deploy prod sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    let refusal = Refusal::Unparsed(parse(pasted).unwrap_err());
    let audit = refusal.audit();
    assert_eq!(audit.action, "command.refused");
    assert!(!audit.detail.contains("sk_live"), "{audit:?}");
}
