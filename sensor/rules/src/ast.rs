//! The condition language's syntax tree, as parsed (`parse`): names are still text, macros
//! are not expanded and literals are not typed yet (`compile` does that). Spans are byte
//! offsets into the condition text, for error positions.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Two or more operands.
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A bare identifier: a macro's name.
    Macro {
        name: String,
        span: Span,
    },
    Check(Check),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub lhs: Operand,
    pub op: Op,
    pub op_span: Span,
    pub rhs: Rhs,
}

/// A field, possibly wrapped in transformers: `proc.name`, `tolower(proc.name)`,
/// `proc.aname[2]`, `evt.arg.flags`.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Field(FieldRef),
    Transform {
        kind: Transformer,
        inner: Box<Operand>,
        span: Span,
    },
}

impl Operand {
    pub fn span(&self) -> Span {
        match self {
            Self::Field(f) => f.span,
            Self::Transform { span, .. } => *span,
        }
    }
}

/// A field as written. `name` is the whole dotted token (`evt.arg.flags`), `arg` the text in
/// brackets without its quotes (`proc.aname[2]` → `2`). Splitting `evt.arg.flags` into the
/// field `evt.arg` and the key `flags` is the field table's job (longest known prefix).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef {
    pub name: String,
    pub arg: Option<String>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transformer {
    ToLower,
    ToUpper,
    B64,
    Basename,
    Len,
    /// `val(field)`: another field's value, on the right-hand side.
    Val,
}

impl Transformer {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "tolower" => Self::ToLower,
            "toupper" => Self::ToUpper,
            "b64" => Self::B64,
            "basename" => Self::Basename,
            "len" => Self::Len,
            "val" => Self::Val,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ToLower => "tolower",
            Self::ToUpper => "toupper",
            Self::B64 => "b64",
            Self::Basename => "basename",
            Self::Len => "len",
            Self::Val => "val",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    In,
    Intersects,
    PMatch,
    Regex,
    Exists,
}

impl Op {
    pub const ALL: [Op; 19] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::Contains,
        Op::IContains,
        Op::BContains,
        Op::StartsWith,
        Op::BStartsWith,
        Op::EndsWith,
        Op::Glob,
        Op::IGlob,
        Op::In,
        Op::Intersects,
        Op::PMatch,
        Op::Regex,
        Op::Exists,
    ];

    /// The operator spelled `word` (`==` is `=`).
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "=" | "==" => Self::Eq,
            "!=" => Self::Ne,
            "<" => Self::Lt,
            "<=" => Self::Le,
            ">" => Self::Gt,
            ">=" => Self::Ge,
            "contains" => Self::Contains,
            "icontains" => Self::IContains,
            "bcontains" => Self::BContains,
            "startswith" => Self::StartsWith,
            "bstartswith" => Self::BStartsWith,
            "endswith" => Self::EndsWith,
            "glob" => Self::Glob,
            "iglob" => Self::IGlob,
            "in" => Self::In,
            "intersects" => Self::Intersects,
            "pmatch" => Self::PMatch,
            "regex" => Self::Regex,
            "exists" => Self::Exists,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Contains => "contains",
            Self::IContains => "icontains",
            Self::BContains => "bcontains",
            Self::StartsWith => "startswith",
            Self::BStartsWith => "bstartswith",
            Self::EndsWith => "endswith",
            Self::Glob => "glob",
            Self::IGlob => "iglob",
            Self::In => "in",
            Self::Intersects => "intersects",
            Self::PMatch => "pmatch",
            Self::Regex => "regex",
            Self::Exists => "exists",
        }
    }

    /// Operators whose right-hand side is a list: `(a, b)`, or one bare word.
    pub fn takes_list(self) -> bool {
        matches!(self, Self::In | Self::Intersects | Self::PMatch)
    }
}

/// A literal as written: `bash`, `"a b"`, `'x'`. `quoted` keeps whether it was quoted: an
/// unquoted item of a list may be the name of a list, a quoted one never is.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub text: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rhs {
    /// `exists` has no right-hand side.
    None,
    Value(Literal),
    /// `(a, b, c)`; `()` is legal and never matches.
    List {
        items: Vec<Literal>,
        span: Span,
    },
    /// A transformer or `val(field)` on the right-hand side.
    Operand(Operand),
}
