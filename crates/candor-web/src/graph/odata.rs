//! The OData query options Graph clients send to the service communications API:
//! `$filter` (comparisons, `in`, `and`/`or`/`not`, parentheses, `any` over string
//! collections), `$orderby`, `$top`, `$skip`, `$select`, `$count`. Parsed into a small
//! expression tree and evaluated against JSON objects, so one implementation serves
//! issues, overviews and messages. Everything here is pure and must never panic,
//! whatever the input.

use std::cmp::Ordering;

use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ODataError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ODataError> {
    Err(ODataError(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    DateTime(OffsetDateTime),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(String, Cmp, Literal),
    /// `field in ('a', 'b')`
    In(String, Vec<Literal>),
    /// `'x' in field`, where field is a collection of strings.
    Contains(String, Literal),
    /// `field/any(v: v eq 'x')`
    Any(String, Cmp, Literal),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    DateTime(OffsetDateTime),
    Open,
    Close,
    Comma,
    Colon,
    Slash,
}

const MAX_FILTER_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;

fn tokenize(s: &str) -> Result<Vec<Token>, ODataError> {
    if s.len() > MAX_FILTER_LEN {
        return err("the $filter is too long");
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            ':' => {
                out.push(Token::Colon);
                i += 1
            }
            '/' => {
                out.push(Token::Slash);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err("a string in the $filter is not closed"),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(v));
            }
            _ if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '-' | ':' | '.' | '+'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if let Ok(t) =
                    OffsetDateTime::parse(&word, &time::format_description::well_known::Rfc3339)
                {
                    out.push(Token::DateTime(t));
                } else if let Ok(n) = word.parse::<f64>() {
                    if !n.is_finite() {
                        return err(format!("`{word}` is not a number"));
                    }
                    out.push(Token::Num(n));
                } else {
                    return err(format!(
                        "`{}` is not a number or a date-time",
                        word.chars().take(40).collect::<String>()
                    ));
                }
            }
            _ if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '$'))
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return err(format!("unexpected `{other}` in the $filter")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, t: Token, what: &str) -> Result<(), ODataError> {
        match self.next() {
            Some(ref got) if *got == t => Ok(()),
            _ => err(format!("expected {what} in the $filter")),
        }
    }

    fn or(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ODataError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("the $filter is nested too deeply");
        }
        let e = if self.keyword("not") {
            self.pos += 1;
            Expr::Not(Box::new(self.unary()?))
        } else if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Token::Close, "`)`")?;
            e
        } else {
            self.comparison()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn literal(&mut self) -> Result<Literal, ODataError> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::String(s)),
            Some(Token::Num(n)) => Ok(Literal::Number(n)),
            Some(Token::DateTime(t)) => Ok(Literal::DateTime(t)),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            _ => err("expected a value ('text', a number, true, false, null or a date-time) in the $filter"),
        }
    }

    fn cmp(&mut self) -> Result<Cmp, ODataError> {
        match self.next() {
            Some(Token::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Ok(Cmp::Eq),
                "ne" => Ok(Cmp::Ne),
                "gt" => Ok(Cmp::Gt),
                "ge" => Ok(Cmp::Ge),
                "lt" => Ok(Cmp::Lt),
                "le" => Ok(Cmp::Le),
                other => err(format!(
                    "`{}` is not a supported operator (eq, ne, gt, ge, lt, le, in)",
                    other.chars().take(20).collect::<String>()
                )),
            },
            _ => err("expected an operator (eq, ne, gt, ge, lt, le, in) in the $filter"),
        }
    }

    fn comparison(&mut self) -> Result<Expr, ODataError> {
        // `'x' in field`
        if matches!(self.peek(), Some(Token::Str(_))) {
            let value = self.literal()?;
            if !self.keyword("in") {
                return err("expected `in` after a value in the $filter");
            }
            self.pos += 1;
            let field = self.field()?;
            return Ok(Expr::Contains(field, value));
        }
        let field = self.field()?;
        if self.peek() == Some(&Token::Slash) {
            // field/any(v: v eq 'x')
            self.pos += 1;
            match self.next() {
                Some(Token::Ident(w)) if w.eq_ignore_ascii_case("any") => {}
                _ => return err("only /any(...) is supported on collections"),
            }
            self.expect(Token::Open, "`(`")?;
            let var = self.field()?;
            self.expect(Token::Colon, "`:`")?;
            let again = self.field()?;
            if again != var {
                return err(format!("inside any(), compare `{var}` itself"));
            }
            let op = self.cmp()?;
            let value = self.literal()?;
            self.expect(Token::Close, "`)`")?;
            return Ok(Expr::Any(field, op, value));
        }
        if self.keyword("in") {
            self.pos += 1;
            self.expect(Token::Open, "`(`")?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Token::Close, "`)`")?;
            return Ok(Expr::In(field, values));
        }
        let op = self.cmp()?;
        let value = self.literal()?;
        Ok(Expr::Compare(field, op, value))
    }

    fn field(&mut self) -> Result<String, ODataError> {
        match self.next() {
            Some(Token::Ident(w)) => Ok(w),
            _ => err("expected a property name in the $filter"),
        }
    }
}

