//! The subset of the expr language that stanza operators' `if:` and `router` routes use:
//! field references (`body`, `body.x`, `attributes.x`, `attributes["a.b"]`, `resource.x`),
//! string / number / bool / `nil` literals, `==` `!=` `<` `<=` `>` `>=`, `matches` (a regular
//! expression literal), `contains`, `startsWith`, `endsWith`, `in` / `not in` (a key of a map, an
//! element of a list), `not` / `!`, `and` / `&&`, `or` / `||` and parentheses.
//!
//! Anything else (function calls, arithmetic, `env()`) is refused when the configuration is
//! loaded, naming the position, rather than evaluated wrongly.

use std::borrow::Cow;

use regex::Regex;
use serde_json::Value;

use super::entry::{Entry, Field};

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    node: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Lit(Lit),
    Field(Field),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cmp(Cmp, Box<Node>, Box<Node>),
    Matches(Box<Node>, Box<Regex>),
    In(Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Nil,
    Bool(bool),
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
}

/// A value met while evaluating.
#[derive(Debug, Clone, PartialEq)]
enum Val<'a> {
    Nil,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    /// A map or list from the record.
    Json(&'a Value),
    /// `attributes` or `resource` as a whole.
    Map(&'a super::Attributes),
}

impl Expr {
    /// Parses `source`; errors name the position.
    pub(crate) fn parse(source: &str) -> Result<Expr, String> {
        let tokens = lex(source)?;
        let mut p = ParserState {
            tokens: &tokens,
            pos: 0,
        };
        let node = p.or()?;
        if let Some((tok, at)) = p.tokens.get(p.pos) {
            return Err(format!(
                "expression {source:?}: unexpected {tok} at character {at}"
            ));
        }
        Ok(Expr { node })
    }

    /// Whether the expression is true for `entry` (a non-boolean result is false).
    pub(crate) fn is_true(&self, entry: &Entry) -> bool {
        matches!(eval(&self.node, entry), Val::Bool(true))
    }
}

fn eval<'a>(node: &Node, entry: &'a Entry) -> Val<'a> {
    match node {
        Node::Lit(l) => match l {
            Lit::Nil => Val::Nil,
            Lit::Bool(b) => Val::Bool(*b),
            Lit::Num(n) => Val::Num(*n),
            Lit::Str(s) => Val::Str(Cow::Owned(s.clone())),
        },
        Node::Field(f) => field(f, entry),
        Node::Not(n) => match eval(n, entry) {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Nil,
        },
        Node::And(a, b) => Val::Bool(
            matches!(eval(a, entry), Val::Bool(true)) && matches!(eval(b, entry), Val::Bool(true)),
        ),
        Node::Or(a, b) => Val::Bool(
            matches!(eval(a, entry), Val::Bool(true)) || matches!(eval(b, entry), Val::Bool(true)),
        ),
        Node::Matches(n, re) => match eval(n, entry) {
            Val::Str(s) => Val::Bool(re.is_match(&s)),
            _ => Val::Bool(false),
        },
        Node::In(item, set) => Val::Bool(contains(&eval(set, entry), &eval(item, entry))),
        Node::Cmp(op, a, b) => Val::Bool(compare(*op, &eval(a, entry), &eval(b, entry))),
    }
}

fn field<'a>(f: &Field, entry: &'a Entry) -> Val<'a> {
    match f {
        Field::Attributes(p) if p.is_empty() => Val::Map(&entry.attributes),
        Field::Resource(p) if p.is_empty() => Val::Map(&entry.resource),
        _ => match entry.get(f) {
            None | Some(Value::Null) => Val::Nil,
            Some(Value::Bool(b)) => Val::Bool(*b),
            Some(Value::Number(n)) => n.as_f64().map_or(Val::Nil, Val::Num),
            Some(Value::String(s)) => Val::Str(Cow::Borrowed(s)),
            Some(v) => Val::Json(v),
        },
    }
}

