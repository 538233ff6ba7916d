//! The fast path of the field history: automerge's map semantics replayed once over the
//! changes, keeping each key's operations, so a change costs about its own size. Apart from the
//! automerge path because it models the document itself and bails out (`Unfollowed::Shape`)
//! on whatever it does not model.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use automerge::legacy::{Key as LegacyKey, ObjectId, OpId, OpType};
use automerge::{ActorId, Change, ChangeHash, ExpandedChange, ObjType, Prop, ScalarValue};
use serde_json::{Map, Value as Json};

use super::super::DocError;
use super::super::author::change_info;
use super::super::tree::{MAX_DEPTH, scalar_to_json, too_deep};
use super::{After, FieldChange, Fields, rows};

/// Why [`Replay`] stopped.
pub(super) enum Unfollowed {
    /// The document holds something the replay does not model.
    Shape,
    /// Reading a value failed, as it would have through automerge.
    Doc(DocError),
}

impl From<DocError> for Unfollowed {
    fn from(e: DocError) -> Self {
        Unfollowed::Doc(e)
    }
}

/// Where a key sits: its object and its name.
type Slot = (ObjectId, Rc<str>);

/// What an operation left at its key.
enum Held {
    Scalar(ScalarValue),
    /// A map (or table) object, whose id is the operation's.
    Map,
}

struct ReplayOp {
    id: OpId,
    slot: Slot,
    held: Held,
    /// Index of the change that made it.
    change: usize,
    /// Changes holding an operation that overwrote or deleted it.
    succ: Vec<usize>,
}

