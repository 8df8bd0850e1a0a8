//! Locking a mutex whose holder panicked: the data (counters, logs of failures, a notifier)
//! stays usable, so one panicked task never wedges the others.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking the guard back from a poisoned lock.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
