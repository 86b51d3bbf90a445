//! Migrations applied over seed data, on both dialects: rows written by an older deckhand
//! survive every later migration and mean the same afterwards.

use deckhand::store::Store;
use deckhand::store::messages::{self, Subject};
use deckhand::testing;

/// What a deckhand at migration 3 had stored: a job card, an announcement on two
/// channels, an incident card and a reminder.
const SEED_AT_3: &[&str] = &[
    "INSERT INTO jobs (id, kind, env, requester, requester_name, platform, channel, state, params_hash, approvals_required, created_at) \
     VALUES (1, 'deploy', 'prod', 'console:alice', 'alice', 'slack', 'C1', 'succeeded', 'h', 0, 10)",
    "INSERT INTO chat_messages (platform, channel, message_id, job_id, purpose, created_at) VALUES ('slack', 'C1', '1.1', 1, 'card', 11)",
    "INSERT INTO announcements (id, body, sender, created_at, updated_at) VALUES (1, '{}', 'ci', 20, 20)",
    "INSERT INTO announcement_messages (announcement_id, platform, channel, message_id) VALUES (1, 'slack', 'C1', '2.1')",
    "INSERT INTO announcement_messages (announcement_id, platform, channel, message_id) VALUES (1, 'discord', '99', '555')",
    "INSERT INTO incidents (id, severity, title, commander, commander_name, status, platform, channel, declared_at, last_update_at) \
     VALUES (1, 'sev1', 'db down', 'slack:U1', 'una', 'open', 'slack', 'C1', 30, 30)",
    "INSERT INTO incident_messages (incident_id, platform, channel, message_id) VALUES (1, 'slack', 'C2', '3.1')",
    "INSERT INTO secrets (id, name, env, owner, source, created_at) VALUES (1, 'STRIPE_KEY', 'prod', 'slack:U1', 'config', 40)",
    "INSERT INTO reminder_messages (platform, channel, message_id, secret_id) VALUES ('console', 'terminal', 'm7', 1)",
];

async fn seed_then_migrate(store: Store) {
    for statement in SEED_AT_3 {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(&store.pool)
            .await
            .unwrap_or_else(|e| panic!("seeding `{statement}`: {e}"));
    }
    store.migrate().await.expect("the later migrations apply");

    let pool = &store.pool;
    let card = messages::find(pool, "slack", "C1", "1.1").await.unwrap();
    assert_eq!(
        card.map(|m| (m.subject, m.purpose)),
        Some((Subject::Job(1), "card".into()))
    );
    let shown: Vec<String> = messages::for_subject(pool, Subject::Announcement(1))
        .await
        .unwrap()
        .into_iter()
        .map(|m| format!("{}:{}:{}", m.platform, m.channel, m.message_id))
        .collect();
    assert_eq!(shown, ["discord:99:555", "slack:C1:2.1"]);
    let status = messages::find(pool, "slack", "C2", "3.1").await.unwrap();
    assert_eq!(status.map(|m| m.subject), Some(Subject::Incident(1)));
    let reminder = messages::find(pool, "console", "terminal", "m7")
        .await
        .unwrap();
    assert_eq!(reminder.map(|m| m.subject), Some(Subject::Secret(1)));
    // Console ids keep counting after the old reminder's m7.
    assert_eq!(messages::next_console_number(pool).await.unwrap(), 8);
    for old in [
        "chat_messages",
        "announcement_messages",
        "incident_messages",
        "reminder_messages",
    ] {
        let gone = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT 1 FROM {old}")))
            .execute(pool)
            .await;
        assert!(gone.is_err(), "{old} should be gone");
    }
}

#[tokio::test]
async fn posted_messages_take_over_every_old_message_table_on_sqlite() {
    let (store, _) = testing::sqlite_at(3).await;
    seed_then_migrate(store).await;
}

#[tokio::test]
async fn posted_messages_take_over_every_old_message_table_on_postgres() {
    let Some(url) = testing::require_postgres() else {
        return;
    };
    let (store, _) = testing::postgres_at(&url, 3).await;
    seed_then_migrate(store).await;
}
