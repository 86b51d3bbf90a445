//! Every message kind, pinned: the console's plain text and Slack's Block Kit JSON (which
//! must also be accepted by slack-morphism's own types).

use deckhand::config::JobKind;
use deckhand::render::{Announcement, JobCard, Message, plain};
use deckhand::slack::blocks;
use deckhand::store::approvals::{Approval, Decision};
use deckhand::store::jobs::{Artifact, Job, JobState};
use deckhand::store::steps::{Step, StepState};
use deckhand_commands::{AnnouncementType, Priority};

const T0: i64 = 1_764_489_600_000;

fn job(state: JobState) -> Job {
    Job {
        id: 12,
        kind: JobKind::Deploy,
        env: "prod".into(),
        app: Some("web".into()),
        git_ref: Some("v1.4.2".into()),
        previous_ref: Some("v1.4.1".into()),
        requester: "slack:U01ALICE".into(),
        requester_name: "alice".into(),
        platform: "slack".into(),
        channel: "C1".into(),
        state,
        reason: Some("billing fix".into()),
        params_hash: "h".into(),
        approvals_required: 1,
        approval_expires_at: Some(T0 + 30 * 60_000),
        rolls_back: None,
        restore_of: None,
        created_at: T0,
        started_at: (state != JobState::AwaitingApproval).then_some(T0 + 60_000),
        finished_at: state.is_terminal().then_some(T0 + 183_000),
        cancel_requested: false,
        lease_owner: None,
        error: (state == JobState::Failed)
            .then(|| "step `Smoke test` failed: exited with status 1".into()),
        artifact: None,
        hotfix_for: None,
        held: None,
        github: Default::default(),
        break_glass: None,
    }
}

fn step(idx: i64, name: &str, state: StepState) -> Step {
    let done = matches!(state, StepState::Succeeded | StepState::Failed);
    Step {
        idx,
        name: name.into(),
        state,
        started_at: (state != StepState::Pending && state != StepState::Skipped)
            .then_some(T0 + 60_000 + idx * 10_000),
        finished_at: done.then_some(T0 + 69_000 + idx * 10_000),
        output_tail: if state == StepState::Failed {
            "GET /health\nHTTP 500 from /health\n".into()
        } else {
            String::new()
        },
        error: (state == StepState::Failed).then(|| "exited with status 1".into()),
        detail: None,
    }
}

fn card(state: JobState, steps: Vec<Step>, approved: bool) -> Message {
    let approvals = if approved {
        vec![Approval {
            person: "slack:U02BOB".into(),
            person_name: "bob".into(),
            decision: Decision::Approve,
            params_hash: "h".into(),
            created_at: T0 + 30_000,
            via: None,
        }]
    } else {
        Vec::new()
    };
    Message::Job(Box::new(JobCard {
        job: job(state),
        steps,
        approvals,
        approvers_hint: "`approvers`".into(),
        now: T0 + 90_000,
        page: None,
    }))
}

fn awaiting() -> Message {
    card(
        JobState::AwaitingApproval,
        vec![
            step(0, "Build", StepState::Pending),
            step(1, "Deploy", StepState::Pending),
            step(2, "Smoke test", StepState::Pending),
        ],
        false,
    )
}

fn running() -> Message {
    card(
        JobState::Running,
        vec![
            step(0, "Build", StepState::Succeeded),
            step(1, "Deploy", StepState::Running),
            step(2, "Smoke test", StepState::Pending),
        ],
        true,
    )
}

fn failed() -> Message {
    card(
        JobState::Failed,
        vec![
            step(0, "Build", StepState::Succeeded),
            step(1, "Deploy", StepState::Succeeded),
            step(2, "Smoke test", StepState::Failed),
        ],
        true,
    )
}

fn backup() -> Message {
    let mut message = card(
        JobState::Succeeded,
        vec![step(0, "Backup database", StepState::Succeeded)],
        false,
    );
    if let Message::Job(card) = &mut message {
        card.job.kind = JobKind::Backup;
        card.job.app = None;
        card.job.git_ref = None;
        card.job.previous_ref = None;
        card.job.approvals_required = 0;
        card.job.reason = None;
        card.job.artifact = Some(Artifact {
            path: "backups/prod/prod-job12-20251130T080000Z.dump".into(),
            size: 1_234_567,
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        });
    }
    message
}

