//! The `filterQuery` language (spec 01 §8.1): a small boolean grammar over
//! dot-paths, parsed into an AST. Storage turns the AST into SQL with every
//! value bound as a parameter, so no input is ever spliced into a query.

use super::error::{Error, Reason};

/// Longest accepted expression, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest accepted nesting of parentheses and NOT.
pub const MAX_DEPTH: usize = 10;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
    /// Must not hold.
    Not(Box<Expr>),
    /// A comparison.
    Predicate(Predicate),
}

/// `path op value` or `path IN (values)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// Dot-separated path segments.
    pub path: Vec<String>,
    /// Operator.
    pub op: Op,
    /// One value, or several for IN.
    pub values: Vec<Literal>,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` (contains, on arrays).
    Eq,
    /// `!=` or `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// Case-sensitive pattern with `%` and `_`.
    Like,
    /// Case-insensitive pattern.
    ILike,
    /// Membership (intersects, on arrays).
    In,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Single-quoted string.
    Str(String),
    /// Number.
    Num(f64),
    /// true or false.
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(Op),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
    True,
    False,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(Reason::InvalidFilter, message)
}

/// Parses a filter; an empty or blank filter is `None`.
pub fn parse(input: &str) -> Result<Option<Expr>, Error> {
    if input.len() > MAX_FILTER_LEN {
        return Err(invalid(format!(
            "filterQuery is {} bytes; the limit is {MAX_FILTER_LEN}",
            input.len()
        )));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.expr(0)?;
    if parser.pos != parser.tokens.len() {
        return Err(invalid(format!(
            "filterQuery: unexpected {} after a complete expression",
            describe(&parser.tokens[parser.pos])
        )));
    }
    Ok(Some(expr))
}

fn tokenize(input: &str) -> Result<Vec<Token>, Error> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '=' => {
                tokens.push(Token::Op(Op::Eq));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Op(Op::Ne));
                i += 2;
            }
            '<' => {
                let (op, len) = match chars.get(i + 1) {
                    Some('=') => (Op::Le, 2),
                    Some('>') => (Op::Ne, 2),
                    _ => (Op::Lt, 1),
                };
                tokens.push(Token::Op(op));
                i += len;
            }
            '>' => {
                let (op, len) = if chars.get(i + 1) == Some(&'=') { (Op::Ge, 2) } else { (Op::Gt, 1) };
                tokens.push(Token::Op(op));
                i += len;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(invalid("filterQuery: a quoted string is not closed")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(text));
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())) => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-')) {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let number = text.parse::<f64>().map_err(|_| invalid(format!("filterQuery: {text:?} is not a number")))?;
                tokens.push(Token::Num(number));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-' | '.')) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(keyword(&word).unwrap_or(Token::Ident(word)));
            }
            other => {
                return Err(invalid(format!(
                    "filterQuery: unexpected character {other:?} at offset {i}; use quoted strings for values"
                )))
            }
        }
    }
    Ok(tokens)
}

fn keyword(word: &str) -> Option<Token> {
    Some(match word.to_ascii_uppercase().as_str() {
        "AND" => Token::And,
        "OR" => Token::Or,
        "NOT" => Token::Not,
        "IN" => Token::Op(Op::In),
        "LIKE" => Token::Op(Op::Like),
        "ILIKE" => Token::Op(Op::ILike),
        "TRUE" => Token::True,
        "FALSE" => Token::False,
        _ => return None,
    })
}

