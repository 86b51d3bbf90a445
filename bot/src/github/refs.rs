//! Refs become commits: a job's ref resolved to the SHA it deploys, and what changed
//! since the env's last good deploy, as the card's lines.

use super::{GitHub, GitHubError, Repo, short};

/// Commits listed by name on a card; the compare link has the rest.
const LISTED: usize = 5;

/// Why a ref did not resolve.
#[derive(Debug, Clone)]
pub enum RefError {
    /// No branch, tag or commit of that name; the names nearest to it.
    Unknown {
        near: Vec<String>,
    },
    GitHub(GitHubError),
}

impl RefError {
    pub fn say(&self, repo: &Repo, git_ref: &str, clock: &crate::clock::Clock) -> String {
        match self {
            RefError::Unknown { near } if near.is_empty() => {
                format!(
                    "There is no branch, tag or commit `{git_ref}` in {}.",
                    repo.full
                )
            }
            RefError::Unknown { near } => format!(
                "There is no branch, tag or commit `{git_ref}` in {}. Nearest: {}.",
                repo.full,
                near.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            RefError::GitHub(error) => error.say(repo, clock),
        }
    }
}

/// The full SHA `git_ref` names in `repo` now.
pub async fn resolve(github: &GitHub, repo: &Repo, git_ref: &str) -> Result<String, RefError> {
    resolve_commit(github, repo, git_ref)
        .await
        .map(|(sha, _)| sha)
}

/// [`resolve`], with when the commit was made (its committer's date, in ms), for lead
/// time.
pub async fn resolve_commit(
    github: &GitHub,
    repo: &Repo,
    git_ref: &str,
) -> Result<(String, Option<i64>), RefError> {
    match github.commit(repo, git_ref).await {
        Ok(commit) => {
            let made = commit
                .commit
                .committer
                .as_ref()
                .or(commit.commit.author.as_ref())
                .and_then(|p| p.date)
                .map(|d| d.timestamp_millis());
            Ok((commit.sha, made))
        }
        Err(GitHubError::NotFound { .. }) => {
            // Tell a missing ref from a missing (or invisible) repository.
            github.repository(repo).await.map_err(RefError::GitHub)?;
            let names = github.ref_names(repo).await.map_err(RefError::GitHub)?;
            Err(RefError::Unknown {
                near: nearest(git_ref, &names),
            })
        }
        Err(other) => Err(RefError::GitHub(other)),
    }
}

/// Up to three names close to `given`, closest first.
fn nearest(given: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .map(|n| (strsim::jaro_winkler(given, n), n))
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}

/// The card's lines for the change from the running commit (`base`, deployed by job
/// `base_job`) to `head`. `None` when GitHub cannot compare them (the card says nothing
/// rather than something wrong).
pub async fn change(
    github: &GitHub,
    repo: &Repo,
    base: &str,
    base_job: i64,
    head: &str,
) -> Result<String, GitHubError> {
    let comparison = github.compare(repo, base, head).await?;
    let link = comparison
        .html_url
        .as_deref()
        .map(|url| format!("\ncompare: {url}"))
        .unwrap_or_default();
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    Ok(match comparison.status.as_str() {
        "identical" => format!(
            "same commit as the running deploy #{base_job} (`{}`)",
            short(base)
        ),
        "behind" => format!(
            "⏪ this goes back {} commit{} from the running `{}` (#{base_job}){link}",
            comparison.behind_by,
            plural(comparison.behind_by),
            short(base)
        ),
        "diverged" => format!(
            "↔️ diverged from the running `{}` (#{base_job}): {} commit{} ahead, {} behind{link}",
            short(base),
            comparison.ahead_by,
            plural(comparison.ahead_by),
            comparison.behind_by
        ),
        _ => {
            let mut text = format!(
                "{} commit{} since #{base_job} (`{}`):",
                comparison.ahead_by,
                plural(comparison.ahead_by),
                short(base)
            );
            // GitHub lists the oldest first; the newest matter most.
            for commit in comparison.commits.iter().rev().take(LISTED) {
                let subject = commit.commit.message.lines().next().unwrap_or("");
                let subject: String = subject.chars().take(72).collect();
                let author = commit
                    .commit
                    .author
                    .as_ref()
                    .map(|a| a.name.as_str())
                    .unwrap_or("?");
                text.push_str(&format!(
                    "\n• `{}` {subject} — {author}",
                    short(&commit.sha)
                ));
            }
            let more = comparison.ahead_by - comparison.commits.len().min(LISTED) as i64;
            if more > 0 {
                text.push_str(&format!("\n• … and {more} more"));
            }
            text.push_str(&link);
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn nearest_names_are_close_and_few() {
        let names: Vec<String> = ["main", "v1.4.2", "v1.4.1", "release", "v2.0.0"]
            .map(String::from)
            .to_vec();
        let near = nearest("v1.4.3", &names);
        assert_eq!(near[..2], ["v1.4.2".to_owned(), "v1.4.1".to_owned()]);
        assert!(!near.contains(&"main".to_owned()));
        assert!(nearest("zzzzzz", &names).is_empty());
    }
}
