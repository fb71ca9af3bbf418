//! Flows as declared state machines.
//!
//! Each flow declares its states, events, guards and effects once, with [`flow!`](crate::flow!). The
//! declaration is data ([`FlowDef`]): `portcullis flows --mermaid` prints it, the spec run
//! checks every transition was taken, and at run time a [`Machine`] moves only along
//! declared transitions — an undeclared move is a typed [`IllegalMove`], never a panic.

use std::fmt::{self, Write as _};

/// One declared transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition<S: 'static, E: 'static> {
    /// The state the transition leaves.
    pub from: S,
    /// The event that takes it.
    pub event: E,
    /// The state it arrives in.
    pub to: S,
    /// The condition that raises the event, in words (`"csrfToken matches the cookie"`).
    pub guard: &'static str,
    /// What happens on the way (`"Hook: authorize"`, `"Set-Cookie: session"`), or "".
    pub effect: &'static str,
}

/// A flow's declaration.
#[derive(Debug)]
pub struct FlowDef<S: 'static, E: 'static> {
    /// The flow's name in diagrams, traces and `IllegalMove` (`"csrf"`).
    pub name: &'static str,
    /// Where every run starts.
    pub initial: S,
    /// Every allowed move; a run's trace indexes into this.
    pub transitions: &'static [Transition<S, E>],
}

/// A declared transition, with names instead of types (for diagrams and coverage).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransitionInfo {
    /// The flow's name.
    pub flow: &'static str,
    /// Position in the flow's declaration, from 0.
    pub index: usize,
    /// The state left, as its variant name.
    pub from: String,
    /// The event, as its variant name.
    pub event: String,
    /// The state reached, as its variant name.
    pub to: String,
    /// The guard, in words.
    pub guard: &'static str,
    /// The effect, in words, or "".
    pub effect: &'static str,
}

impl fmt::Display for TransitionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} --{}--> {}",
            self.flow, self.from, self.event, self.to
        )
    }
}

impl<S: fmt::Debug + Copy + PartialEq, E: fmt::Debug + Copy + PartialEq> FlowDef<S, E> {
    /// Every transition, named.
    pub fn describe(&self) -> Vec<TransitionInfo> {
        self.transitions
            .iter()
            .enumerate()
            .map(|(index, t)| TransitionInfo {
                flow: self.name,
                index,
                from: format!("{:?}", t.from),
                event: format!("{:?}", t.event),
                to: format!("{:?}", t.to),
                guard: t.guard,
                effect: t.effect,
            })
            .collect()
    }

    /// The flow as a Mermaid `stateDiagram-v2`.
    pub fn mermaid(&self) -> String {
        let mut out = format!("---\ntitle: {}\n---\nstateDiagram-v2\n", self.name);
        let _ = writeln!(out, "    [*] --> {:?}", self.initial);
        for t in self.describe() {
            let mut label = t.event.clone();
            if !t.guard.is_empty() {
                let _ = write!(label, " [{}]", t.guard);
            }
            if !t.effect.is_empty() {
                let _ = write!(label, " / {}", t.effect);
            }
            let _ = writeln!(
                out,
                "    {} --> {}: {}",
                t.from,
                t.to,
                label.replace(':', "#58;")
            );
        }
        out
    }
}

/// A transition a run took: `(flow, index into its declaration)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taken {
    /// The flow's name.
    pub flow: &'static str,
    /// Position in the flow's declaration, from 0.
    pub index: usize,
}

/// A move the declaration does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow {flow}: no transition from {state} on {event}")]
pub struct IllegalMove {
    /// The flow's name.
    pub flow: &'static str,
    /// The state the run was in, as its variant name.
    pub state: String,
    /// The event no transition from that state takes, as its variant name.
    pub event: String,
}

/// One running instance of a flow.
#[derive(Debug, Clone)]
pub struct Machine<S: 'static, E: 'static> {
    def: &'static FlowDef<S, E>,
    state: S,
}

impl<S: fmt::Debug + Copy + PartialEq, E: fmt::Debug + Copy + PartialEq> Machine<S, E> {
    /// A run in the declaration's initial state.
    pub fn start(def: &'static FlowDef<S, E>) -> Self {
        Self {
            state: def.initial,
            def,
        }
    }

