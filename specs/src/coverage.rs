//! Transition coverage: every engine the scenarios build reports the declared transitions
//! each request took; after the runs, every declared transition must have been taken.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock, Mutex};

use portcullis::{Taken, TransitionInfo, TransitionObserver};

use crate::world::Target;

type Seen = BTreeMap<Target, BTreeSet<(&'static str, usize)>>;

static SEEN: LazyLock<Mutex<Seen>> = LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// An observer that records what `target`'s engines take.
pub(crate) fn observer(target: Target) -> TransitionObserver {
    Arc::new(move |taken: &[Taken]| {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let set = seen.entry(target).or_default();
        for t in taken {
            set.insert((t.flow, t.index));
        }
    })
}

/// Declared transitions taken by `target`'s scenarios so far.
pub(crate) fn taken_by(target: Target) -> BTreeSet<(&'static str, usize)> {
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    seen.get(&target).cloned().unwrap_or_default()
}

/// Declared transitions no scenario of any target took.
pub(crate) fn missing(declared: &[TransitionInfo]) -> Vec<&TransitionInfo> {
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let all: BTreeSet<(&'static str, usize)> = seen.values().flatten().copied().collect();
    declared
        .iter()
        .filter(|t| !all.contains(&(t.flow, t.index)))
        .collect()
}

/// Taken transitions that are not declared (the observer and the declaration disagree).
pub(crate) fn undeclared(declared: &[TransitionInfo]) -> Vec<(&'static str, usize)> {
    let known: BTreeSet<(&'static str, usize)> =
        declared.iter().map(|t| (t.flow, t.index)).collect();
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    seen.values()
        .flatten()
        .filter(|t| !known.contains(t))
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
