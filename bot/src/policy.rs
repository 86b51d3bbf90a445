//! Who may do what, and which gates hold: pure functions of the config and the facts
//! handed to them, each returning the `Refusal` a person would get.

use deckhand_commands::{IncidentId, did_you_mean};

use crate::config::{Config, EnvConfig};
use crate::refusal::{Act, GatingIncident, Refusal};
use crate::store::jobs::{Job, JobState};
use crate::store::secrets::Secret;

/// The env's config, or a refusal naming the nearest configured env.
pub fn known_env<'c>(config: &'c Config, name: &str) -> Result<&'c EnvConfig, Refusal> {
    config.env(name).ok_or_else(|| {
        let known: Vec<String> = config.environments.keys().cloned().collect();
        Refusal::NoSuchEnv {
            given: name.to_owned(),
            near: did_you_mean(name, known.iter().map(String::as_str)).map(str::to_owned),
            known,
        }
    })
}

/// The app a command is about: the one named, or the only one configured (`None` when
/// the config has no apps).
pub fn known_app(config: &Config, named: Option<String>) -> Result<Option<String>, Refusal> {
    let known: Vec<String> = config.apps.keys().cloned().collect();
    match named {
        Some(name) if config.apps.contains_key(&name) => Ok(Some(name)),
        Some(name) => Err(Refusal::NoSuchApp {
            near: did_you_mean(&name, known.iter().map(String::as_str)).map(str::to_owned),
            given: name,
            known,
        }),
        None if known.len() > 1 => Err(Refusal::WhichApp { known }),
        None => Ok(known.into_iter().next()),
    }
}

/// Whether `person` may run jobs on (and lock) `env`: its deployers and admins.
pub fn may_deploy(
    config: &Config,
    env_name: &str,
    env: &EnvConfig,
    person: &str,
    act: Act,
) -> Result<(), Refusal> {
    if config.is_admin(person) || config.includes(&env.deployers, person) {
        return Ok(());
    }
    Err(Refusal::NotDeployer {
        env: env_name.to_owned(),
        act,
        roles: env.deployers.clone(),
    })
}

/// A job may be cancelled by its requester and by its env's deployers.
pub fn may_cancel(config: &Config, job: &Job, person: &str) -> Result<(), Refusal> {
    let deployer = config
        .env(&job.env)
        .is_some_and(|env| config.is_admin(person) || config.includes(&env.deployers, person));
    if config.same_person(&job.requester, person) || deployer {
        return Ok(());
    }
    Err(Refusal::NotCanceller {
        job: job.id,
        env: job.env.clone(),
    })
}

/// Whether `person`'s ✅ (or ❌) on `job` may count at `now`: the job waits, has not
/// expired, was not requested by them, and they are among its approvers.
pub fn may_decide(
    config: &Config,
    job: &Job,
    person: &str,
    approve: bool,
    now: i64,
) -> Result<(), Refusal> {
    let (id, env) = (job.id, job.env.clone());
    if job.state != JobState::AwaitingApproval {
        return Err(Refusal::NotAwaitingApproval {
            job: id,
            env,
            state: job.state,
        });
    }
    if job.approval_expires_at.is_some_and(|at| at < now) {
        return Err(Refusal::ApprovalExpired { job: id, env });
    }
    // Per person, not per account: the requester's Discord account is still the
    // requester.
    if config.same_person(&job.requester, person) {
        return Err(if approve {
            Refusal::SelfApproval { job: id, env }
        } else {
            Refusal::SelfRejection { job: id, env }
        });
    }
    let approvers = config.env(&job.env).map(|e| e.approvers.clone());
    let allowed = approvers
        .as_ref()
        .is_some_and(|a| config.includes(a, person) || config.is_admin(person));
    if !allowed {
        return Err(Refusal::NotApprover {
            job: id,
            env,
            approve,
            approvers: approvers.unwrap_or_default(),
        });
    }
    Ok(())
}

/// `/freeze` and `/unfreeze`: admins and `bot.freezers`.
pub fn may_freeze(config: &Config, env_name: &str, person: &str) -> Result<(), Refusal> {
    if config.is_admin(person) || config.includes(&config.bot.freezers, person) {
        Ok(())
    } else {
        Err(Refusal::NotFreezer {
            env: env_name.to_owned(),
        })
    }
}

/// `/announce`: admins and the roles in `bot.announcers`.
pub fn may_announce(config: &Config, person: &str) -> Result<(), Refusal> {
    if config.is_admin(person) || config.includes(&config.bot.announcers, person) {
        Ok(())
    } else {
        Err(Refusal::NotAnnouncer)
    }
}

/// `/incident declare`: `incidents.declarers`, or (unset) anyone who holds a role; admins.
pub fn may_declare(config: &Config, person: &str) -> Result<(), Refusal> {
    let declarers = config.incidents.as_ref().and_then(|i| i.declarers.as_ref());
    let allowed = match declarers {
        Some(entries) => config.includes(entries, person),
        None => config.holds_a_role(person),
    };
    if allowed || config.is_admin(person) {
        Ok(())
    } else {
        Err(Refusal::NotDeclarer {
            who: match declarers {
                Some(entries) => entries
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                None => "people in one of deckhand's roles".into(),
            },
        })
    }
}