    /// Where the run stands now.
    pub fn state(&self) -> S {
        self.state
    }

    /// Moves along the transition declared for `event` in the current state, and records it.
    pub fn fire(&mut self, event: E, trace: &mut Vec<Taken>) -> Result<S, IllegalMove> {
        let found = self
            .def
            .transitions
            .iter()
            .position(|t| t.from == self.state && t.event == event);
        match found {
            Some(index) => {
                self.state = self.def.transitions[index].to;
                trace.push(Taken {
                    flow: self.def.name,
                    index,
                });
                Ok(self.state)
            }
            None => Err(IllegalMove {
                flow: self.def.name,
                state: format!("{:?}", self.state),
                event: format!("{event:?}"),
            }),
        }
    }
}

/// Declares a flow: a module with `State`, `Event` and the `FLOW` declaration.
///
/// The module's visibility is also its items': `pub` for a flow other crates may name,
/// `pub(crate)` for one only the domain runs.
///
/// ```text
/// flow! {
///     /// What the flow does.
///     pub mod name = "name" {
///         states { A, B }
///         events { Go }
///         initial A;
///         A + Go => B, guard "why", effect "what";
///     }
/// }
/// ```
#[macro_export]
macro_rules! flow {
    (
        $(#[$meta:meta])*
        $vis:vis mod $module:ident = $name:literal {
            states { $($state:ident),+ $(,)? }
            events { $($event:ident),+ $(,)? }
            initial $initial:ident;
            $( $from:ident + $on:ident => $to:ident, guard $guard:literal, effect $effect:literal; )+
        }
    ) => {
        $(#[$meta])*
        $vis mod $module {
            #[doc = concat!("Where a `", $name, "` run stands; its moves are declared in [`FLOW`].")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            $vis enum State {
                $(
                    #[doc = concat!("State `", stringify!($state), "`; see [`FLOW`] for the moves into and out of it.")]
                    $state
                ),+
            }

            #[doc = concat!("What moves a `", $name, "` run; each is raised when its guard in [`FLOW`] holds.")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            $vis enum Event {
                $(
                    #[doc = concat!("Event `", stringify!($event), "`; see [`FLOW`] for its guards.")]
                    $event
                ),+
            }

            #[doc = concat!("The `", $name, "` flow's declaration: every transition it may take.")]
            $vis static FLOW: $crate::flow::FlowDef<State, Event> = $crate::flow::FlowDef {
                name: $name,
                initial: State::$initial,
                transitions: &[
                    $( $crate::flow::Transition {
                        from: State::$from,
                        event: Event::$on,
                        to: State::$to,
                        guard: $guard,
                        effect: $effect,
                    } ),+
                ],
            };

            #[doc = concat!("A running `", $name, "` flow.")]
            $vis type Machine = $crate::flow::Machine<State, Event>;

            #[doc = concat!("Starts a `", $name, "` run in its initial state.")]
            $vis fn machine() -> Machine {
                $crate::flow::Machine::start(&FLOW)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::flow! {
        /// A door.
        pub(crate) mod door = "door" {
            states { Closed, Open }
            events { Push, Pull }
            initial Closed;
            Closed + Push => Open, guard "unlocked", effect "creak";
            Open + Pull => Closed, guard "", effect "";
        }
    }

    #[test]
    fn moves_only_along_declared_transitions() {
        let mut trace = Vec::new();
        let mut m = door::machine();
        assert_eq!(m.fire(door::Event::Push, &mut trace), Ok(door::State::Open));
        let err = m.fire(door::Event::Push, &mut trace).unwrap_err();
        assert_eq!(
            err.to_string(),
            "flow door: no transition from Open on Push"
        );
        assert_eq!(
            m.fire(door::Event::Pull, &mut trace),
            Ok(door::State::Closed)
        );
        assert_eq!(
            trace,
            vec![
                super::Taken {
                    flow: "door",
                    index: 0
                },
                super::Taken {
                    flow: "door",
                    index: 1
                }
            ]
        );
    }

    #[test]
    fn prints_mermaid() {
        let text = door::FLOW.mermaid();
        assert!(text.contains("[*] --> Closed"));
        assert!(text.contains("Closed --> Open: Push [unlocked] / creak"));
        assert!(text.contains("Open --> Closed: Pull\n"));
    }
}