/// Parses a `$filter` expression, checking every property against `fields`.
pub fn parse_filter(s: &str, fields: &[&str]) -> Result<Expr, ODataError> {
    let tokens = tokenize(s)?;
    if tokens.is_empty() {
        return err("the $filter is empty");
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos < p.tokens.len() {
        return err("unexpected text at the end of the $filter");
    }
    check_fields(&e, fields)?;
    Ok(e)
}

fn check_fields(e: &Expr, fields: &[&str]) -> Result<(), ODataError> {
    let known = |f: &str| {
        if fields.iter().any(|k| k.eq_ignore_ascii_case(f)) {
            Ok(())
        } else {
            err(format!(
                "`{}` is not a property that can be filtered on",
                f.chars().take(40).collect::<String>()
            ))
        }
    };
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_fields(a, fields)?;
            check_fields(b, fields)
        }
        Expr::Not(a) => check_fields(a, fields),
        Expr::Compare(f, _, _) | Expr::In(f, _) | Expr::Contains(f, _) | Expr::Any(f, _, _) => {
            known(f)
        }
    }
}

fn field<'a>(obj: &'a Value, name: &str) -> &'a Value {
    match obj {
        Value::Object(map) => map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .unwrap_or(&Value::Null),
        _ => &Value::Null,
    }
}

fn compare(value: &Value, lit: &Literal) -> Option<Ordering> {
    match (value, lit) {
        (Value::Null, Literal::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(a), Literal::Number(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::String(a), Literal::DateTime(b)) => {
            OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|a| a.cmp(b))
        }
        // Enum values and service names compare without regard to case, as Graph's do.
        (Value::String(a), Literal::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        _ => None,
    }
}

fn holds(ord: Option<Ordering>, op: Cmp) -> bool {
    match (ord, op) {
        (None, Cmp::Ne) => true,
        (None, _) => false,
        (Some(o), Cmp::Eq) => o == Ordering::Equal,
        (Some(o), Cmp::Ne) => o != Ordering::Equal,
        (Some(o), Cmp::Gt) => o == Ordering::Greater,
        (Some(o), Cmp::Ge) => o != Ordering::Less,
        (Some(o), Cmp::Lt) => o == Ordering::Less,
        (Some(o), Cmp::Le) => o != Ordering::Greater,
    }
}

/// Whether `obj` matches the filter.
pub fn matches(e: &Expr, obj: &Value) -> bool {
    match e {
        Expr::And(a, b) => matches(a, obj) && matches(b, obj),
        Expr::Or(a, b) => matches(a, obj) || matches(b, obj),
        Expr::Not(a) => !matches(a, obj),
        Expr::Compare(f, op, lit) => holds(compare(field(obj, f), lit), *op),
        Expr::In(f, lits) => lits
            .iter()
            .any(|l| holds(compare(field(obj, f), l), Cmp::Eq)),
        Expr::Contains(f, lit) | Expr::Any(f, Cmp::Eq, lit) => match field(obj, f) {
            Value::Array(items) => items.iter().any(|v| holds(compare(v, lit), Cmp::Eq)),
            _ => false,
        },
        Expr::Any(f, op, lit) => match field(obj, f) {
            Value::Array(items) => items.iter().any(|v| holds(compare(v, lit), *op)),
            _ => false,
        },
    }
}

/// `$orderby=field [asc|desc], ...`
pub fn parse_orderby(s: &str, fields: &[&str]) -> Result<Vec<(String, bool)>, ODataError> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let mut words = part.split_whitespace();
        let Some(f) = words.next() else {
            return err("an empty $orderby clause");
        };
        if !fields.iter().any(|k| k.eq_ignore_ascii_case(f)) {
            return err(format!(
                "`{}` is not a property that can be sorted on",
                f.chars().take(40).collect::<String>()
            ));
        }
        let desc = match words.next().map(|w| w.to_ascii_lowercase()) {
            None => false,
            Some(w) if w == "asc" => false,
            Some(w) if w == "desc" => true,
            Some(_) => return err("$orderby directions are asc or desc"),
        };
        if words.next().is_some() {
            return err("unexpected text in $orderby");
        }
        out.push((f.to_owned(), desc));
    }
    Ok(out)
}

fn order_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

