//! What a server's sync answer asks of the device, read before the store is touched: which
//! pushes were taken (and so which heads the server now holds), refused or wanted whole, the
//! pulled changes per household, the households that left the user's areas, and whether the
//! server went back to a backup. [`super::Store::apply_sync`] then carries it out in one
//! transaction.

use std::collections::{BTreeMap, BTreeSet};

use zoufang_shared::doc::{ChangeHash, DocError, IncomingChange};
use zoufang_shared::wire::{PushOutcome, SyncResponse};

use super::sync_state::{Rejection, SentHeads};

#[derive(Debug, Default)]
pub struct Answer {
    /// Accepted pushes, each with heads the server now holds: those the push was sent with, or
    /// (a bundle's reply, read later) those the server names.
    pub accepted: Vec<(String, Vec<ChangeHash>)>,
    pub rejected: Vec<Rejection>,
    /// Households the server wants whole (it lacks earlier changes).
    pub need_all: BTreeSet<String>,
    /// Pulled changes per household, in the order they came (causal order).
    pub pulled: BTreeMap<String, Vec<IncomingChange>>,
    /// Households that left the user's areas (protocol 5): they go, whole.
    pub gone: BTreeSet<String>,
    /// The server was restored from a backup since the device's last sync.
    pub restored: bool,
}

impl Answer {
    pub fn pulled_changes(&self) -> usize {
        self.pulled.values().map(Vec::len).sum()
    }
}

/// Reads `res`, the answer to the pushes in `sent`, for a device that last synced under the
/// scope key `previous_scope`. A pulled change that does not decode fails the whole answer (the
/// store stays as it was and the next sync asks again).
pub fn read_answer(
    res: &SyncResponse,
    sent: &SentHeads,
    previous_scope: &str,
) -> Result<Answer, DocError> {
    let mut answer = Answer {
        restored: !previous_scope.is_empty() && log_of(previous_scope) != log_of(&res.scope),
        gone: res.gone.iter().cloned().collect(),
        ..Answer::default()
    };
    for r in &res.results {
        match &r.outcome {
            PushOutcome::Accepted { heads } => {
                let heads = match sent.get(&r.household) {
                    Some(sent) => sent.clone(),
                    None => heads.iter().map(|h| ChangeHash(*h)).collect(),
                };
                answer.accepted.push((r.household.clone(), heads));
            }
            PushOutcome::NeedAll => {
                answer.need_all.insert(r.household.clone());
            }
            PushOutcome::Rejected { code, message } => answer.rejected.push(Rejection {
                household: r.household.clone(),
                code: code.clone(),
                message: message.clone(),
            }),
        }
    }
    for p in &res.pulled {
        let change = IncomingChange::decode(&p.change)?;
        answer
            .pulled
            .entry(p.household.clone())
            .or_default()
            .push(change);
    }
    Ok(answer)
}

/// The change-log part of a scope key (`<areas>.<log>`; none before the server's first restore).
/// When it changes, the server was restored from a backup and may lack anything this device
/// sent or pulled since that backup.
pub fn log_of(scope: &str) -> &str {
    scope.split_once('.').map_or("", |(_, log)| log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoufang_shared::wire::PushResult;

    fn answer(scope: &str, results: Vec<PushResult>) -> SyncResponse {
        SyncResponse {
            results,
            cursor: 7,
            scope: scope.to_owned(),
            gone: vec!["hh-gone".into()],
            ..SyncResponse::default()
        }
    }

    #[test]
    fn the_log_part_of_a_scope_key() {
        assert_eq!(log_of(""), "");
        assert_eq!(log_of("0123456789abcdef"), "");
        assert_eq!(log_of("0123456789abcdef.4f1c2a9b7e01"), "4f1c2a9b7e01");
    }

    #[test]
    fn outcomes_are_sorted_and_a_new_log_means_a_restore() {
        let sent_head = ChangeHash([1; 32]);
        let named_head = [2; 32];
        let sent: SentHeads = [("hh-a".to_owned(), vec![sent_head])].into();
        let res = answer(
            "k.log2",
            vec![
                PushResult {
                    household: "hh-a".into(),
                    outcome: PushOutcome::Accepted {
                        heads: vec![named_head],
                    },
                },
                PushResult {
                    household: "hh-b".into(),
                    outcome: PushOutcome::Accepted {
                        heads: vec![named_head],
                    },
                },
                PushResult {
                    household: "hh-c".into(),
                    outcome: PushOutcome::NeedAll,
                },
                PushResult {
                    household: "hh-d".into(),
                    outcome: PushOutcome::Rejected {
                        code: "out_of_scope".into(),
                        message: "m".into(),
                    },
                },
            ],
        );
        let a = read_answer(&res, &sent, "k.log1").expect("read");
        // What was sent counts over HTTP; a bundle's reply (nothing sent on record) names heads.
        assert_eq!(
            a.accepted,
            vec![
                ("hh-a".to_owned(), vec![sent_head]),
                ("hh-b".to_owned(), vec![ChangeHash(named_head)])
            ]
        );
        assert_eq!(a.need_all, ["hh-c".to_owned()].into());
        assert_eq!(a.rejected.len(), 1);
        assert_eq!(a.rejected[0].code, "out_of_scope");
        assert_eq!(a.gone, ["hh-gone".to_owned()].into());
        assert!(a.restored);
        assert!(!read_answer(&res, &sent, "k.log2").expect("read").restored);
        assert!(
            !read_answer(&res, &sent, "").expect("read").restored,
            "a first sync"
        );
    }

    #[test]
    fn an_undecodable_pulled_change_fails_the_answer() {
        let mut res = answer("k", Vec::new());
        res.pulled.push(zoufang_shared::wire::PulledChange {
            household: "hh-a".into(),
            change: vec![0xde, 0xad],
        });
        assert!(read_answer(&res, &SentHeads::new(), "k").is_err());
    }
}