/// `/incident update` and `resolve`: the commander, `incidents.responders`, admins.
pub fn may_respond(
    config: &Config,
    incident: &crate::store::incidents::Incident,
    person: &str,
) -> Result<(), Refusal> {
    let responders = config
        .incidents
        .as_ref()
        .map(|i| i.responders.as_slice())
        .unwrap_or_default();
    if config.same_person(&incident.commander, person)
        || config.includes(responders, person)
        || config.is_admin(person)
    {
        Ok(())
    } else {
        Err(Refusal::NotResponder {
            id: IncidentId(incident.id as u64),
            commander: incident.commander_name.clone(),
        })
    }
}

/// The incident gate: a deploy to a gated env while a gating incident is open passes
/// only as that incident's hotfix. Returns the incident it is a hotfix for.
pub fn incident_gate(
    env: &str,
    git_ref: &str,
    gating: &[GatingIncident],
    hotfix: Option<IncidentId>,
) -> Result<Option<i64>, Refusal> {
    let hotfix_for =
        hotfix.and_then(|id| gating.iter().find(|i| i.id == id.0 as i64).map(|i| i.id));
    // `--hotfix INC-N` passes INC-N's gate and no other: while a second gating incident
    // is open, the deploy is held for that one.
    let still_holding: Vec<GatingIncident> = gating
        .iter()
        .filter(|i| Some(i.id) != hotfix_for)
        .cloned()
        .collect();
    if still_holding.is_empty() {
        return Ok(hotfix_for);
    }
    Err(Refusal::IncidentGate {
        env: env.to_owned(),
        git_ref: git_ref.to_owned(),
        incidents: still_holding,
    })
}

/// A secret's owner: the person named, or a member of the role named.
pub fn is_secret_owner(config: &Config, secret: &Secret, person: &str) -> bool {
    secret.owner == person || config.includes(std::slice::from_ref(&secret.owner), person)
}

/// `/secrets rotated`: the owner, the env's deployers, admins.
pub fn may_record_rotation(config: &Config, secret: &Secret, person: &str) -> Result<(), Refusal> {
    let deployer = config
        .env(&secret.env)
        .is_some_and(|e| config.includes(&e.deployers, person));
    if is_secret_owner(config, secret, person) || config.is_admin(person) || deployer {
        return Ok(());
    }
    Err(Refusal::NotSecretManager {
        name: secret.name.clone(),
        env: secret.env.clone(),
        owner: secret.owner.clone(),
    })
}

/// ✅ or 💤 on a reminder: the owner or an admin.
pub fn may_answer_reminder(config: &Config, secret: &Secret, person: &str) -> Result<(), Refusal> {
    if is_secret_owner(config, secret, person) || config.is_admin(person) {
        return Ok(());
    }
    Err(Refusal::NotSecretOwner {
        name: secret.name.clone(),
        env: secret.env.clone(),
        owner: secret.owner.clone(),
    })
}