fn announcement() -> Message {
    Message::Announcement(Announcement {
        sender: "ci".into(),
        recipients: vec!["all".into()],
        kind: AnnouncementType::Deployment,
        priority: Priority::Normal,
        subject: "Production Deployment Successful - v1.2.0".into(),
        message: "Includes US002 (billing), US003 (dashboard).".into(),
        references: vec!["US002".into(), "US003".into()],
        attention: None,
    })
}

fn reply() -> Message {
    Message::text(
        "`prod` is locked by alice for job #11 (deploy running) since 2025-11-30 09:00 UTC (3m00s ago).",
    )
}

/// A deploy through GitHub: its commit, what changed, skipped checks, and a workflow
/// step whose run and jobs are sub-lines.
fn github_running() -> Message {
    let mut deploy = step(1, "Deploy workflow", StepState::Running);
    deploy.detail = Some(
        "run: https://github.com/acme/web/actions/runs/42\n✅ build (1m02s)\n🔄 deploy".into(),
    );
    let Message::Job(mut card) = card(
        JobState::Running,
        vec![step(0, "Build", StepState::Succeeded), deploy],
        true,
    ) else {
        unreachable!("card() makes a job card")
    };
    card.job.github = deckhand::store::jobs::GitHubFacts {
        commit_sha: Some("3f9c2e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5".into()),
        commit_at: None,
        change_summary: Some(
            "2 commits since #11 (`9abc123`):\n• `3f9c2e1` Fix the login page — Dana\n• `1234567` Faster search — Bob\ncompare: https://github.com/acme/web/compare/9abc123...3f9c2e1".into(),
        ),
        skip_checks: Some("CI runner outage, tests green locally".into()),
        deployment: Some(7),
        note: None,
    };
    Message::Job(card)
}

fn all() -> Vec<(&'static str, Message)> {
    vec![
        ("awaiting_approval", awaiting()),
        ("running", running()),
        ("github_running", github_running()),
        ("failed", failed()),
        ("backup", backup()),
        ("announcement", announcement()),
        ("reply", reply()),
    ]
}

#[test]
fn plain_text_of_every_message_kind() {
    for (name, message) in all() {
        insta::assert_snapshot!(format!("plain_{name}"), plain(&message));
    }
}

#[test]
fn block_kit_of_every_message_kind() {
    for (name, message) in all() {
        let content = blocks::content(&message);
        let parsed: Result<slack_morphism::prelude::SlackMessageContent, _> =
            serde_json::from_value(content.clone());
        assert!(
            parsed.is_ok(),
            "{name}: slack-morphism rejects it: {parsed:?}"
        );
        insta::assert_json_snapshot!(format!("blocks_{name}"), content);
    }
}

#[test]
fn discord_embeds_of_every_message_kind() {
    for (name, message) in all() {
        let content = deckhand::discord::embeds::content(&message, None);
        // serenity's own embed type must accept it.
        let embed: Result<serenity::model::channel::Embed, _> =
            serde_json::from_value(content["embeds"][0].clone());
        assert!(
            embed.is_ok(),
            "{name}: serenity rejects the embed: {embed:?}"
        );
        insta::assert_json_snapshot!(format!("embed_{name}"), content);
    }
}

#[test]
fn discord_embeds_are_coloured_by_state() {
    use deckhand::discord::embeds::state_colour;
    assert_ne!(
        state_colour(JobState::Succeeded),
        state_colour(JobState::Failed)
    );
    assert_ne!(
        state_colour(JobState::Running),
        state_colour(JobState::AwaitingApproval)
    );
}

#[test]
fn approval_cards_have_approve_and_reject_buttons_running_cards_a_cancel_button() {
    let text = blocks::content(&awaiting()).to_string();
    assert!(text.contains(blocks::APPROVE) && text.contains(blocks::REJECT));
    let text = blocks::content(&running()).to_string();
    assert!(text.contains(blocks::CANCEL) && !text.contains(blocks::APPROVE));
    let text = blocks::content(&failed()).to_string();
    assert!(!text.contains(blocks::CANCEL));
}

