//! Parse throughput over a realistic mix of chat commands.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// What a busy channel types: mostly deploys, approvals and status, some mistakes.
const MIX: &[&str] = &[
    "/deploy prod",
    "/deploy staging feature/login-page",
    "/deploy web prod v1.4.2 --reason \"hotfix for checkout\"",
    "/deckhand deploy web/main to staging --dry-run",
    "<@U0BOT> deploy prod a1b2c3d",
    "/approve 42",
    "/approve #43",
    "/reject 44 wait for the migration review, it's not ready",
    "/status",
    "/status prod",
    "/history prod 20",
    "/rollback prod",
    "/rollback prod to v1.4.1",
    "/cancel #45",
    "/lock prod --for 2h load test in progress",
    "/unlock prod",
    "/backup prod",
    "/backup list prod",
    "/restore prod 7",
    "/incident declare sev2 checkout returns 500s for EU customers",
    "/incident update INC-3 rolled back, error rates recovering",
    "/announce maintenance high \u{201C}DB upgrade Sunday\u{201D} expect 10 minutes of read-only mode",
    "/secrets due",
    "/secrets add STRIPE_SECRET_KEY prod every=90d owner=<@U01ALICE|alice>",
    "/deplyo prod",
    "/deploy prod v1;rm -rf",
];

fn parse_mix(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(MIX.len() as u64));
    group.bench_function("realistic_mix", |b| {
        b.iter(|| {
            for text in MIX {
                let _ = black_box(deckhand_commands::parse(black_box(text)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse_mix);
criterion_main!(benches);
