//! `/metrics`: deckhand's Prometheus metrics. Commands are counted where they arrive;
//! jobs by state and step durations are read from the store at each scrape (they
//! survive restarts and are shared by replicas); outbound calls and rate-limit waits are
//! read from the platforms' own counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric as _, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::ctx::Ctx;
use crate::store::jobs::{self, JobState};
use crate::store::steps;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformLabel {
    platform: &'static str,
}

pub struct Metrics {
    registry: Registry,
    /// Commands received from every platform.
    pub commands: Counter,
    jobs: Family<StateLabel, Gauge>,
    steps: Arc<StepTotals>,
}

impl Metrics {
    pub fn new(ctx: Arc<Ctx>) -> Metrics {
        let mut registry = Registry::default();
        let commands = Counter::default();
        registry.register(
            "deckhand_commands",
            "Commands received from every platform.",
            commands.clone(),
        );
        let jobs = Family::<StateLabel, Gauge>::default();
        registry.register("deckhand_jobs", "Jobs by state.", jobs.clone());
        let steps = Arc::new(StepTotals::default());
        registry.register_collector(Box::new(steps.clone()));
        registry.register_collector(Box::new(PlatformCalls { ctx }));
        Metrics {
            registry,
            commands,
            jobs,
            steps,
        }
    }

    /// The Prometheus text exposition, after reading what the store knows now.
    pub async fn render(&self, ctx: &Ctx) -> anyhow::Result<String> {
        let counts = jobs::count_by_state(&ctx.store.pool).await?;
        for state in JobState::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map(|(_, n)| *n)
                .unwrap_or(0);
            self.jobs
                .get_or_create(&StateLabel {
                    state: state.as_str(),
                })
                .set(n);
        }
        let (count, seconds) = steps::duration_totals(&ctx.store.pool).await?;
        self.steps.set(count, seconds);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Time spent in finished steps, as a histogram with only its `+Inf` bucket: the store
/// keeps totals, not each step's bucket.
#[derive(Debug, Default)]
struct StepTotals {
    count: AtomicU64,
    /// f64 bits.
    seconds: AtomicU64,
}

impl StepTotals {
    fn set(&self, count: i64, seconds: f64) {
        self.count
            .store(u64::try_from(count).unwrap_or(0), Ordering::Relaxed);
        self.seconds.store(seconds.to_bits(), Ordering::Relaxed);
    }
}

impl Collector for StepTotals {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let count = self.count.load(Ordering::Relaxed);
        let seconds = f64::from_bits(self.seconds.load(Ordering::Relaxed));
        let mut metric = encoder.encode_descriptor(
            "deckhand_step_duration_seconds",
            "Time spent in finished steps.",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(seconds, count, &[(f64::INFINITY, count)], None)
    }
}

/// One number of `Chat::stats`' (platform, calls, waits).
type PlatformColumn = fn(&(&'static str, u64, u64)) -> u64;

/// Calls to the chat platforms' APIs and 429s honoured by waiting, per platform.
struct PlatformCalls {
    ctx: Arc<Ctx>,
}

impl std::fmt::Debug for PlatformCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformCalls")
    }
}

impl Collector for PlatformCalls {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.ctx.chat.stats();
        let columns: [(&str, &str, PlatformColumn); 2] = [
            (
                "deckhand_outbound_calls",
                "Calls to chat platforms' APIs.",
                |s| s.1,
            ),
            (
                "deckhand_rate_limit_waits",
                "429s honoured by waiting.",
                |s| s.2,
            ),
        ];
        for (name, help, value) in columns {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for stat in &stats {
                let label = PlatformLabel { platform: stat.0 };
                let metric = family.encode_family(&label)?;
                ConstCounter::new(value(stat)).encode(metric)?;
            }
        }
        Ok(())
    }
}
