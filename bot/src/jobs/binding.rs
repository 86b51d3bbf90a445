//! What an approval is bound to: the job's parameters and the pipeline that would run,
//! hashed when the job is created and recomputed when it is approved and claimed.

use sha2::{Digest, Sha256};

use crate::config::{Config, JobKind};
use crate::store::jobs::Job;

/// The parts of a job an approval covers.
#[derive(Debug, Clone, Copy)]
pub struct Bound<'a> {
    pub kind: JobKind,
    pub env: &'a str,
    pub app: Option<&'a str>,
    pub git_ref: Option<&'a str>,
    /// The commit the ref resolved to (GitHub apps): a branch that moves is a new plan.
    pub commit_sha: Option<&'a str>,
    pub rolls_back: Option<i64>,
    pub restore_of: Option<i64>,
}

impl<'a> Bound<'a> {
    pub fn of(job: &'a Job) -> Bound<'a> {
        Bound {
            kind: job.kind,
            env: &job.env,
            app: job.app.as_deref(),
            git_ref: job.git_ref.as_deref(),
            commit_sha: job.github.commit_sha.as_deref(),
            rolls_back: job.rolls_back,
            restore_of: job.restore_of,
        }
    }

    /// The hash: kind, env, app, ref, its commit, and a digest of the env's pipeline for
    /// this kind as the config defines it now. A changed step (its command, its URL,
    /// its timeout…) changes the hash, so an approval of the old plan does not carry.
    pub fn hash(&self, config: &Config) -> String {
        let mut hasher = Sha256::new();
        let pipeline = config
            .env(self.env)
            .map(|env| format!("{:?}", env.pipeline(self.kind)))
            .unwrap_or_default();
        for part in [
            self.kind.as_str(),
            self.env,
            self.app.unwrap_or(""),
            self.git_ref.unwrap_or(""),
            self.commit_sha.unwrap_or(""),
            &self.rolls_back.map(|n| n.to_string()).unwrap_or_default(),
            &self.restore_of.map(|n| n.to_string()).unwrap_or_default(),
            &hex::encode(Sha256::digest(pipeline.as_bytes())),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hex::encode(hasher.finalize())
    }
}

/// The binding a job would have now, under `config`.
pub fn now_for(config: &Config, job: &Job) -> String {
    Bound::of(job).hash(config)
}
