//! A filter flattened into straight-line tests with jump targets, the form evaluation runs.
//!
//! Walking the tree cost a recursive call and an indirect branch per node, `and`/`or` nodes
//! included — half the nodes of a typical rule, and most of the time of a check-light rule.
//! Here `and`, `or`, `not` and constants become jump targets fixed at load time (short-circuit
//! code generation), so evaluating an event runs one loop over the tests it actually makes.
//! A macro shared between rules keeps its per-event memo: a lookup that either answers or
//! runs the macro's own tests, whose two exits record the result before jumping on.

use crate::{
    ast::Op,
    event::EventSource,
    evttype::EvtSet,
    filter::{CheckNode, Lhs, Memo, Node},
    matcher::Matcher,
};

/// Where a test jumps: an instruction index, or one of the two exits.
type Target = u32;
const EXIT_TRUE: Target = u32::MAX;
const EXIT_FALSE: Target = u32::MAX - 1;

#[derive(Clone, Debug)]
enum Test {
    /// In place, not boxed: the program's tests are one contiguous array, so a test costs no
    /// extra pointer chase (and cache miss) to reach its check.
    Check {
        check: Check,
        /// The memo slot of a check several of the type's rules make (`share`): its result
        /// for this event if it has one yet, else run it and record it.
        shared: Option<u32>,
    },
    EvtType(EvtSet),
    /// The macro's result if this event already has one, else go to `miss` (its tests).
    MemoGet {
        slot: u32,
        miss: Target,
    },
    /// Record a macro's result (reached from its tests' exits), then jump on it.
    MemoSet {
        slot: u32,
        value: bool,
    },
}

/// A check as the program runs it: the left-hand side as in the tree, the operator and
/// right-hand side resolved into the one test they make.
#[derive(Clone, Debug)]
struct Check {
    lhs: Lhs,
    op: Op,
    matcher: Matcher,
    negate: bool,
}

impl Check {
    fn new(c: &CheckNode) -> Self {
        Self {
            lhs: c.lhs.clone(),
            op: c.op,
            matcher: Matcher::new(c.op, &c.rhs),
            negate: c.negate,
        }
    }

    #[inline(always)]
    fn eval<E: EventSource>(&self, ev: &E) -> bool {
        self.lhs.holds(self.op, ev, |v| self.matcher.test(v, ev)) != self.negate
    }
}

#[derive(Clone, Debug)]
struct Instr {
    test: Test,
    on_true: Target,
    on_false: Target,
}

#[derive(Clone, Debug)]
pub struct Program {
    code: Box<[Instr]>,
    entry: Target,
}

impl Program {
    pub fn compile(node: &Node) -> Self {
        let mut code = Vec::new();
        let entry = emit(node, EXIT_TRUE, EXIT_FALSE, &mut code);
        // Emission goes from the last test backwards; reverse so execution mostly moves forward.
        let last = code.len() as u32;
        let flip = |t: Target| if t >= EXIT_FALSE { t } else { last - 1 - t };
        let code = code
            .into_iter()
            .rev()
            .map(|mut i| {
                i.on_true = flip(i.on_true);
                i.on_false = flip(i.on_false);
                if let Test::MemoGet { miss, .. } = &mut i.test {
                    *miss = flip(*miss);
                }
                i
            })
            .collect();
        Self {
            code,
            entry: flip(entry),
        }
    }

    /// The memo results the program needs before anything else: its leading tests that are
    /// memoised (macros, shared checks) and end it on the other answer, as (slot, needed
    /// value). An event that already has another value in one of them is known not to match
    /// without running the program (see `Ruleset::evaluate`).
    pub fn guards(&self) -> Box<[(u32, bool)]> {
        let mut out = Vec::new();
        let mut pc = self.entry;
        while let Some(ins) = self.code.get(pc as usize) {
            let slot = match &ins.test {
                Test::MemoGet { slot, .. } => *slot,
                Test::Check {
                    shared: Some(slot), ..
                } => *slot,
                _ => break,
            };
            if ins.on_false == EXIT_FALSE {
                out.push((slot, true));
                pc = ins.on_true;
            } else if ins.on_true == EXIT_FALSE {
                out.push((slot, false));
                pc = ins.on_false;
            } else {
                break;
            }
        }
        out.into()
    }

    /// Evaluate for `ev`; `memo` must have been started for this event with enough slots.
    pub fn eval<E: EventSource>(&self, ev: &E, memo: &mut Memo) -> bool {
        let mut pc = self.entry;
        loop {
            if pc >= EXIT_FALSE {
                return pc == EXIT_TRUE;
            }
            let Some(ins) = self.code.get(pc as usize) else {
                // Unreachable: targets are fixed at compile time within the code.
                return false;
            };
            let result = match &ins.test {
                // One call site for the check, so it stays inlined.
                Test::Check { check, shared } => match shared.and_then(|s| memo.get(s)) {
                    Some(v) => v,
                    None => {
                        let v = check.eval(ev);
                        if let Some(s) = shared {
                            memo.set(*s, v);
                        }
                        v
                    }
                },
                Test::EvtType(set) => set.contains(ev.evt_type()),
                Test::MemoGet { slot, miss } => match memo.get(*slot) {
                    Some(v) => v,
                    None => {
                        pc = *miss;
                        continue;
                    }
                },
                Test::MemoSet { slot, value } => {
                    memo.set(*slot, *value);
                    *value
                }
            };
            pc = if result { ins.on_true } else { ins.on_false };
        }
    }
}

/// Emit `node` so that it continues at `t` when true and `f` when false; returns its entry.
fn emit(node: &Node, t: Target, f: Target, code: &mut Vec<Instr>) -> Target {
    match node {
        Node::Const(b) => {
            if *b {
                t
            } else {
                f
            }
        }
        Node::Check(c) => {
            let test = Test::Check {
                check: Check::new(c),
                shared: None,
            };
            push(code, test, t, f)
        }
        Node::EvtType(set) => push(code, Test::EvtType(*set), t, f),
        Node::Not(x) => emit(x, f, t, code),
        // Each conjunct's success leads to the next one; any failure to `f`.
        Node::And(xs) => xs.iter().rev().fold(t, |next, x| emit(x, next, f, code)),
        Node::Or(xs) => xs.iter().rev().fold(f, |next, x| emit(x, t, next, code)),
        // A check several rules make (`share`): one test that records its own result.
        Node::Memo(slot, x) => match &**x {
            Node::Check(c) => {
                let test = Test::Check {
                    check: Check::new(c),
                    shared: Some(*slot),
                };
                push(code, test, t, f)
            }
            body => {
                let set_true = push(
                    code,
                    Test::MemoSet {
                        slot: *slot,
                        value: true,
                    },
                    t,
                    f,
                );
                let set_false = push(
                    code,
                    Test::MemoSet {
                        slot: *slot,
                        value: false,
                    },
                    t,
                    f,
                );
                let entry = emit(body, set_true, set_false, code);
                let get = Test::MemoGet {
                    slot: *slot,
                    miss: entry,
                };
                push(code, get, t, f)
            }
        },
    }
}

fn push(code: &mut Vec<Instr>, test: Test, on_true: Target, on_false: Target) -> Target {
    code.push(Instr {
        test,
        on_true,
        on_false,
    });
    code.len() as u32 - 1
}
