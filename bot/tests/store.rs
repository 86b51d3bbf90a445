//! One store suite, run on SQLite always and on Postgres when DECKHAND_TEST_POSTGRES_URL
//! is set (CI sets it and fails when that Postgres is unreachable).

use deckhand::chat::{Event, Person};
use deckhand::config::JobKind;
use deckhand::store::approvals::{self, Approval, Decision};
use deckhand::store::jobs::{self, JobState, NewJob};
use deckhand::store::locks::{self, EnvLock};
use deckhand::store::steps::{self, StepState};
use deckhand::store::{Store, audit, inbox, messages};
use deckhand::testing;

/// Runs `$body` with a fresh store of each dialect.
macro_rules! store_test {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let ($store, _) = testing::sqlite().await;
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let Some(url) = testing::require_postgres() else {
                    // Only a developer machine without Postgres gets here; CI sets the URL.
                    return;
                };
                let ($store, _) = testing::postgres(&url).await;
                $body
            }
        }
    };
}

fn new_job(env: &str, state: JobState) -> NewJob {
    NewJob {
        kind: JobKind::Deploy,
        env: env.into(),
        app: Some("web".into()),
        git_ref: Some("v1".into()),
        previous_ref: None,
        requester: "console:alice".into(),
        requester_name: "alice".into(),
        platform: "console".into(),
        channel: "console".into(),
        state,
        reason: None,
        params_hash: "h".into(),
        approvals_required: 1,
        approval_expires_at: Some(1_000),
        rolls_back: None,
        restore_of: None,
        hotfix_for: None,
        commit_sha: None,
        change_summary: None,
        skip_checks: None,
        break_glass: None,
        commit_at: None,
    }
}

async fn insert(store: &Store, env: &str, state: JobState) -> i64 {
    jobs::insert(&store.pool, &new_job(env, state), 10)
        .await
        .unwrap()
}

store_test!(jobs_round_trip_every_field, |store| {
    let id = insert(&store, "prod", JobState::AwaitingApproval).await;
    let job = jobs::get(&store.pool, id).await.unwrap().unwrap();
    assert_eq!(job.id, id);
    assert_eq!(job.kind, JobKind::Deploy);
    assert_eq!(job.env, "prod");
    assert_eq!(job.app.as_deref(), Some("web"));
    assert_eq!(job.state, JobState::AwaitingApproval);
    assert_eq!(job.approval_expires_at, Some(1_000));
    assert_eq!(job.created_at, 10);
    assert!(job.artifact.is_none());
    assert!(jobs::get(&store.pool, id + 100).await.unwrap().is_none());
});

store_test!(job_numbers_increase, |store| {
    let a = insert(&store, "prod", JobState::Queued).await;
    let b = insert(&store, "prod", JobState::Queued).await;
    assert!(b > a);
});

store_test!(transition_is_guarded_by_the_current_state, |store| {
    let id = insert(&store, "prod", JobState::AwaitingApproval).await;
    assert!(
        jobs::transition(
            &store.pool,
            id,
            &[JobState::AwaitingApproval],
            JobState::Queued,
            None,
            20
        )
        .await
        .unwrap()
    );
    assert!(
        !jobs::transition(
            &store.pool,
            id,
            &[JobState::AwaitingApproval],
            JobState::Rejected,
            None,
            21
        )
        .await
        .unwrap()
    );
    assert!(
        jobs::transition(
            &store.pool,
            id,
            &[JobState::Queued],
            JobState::Cancelled,
            Some("by bob"),
            22
        )
        .await
        .unwrap()
    );
    let job = jobs::get(&store.pool, id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(job.finished_at, Some(22));
    assert_eq!(job.error.as_deref(), Some("by bob"));
});

store_test!(claim_takes_the_oldest_queued_job_once, |store| {
    let first = insert(&store, "a", JobState::Queued).await;
    let second = insert(&store, "b", JobState::Queued).await;
    insert(&store, "c", JobState::AwaitingApproval).await;
    let claimed = jobs::claim_next(&store.pool, store.dialect, "me", 5_000, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, first);
    assert_eq!(claimed.state, JobState::Running);
    assert_eq!(claimed.started_at, Some(100));
    let next = jobs::claim_next(&store.pool, store.dialect, "me", 5_000, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, second);
    assert!(
        jobs::claim_next(&store.pool, store.dialect, "me", 5_000, 100)
            .await
            .unwrap()
            .is_none()
    );
});

store_test!(
    heartbeat_extends_only_our_lease_and_reports_cancel,
    |store| {
        let id = insert(&store, "a", JobState::Queued).await;
        jobs::claim_next(&store.pool, store.dialect, "me", 1_000, 100)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            jobs::heartbeat(&store.pool, id, "me", 2_000).await.unwrap(),
            Some(false)
        );
        assert_eq!(
            jobs::heartbeat(&store.pool, id, "other", 3_000)
                .await
                .unwrap(),
            None
        );
        jobs::request_cancel(&store.pool, id).await.unwrap();
        assert_eq!(
            jobs::heartbeat(&store.pool, id, "me", 2_500).await.unwrap(),
            Some(true)
        );
        assert!(jobs::orphaned(&store.pool, 2_000).await.unwrap().is_empty());
        assert_eq!(jobs::orphaned(&store.pool, 2_501).await.unwrap().len(), 1);
    }
);

