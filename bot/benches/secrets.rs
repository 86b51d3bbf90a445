//! Evaluating due status and building reminders for 100,000 secrets.

use criterion::{Criterion, criterion_group, criterion_main};
use deckhand::secrets::due::{self, DAY_MS, Tiers};
use deckhand::store::secrets::Secret;
use std::hint::black_box;

fn registry(count: usize) -> Vec<Secret> {
    (0..count)
        .map(|i| Secret {
            id: i as i64,
            name: format!("SECRET_{i}"),
            env: if i % 3 == 0 {
                "prod".into()
            } else {
                "staging".into()
            },
            owner: format!("slack:U{:08}", i % 500),
            // Intervals of 30 to 120 days, rotated at spread-out times; some never set.
            every_secs: (i % 17 != 0).then(|| (30 + (i % 91) as i64) * 86_400),
            last_rotated_at: Some((i as i64 % 150) * DAY_MS),
            last_rotated_by: None,
            runbook: None,
            provider_note: None,
            snoozed_until: (i % 29 == 0).then_some(130 * DAY_MS),
            source: "import".into(),
            created_at: 0,
        })
        .collect()
}

fn reminders(c: &mut Criterion) {
    let secrets = registry(100_000);
    let now = 120 * DAY_MS;
    let tiers = Tiers::default();
    let due = due::plan(&secrets, now, &tiers).len();
    println!("100,000 secrets: {due} reminders at the sample time");
    c.bench_function("plan_reminders_100k", |b| {
        b.iter(|| {
            let planned = due::plan(black_box(&secrets), black_box(now), &tiers);
            // Build each reminder's text, as a run does.
            let lines: usize = planned
                .iter()
                .map(|(s, st)| {
                    format!(
                        "`{}` · {} · due in {:?} days · {:?}",
                        s.name, s.env, st.days_left, st.tier
                    )
                    .len()
                })
                .sum();
            black_box(lines)
        })
    });
    c.bench_function("digest_100k", |b| {
        b.iter(|| due::digest(black_box(&secrets), black_box(now), &tiers).len())
    });
}

criterion_group!(benches, reminders);
criterion_main!(benches);
