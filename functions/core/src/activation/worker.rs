//! `portal-local`'s in-process activation worker: the same [`Activator::process`] the Lambda's
//! stream handler calls, fed right after the callback records a serial, plus a periodic sweep.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Activator, Trigger};
use crate::buypass::registry::CardKey;

/// Retries of a failed notification before leaving it to the sweep.
const EVENT_RETRIES: u32 = 3;

/// Hands serials to the worker; cheap to clone.
#[derive(Clone)]
pub struct ActivationTrigger {
    tx: mpsc::UnboundedSender<(CardKey, u32)>,
    delay: Duration,
}

impl ActivationTrigger {
    /// Asks the worker to process `serial` now (like a stream record would), or after the
    /// worker's event delay.
    pub fn notify(&self, card: &CardKey) {
        let (tx, serial) = (self.tx.clone(), card.clone());
        let send = move || {
            if tx.send((serial, 0)).is_err() {
                tracing::warn!("activation worker is not running; the sweep will pick the serial up");
            }
        };
        if self.delay.is_zero() {
            send();
        } else {
            let delay = self.delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                send();
            });
        }
    }
}

/// Starts the worker on the current runtime. `event_delay` holds each new serial back that
/// long before activating it (local only: lets a developer, or the browser tests, watch the
/// pending state; zero is the real behaviour).
pub fn spawn_local_worker(
    activator: Arc<Activator>,
    sweep_every: Duration,
    event_delay: Duration,
) -> ActivationTrigger {
    let (tx, mut rx) = mpsc::unbounded_channel::<(CardKey, u32)>();
    let retry_tx = tx.clone();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = rx.recv() => {
                    let Some((serial, attempt)) = next else { break };
                    if activator.process(&serial, Trigger::Event).await.is_err() && attempt < EVENT_RETRIES {
                        let tx = retry_tx.clone();
                        let delay = Duration::from_secs(1u64 << attempt);
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send((serial, attempt + 1));
                        });
                    }
                }
                _ = sweep.tick() => {
                    if let Err(e) = activator.sweep().await {
                        tracing::warn!(error = %e, "activation sweep failed");
                    }
                }
            }
        }
    });
    ActivationTrigger { tx, delay: event_delay }
}
