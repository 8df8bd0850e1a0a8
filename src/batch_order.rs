//! Input order across filter workers: a worker takes a ticket with each batch it receives
//! and hands its filtered batch to the outputs only when that ticket's turn comes, so the
//! outputs see batches in the order the inputs sent them, with any number of workers
//! (Logstash's `pipeline.ordered`, here always on). Filtering still runs in parallel; only
//! the hand-over waits.

use crate::lock::lock;
use std::sync::{Condvar, Mutex, PoisonError};

/// The ticket counter and whose turn it is.
#[derive(Debug, Default)]
pub struct BatchOrder {
    state: Mutex<OrderState>,
    turn_passed: Condvar,
}

#[derive(Debug, Default)]
struct OrderState {
    /// The number the next ticket gets.
    next_ticket: u64,
    /// The ticket whose batch goes to the outputs next.
    serving: u64,
}

/// A place in the order, taken with a batch. Its turn must pass, even if the batch is
/// dropped: a ticket dropped before [`Ticket::wait_turn`] waits for its turn and passes it.
#[derive(Debug)]
pub struct Ticket<'a> {
    order: &'a BatchOrder,
    number: u64,
    waited: bool,
}

/// This ticket's turn: the outputs get this batch now. Dropping it passes the turn on.
#[derive(Debug)]
pub struct Turn<'a> {
    order: &'a BatchOrder,
}

impl BatchOrder {
    /// Takes the next ticket. Call it while holding the lock of the channel the batch came
    /// from, so tickets follow the channel's order.
    pub fn ticket(&self) -> Ticket<'_> {
        let mut state = lock(&self.state);
        let number = state.next_ticket;
        state.next_ticket += 1;
        Ticket {
            order: self,
            number,
            waited: false,
        }
    }

    fn wait_for(&self, number: u64) {
        let mut state = lock(&self.state);
        while state.serving != number {
            state = self
                .turn_passed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn pass_turn(&self) {
        lock(&self.state).serving += 1;
        self.turn_passed.notify_all();
    }
}

impl<'a> Ticket<'a> {
    /// Blocks until every earlier ticket's batch has gone to the outputs.
    pub fn wait_turn(mut self) -> Turn<'a> {
        self.order.wait_for(self.number);
        self.waited = true;
        Turn { order: self.order }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.waited {
            self.order.wait_for(self.number);
            self.order.pass_turn();
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.order.pass_turn();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn batches_are_handed_over_in_ticket_order_whatever_order_workers_finish_in() {
        let order = BatchOrder::default();
        let handed_over = Mutex::new(Vec::new());
        let tickets: Vec<Ticket> = (0..8).map(|_| order.ticket()).collect();
        std::thread::scope(|scope| {
            // Later tickets finish their work first.
            for (index, ticket) in tickets.into_iter().enumerate().rev() {
                let handed_over = &handed_over;
                scope.spawn(move || {
                    std::thread::sleep(Duration::from_millis(5 * (8 - index as u64)));
                    let _turn = ticket.wait_turn();
                    handed_over.lock().unwrap().push(index);
                });
            }
        });
        assert_eq!(
            handed_over.into_inner().unwrap(),
            (0..8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_ticket_dropped_unused_passes_its_turn() {
        // Leaked, so the waiting thread may outlive a failed test instead of hanging it.
        let order: &'static BatchOrder = Box::leak(Box::default());
        let first = order.ticket();
        let second = order.ticket();
        drop(first);
        let (turns, turn_came) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(second.wait_turn());
            drop(order.ticket().wait_turn());
            turns.send(()).unwrap();
        });
        assert!(turn_came.recv_timeout(Duration::from_secs(5)).is_ok());
    }
}
