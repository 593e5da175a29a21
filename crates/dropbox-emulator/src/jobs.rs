//! Asynchronous jobs (`files/delete_batch`): launched in the background, polled by id with
//! the route's `/check`. Jobs live in memory: after a restart their ids are unknown
//! (`invalid_async_job_id`), as they would be on Dropbox once it forgets a job.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// A job's poll result once it is done (`Err` for an internal failure), `None` while it runs.
type State = Option<Result<Value, ()>>;

#[derive(Default)]
pub struct Jobs {
    jobs: Arc<Mutex<HashMap<String, State>>>,
}

impl Jobs {
    /// Runs `work` in the background; the job's id. `work` gives the poll result that says
    /// it is complete (or failed), or `Err` for an internal failure, already logged.
    pub fn launch(&self, work: impl Future<Output = Result<Value, ()>> + Send + 'static) -> String {
        let id = format!("dbjid:{}", super::store::random_token(43));
        self.lock().insert(id.clone(), None);
        let (jobs, key) = (self.jobs.clone(), id.clone());
        tokio::spawn(async move {
            let done = work.await;
            jobs.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, Some(done));
        });
        id
    }

    /// The poll result of job `id` (`in_progress` while it runs); `Err` is a `PollError`.
    pub fn check(&self, id: &str) -> Result<Value, Value> {
        match self.lock().get(id) {
            None => Err(json!({".tag": "invalid_async_job_id"})),
            Some(None) => Ok(json!({".tag": "in_progress"})),
            Some(Some(Ok(status))) => Ok(status.clone()),
            Some(Some(Err(()))) => Err(json!({".tag": "internal_error"})),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_is_in_progress_until_its_work_is_done() {
        let jobs = Jobs::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let id = jobs.launch(async move {
            let _ = rx.await;
            Ok(json!({".tag": "complete", "entries": []}))
        });
        assert!(id.starts_with("dbjid:"));
        assert_eq!(jobs.check(&id), Ok(json!({".tag": "in_progress"})));
        tx.send(()).unwrap();
        for _ in 0..100 {
            if jobs.check(&id) != Ok(json!({".tag": "in_progress"})) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(jobs.check(&id).unwrap()[".tag"], "complete");
        assert_eq!(
            jobs.check("dbjid:unknown"),
            Err(json!({".tag": "invalid_async_job_id"}))
        );
        let failed = jobs.launch(async { Err(()) });
        for _ in 0..100 {
            if jobs.check(&failed).is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(jobs.check(&failed), Err(json!({".tag": "internal_error"})));
    }
}