pub fn sort(items: &mut [Value], keys: &[(String, bool)]) {
    items.sort_by(|a, b| {
        for (f, desc) in keys {
            let o = order_values(field(a, f), field(b, f));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

/// Keeps only the `$select`ed properties (and `id`, which Graph always returns).
pub fn select(obj: &mut Value, props: &[String]) {
    if let Value::Object(map) = obj {
        map.retain(|k, _| {
            k == "id" || k.starts_with("@odata") || props.iter().any(|p| p.eq_ignore_ascii_case(k))
        });
    }
}

pub fn parse_select(s: &str, fields: &[&str]) -> Result<Vec<String>, ODataError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if fields.iter().any(|k| k.eq_ignore_ascii_case(p)) {
                Ok(p.to_owned())
            } else {
                err(format!(
                    "`{}` is not a property that can be selected",
                    p.chars().take(40).collect::<String>()
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const FIELDS: &[&str] = &[
        "id",
        "service",
        "status",
        "isResolved",
        "lastModifiedDateTime",
        "tags",
        "services",
        "classification",
    ];

    fn issue() -> Value {
        json!({"id": "EX100001", "service": "Exchange Online", "status": "serviceDegradation", "isResolved": false,
               "classification": "incident", "lastModifiedDateTime": "2026-11-22T10:00:00Z",
               "tags": ["Action required", "User impact"], "services": ["Power Apps", "Power BI"]})
    }

    fn check(filter: &str) -> bool {
        matches(&parse_filter(filter, FIELDS).unwrap(), &issue())
    }

    #[test]
    fn the_filters_graph_clients_use_work() {
        assert!(check("isResolved eq false"));
        assert!(!check("isResolved eq true"));
        assert!(check("service eq 'Exchange Online'"));
        assert!(check("lastModifiedDateTime ge 2025-01-25T00:00:00Z"));
        assert!(!check("lastModifiedDateTime lt 2025-01-25T00:00:00Z"));
        assert!(check("id eq 'EX100001'"));
        assert!(check("tags/any(t:t eq 'Action required')"));
        assert!(check("'Power Apps' in services or 'Power BI' in services"));
        assert!(check(
            "status in ('serviceDegradation', 'serviceInterruption')"
        ));
        assert!(
            check("Status eq 'ServiceDegradation'"),
            "enum values ignore case"
        );
        assert!(check("isResolved eq false and (classification eq 'incident' or classification eq 'advisory')"));
        assert!(check("not (isResolved eq true)"));
        assert!(check("service ne 'SharePoint Online'"));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for (f, needle) in [
            ("foo eq 1", "foo"),
            ("isResolved eq", "value"),
            ("isResolved equals false", "operator"),
            ("(isResolved eq false", ")"),
            ("service eq 'open", "closed"),
            ("", "empty"),
            ("isResolved eq false extra", "end"),
            ("tags/all(t:t eq 'x')", "any"),
        ] {
            let e = parse_filter(f, FIELDS).unwrap_err();
            assert!(e.0.contains(needle), "{f}: {e}");
        }
    }

    #[test]
    fn orderby_and_select() {
        let keys = parse_orderby("lastModifiedDateTime desc, id", FIELDS).unwrap();
        let mut items = vec![
            json!({"id": "a", "lastModifiedDateTime": "2026-01-01T00:00:00Z"}),
            json!({"id": "b", "lastModifiedDateTime": "2026-02-01T00:00:00Z"}),
        ];
        sort(&mut items, &keys);
        assert_eq!(items[0]["id"], "b");
        assert!(parse_orderby("nope desc", FIELDS).is_err());
        assert!(parse_orderby("id sideways", FIELDS).is_err());
        let mut obj = issue();
        select(&mut obj, &parse_select("status, service", FIELDS).unwrap());
        assert_eq!(obj.as_object().unwrap().len(), 3);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let f = format!(
            "{}isResolved eq false{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(parse_filter(&f, FIELDS).is_err());
        let f = format!("{}isResolved eq false", "not ".repeat(100));
        assert!(parse_filter(&f, FIELDS).is_err());
    }

    proptest! {
        #[test]
        fn any_input_parses_or_fails_cleanly(s in ".{0,200}") {
            if let Ok(e) = parse_filter(&s, FIELDS) {
                let _ = matches(&e, &issue());
            }
            let _ = parse_orderby(&s, FIELDS);
            let _ = parse_select(&s, FIELDS);
        }

        #[test]
        fn filter_like_input_never_panics(parts in proptest::collection::vec(prop_oneof![
            Just("isResolved".to_owned()), Just("eq".to_owned()), Just("and".to_owned()), Just("or".to_owned()),
            Just("not".to_owned()), Just("(".to_owned()), Just(")".to_owned()), Just("'x'".to_owned()), Just("in".to_owned()),
            Just("true".to_owned()), Just("tags/any(t:t".to_owned()), Just(",".to_owned()), Just("2026-01-01T00:00:00Z".to_owned()),
        ], 0..20)) {
            let s = parts.join(" ");
            if let Ok(e) = parse_filter(&s, FIELDS) {
                let _ = matches(&e, &issue());
            }
        }
    }
}