fn contains(set: &Val<'_>, item: &Val<'_>) -> bool {
    match (set, item) {
        (Val::Map(m), Val::Str(k)) => m.contains_key(k),
        (Val::Json(Value::Object(m)), Val::Str(k)) => m.contains_key(k.as_ref()),
        (Val::Json(Value::Array(items)), _) => items.iter().any(|v| {
            let v = match v {
                Value::Null => Val::Nil,
                Value::Bool(b) => Val::Bool(*b),
                Value::Number(n) => n.as_f64().map_or(Val::Nil, Val::Num),
                Value::String(s) => Val::Str(Cow::Borrowed(s)),
                other => Val::Json(other),
            };
            compare(Cmp::Eq, &v, item)
        }),
        _ => false,
    }
}

fn compare(op: Cmp, a: &Val<'_>, b: &Val<'_>) -> bool {
    use std::cmp::Ordering;
    let order = match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match op {
        Cmp::Eq => a == b,
        Cmp::Ne => a != b,
        Cmp::Lt => order == Some(Ordering::Less),
        Cmp::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        Cmp::Gt => order == Some(Ordering::Greater),
        Cmp::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
        Cmp::Contains | Cmp::StartsWith | Cmp::EndsWith => match (a, b) {
            (Val::Str(x), Val::Str(y)) => match op {
                Cmp::Contains => x.contains(y.as_ref()),
                Cmp::StartsWith => x.starts_with(y.as_ref()),
                _ => x.ends_with(y.as_ref()),
            },
            _ => false,
        },
    }
}

// ---- lexing ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Num(n) => write!(f, "number {n}"),
            Tok::Op(o) => write!(f, "`{o}`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBracket => f.write_str("`[`"),
            Tok::RBracket => f.write_str("`]`"),
            Tok::Dot => f.write_str("`.`"),
        }
    }
}

const OPERATORS: [&str; 10] = ["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+"];

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&(at, c)) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | '[' | ']' | '.' => {
                out.push((
                    match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        _ => Tok::Dot,
                    },
                    at,
                ));
                i += 1;
            }
            '"' | '\'' | '`' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&(_, c)) = chars.get(i) else {
                        return Err(format!(
                            "expression {src:?}: unterminated string at character {at}"
                        ));
                    };
                    i += 1;
                    if c == quote {
                        break;
                    }
                    if c == '\\' && quote != '`' {
                        let Some(&(_, e)) = chars.get(i) else {
                            continue;
                        };
                        i += 1;
                        match e {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            '0' => s.push('\0'),
                            '\\' | '"' | '\'' | '`' => s.push(e),
                            // Unknown escapes keep their backslash, so `'^\{'` is the regex
                            // `^\{` the writer meant.
                            other => {
                                s.push('\\');
                                s.push(other);
                            }
                        }
                    } else {
                        s.push(c);
                    }
                }
                out.push((Tok::Str(s), at));
            }
            c if c.is_ascii_digit() => {
                let text = take_while(&chars, &mut i, |c| c.is_ascii_alphanumeric() || c == '.');
                let n = text.parse::<f64>().map_err(|_| {
                    format!("expression {src:?}: bad number {text:?} at character {at}")
                })?;
                out.push((Tok::Num(n), at));
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let name = take_while(&chars, &mut i, |c| {
                    c.is_alphanumeric() || c == '_' || c == '$'
                });
                out.push((Tok::Ident(name), at));
            }
            _ => {
                // `at` comes from `char_indices`, so the fallback is never taken.
                let rest = src.get(at..).unwrap_or_default();
                let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) else {
                    return Err(format!(
                        "expression {src:?}: unexpected {c:?} at character {at}"
                    ));
                };
                out.push((Tok::Op(op), at));
                i += op.chars().count();
            }
        }
    }
    Ok(out)
}

