//! Answers that ride in the acknowledgement: while a command is handled inside the
//! platform's window (Slack's slash-command response, Discord's interaction response),
//! private answers to its author are collected here instead of being sent as separate
//! messages. When the window closes the collection ends, atomically, and later answers
//! go through the outbox as usual.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a command is handled before its acknowledgement goes: well inside the 3
/// seconds Slack and Discord allow, with the store write and the round trip before it.
pub const ACK_WINDOW: Duration = Duration::from_millis(2000);

/// What handling a command inside the window came to.
#[derive(Debug, Default)]
pub struct Answered {
    /// The private answers to its author, in order, for the acknowledgement.
    pub answers: Vec<String>,
    /// Whether the handling ended inside the window (else it goes on after).
    pub finished: bool,
}

/// Runs `work` with a reply open for `user`'s answers, for at most [`ACK_WINDOW`];
/// `work` is spawned, so what is still running when the window closes goes on.
pub async fn within_window<F>(user: &str, work: F) -> Answered
where
    F: Future<Output = ()> + Send + 'static,
{
    let reply = Reply::new(user);
    let (done, finished) = tokio::sync::oneshot::channel();
    let work = reply.clone().scope(work);
    tokio::spawn(async move {
        work.await;
        let _ = done.send(());
    });
    // Ends when the work does, or when it says its answer is complete (what is left is
    // channel work, such as a card waiting its turn behind a rate limit).
    let complete = async {
        tokio::select! {
            _ = finished => {}
            _ = reply.complete.notified() => {}
        }
    };
    let finished = tokio::time::timeout(ACK_WINDOW, complete).await.is_ok();
    Answered {
        answers: reply.close(),
        finished,
    }
}

tokio::task_local! {
    static REPLY: Arc<Reply>;
}

/// The answers collected for one command's author.
#[derive(Debug)]
pub struct Reply {
    user: String,
    /// `None` once the acknowledgement has gone.
    answers: Mutex<Option<Vec<String>>>,
    /// Notified (a stored permit) when the command's answer is complete.
    complete: tokio::sync::Notify,
}

impl Reply {
    pub fn new(user: &str) -> Arc<Reply> {
        Arc::new(Reply {
            user: user.to_owned(),
            answers: Mutex::new(Some(Vec::new())),
            complete: tokio::sync::Notify::new(),
        })
    }

    /// Runs `work` with this reply open to it (and to nothing it spawns).
    pub async fn scope<F: std::future::Future>(self: Arc<Self>, work: F) -> F::Output {
        REPLY.scope(self, work).await
    }

    /// Ends the collection: what was collected, for the acknowledgement.
    pub fn close(&self) -> Vec<String> {
        self.answers
            .lock()
            .ok()
            .and_then(|mut answers| answers.take())
            .unwrap_or_default()
    }
}

/// Says, from inside a command's handling, that its answer is complete: the
/// acknowledgement goes now with what was collected, and the rest of the work (a job's
/// card posted behind the platform's rate limit) goes on without holding it.
pub fn answer_complete() {
    let _ = REPLY.try_with(|reply| reply.complete.notify_one());
}

/// Takes `text` for the acknowledgement if the current task is handling a command by
/// `user` whose acknowledgement has not gone yet; otherwise gives it back.
pub fn collect(user: &str, text: String) -> Result<(), String> {
    let taken = REPLY.try_with(|reply| {
        if reply.user != user {
            return false;
        }
        match reply.answers.lock() {
            Ok(mut answers) => match answers.as_mut() {
                Some(answers) => {
                    answers.push(text.clone());
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    });
    match taken {
        Ok(true) => Ok(()),
        _ => Err(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_collected_until_the_acknowledgement_goes() {
        let reply = Reply::new("slack:U1");
        let inner = reply.clone();
        reply
            .clone()
            .scope(async move {
                assert_eq!(collect("slack:U1", "first".into()), Ok(()));
                assert_eq!(collect("slack:U2", "other".into()), Err("other".into()));
                assert_eq!(inner.close(), vec!["first".to_owned()]);
                assert_eq!(collect("slack:U1", "late".into()), Err("late".into()));
            })
            .await;
        assert_eq!(collect("slack:U1", "outside".into()), Err("outside".into()));
    }

    #[tokio::test]
    async fn a_complete_answer_lets_the_acknowledgement_go_before_the_work_ends() {
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let answered = within_window("slack:U1", async move {
            collect("slack:U1", "job #1 created".into()).unwrap();
            answer_complete();
            let _ = wait.await; // the card, behind a rate limit
        })
        .await;
        // The work is still blocked: only the complete answer can have ended the wait
        // as finished.
        assert!(answered.finished);
        assert_eq!(answered.answers, vec!["job #1 created".to_owned()]);
        drop(release);
    }
}