#[test]
fn slack_manifest_lists_every_command_scope_and_event() {
    let manifest = deckhand::manifest::slack_app_manifest();
    insta::assert_json_snapshot!("slack_manifest", manifest);
}

#[test]
fn every_announcement_type_renders_on_every_platform() {
    for &kind in AnnouncementType::ALL {
        for priority in [Priority::Normal, Priority::Urgent] {
            let message = Message::Announcement(Announcement {
                sender: "ci".into(),
                recipients: vec!["all".into()],
                kind,
                priority,
                subject: format!("A {kind} announcement"),
                message: "Details for the team <!channel> & co.".into(),
                references: vec!["US002".into()],
                attention: (priority == Priority::Urgent).then(|| "here".into()),
            });
            let rendered = serde_json::json!({
                "console": plain(&message),
                "slack": blocks::content(&message),
                "discord": deckhand::discord::embeds::content(&message, None),
            });
            insta::assert_json_snapshot!(format!("announcement_{kind}_{priority}"), rendered);
        }
    }
}

#[test]
fn incident_cards_render_on_every_platform() {
    use deckhand::render::IncidentCard;
    use deckhand::store::incidents::{Incident, TimelineEntry};
    let incident = Incident {
        id: 3,
        severity: "sev1".into(),
        title: "Checkout returns 500s".into(),
        commander: "slack:U01ALICE".into(),
        commander_name: "alice".into(),
        status: "open".into(),
        platform: "slack".into(),
        channel: "C1".into(),
        declared_at: T0,
        last_update_at: T0 + 600_000,
        last_reminded_at: None,
        resolved_at: None,
        summary: None,
    };
    let timeline = vec![
        TimelineEntry {
            at: T0,
            actor: "alice".into(),
            kind: "declared".into(),
            text: "declared sev1 by alice, who is commander".into(),
        },
        TimelineEntry {
            at: T0 + 600_000,
            actor: "bob".into(),
            kind: "update".into(),
            text: "rolled back v1.4.2".into(),
        },
    ];
    let message = Message::Incident(Box::new(IncidentCard {
        incident,
        timeline,
        now: T0 + 900_000,
        timezone: chrono_tz::UTC,
    }));
    let rendered = serde_json::json!({
        "console": plain(&message),
        "slack": blocks::content(&message),
        "discord": deckhand::discord::embeds::content(&message, None),
    });
    insta::assert_json_snapshot!("incident_card", rendered);
}

#[test]
fn reminders_render_on_every_platform() {
    use deckhand::render::ReminderCard;
    let cases = [
        ("due", ReminderCard {
            lines: vec!["`STRIPE_SECRET_KEY` · prod · owner @U01ALICE · rotated 2026-09-01 · due 2026-11-30 (0 days left)".into()],
            title: "⏰ STRIPE_SECRET_KEY (prod) is due for rotation".into(),
            owner: Some("slack:U01ALICE".into()),
            attention: None,
            runbook: Some("https://wiki.example.com/rotate-stripe".into()),
            actionable: true,
        }),
        ("escalated", ReminderCard {
            lines: vec!["`RAILWAY_TOKEN` · prod · owner @223344556677889900 · due 2026-11-20 (**10 days overdue**)".into()],
            title: "🚨 RAILWAY_TOKEN (prod) is 10 days overdue for rotation".into(),
            owner: Some("discord:223344556677889900".into()),
            attention: Some("here".into()),
            runbook: None,
            actionable: true,
        }),
        ("digest", ReminderCard {
            lines: vec!["`A_KEY` · prod · owner @ops · due 2026-12-10 (10 days left)".into(), "`B_KEY` · staging · owner @ops · never rotated · no rotation interval".into()],
            title: "🗓️ Secrets due in the next 30 days".into(),
            owner: None,
            attention: None,
            runbook: None,
            actionable: false,
        }),
    ];
    for (name, card) in cases {
        let message = Message::Reminder(Box::new(card));
        let rendered = serde_json::json!({
            "console": plain(&message),
            "slack": blocks::content(&message),
            "discord": deckhand::discord::embeds::content(&message, None),
        });
        let parsed: Result<slack_morphism::prelude::SlackMessageContent, _> =
            serde_json::from_value(rendered["slack"].clone());
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
        insta::assert_json_snapshot!(format!("reminder_{name}"), rendered);
    }
}
