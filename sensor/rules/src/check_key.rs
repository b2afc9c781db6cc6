//! What makes two checks the same test, as a key to hash them by: the load-time passes that
//! look for repeated tests (`factor`, `share`) find one in a map instead of comparing it with
//! every test seen before (16,000 checks of one field took seconds that way).

use std::fmt::Write as _;

use crate::filter::{CheckNode, Lhs, Rhs, StrSet};

/// Two checks with equal keys make the same test (`not` aside); checks whose tests cannot be
/// compared (regex, path sets) have none and are never the same as another.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TestKey(String);

impl TestKey {
    pub fn of(c: &CheckNode) -> Option<Self> {
        let mut s = lhs_key(&c.lhs).0;
        let _ = write!(s, "\0{:?}\0", c.op);
        rhs_key(&c.rhs, &mut s)?;
        Some(Self(s))
    }
}

/// The left-hand side of a check, as a key (checks of one value read it the same way).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LhsKey(String);

pub fn lhs_key(lhs: &Lhs) -> LhsKey {
    // The derived `Debug` of plain data: equal values print alike, and strings are quoted and
    // escaped, so different values never do.
    LhsKey(format!("{lhs:?}"))
}

/// Append the key of `rhs` to `out`; `None` for what cannot be compared.
fn rhs_key(rhs: &Rhs, out: &mut String) -> Option<()> {
    match rhs {
        Rhs::None => out.push('N'),
        Rhs::One(l) => {
            let _ = write!(out, "1{l:?}");
        }
        // A few strings are compared in a row, in the order written; a hashed set is a set.
        Rhs::Strings(StrSet::Few(v)) => {
            let _ = write!(out, "F{v:?}");
        }
        Rhs::Strings(StrSet::Many(h)) => {
            let mut items: Vec<&str> = h.iter().map(|s| &**s).collect();
            items.sort_unstable();
            let _ = write!(out, "M{items:?}");
        }
        Rhs::Lits(v) => {
            let _ = write!(out, "L{v:?}");
        }
        Rhs::Field(x) => {
            let _ = write!(out, "X{x:?}");
        }
        Rhs::AnyOf(tests) => {
            out.push('A');
            for (op, r) in tests.iter() {
                let _ = write!(out, "({op:?}");
                rhs_key(r, out)?;
                out.push(')');
            }
        }
        Rhs::Regex(_) | Rhs::Paths(_) => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ast::Op,
        event::FieldArg,
        fields::Field,
        filter::{Extractor, StrSet},
        ops::Lit,
        value::FieldType,
    };

    fn check(field: Field, op: Op, rhs: Rhs) -> CheckNode {
        CheckNode {
            lhs: Lhs::One(Extractor {
                field,
                arg: FieldArg::None,
                transforms: Vec::new(),
                ty: FieldType::Str,
            }),
            op,
            rhs,
            negate: false,
        }
    }

    fn strs(items: &[&str]) -> Rhs {
        Rhs::Strings(StrSet::new(items.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn keys_tell_tests_apart_exactly() {
        let key = |c: &CheckNode| TestKey::of(c);
        let a = check(Field::ProcName, Op::Eq, Rhs::One(Lit::Str("sh".into())));
        let negated = CheckNode {
            negate: true,
            ..a.clone()
        };
        assert_eq!(key(&a), key(&negated), "not is not part of the test");
        for other in [
            check(Field::ProcName, Op::Ne, Rhs::One(Lit::Str("sh".into()))),
            check(Field::ProcExe, Op::Eq, Rhs::One(Lit::Str("sh".into()))),
            check(Field::ProcName, Op::Eq, Rhs::One(Lit::Str("bash".into()))),
            // A string that looks like the key's own punctuation stays a different string.
            check(Field::ProcName, Op::Eq, Rhs::One(Lit::Str("sh\")".into()))),
        ] {
            assert_ne!(key(&a), key(&other), "{other:?}");
        }
        // A hashed set is a set; a few strings keep their order, as `PartialEq` has it.
        let many: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        let mut reversed = many.clone();
        reversed.reverse();
        let set = |v: Vec<String>| check(Field::ProcName, Op::In, Rhs::Strings(StrSet::new(v)));
        assert_eq!(key(&set(many)), key(&set(reversed)));
        assert_ne!(
            key(&check(Field::ProcName, Op::In, strs(&["a", "b"]))),
            key(&check(Field::ProcName, Op::In, strs(&["b", "a"])))
        );
        let re = check(
            Field::ProcName,
            Op::Regex,
            Rhs::Regex(regex::Regex::new("a").unwrap()),
        );
        assert_eq!(key(&re), None, "regexes are never compared");
    }
}