store_test!(expired_approvals_are_found, |store| {
    let id = insert(&store, "a", JobState::AwaitingApproval).await;
    assert!(
        jobs::approval_expired(&store.pool, 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    let expired = jobs::approval_expired(&store.pool, 1_001).await.unwrap();
    assert_eq!(expired.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
});

store_test!(
    releases_list_successful_deploys_and_rollbacks_newest_first,
    |store| {
        let a = insert(&store, "prod", JobState::Queued).await;
        let b = insert(&store, "prod", JobState::Queued).await;
        let c = insert(&store, "prod", JobState::Queued).await;
        for id in [a, c] {
            jobs::transition(
                &store.pool,
                id,
                &[JobState::Queued],
                JobState::Succeeded,
                None,
                5,
            )
            .await
            .unwrap();
        }
        jobs::transition(
            &store.pool,
            b,
            &[JobState::Queued],
            JobState::Failed,
            None,
            5,
        )
        .await
        .unwrap();
        let releases = jobs::releases(&store.pool, "prod", Some("web"), 10)
            .await
            .unwrap();
        assert_eq!(
            releases.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![c, a]
        );
        let any_app = jobs::releases(&store.pool, "prod", None, 10).await.unwrap();
        assert_eq!(any_app.len(), 2);
        assert!(
            jobs::releases(&store.pool, "prod", Some("api"), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

store_test!(artifacts_are_recorded_on_backups, |store| {
    let mut job = new_job("prod", JobState::Queued);
    job.kind = JobKind::Backup;
    let id = jobs::insert(&store.pool, &job, 1).await.unwrap();
    let artifact = jobs::Artifact {
        path: "/b/1.dump".into(),
        size: 42,
        sha256: "ab".into(),
    };
    jobs::set_artifact(&store.pool, id, &artifact)
        .await
        .unwrap();
    jobs::transition(
        &store.pool,
        id,
        &[JobState::Queued],
        JobState::Succeeded,
        None,
        2,
    )
    .await
    .unwrap();
    let backups = jobs::backups(&store.pool, "prod", 10).await.unwrap();
    assert_eq!(backups[0].artifact.as_ref(), Some(&artifact));
});

store_test!(steps_keep_state_timings_and_output, |store| {
    let id = insert(&store, "a", JobState::Queued).await;
    let mut conn = store.pool.acquire().await.unwrap();
    steps::create(
        &mut conn,
        id,
        &["Build".into(), "Deploy".into(), "Smoke".into()],
    )
    .await
    .unwrap();
    steps::start(&store.pool, id, 0, 5).await.unwrap();
    steps::finish(&store.pool, id, 0, StepState::Succeeded, "ok\n", None, 9)
        .await
        .unwrap();
    steps::start(&store.pool, id, 1, 10).await.unwrap();
    steps::interrupt_running(&store.pool, id, 11).await.unwrap();
    steps::skip_rest(&store.pool, id).await.unwrap();
    let list = steps::list(&store.pool, id).await.unwrap();
    assert_eq!(
        list.iter().map(|s| s.state).collect::<Vec<_>>(),
        vec![StepState::Succeeded, StepState::Failed, StepState::Skipped]
    );
    assert_eq!(list[0].output_tail, "ok\n");
    assert_eq!(
        (list[0].started_at, list[0].finished_at),
        (Some(5), Some(9))
    );
    assert!(list[1].error.as_deref().unwrap().contains("interrupted"));
});

store_test!(one_decision_per_person_per_job, |store| {
    let id = insert(&store, "a", JobState::AwaitingApproval).await;
    let approval = Approval {
        person: "console:bob".into(),
        person_name: "bob".into(),
        decision: Decision::Approve,
        params_hash: "h".into(),
        created_at: 1,
        via: None,
    };
    assert!(approvals::record(&store.pool, id, &approval).await.unwrap());
    assert!(!approvals::record(&store.pool, id, &approval).await.unwrap());
    assert_eq!(approvals::list(&store.pool, id).await.unwrap().len(), 1);
    assert!(
        approvals::withdraw(&store.pool, id, "console:bob")
            .await
            .unwrap()
    );
    assert!(
        !approvals::withdraw(&store.pool, id, "console:bob")
            .await
            .unwrap()
    );
    assert!(approvals::list(&store.pool, id).await.unwrap().is_empty());
});

fn lock(env: &str, job_id: Option<i64>, expires_at: Option<i64>) -> EnvLock {
    EnvLock {
        env: env.into(),
        job_id,
        holder: "console:alice".into(),
        holder_name: "alice".into(),
        reason: None,
        since: 1,
        expires_at,
    }
}

store_test!(a_lock_has_one_holder_until_released, |store| {
    let mut conn = store.pool.acquire().await.unwrap();
    assert!(
        locks::acquire(&mut conn, &lock("prod", Some(1), None), 5)
            .await
            .unwrap()
    );
    assert!(
        !locks::acquire(&mut conn, &lock("prod", Some(2), None), 5)
            .await
            .unwrap()
    );
    assert!(
        locks::acquire(&mut conn, &lock("staging", Some(2), None), 5)
            .await
            .unwrap()
    );
    assert_eq!(
        locks::get(&mut *conn, "prod", 5)
            .await
            .unwrap()
            .unwrap()
            .job_id,
        Some(1)
    );
    assert!(!locks::release_manual(&mut *conn, "prod").await.unwrap());
    assert!(!locks::release_job(&mut *conn, "prod", 2).await.unwrap());
    assert!(locks::transfer(&mut *conn, "prod", 1, 3, 6).await.unwrap());
    assert!(locks::release_job(&mut *conn, "prod", 3).await.unwrap());
    assert!(locks::get(&mut *conn, "prod", 7).await.unwrap().is_none());
});

store_test!(an_expired_manual_lock_is_free, |store| {
    let mut conn = store.pool.acquire().await.unwrap();
    assert!(
        locks::acquire(&mut conn, &lock("prod", None, Some(100)), 50)
            .await
            .unwrap()
    );
    assert!(locks::get(&mut *conn, "prod", 100).await.unwrap().is_some());
    assert!(locks::get(&mut *conn, "prod", 101).await.unwrap().is_none());
    assert!(
        locks::acquire(&mut conn, &lock("prod", Some(9), None), 101)
            .await
            .unwrap()
    );
    assert_eq!(locks::all(&mut *conn, 101).await.unwrap().len(), 1);
});

store_test!(message_refs_find_their_job, |store| {
    let id = insert(&store, "a", JobState::AwaitingApproval).await;
    let m = messages::PostedMessage {
        platform: "slack".into(),
        channel: "C1".into(),
        message_id: "1.2".into(),
        subject: messages::Subject::Job(id),
        purpose: "card".into(),
    };
    messages::remember(&store.pool, &m, 1).await.unwrap();
    messages::remember(&store.pool, &m, 2).await.unwrap();
    assert_eq!(
        messages::find(&store.pool, "slack", "C1", "1.2")
            .await
            .unwrap(),
        Some(m.clone())
    );
    assert!(
        messages::find(&store.pool, "slack", "C2", "1.2")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        messages::for_subject(&store.pool, messages::Subject::Job(id))
            .await
            .unwrap(),
        vec![m]
    );
});

fn command(id: Option<&str>, text: &str) -> Event {
    Event::Command {
        platform: "slack".into(),
        channel: "C1".into(),
        user: Person {
            id: "slack:U1".into(),
            name: "alice".into(),
        },
        text: text.into(),
        event_id: id.map(str::to_owned),
    }
}

store_test!(the_inbox_stores_each_delivery_once, |store| {
    let first = inbox::receive(&store.pool, &command(Some("Ev1"), "/status"), "me", 100, 1)
        .await
        .unwrap();
    assert!(first.is_some());
    let again = inbox::receive(&store.pool, &command(Some("Ev1"), "/status"), "me", 100, 2)
        .await
        .unwrap();
    assert_eq!(again, None, "a retried delivery is dropped");
    // Deliveries without an id are each their own.
    for _ in 0..2 {
        let none = inbox::receive(&store.pool, &command(None, "/status"), "me", 100, 2).await;
        assert!(none.unwrap().is_some());
    }
    assert_eq!(inbox::unhandled(&store.pool).await.unwrap(), 3);
    inbox::finish(&store.pool, first.unwrap(), "handled", 3)
        .await
        .unwrap();
    assert_eq!(inbox::forget_before(&store.pool, 2).await.unwrap(), 1);
    assert!(
        inbox::receive(&store.pool, &command(Some("Ev1"), "/status"), "me", 100, 4)
            .await
            .unwrap()
            .is_some(),
        "forgotten after the retention window"
    );
});

store_test!(
    an_abandoned_event_is_claimed_once_and_never_stores_a_credential,
    |store| {
        let text = "/lock prod key is sk_live_51NzQ8dLkPq2Xv9Rt4Wm7Yb3Hc6Jf0Gs1";
        let id = inbox::receive(&store.pool, &command(Some("Ev9"), text), "dead", 10, 1)
            .await
            .unwrap()
            .unwrap();
        assert!(
            inbox::claim_abandoned(&store.pool, "me", 100, 5)
                .await
                .unwrap()
                .is_none(),
            "its claim still holds"
        );
        let claimed = inbox::claim_abandoned(&store.pool, "me", 100, 11)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, id);
        let Event::Command { text, event_id, .. } = claimed.event else {
            panic!("a command")
        };
        assert_eq!(text, "/lock prod key is [credential]");
        assert_eq!(event_id.as_deref(), Some("Ev9"));
        assert!(
            inbox::claim_abandoned(&store.pool, "other", 200, 12)
                .await
                .unwrap()
                .is_none(),
            "claimed by one process only"
        );
        assert!(
            inbox::claim_abandoned(&store.pool, "me", 300, 250)
                .await
                .unwrap()
                .is_none(),
            "a process never takes back what its own live handler holds"
        );
    }
);

store_test!(
    a_reaction_without_an_id_is_stored_once_but_taking_it_back_and_again_counts,
    |store| {
        let reaction = |user: &str, added: bool| Event::Reaction {
            platform: "discord".into(),
            channel: "C1".into(),
            message_id: "M1".into(),
            user: Person {
                id: user.into(),
                name: user.into(),
            },
            emoji: "✅".into(),
            added,
            event_id: None,
        };
        let receive = |event: Event, at: i64| {
            let pool = store.pool.clone();
            async move {
                inbox::receive(&pool, &event, "me", at + 100, at)
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        let t = 1_000_000;
        assert!(receive(reaction("bob", true), t).await);
        assert!(!receive(reaction("bob", true), t + 2).await, "a replay");
        // Someone else's same reaction, and taking one back, are their own events.
        assert!(receive(reaction("carol", true), t + 3).await);
        assert!(receive(reaction("bob", false), t + 4).await);
        assert!(
            !receive(reaction("bob", false), t + 5).await,
            "a replayed removal"
        );
        assert!(receive(reaction("bob", true), t + 6).await, "added again");
        // Past the window, the last one is not compared.
        let later = t + 6 + inbox::REACTION_REPEAT_MS + 1;
        assert!(receive(reaction("bob", true), later).await);
        // Two replicas storing the same event at the same instant: one row.
        let racing: Vec<_> = (0..8)
            .map(|_| tokio::spawn(receive(reaction("dave", true), later)))
            .collect();
        let mut stored = 0;
        for race in racing {
            stored += usize::from(race.await.unwrap());
        }
        assert_eq!(stored, 1, "concurrent copies of one reaction");
        // Slack's reactions carry event ids: only the id decides.
        let slack = |id: &str| Event::Reaction {
            platform: "slack".into(),
            channel: "C1".into(),
            message_id: "M1".into(),
            user: Person {
                id: "U1".into(),
                name: "u".into(),
            },
            emoji: "✅".into(),
            added: true,
            event_id: Some(id.into()),
        };
        assert!(receive(slack("Ev1"), t).await);
        assert!(receive(slack("Ev2"), t + 1).await);
        assert!(!receive(slack("Ev2"), t + 2).await);
    }
);

store_test!(audit_log_is_append_only, |store| {
    let entry = audit::AuditEntry {
        at: 1,
        actor: "console:alice".into(),
        platform: "console".into(),
        action: "job.created".into(),
        env: Some("prod".into()),
        job_id: Some(1),
        detail: "deploy v1".into(),
        mark: None,
    };
    audit::append_alone(&store.pool, &entry).await.unwrap();
    assert_eq!(
        audit::recent(&store.pool, 10).await.unwrap(),
        vec![entry.clone()]
    );
    assert_eq!(audit::for_job(&store.pool, 1).await.unwrap(), vec![entry]);
    assert!(
        sqlx::query("UPDATE audit_log SET actor = 'mallory'")
            .execute(&store.pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_log")
            .execute(&store.pool)
            .await
            .is_err()
    );
    assert_eq!(audit::recent(&store.pool, 10).await.unwrap().len(), 1);
});

store_test!(migrations_are_idempotent, |store| {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.ping().await);
});

store_test!(announcements_dedupe_by_key_and_are_claimed_once, |store| {
    use deckhand::store::announcements;
    let id = announcements::insert(&store.pool, Some("k1"), "{}", "ci", Some(100), 1)
        .await
        .unwrap()
        .unwrap();
    assert!(
        announcements::insert(&store.pool, Some("k1"), "{}", "ci", None, 2)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        announcements::insert(&store.pool, None, "{}", "ci", None, 2)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        announcements::insert(&store.pool, None, "{}", "ci", None, 3)
            .await
            .unwrap()
            .is_some(),
        "no key, no dedupe"
    );
    let due = |at: i64| {
        let pool = store.pool.clone();
        async move {
            announcements::due(&pool, at)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        }
    };
    assert!(!due(99).await.contains(&id), "not due before its time");
    assert!(due(100).await.contains(&id));
    assert!(
        announcements::claim(&store.pool, id, 100, 500)
            .await
            .unwrap()
    );
    assert!(
        !announcements::claim(&store.pool, id, 101, 600)
            .await
            .unwrap(),
        "one poster at a time"
    );
    assert!(!due(200).await.contains(&id), "being posted");
    assert!(
        due(501).await.contains(&id),
        "a poster that died loses its claim"
    );
    announcements::record_delivery(&store.pool, id, "slack:#deploys", 502)
        .await
        .unwrap();
    assert_eq!(
        announcements::delivered(&store.pool, id).await.unwrap(),
        ["slack:#deploys"]
    );
    announcements::release(&store.pool, id, Some(502), None)
        .await
        .unwrap();
    assert!(!due(600).await.contains(&id), "posted");
    let posted = messages::PostedMessage {
        platform: "slack".into(),
        channel: "C1".into(),
        message_id: "1.1".into(),
        subject: messages::Subject::Announcement(id),
        purpose: "announcement".into(),
    };
    messages::remember(&store.pool, &posted, 100).await.unwrap();
    assert_eq!(
        messages::for_subject(&store.pool, messages::Subject::Announcement(id))
            .await
            .unwrap(),
        vec![posted]
    );
});

store_test!(incident_reminders_are_taken_once, |store| {
    use deckhand::store::incidents::{self, NewIncident, TimelineEntry};
    let new = NewIncident {
        severity: "sev1",
        title: "down",
        commander: "console:a",
        commander_name: "a",
        platform: "console",
        channel: "console",
    };
    let id = incidents::insert(&store.pool, &new, 10).await.unwrap();
    assert!(
        incidents::reminded(&store.pool, id, None, 20)
            .await
            .unwrap()
    );
    assert!(
        !incidents::reminded(&store.pool, id, None, 21)
            .await
            .unwrap(),
        "a second replica loses"
    );
    assert!(
        incidents::reminded(&store.pool, id, Some(20), 30)
            .await
            .unwrap()
    );
    incidents::append(
        &store.pool,
        id,
        &TimelineEntry {
            at: 11,
            actor: "a".into(),
            kind: "update".into(),
            text: "x".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(incidents::timeline(&store.pool, id).await.unwrap().len(), 1);
    assert!(
        incidents::resolve(&store.pool, id, Some("fixed"), 40)
            .await
            .unwrap()
    );
    assert!(!incidents::resolve(&store.pool, id, None, 41).await.unwrap());
    assert!(incidents::open(&store.pool).await.unwrap().is_empty());
});

store_test!(jobs_in_states_lists_only_those_states, |store| {
    let waiting = insert(&store, "a", JobState::AwaitingApproval).await;
    let queued = insert(&store, "b", JobState::Queued).await;
    insert(&store, "c", JobState::Succeeded).await;
    let found = jobs::in_states(&store.pool, &[JobState::Queued, JobState::AwaitingApproval])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![waiting, queued]
    );
    assert!(jobs::in_states(&store.pool, &[]).await.unwrap().is_empty());
});

store_test!(
    outbox_redraws_of_one_subject_share_a_row_and_a_change_mid_send_sends_again,
    |store| {
        use deckhand::store::messages::Subject;
        use deckhand::store::outbox::{self, Outgoing};
        let pool = &store.pool;
        for _ in 0..5 {
            outbox::redraw(pool, Subject::Job(1), 10).await.unwrap();
        }
        let alice = Person {
            id: "slack:U1".into(),
            name: "alice".into(),
        };
        outbox::queue(
            pool,
            &Outgoing::Whisper {
                platform: "slack".into(),
                channel: "C1".into(),
                user: alice.clone(),
                reply: Some("interaction:42".into()),
                text: "first".into(),
            },
            10,
        )
        .await
        .unwrap();
        let claimed = outbox::claim(pool, "a", 1_000, 20, 10).await.unwrap();
        assert_eq!(
            claimed.len(),
            2,
            "five redraws coalesced into one row: {claimed:?}"
        );
        assert_eq!(claimed[0].send, Outgoing::Redraw(Subject::Job(1)));
        assert_eq!(claimed[0].version, 5);
        assert!(
            matches!(&claimed[1].send, Outgoing::Whisper { reply: Some(handle), .. } if handle == "interaction:42"),
            "a whisper keeps the delivery it answers: {:?}",
            claimed[1].send
        );
        assert!(
            outbox::claim(pool, "b", 1_000, 20, 10)
                .await
                .unwrap()
                .is_empty(),
            "claimed rows are nobody else's"
        );
        // The job changes while its card is being sent: the row stays for the latest state.
        outbox::redraw(pool, Subject::Job(1), 30).await.unwrap();
        assert!(!outbox::sent(pool, &claimed[0]).await.unwrap());
        assert!(
            outbox::sent(pool, &claimed[1]).await.unwrap(),
            "the whisper goes"
        );
        let again = outbox::claim(pool, "b", 1_000, 40, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].version, 6);
        assert!(outbox::sent(pool, &again[0]).await.unwrap());
        assert_eq!(outbox::waiting(pool, "a").await.unwrap(), 0);

        // A refused row waits for its retry; a dead claimant's rows are taken after the claim.
        outbox::queue(
            pool,
            &Outgoing::Whisper {
                platform: "slack".into(),
                channel: "C1".into(),
                user: alice,
                reply: None,
                text: "second".into(),
            },
            50,
        )
        .await
        .unwrap();
        let row = outbox::claim(pool, "a", 100, 50, 10)
            .await
            .unwrap()
            .remove(0);
        outbox::retry(pool, &row, 500, "ratelimited").await.unwrap();
        assert!(
            outbox::claim(pool, "a", 1_000, 400, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let row = outbox::claim(pool, "a", 600, 500, 10)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(row.attempts, 1);
        assert!(
            outbox::claim(pool, "b", 1_000, 599, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(outbox::renew(pool, "a", 2_000).await.unwrap(), 1);
        assert!(
            outbox::claim(pool, "b", 3_000, 700, 10)
                .await
                .unwrap()
                .is_empty(),
            "a renewed claim holds"
        );
        let taken = outbox::claim(pool, "b", 3_000, 2_001, 10).await.unwrap();
        assert_eq!(taken.len(), 1, "a lapsed claim is taken over");
    }
);

store_test!(
    a_slow_handlers_claim_is_renewed_so_no_other_replica_takes_its_event,
    |store| {
        let id = inbox::receive(&store.pool, &command(Some("Ev7"), "/status"), "me", 30, 0)
            .await
            .unwrap()
            .unwrap();
        // Early in the claim's life nothing changes (no write per sweep); past half, renewed.
        assert_eq!(inbox::renew(&store.pool, "me", 5, 35).await.unwrap(), 0);
        assert_eq!(inbox::renew(&store.pool, "me", 20, 50).await.unwrap(), 1);
        assert_eq!(inbox::renew(&store.pool, "other", 40, 70).await.unwrap(), 0);
        assert!(
            inbox::claim_abandoned(&store.pool, "other", 100, 45)
                .await
                .unwrap()
                .is_none(),
            "the renewed claim holds past its first expiry"
        );
        let taken = inbox::claim_abandoned(&store.pool, "other", 100, 51)
            .await
            .unwrap()
            .expect("once its holder stops renewing, the event is another's");
        assert_eq!(taken.id, id);
    }
);

#[tokio::test]
async fn the_sqlite_file_and_its_wal_are_readable_by_deckhand_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = testing::scratch_dir("deckhand-modes");
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    let url = format!("sqlite://{}/deckhand.db", dir.display());
    let store = Store::connect(&url).await.unwrap();
    insert(&store, "prod", JobState::Queued).await;
    assert_eq!(mode("deckhand.db"), 0o600);
    assert_eq!(
        mode("deckhand.db-wal"),
        0o600,
        "SQLite gives the WAL the file's mode"
    );
    store.pool.close().await;
    // A file left open to others by an older deckhand is closed to them at start.
    std::fs::set_permissions(
        dir.join("deckhand.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(mode("deckhand.db"), 0o600);
    store.pool.close().await;
}

fn audit_row(n: i64) -> audit::AuditEntry {
    audit::AuditEntry {
        at: 1_700_000_000_000 + n,
        actor: format!("console:person{n}"),
        platform: "console".into(),
        action: "job.queued".into(),
        env: Some("prod".into()),
        job_id: Some(n),
        detail: format!("deploy v{n} \"quoted\", with, commas"),
        mark: (n % 3 == 0).then(|| audit::BREAK_GLASS.to_owned()),
    }
}

async fn audit_rows(store: &Store, n: i64) {
    for i in 1..=n {
        audit::append_alone(&store.pool, &audit_row(i))
            .await
            .unwrap();
    }
}

/// Drops the append-only triggers, as someone with the database's password could.
async fn drop_audit_triggers(store: &Store) {
    let statements: &[&str] = match store.dialect {
        deckhand::store::Dialect::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ],
        deckhand::store::Dialect::Postgres => &["DROP TRIGGER audit_log_no_change ON audit_log"],
    };
    for statement in statements {
        sqlx::query(*statement).execute(&store.pool).await.unwrap();
    }
}

async fn verify(store: &Store) -> Result<deckhand::audit::Verified, deckhand::audit::Break> {
    deckhand::audit::verify(store, None).await.unwrap()
}

store_test!(audit_chain_verifies_a_fresh_log, |store| {
    let empty = verify(&store).await.unwrap();
    assert_eq!(empty.rows, 0);
    assert_eq!(empty.head, audit::GENESIS);
    audit_rows(&store, 5).await;
    let verified = verify(&store).await.unwrap();
    assert_eq!(verified.rows, 5);
    assert_eq!(verified.last_id, 5);
    assert_eq!(verified.head, audit::head(&store.pool).await.unwrap().hash);
    // A checkpoint's hash must be found; one that never was is reported.
    let row2 = audit::page(&store.pool, 1, None, 1)
        .await
        .unwrap()
        .remove(0);
    assert!(
        deckhand::audit::verify(&store, row2.hash.clone())
            .await
            .unwrap()
            .is_ok()
    );
    assert!(matches!(
        deckhand::audit::verify(&store, Some("f".repeat(64)))
            .await
            .unwrap(),
        Err(deckhand::audit::Break::CheckpointMissing { .. })
    ));
});

store_test!(audit_chain_names_an_edited_row, |store| {
    audit_rows(&store, 5).await;
    drop_audit_triggers(&store).await;
    sqlx::query("UPDATE audit_log SET detail = 'nothing happened' WHERE id = 3")
        .execute(&store.pool)
        .await
        .unwrap();
    let broken = verify(&store).await.unwrap_err();
    assert_eq!(broken, deckhand::audit::Break::Changed { id: 3 });
    assert!(broken.to_string().contains("row 3 was changed"), "{broken}");
});

store_test!(audit_chain_names_a_removed_row, |store| {
    audit_rows(&store, 5).await;
    drop_audit_triggers(&store).await;
    sqlx::query("DELETE FROM audit_log WHERE id = 3")
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        verify(&store).await.unwrap_err(),
        deckhand::audit::Break::Unlinked {
            before: 4,
            after: Some(2)
        }
    );
});

store_test!(audit_chain_names_reordered_rows, |store| {
    audit_rows(&store, 5).await;
    drop_audit_triggers(&store).await;
    for statement in [
        "UPDATE audit_log SET id = 100 WHERE id = 2",
        "UPDATE audit_log SET id = 2 WHERE id = 3",
        "UPDATE audit_log SET id = 3 WHERE id = 100",
    ] {
        sqlx::query(statement).execute(&store.pool).await.unwrap();
    }
    assert_eq!(
        verify(&store).await.unwrap_err(),
        deckhand::audit::Break::Changed { id: 2 }
    );
});

store_test!(audit_chain_sees_rows_removed_from_the_end, |store| {
    audit_rows(&store, 5).await;
    drop_audit_triggers(&store).await;
    sqlx::query("DELETE FROM audit_log WHERE id >= 4")
        .execute(&store.pool)
        .await
        .unwrap();
    let broken = verify(&store).await.unwrap_err();
    assert!(
        matches!(
            broken,
            deckhand::audit::Break::TailRemoved {
                last: Some(3),
                head_last_id: 5,
                ..
            }
        ),
        "{broken:?}"
    );
});

store_test!(audit_chain_refuses_rows_written_around_it, |store| {
    let written = sqlx::query(
        "INSERT INTO audit_log (at, actor, platform, action, detail) VALUES (1, 'mallory', 'sql', 'job.queued', '')",
    )
    .execute(&store.pool)
    .await;
    assert!(written.is_err(), "an unchained row was accepted");
    assert!(
        sqlx::query("DELETE FROM audit_head")
            .execute(&store.pool)
            .await
            .is_err()
    );
});

store_test!(
    audit_chain_does_not_fork_under_concurrent_writers,
    |store| {
        let writers: Vec<_> = (1..=40)
            .map(|i| {
                let pool = store.pool.clone();
                tokio::spawn(async move { audit::append_alone(&pool, &audit_row(i)).await })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let verified = verify(&store).await.unwrap();
        assert_eq!(verified.rows, 40);
    }
);

store_test!(audit_export_round_trips_through_verify, |store| {
    audit_rows(&store, 7).await;
    let head = verify(&store).await.unwrap().head;
    for format in [deckhand::audit::Format::Jsonl, deckhand::audit::Format::Csv] {
        let mut out = Vec::new();
        let rows = deckhand::audit::export(&store, None, format, &mut out)
            .await
            .unwrap();
        assert_eq!(rows, 7);
        let verified =
            deckhand::audit::verify_file(std::io::Cursor::new(&out), format, Some(head.clone()))
                .unwrap();
        assert_eq!((verified.rows, verified.head.as_str()), (7, head.as_str()));
        // A copy edited later is caught too.
        let text = String::from_utf8(out)
            .unwrap()
            .replace("person4", "person9");
        assert_eq!(
            deckhand::audit::verify_file(std::io::Cursor::new(text), format, None).unwrap_err(),
            deckhand::audit::Break::Changed { id: 4 }
        );
    }
    // From a date on: the part is checked from its first row.
    let mut part = Vec::new();
    let since = Some(1_700_000_000_000 + 4);
    let rows = deckhand::audit::export(&store, since, deckhand::audit::Format::Jsonl, &mut part)
        .await
        .unwrap();
    assert_eq!(rows, 4);
    let verified = deckhand::audit::verify_file(
        std::io::Cursor::new(part),
        deckhand::audit::Format::Jsonl,
        None,
    )
    .unwrap();
    assert_eq!(verified.head, head);
});

#[tokio::test]
async fn postgres_refuses_truncate_of_the_audit_log() {
    let Some(url) = testing::require_postgres() else {
        return;
    };
    let (store, _) = testing::postgres(&url).await;
    audit_rows(&store, 2).await;
    let truncated = sqlx::query("TRUNCATE audit_log").execute(&store.pool).await;
    let error = truncated.expect_err("TRUNCATE went through").to_string();
    assert!(error.contains("TRUNCATE is refused"), "{error}");
    assert!(
        sqlx::query("TRUNCATE audit_head")
            .execute(&store.pool)
            .await
            .is_err()
    );
    assert_eq!(verify(&store).await.unwrap().rows, 2);
}

store_test!(
    audit_rows_from_before_the_chain_are_sealed_into_it,
    |store| {
        // The store came up chained; pretend rows were written by an older deckhand by
        // seeding a fresh schema at migration 14.
        let (old, _) = match store.dialect {
            deckhand::store::Dialect::Sqlite => testing::sqlite_at(14).await,
            deckhand::store::Dialect::Postgres => {
                testing::postgres_at(&testing::require_postgres().unwrap(), 14).await
            }
        };
        for i in 1..=3 {
            sqlx::query(
            "INSERT INTO audit_log (at, actor, platform, action, env, job_id, detail) VALUES ($1, 'console:old', 'console', 'job.queued', 'prod', NULL, 'before the chain')",
        )
        .bind(i)
        .execute(&old.pool)
        .await
        .unwrap();
        }
        old.migrate().await.unwrap();
        audit::append_alone(&old.pool, &audit_row(9)).await.unwrap();
        let verified = verify(&old).await.unwrap();
        assert_eq!(verified.rows, 4);
    }
);

fn command_event(delivery: &str) -> Event {
    Event::Command {
        platform: "slack".into(),
        channel: "C1".into(),
        user: Person {
            id: "slack:U1".into(),
            name: "alice".into(),
        },
        text: "/status".into(),
        event_id: Some(delivery.into()),
    }
}

store_test!(
    group_commit_stores_each_event_once_and_answers_each,
    |store| {
        use std::sync::Arc;
        let intake = Arc::new(deckhand::intake::Intake::start(store.pool.clone()));
        // 60 concurrent requests, each delivery twice (a Slack retry racing its original).
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let intake = intake.clone();
                tokio::spawn(async move {
                    let event = command_event(&format!("Ev{}", i % 30));
                    intake.receive(&event, "me", 1, 1).await.unwrap()
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        let stored: Vec<i64> = ids.iter().flatten().copied().collect();
        assert_eq!(stored.len(), 30, "one id per delivery: {ids:?}");
        let mut unique = stored.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 30);
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inbox")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(rows, 30);
    }
);

/// A writer stuck behind a locked database fills its small queue; the requests beyond
/// it are told "busy" at once instead of waiting in memory, and the queued ones are
/// stored once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_intake_queue_turns_requests_away_at_once() {
    let (store, _) = testing::sqlite().await;
    let mut holder = store.pool.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let intake = std::sync::Arc::new(deckhand::intake::Intake::with_queue(store.pool.clone(), 2));
    let mut waiting = Vec::new();
    let mut busy = 0;
    for i in 0..10 {
        let intake = intake.clone();
        let task = tokio::spawn(async move {
            intake
                .receive(&command_event(&format!("Busy{i}")), "me", 1, 1)
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if task.is_finished() {
            match task.await.unwrap() {
                Err(deckhand::intake::Refused::Busy) => busy += 1,
                other => panic!("request {i} answered before the lock went: {other:?}"),
            }
        } else {
            waiting.push(task);
        }
    }
    assert!(busy >= 6, "most were turned away: {busy}");
    assert!(
        !waiting.is_empty() && waiting.len() <= 3,
        "{}",
        waiting.len()
    );
    sqlx::query("COMMIT").execute(&mut *holder).await.unwrap();
    drop(holder);
    for task in waiting {
        assert!(
            task.await.unwrap().unwrap().is_some(),
            "a queued request is stored"
        );
    }
}