/// The state a read looks at.
#[derive(Clone, Copy)]
enum At<'a> {
    /// Every change replayed so far, except at the slots in `instead` (those a change touched,
    /// as they were before it).
    Now(Option<&'a HashMap<Slot, Vec<usize>>>),
    /// The changes a clock covers (highest sequence number per actor index).
    Clock(&'a [u64]),
}

/// Automerge's map semantics, replayed: an operation is visible in a state when its change is
/// in the state and no change of the state overwrote or deleted it; of several visible, the one
/// with the highest id wins; a map is reachable when it wins at its key in a reachable map. This
/// is what automerge computes for a read; kept per key, reading the present costs a lookup.
#[derive(Default)]
pub(super) struct Replay {
    ops: Vec<ReplayOp>,
    by_id: HashMap<OpId, usize>,
    /// Every operation at a slot, as replayed.
    at_slot: HashMap<Slot, Vec<usize>>,
    /// The same by actor index, each actor's in the order of its changes.
    by_actor: HashMap<Slot, Vec<(usize, Vec<usize>)>>,
    /// Slots where an operation did not overwrite its own actor's previous one there although
    /// that was still visible to it (no form writes so): see [`Replay::visible_at`].
    irregular: HashSet<Slot>,
    /// The operations visible at each slot now.
    visible: HashMap<Slot, Vec<usize>>,
    /// Every key ever written in each object.
    keys: HashMap<ObjectId, BTreeSet<Rc<str>>>,
    /// Where each map object was made.
    made_at: HashMap<OpId, Slot>,
    names: HashMap<String, Rc<str>>,
    actors: HashMap<ActorId, usize>,
    /// (actor index, sequence number) of each change, and its clock.
    changes: Vec<(usize, u64)>,
    clocks: Vec<Vec<u64>>,
    index: HashMap<ChangeHash, usize>,
    heads: HashSet<ChangeHash>,
}

impl Replay {
    pub(super) fn history(changes: &[Change]) -> Result<Vec<FieldChange>, Unfollowed> {
        let mut replay = Replay::default();
        let mut out = Vec::new();
        for change in changes {
            // automerge 0.12 can panic expanding a malformed change (see `sync::check_objects`);
            // expanding reads only the change. Such a document goes to automerge's own replay.
            let expanded =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode()))
                    .map_err(|_| Unfollowed::Shape)?;
            let info = change_info(
                change.hash(),
                change.actor_id(),
                change.seq(),
                change.timestamp(),
                change.message(),
            );
            let fields = replay.apply(change, &expanded)?;
            out.extend(rows(&info, fields));
        }
        Ok(out)
    }

    fn name(&mut self, key: &str) -> Rc<str> {
        if let Some(n) = self.names.get(key) {
            return n.clone();
        }
        let n: Rc<str> = Rc::from(key);
        self.names.insert(key.to_owned(), n.clone());
        n
    }

    /// Replays one change and returns the fields it set, as [`change_fields`] would from
    /// automerge's diff.
    ///
    /// [`change_fields`]: super::automerge_replay::change_fields
    fn apply(&mut self, change: &Change, expanded: &ExpandedChange) -> Result<Fields, Unfollowed> {
        let c = self.changes.len();
        let actors = self.actors.len();
        let actor = *self
            .actors
            .entry(change.actor_id().clone())
            .or_insert(actors);
        let mut before_clock = vec![0u64; self.actors.len()];
        for dep in change.deps() {
            let d = *self.index.get(dep).ok_or(Unfollowed::Shape)?;
            for (mine, theirs) in before_clock.iter_mut().zip(&self.clocks[d]) {
                *mine = (*mine).max(*theirs);
            }
        }
        // Clocks count, per actor, the changes of a chain: each of a device's changes builds
        // on its previous one. One that does not is not followed here.
        if before_clock[actor] + 1 != change.seq() {
            return Err(Unfollowed::Shape);
        }
        let mut clock = before_clock.clone();
        clock[actor] = change.seq();
        let deps: HashSet<ChangeHash> = change.deps().iter().copied().collect();
        let now = deps == self.heads;

        // The slots the change writes, in order, and what was visible at each before it.
        let mut slots: Vec<Slot> = Vec::new();
        let mut seen = HashSet::new();
        for op in &expanded.operations {
            let LegacyKey::Map(key) = &op.key else {
                return Err(Unfollowed::Shape);
            };
            let slot = (op.obj.clone(), self.name(key));
            if seen.insert(slot.clone()) {
                slots.push(slot);
            }
        }
        let was: HashMap<Slot, Vec<usize>> = slots
            .iter()
            .map(|s| {
                let before = if now {
                    self.visible.get(s).cloned().unwrap_or_default()
                } else {
                    self.visible_at(s, At::Clock(&before_clock))
                };
                (s.clone(), before)
            })
            .collect();

        self.changes.push((actor, change.seq()));
        self.clocks.push(clock);
        self.index.insert(change.hash(), c);
        for dep in change.deps() {
            self.heads.remove(dep);
        }
        self.heads.insert(change.hash());
        let mut made = HashSet::new();
        let start = expanded.start_op.get();
        for (n, op) in expanded.operations.iter().enumerate() {
            let id = OpId(start + n as u64, change.actor_id().clone());
            let LegacyKey::Map(key) = &op.key else {
                return Err(Unfollowed::Shape);
            };
            if op.insert {
                return Err(Unfollowed::Shape);
            }
            let slot = (op.obj.clone(), self.name(key));
            match &op.obj {
                ObjectId::Root => {}
                ObjectId::Id(obj) if self.made_at.contains_key(obj) => {}
                // A list or text object, or one the document does not hold.
                ObjectId::Id(_) => return Err(Unfollowed::Shape),
            }
            let mut preds = Vec::new();
            for pred in op.pred.iter() {
                let p = *self.by_id.get(pred).ok_or(Unfollowed::Shape)?;
                if self.ops[p].slot != slot {
                    return Err(Unfollowed::Shape);
                }
                preds.push(p);
            }
            if !matches!(op.action, OpType::Delete) {
                let regular = self.overwrites_own(&slot, actor, c, &preds, &was, &before_clock);
                if !regular {
                    self.irregular.insert(slot.clone());
                }
            }
            for p in preds {
                self.ops[p].succ.push(c);
                if let Some(v) = self.visible.get_mut(&slot) {
                    v.retain(|&i| i != p);
                }
            }
            let held = match &op.action {
                OpType::Put(ScalarValue::Counter(_)) => return Err(Unfollowed::Shape),
                OpType::Put(v) => Held::Scalar(v.clone()),
                OpType::Make(ObjType::Map | ObjType::Table) => {
                    self.made_at.insert(id.clone(), slot.clone());
                    made.insert(id.clone());
                    Held::Map
                }
                OpType::Delete => continue,
                OpType::Make(ObjType::List | ObjType::Text)
                | OpType::Increment(_)
                | OpType::MarkBegin(_)
                | OpType::MarkEnd(_) => return Err(Unfollowed::Shape),
            };
            let i = self.ops.len();
            if self.by_id.insert(id.clone(), i).is_some() {
                return Err(Unfollowed::Shape);
            }
            self.keys
                .entry(slot.0.clone())
                .or_default()
                .insert(slot.1.clone());
            self.at_slot.entry(slot.clone()).or_default().push(i);
            let by_actor = self.by_actor.entry(slot.clone()).or_default();
            match by_actor.iter_mut().find(|(a, _)| *a == actor) {
                Some((_, mine)) => mine.push(i),
                None => by_actor.push((actor, vec![i])),
            }
            self.visible.entry(slot.clone()).or_default().push(i);
            self.ops.push(ReplayOp {
                id,
                slot,
                held,
                change: c,
                succ: Vec::new(),
            });
        }

        // Written on top of everything before it: the state before is the present one with the
        // touched slots as they were, the state after is the present one.
        let (before, after) = if now {
            (At::Now(Some(&was)), At::Now(None))
        } else {
            (At::Clock(&before_clock), At::Clock(&self.clocks[c]))
        };
        let mut fields = Fields::new();
        for slot in &slots {
            if !self.reachable(&slot.0, after) {
                continue;
            }
            let old = self.sorted(self.visible_at(slot, before));
            let new = self.sorted(self.visible_at(slot, after));
            // As automerge's diff: a new winner, or the same winner no longer in conflict, is
            // a put; nothing left where something was is a delete; the rest is no patch.
            let written = match (old.last(), new.last()) {
                (_, None) if old.is_empty() => continue,
                (_, None) => After::Written(Json::Null),
                (w, Some(&n)) if w == Some(&n) && !(old.len() > 1 && new.len() == 1) => continue,
                (_, Some(&n)) => match &self.ops[n].held {
                    Held::Scalar(s) => After::Written(scalar_to_json(s)?),
                    // automerge would show a map that comes back into view whole.
                    Held::Map if !made.contains(&self.ops[n].id) => {
                        return Err(Unfollowed::Shape);
                    }
                    Held::Map => After::Map,
                },
            };
            let mut path = self.path_of(&slot.0);
            path.push(Prop::Map(slot.1.to_string()));
            if fields.contains_key(&path) {
                continue;
            }
            let was = self.value_at_path(&path, before)?;
            let now = match written {
                After::Written(value) => value,
                After::Map if was.is_null() || was.is_object() => continue,
                After::Map | After::Whole => self.value_at_path(&path, after)?,
            };
            fields.insert(path, (was, now));
        }
        Ok(fields)
    }

    /// Whether an operation of `actor`'s change `c` at `slot`, overwriting `preds`, leaves
    /// none of the actor's own earlier operations there visible: the previous one is in the
    /// change's past and was overwritten, by it or before it. A form always writes so (the
    /// device saw its own last value); it is what lets [`Replay::visible_at`] look at each
    /// actor's last operation only.
    fn overwrites_own(
        &self,
        slot: &Slot,
        actor: usize,
        c: usize,
        preds: &[usize],
        was: &HashMap<Slot, Vec<usize>>,
        before_clock: &[u64],
    ) -> bool {
        let previous = self
            .by_actor
            .get(slot)
            .and_then(|all| all.iter().find(|(a, _)| *a == actor))
            .and_then(|(_, mine)| mine.last().copied());
        let Some(previous) = previous else {
            return true;
        };
        if preds.contains(&previous) || self.ops[previous].succ.contains(&c) {
            return true;
        }
        self.ops[previous].change != c
            && self.covers(before_clock, self.ops[previous].change)
            && !was.get(slot).is_some_and(|w| w.contains(&previous))
    }

    fn covers(&self, clock: &[u64], change: usize) -> bool {
        let (actor, seq) = self.changes[change];
        clock.get(actor).is_some_and(|&s| s >= seq)
    }

    /// The operations visible at `slot` in `at`, in no particular order.
    ///
    /// In a past state, only each actor's last operation there can be visible where every
    /// operation overwrote its actor's previous one ([`Replay::overwrites_own`]): an earlier
    /// one was overwritten by a change the later one's change had seen, hence in the state
    /// too. That is a binary search per actor, not a pass over every value the slot ever held.
    fn visible_at(&self, slot: &Slot, at: At<'_>) -> Vec<usize> {
        match at {
            At::Now(instead) => instead
                .and_then(|i| i.get(slot))
                .or_else(|| self.visible.get(slot))
                .cloned()
                .unwrap_or_default(),
            At::Clock(clock) if !self.irregular.contains(slot) => self
                .by_actor
                .get(slot)
                .into_iter()
                .flatten()
                .filter_map(|(actor, mine)| {
                    let seen = clock.get(*actor).copied().unwrap_or(0);
                    let n = mine.partition_point(|&i| self.changes[self.ops[i].change].1 <= seen);
                    let last = *mine.get(n.checked_sub(1)?)?;
                    let overwritten = self.ops[last].succ.iter().any(|&s| self.covers(clock, s));
                    (!overwritten).then_some(last)
                })
                .collect(),
            At::Clock(clock) => self
                .at_slot
                .get(slot)
                .map(|ops| {
                    ops.iter()
                        .copied()
                        .filter(|&i| {
                            let op = &self.ops[i];
                            self.covers(clock, op.change)
                                && !op.succ.iter().any(|&s| self.covers(clock, s))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// In automerge's order of conflicting values: by operation id, the winner last.
    fn sorted(&self, mut ops: Vec<usize>) -> Vec<usize> {
        ops.sort_by(|&a, &b| self.ops[a].id.cmp(&self.ops[b].id));
        ops
    }

    fn winner(&self, slot: &Slot, at: At<'_>) -> Option<usize> {
        self.visible_at(slot, at)
            .into_iter()
            .max_by(|&a, &b| self.ops[a].id.cmp(&self.ops[b].id))
    }

    /// Whether `obj` is reached from the root through winning maps in `at` (automerge names no
    /// path, and so makes no patch, for the inside of a map that lost at its key).
    fn reachable(&self, obj: &ObjectId, at: At<'_>) -> bool {
        let mut obj = obj;
        loop {
            let ObjectId::Id(id) = obj else {
                return true;
            };
            let Some(slot) = self.made_at.get(id) else {
                return false;
            };
            let wins = self.winner(slot, at).is_some_and(|w| self.ops[w].id == *id);
            if !wins {
                return false;
            }
            obj = &slot.0;
        }
    }

    fn path_of(&self, obj: &ObjectId) -> Vec<Prop> {
        let mut path = Vec::new();
        let mut obj = obj;
        while let ObjectId::Id(id) = obj {
            let Some(slot) = self.made_at.get(id) else {
                break;
            };
            path.push(Prop::Map(slot.1.to_string()));
            obj = &slot.0;
        }
        path.reverse();
        path
    }

    /// [`value_at_path`], replayed.
    ///
    /// [`value_at_path`]: super::automerge_replay::value_at_path
    fn value_at_path(&self, path: &[Prop], at: At<'_>) -> Result<Json, DocError> {
        let Some((Prop::Map(leaf), parents)) = path.split_last() else {
            return Ok(Json::Null);
        };
        let mut objs = vec![ObjectId::Root];
        for prop in parents {
            let Prop::Map(key) = prop else {
                return Ok(Json::Null);
            };
            objs = self.child_objects(&objs, key, at);
        }
        for obj in &objs {
            let Some(name) = self.names.get(leaf.as_str()) else {
                break;
            };
            match self.winner(&(obj.clone(), name.clone()), at) {
                Some(w) if matches!(&self.ops[w].held, Held::Scalar(s) if s.is_null()) => {}
                Some(w) => return self.value_json(w, at, 0),
                None => {}
            }
        }
        Ok(Json::Null)
    }

    /// [`child_objects_at`], replayed.
    ///
    /// [`child_objects_at`]: super::automerge_replay::child_objects_at
    fn child_objects(&self, parents: &[ObjectId], key: &str, at: At<'_>) -> Vec<ObjectId> {
        let Some(name) = self.names.get(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for parent in parents {
            let values = self.sorted(self.visible_at(&(parent.clone(), name.clone()), at));
            let winner = values.last().copied();
            let mut all: Vec<usize> = values
                .into_iter()
                .filter(|&i| matches!(self.ops[i].held, Held::Map))
                .collect();
            if let Some(pos) = all.iter().position(|&i| Some(i) == winner) {
                let w = all.remove(pos);
                all.insert(0, w);
            }
            out.extend(
                all.into_iter()
                    .map(|i| ObjectId::Id(self.ops[i].id.clone())),
            );
        }
        out
    }

    /// [`value_json_below`], replayed.
    ///
    /// [`value_json_below`]: super::automerge_replay::value_json_below
    fn value_json(&self, op: usize, at: At<'_>, depth: usize) -> Result<Json, DocError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let op = &self.ops[op];
        Ok(match &op.held {
            Held::Scalar(s) => scalar_to_json(s)?,
            Held::Map => {
                let obj = ObjectId::Id(op.id.clone());
                let mut map = Map::new();
                for key in self.keys.get(&obj).into_iter().flatten() {
                    if let Some(w) = self.winner(&(obj.clone(), key.clone()), at) {
                        map.insert(key.to_string(), self.value_json(w, at, depth + 1)?);
                    }
                }
                Json::Object(map)
            }
        })
    }
}