/// `/secrets add`: the env's deployers and admins.
pub fn may_add_secret(
    config: &Config,
    env_name: &str,
    env: &EnvConfig,
    person: &str,
) -> Result<(), Refusal> {
    if config.is_admin(person) || config.includes(&env.deployers, person) {
        Ok(())
    } else {
        Err(Refusal::NotSecretAdder {
            env: env_name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobKind;

    const CONFIG: &str = r#"
[roles]
admins = ["console:root"]
devs = ["console:alice", "console:bob"]
leads = ["console:lena"]

[apps.web]
[apps.api]

[environments.staging]
deployers = ["devs"]
deploy = [{ name = "go", run = ["true"] }]

[environments.prod]
deployers = ["devs"]
approvers = ["leads", "devs"]
approvals = 1
deploy = [{ name = "go", run = ["true"] }]
"#;

    fn config() -> Config {
        Config::parse(CONFIG, "policy.toml").expect("test config")
    }

    fn job(requester: &str, state: JobState, expires_at: Option<i64>) -> Job {
        Job {
            id: 7,
            kind: JobKind::Deploy,
            env: "prod".into(),
            app: Some("web".into()),
            git_ref: Some("v1".into()),
            previous_ref: None,
            requester: requester.into(),
            requester_name: requester.into(),
            platform: "console".into(),
            channel: "terminal".into(),
            state,
            reason: None,
            params_hash: String::new(),
            approvals_required: 1,
            approval_expires_at: expires_at,
            rolls_back: None,
            restore_of: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
            cancel_requested: false,
            lease_owner: None,
            error: None,
            artifact: None,
            hotfix_for: None,
            held: None,
            github: Default::default(),
            break_glass: None,
        }
    }

    fn secret(owner: &str) -> Secret {
        crate::testing::secret("STRIPE_KEY", "prod", owner)
    }

    #[test]
    fn an_unknown_env_is_refused_with_the_nearest_name() {
        let config = config();
        assert!(known_env(&config, "prod").is_ok());
        assert_eq!(
            known_env(&config, "prdo").unwrap_err(),
            Refusal::NoSuchEnv {
                given: "prdo".into(),
                near: Some("prod".into()),
                known: vec!["prod".into(), "staging".into()],
            }
        );
    }

    #[test]
    fn with_several_apps_a_command_must_name_one() {
        let config = config();
        assert_eq!(
            known_app(&config, Some("web".into())),
            Ok(Some("web".into()))
        );
        assert!(matches!(
            known_app(&config, None),
            Err(Refusal::WhichApp { .. })
        ));
        assert!(matches!(
            known_app(&config, Some("wbe".into())),
            Err(Refusal::NoSuchApp { near: Some(n), .. }) if n == "web"
        ));
    }

    #[test]
    fn only_deployers_and_admins_may_deploy() {
        let config = config();
        let prod = config.env("prod").unwrap();
        assert!(may_deploy(&config, "prod", prod, "console:alice", Act::Deploy).is_ok());
        assert!(may_deploy(&config, "prod", prod, "console:root", Act::Deploy).is_ok());
        assert_eq!(
            may_deploy(&config, "prod", prod, "console:mallory", Act::Lock),
            Err(Refusal::NotDeployer {
                env: "prod".into(),
                act: Act::Lock,
                roles: vec!["devs".into()],
            })
        );
    }

    #[test]
    fn self_approval_is_refused_but_another_approver_counts() {
        let config = config();
        let waiting = job("console:alice", JobState::AwaitingApproval, None);
        assert!(matches!(
            may_decide(&config, &waiting, "console:alice", true, 0),
            Err(Refusal::SelfApproval { job: 7, .. })
        ));
        assert!(matches!(
            may_decide(&config, &waiting, "console:alice", false, 0),
            Err(Refusal::SelfRejection { job: 7, .. })
        ));
        assert!(may_decide(&config, &waiting, "console:bob", true, 0).is_ok());
        assert!(may_decide(&config, &waiting, "console:lena", false, 0).is_ok());
        assert!(may_decide(&config, &waiting, "console:root", true, 0).is_ok());
    }

    #[test]
    fn a_stranger_an_ended_job_and_an_expired_one_do_not_count() {
        let config = config();
        let waiting = job("console:alice", JobState::AwaitingApproval, Some(100));
        assert!(matches!(
            may_decide(&config, &waiting, "console:mallory", true, 0),
            Err(Refusal::NotApprover { approve: true, .. })
        ));
        assert!(matches!(
            may_decide(&config, &waiting, "console:bob", true, 101),
            Err(Refusal::ApprovalExpired { job: 7, .. })
        ));
        let done = job("console:alice", JobState::Succeeded, None);
        assert!(matches!(
            may_decide(&config, &done, "console:bob", true, 0),
            Err(Refusal::NotAwaitingApproval {
                state: JobState::Succeeded,
                ..
            })
        ));
    }

    #[test]
    fn requester_and_deployers_may_cancel() {
        let config = config();
        let running = job("console:lena", JobState::Running, None);
        assert!(may_cancel(&config, &running, "console:lena").is_ok());
        assert!(may_cancel(&config, &running, "console:bob").is_ok());
        assert!(matches!(
            may_cancel(&config, &running, "console:mallory"),
            Err(Refusal::NotCanceller { job: 7, .. })
        ));
    }

    #[test]
    fn the_gate_holds_unless_the_deploy_is_that_incidents_hotfix() {
        let gating = vec![GatingIncident {
            id: 3,
            severity: "sev1".into(),
            title: "db down".into(),
        }];
        assert_eq!(incident_gate("prod", "v1", &[], None), Ok(None));
        assert_eq!(
            incident_gate("prod", "v1", &gating, Some(IncidentId(3))),
            Ok(Some(3))
        );
        assert!(matches!(
            incident_gate("prod", "v1", &gating, Some(IncidentId(4))),
            Err(Refusal::IncidentGate { .. })
        ));
        assert!(incident_gate("prod", "v1", &gating, None).is_err());
    }

    #[test]
    fn announcing_takes_an_admin_or_an_announcer() {
        let config = config();
        assert!(may_announce(&config, "console:root").is_ok());
        assert_eq!(
            may_announce(&config, "console:alice"),
            Err(Refusal::NotAnnouncer)
        );
    }

    #[test]
    fn secret_owners_by_role_may_answer_reminders_and_deployers_record_rotations() {
        let config = config();
        let by_role = secret("leads");
        assert!(may_answer_reminder(&config, &by_role, "console:lena").is_ok());
        assert!(may_answer_reminder(&config, &by_role, "console:alice").is_err());
        assert!(may_record_rotation(&config, &by_role, "console:alice").is_ok());
        assert!(matches!(
            may_record_rotation(&config, &by_role, "console:mallory"),
            Err(Refusal::NotSecretManager { .. })
        ));
        let prod = config.env("prod").unwrap();
        assert!(may_add_secret(&config, "prod", prod, "console:bob").is_ok());
        assert!(may_add_secret(&config, "prod", prod, "console:lena").is_err());
    }
}