/// The characters from `chars[*i]` on while `keep` holds; `*i` ends past them.
fn take_while(chars: &[(usize, char)], i: &mut usize, keep: impl Fn(char) -> bool) -> String {
    let mut text = String::new();
    while let Some(&(_, c)) = chars.get(*i).filter(|(_, c)| keep(*c)) {
        text.push(c);
        *i += 1;
    }
    text
}

// ---- parsing --------------------------------------------------------------------------------

struct ParserState<'t> {
    tokens: &'t [(Tok, usize)],
    pos: usize,
}

impl ParserState<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn peek_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == name)
    }

    fn err(&self, what: &str) -> String {
        match self.tokens.get(self.pos) {
            Some((tok, at)) => format!("{what}, found {tok} at character {at}"),
            None => format!("{what}, found the end"),
        }
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut left = self.and()?;
        while self.peek_ident("or") || self.peek() == Some(&Tok::Op("||")) {
            self.pos += 1;
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, String> {
        let mut left = self.not()?;
        while self.peek_ident("and") || self.peek() == Some(&Tok::Op("&&")) {
            self.pos += 1;
            left = Node::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Node, String> {
        if self.peek_ident("not") || self.peek() == Some(&Tok::Op("!")) {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, String> {
        let left = self.primary()?;
        let op = match self.peek() {
            Some(Tok::Op(o)) => match *o {
                "==" => Some(Cmp::Eq),
                "!=" => Some(Cmp::Ne),
                "<" => Some(Cmp::Lt),
                "<=" => Some(Cmp::Le),
                ">" => Some(Cmp::Gt),
                ">=" => Some(Cmp::Ge),
                _ => None,
            },
            Some(Tok::Ident(w)) => match w.as_str() {
                "contains" => Some(Cmp::Contains),
                "startsWith" => Some(Cmp::StartsWith),
                "endsWith" => Some(Cmp::EndsWith),
                "matches" => {
                    self.pos += 1;
                    let Some((Tok::Str(pattern), at)) = self.tokens.get(self.pos) else {
                        return Err(self.err("`matches` needs a string literal pattern"));
                    };
                    let re = Regex::new(pattern)
                        .map_err(|e| format!("bad pattern at character {at}: {e}"))?;
                    self.pos += 1;
                    return Ok(Node::Matches(Box::new(left), Box::new(re)));
                }
                "in" => {
                    self.pos += 1;
                    return Ok(Node::In(Box::new(left), Box::new(self.primary()?)));
                }
                "not" if matches!(self.tokens.get(self.pos + 1), Some((Tok::Ident(w), _)) if w == "in") =>
                {
                    self.pos += 2;
                    let set = self.primary()?;
                    return Ok(Node::Not(Box::new(Node::In(Box::new(left), Box::new(set)))));
                }
                _ => None,
            },
            _ => None,
        };
        let Some(op) = op else {
            return Ok(left);
        };
        self.pos += 1;
        let right = self.primary()?;
        Ok(Node::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn primary(&mut self) -> Result<Node, String> {
        let Some((tok, _)) = self.tokens.get(self.pos) else {
            return Err(self.err("expected a value"));
        };
        match tok {
            Tok::LParen => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err("expected `)`"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Node::Lit(Lit::Str(s.clone())))
            }
            Tok::Num(n) => {
                self.pos += 1;
                Ok(Node::Lit(Lit::Num(*n)))
            }
            Tok::Ident(w) => match w.as_str() {
                "true" | "false" => {
                    self.pos += 1;
                    Ok(Node::Lit(Lit::Bool(w == "true")))
                }
                "nil" => {
                    self.pos += 1;
                    Ok(Node::Lit(Lit::Nil))
                }
                "body" | "attributes" | "resource" => self.field(),
                _ => Err(self.err(
                    "expected body, attributes, resource, a literal or `(` (functions and other names are not supported)",
                )),
            },
            _ => Err(self.err("expected a value")),
        }
    }

    /// `root(.key | ["key"])*`.
    fn field(&mut self) -> Result<Node, String> {
        let Some((Tok::Ident(root), _)) = self.tokens.get(self.pos) else {
            return Err(self.err("expected a field"));
        };
        self.pos += 1;
        let mut path = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    let Some((Tok::Ident(key), _)) = self.tokens.get(self.pos) else {
                        return Err(self.err("expected a key after `.`"));
                    };
                    path.push(key.clone());
                    self.pos += 1;
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    let Some((Tok::Str(key), _)) = self.tokens.get(self.pos) else {
                        return Err(self.err("expected a quoted key after `[`"));
                    };
                    path.push(key.clone());
                    self.pos += 1;
                    if self.peek() != Some(&Tok::RBracket) {
                        return Err(self.err("expected `]`"));
                    }
                    self.pos += 1;
                }
                _ => break,
            }
        }
        Ok(Node::Field(match root.as_str() {
            "body" => Field::Body(path),
            "attributes" => Field::Attributes(path),
            _ => Field::Resource(path),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry() -> Entry {
        let mut e = Entry::from_line(r#"{"level":"info"}"#.into());
        e.attributes.insert("level".into(), json!("warn"));
        e.attributes.insert("code".into(), json!(503));
        e.attributes.insert("k8s.pod".into(), json!("web-1"));
        e.attributes.insert("tags".into(), json!(["a", "b"]));
        e.attributes
            .insert("nested".into(), json!({"inner": {"x": true}}));
        e.resource.insert("service.name".into(), json!("checkout"));
        e
    }

    fn t(src: &str) -> bool {
        Expr::parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .is_true(&entry())
    }

    #[test]
    fn the_forms_configs_use() {
        assert!(t(r#"body matches "^\\{""#));
        assert!(t(r#"body matches '^\{'"#));
        assert!(!t(r#"body matches "^\\d""#));
        assert!(t(r#"attributes.level == "warn""#));
        assert!(t(r#"attributes["k8s.pod"] startsWith "web""#));
        assert!(t(r#"resource["service.name"] == 'checkout'"#));
        assert!(t(r#""level" in attributes"#));
        assert!(t(r#""missing" not in attributes"#));
        assert!(t(r#"'b' in attributes.tags"#));
        assert!(t("attributes.code >= 500 and attributes.code < 600"));
        assert!(t("attributes.code == 503.0"));
        assert!(t(
            r#"attributes.level != "info" && !(attributes.code == 200)"#
        ));
        assert!(t(r#"attributes.missing == nil"#));
        assert!(t(r#"attributes.nested.inner.x == true"#));
        assert!(t(r#"body contains "level" or false"#));
        assert!(t(r#"body endsWith "}""#));
        assert!(t(r#"not (attributes.level == "info")"#));
    }

    #[test]
    fn mismatched_types_are_false_not_errors() {
        assert!(!t(r#"attributes.code == "503""#));
        assert!(!t(r#"attributes.level > 3"#));
        assert!(!t(r#"attributes.code matches "5""#));
        assert!(!t(r#"attributes.missing startsWith "x""#));
        // A non-boolean result is false.
        assert!(!t("attributes.level"));
    }

    #[test]
    fn unsupported_syntax_is_refused_with_its_position() {
        for (src, want) in [
            (
                r#"env("HOME") == "x""#,
                "functions and other names are not supported",
            ),
            ("attributes.code + 1 > 2", "unexpected `+` at character 16"),
            (
                r#"body matches attributes.re"#,
                "needs a string literal pattern",
            ),
            (r#"body == "open"#, "unterminated string"),
            ("(body == 1", "expected `)`"),
            (r#"body matches "(""#, "bad pattern"),
        ] {
            let err = Expr::parse(src).unwrap_err();
            assert!(err.contains(want), "{src}: {err}");
        }
    }
}