fn describe(token: &Token) -> String {
    match token {
        Token::Ident(s) => format!("name {s:?}"),
        Token::Str(s) => format!("string '{s}'"),
        Token::Num(n) => format!("number {n}"),
        Token::Op(op) => format!("operator {op:?}"),
        Token::LParen => "'('".into(),
        Token::RParen => "')'".into(),
        Token::Comma => "','".into(),
        Token::And => "AND".into(),
        Token::Or => "OR".into(),
        Token::Not => "NOT".into(),
        Token::True | Token::False => "boolean".into(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, Error> {
        let mut alternatives = vec![self.conjunction(depth)?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            alternatives.push(self.conjunction(depth)?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Expr::Or(alternatives)
        })
    }

    fn conjunction(&mut self, depth: usize) -> Result<Expr, Error> {
        let mut terms = vec![self.term(depth)?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            terms.push(self.term(depth)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn term(&mut self, depth: usize) -> Result<Expr, Error> {
        if depth >= MAX_DEPTH {
            return Err(invalid(format!(
                "filterQuery nests deeper than {MAX_DEPTH} levels"
            )));
        }
        match self.next() {
            Some(Token::Not) => Ok(Expr::Not(Box::new(self.term(depth + 1)?))),
            Some(Token::LParen) => {
                let inner = self.expr(depth + 1)?;
                match self.next() {
                    Some(Token::RParen) => Ok(inner),
                    _ => Err(invalid("filterQuery: a '(' is not closed")),
                }
            }
            Some(Token::Ident(path)) => self.predicate(path),
            Some(other) => Err(invalid(format!(
                "filterQuery: expected a field name, found {}",
                describe(&other)
            ))),
            None => Err(invalid("filterQuery ends where a field name was expected")),
        }
    }

    fn predicate(&mut self, path: String) -> Result<Expr, Error> {
        let segments: Vec<String> = path.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(invalid(format!(
                "filterQuery: {path:?} is not a valid path"
            )));
        }
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            Some(other) => {
                return Err(invalid(format!(
                    "filterQuery: expected an operator after {path}, found {}",
                    describe(&other)
                )))
            }
            None => {
                return Err(invalid(format!(
                    "filterQuery ends after {path}; an operator was expected"
                )))
            }
        };
        let values = if op == Op::In {
            if self.next() != Some(Token::LParen) {
                return Err(invalid(format!(
                    "filterQuery: IN after {path} needs a parenthesised list"
                )));
            }
            let mut values = vec![self.literal()?];
            loop {
                match self.next() {
                    Some(Token::Comma) => values.push(self.literal()?),
                    Some(Token::RParen) => break,
                    _ => return Err(invalid("filterQuery: an IN list is not closed")),
                }
            }
            values
        } else {
            vec![self.literal()?]
        };
        if matches!(op, Op::Like | Op::ILike) && !matches!(values[0], Literal::Str(_)) {
            return Err(invalid(format!(
                "filterQuery: LIKE on {path} needs a quoted pattern"
            )));
        }
        Ok(Expr::Predicate(Predicate {
            path: segments,
            op,
            values,
        }))
    }

    fn literal(&mut self) -> Result<Literal, Error> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::Str(s)),
            Some(Token::Num(n)) => Ok(Literal::Num(n)),
            Some(Token::True) => Ok(Literal::Bool(true)),
            Some(Token::False) => Ok(Literal::Bool(false)),
            Some(Token::Ident(word)) => Err(invalid(format!(
                "filterQuery: values must be quoted; write '{word}' instead of {word}"
            ))),
            Some(other) => Err(invalid(format!(
                "filterQuery: expected a value, found {}",
                describe(&other)
            ))),
            None => Err(invalid("filterQuery ends where a value was expected")),
        }
    }
}

impl Expr {
    /// Every predicate in the expression, depth first.
    pub fn predicates(&self) -> Vec<&Predicate> {
        match self {
            Expr::Predicate(p) => vec![p],
            Expr::Not(inner) => inner.predicates(),
            Expr::And(items) | Expr::Or(items) => items.iter().flat_map(Expr::predicates).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(path: &str, op: Op, values: Vec<Literal>) -> Expr {
        Expr::Predicate(Predicate {
            path: path.split('.').map(String::from).collect(),
            op,
            values,
        })
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = parse("a = 'x' OR b = 1 AND NOT c != true")
            .unwrap()
            .unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                pred("a", Op::Eq, vec![Literal::Str("x".into())]),
                Expr::And(vec![
                    pred("b", Op::Eq, vec![Literal::Num(1.0)]),
                    Expr::Not(Box::new(pred("c", Op::Ne, vec![Literal::Bool(true)]))),
                ]),
            ])
        );
    }

    #[test]
    fn in_lists_quotes_and_keywords_in_any_case() {
        let e = parse("metadata.labels.team in ('a', 'it''s') and x IlIkE '%Y%'")
            .unwrap()
            .unwrap();
        let preds = e.predicates();
        assert_eq!(
            preds[0].values,
            vec![Literal::Str("a".into()), Literal::Str("it's".into())]
        );
        assert_eq!(preds[1].op, Op::ILike);
    }

    #[test]
    fn injection_attempts_and_junk_are_refused() {
        for bad in [
            "name = 'a'; DROP TABLE x",
            "name = 'a' -- comment",
            "name = bare",
            "name =",
            "(name = 'a'",
            "name = 'unterminated",
            "= 'a'",
            "name IN 'a'",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidFilter, "{bad}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let deep = format!("{}a = 1{}", "(".repeat(11), ")".repeat(11));
        assert!(parse(&deep).is_err());
        let long = format!("a = '{}'", "x".repeat(MAX_FILTER_LEN));
        assert!(parse(&long).is_err());
        assert_eq!(parse("   ").unwrap(), None);
    }
}
