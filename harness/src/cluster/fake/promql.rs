//! The fake Prometheus's query engine: enough PromQL to answer what a scenario and a dashboard
//! ask (selectors with `=`, `!=`, `=~`, `!~`; `rate`, `irate`, `increase`,
//! `histogram_quantile`, `vector`; `sum`, `count`, `min`, `max`, `avg` with `by`/`without`;
//! arithmetic, comparisons and `or`), evaluated over the samples the fake really scraped, so a
//! verdict about "the load Prometheus saw" is judged on numbers that moved. Like Prometheus, a
//! rate needs two samples in its window, an aggregation of nothing is nothing, and an unknown
//! metric is an empty answer, not an error.

use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

/// One scraped series: its labels (with `__name__`) and its samples, oldest first, as
/// (seconds since the fake started, value).
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(f64, f64)>,
}

/// What an expression evaluates to.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

/// Evaluates `expr` at `now` over `series`.
///
/// # Errors
/// What Prometheus would answer with `bad_data`: the expression is not understood.
pub fn evaluate(expr: &str, series: &[Series], now: f64) -> Result<Value, String> {
    let tokens = lex(expr)?;
    let mut parser = Parser { tokens, at: 0 };
    let node = parser.expr(0)?;
    if parser.at != parser.tokens.len() {
        return Err(format!(
            "parse error: unexpected {:?}",
            parser.tokens[parser.at]
        ));
    }
    match eval(&node, series, now)? {
        Evaluated::Range(_) => Err("invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into()),
        Evaluated::Scalar(v) => Ok(Value::Scalar(v)),
        Evaluated::Vector(v) => Ok(Value::Vector(v)),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Number(f64),
    Duration(f64),
    Str(String),
    Punct(char),
    Op(&'static str),
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = at;
            while at < chars.len()
                && (chars[at].is_ascii_alphanumeric() || chars[at] == '_' || chars[at] == ':')
            {
                at += 1;
            }
            tokens.push(Token::Ident(chars[start..at].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' {
            let start = at;
            while at < chars.len() && (chars[at].is_ascii_alphanumeric() || chars[at] == '.') {
                at += 1;
            }
            let word: String = chars[start..at].iter().collect();
            tokens.push(match word.parse::<f64>() {
                Ok(n) => Token::Number(n),
                Err(_) => Token::Duration(duration(&word)?),
            });
        } else if c == '"' || c == '\'' {
            let mut value = String::new();
            at += 1;
            loop {
                match chars.get(at) {
                    None => return Err("parse error: unterminated quoted string".into()),
                    Some(&q) if q == c => break,
                    Some('\\') => {
                        at += 1;
                        value.push(*chars.get(at).ok_or("unterminated escape")?);
                    }
                    Some(&other) => value.push(other),
                }
                at += 1;
            }
            at += 1;
            tokens.push(Token::Str(value));
        } else {
            let two: String = chars[at..(at + 2).min(chars.len())].iter().collect();
            let op = ["==", "!=", ">=", "<=", "=~", "!~"]
                .into_iter()
                .find(|op| *op == two);
            if let Some(op) = op {
                tokens.push(Token::Op(op));
                at += 2;
            } else if let Some(op) = ["+", "-", "*", "/", ">", "<", "="]
                .into_iter()
                .find(|op| op.starts_with(c))
            {
                tokens.push(Token::Op(op));
                at += 1;
            } else if "(){}[],".contains(c) {
                tokens.push(Token::Punct(c));
                at += 1;
            } else {
                return Err(format!("parse error: unexpected character {c:?}"));
            }
        }
    }
    Ok(tokens)
}

/// `5m`, `30s`, `1h30m` in seconds.
fn duration(text: &str) -> Result<f64, String> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            0.001
        } else {
            match c {
                's' => 1.0,
                'm' => 60.0,
                'h' => 3600.0,
                'd' => 86400.0,
                'w' => 604_800.0,
                'y' => 31_536_000.0,
                _ => return Err(format!("parse error: bad duration {text:?}")),
            }
        };
        let n: f64 = number
            .parse()
            .map_err(|_| format!("parse error: bad duration {text:?}"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("parse error: bad duration {text:?}"));
    }
    Ok(total)
}

#[derive(Clone, Debug)]
enum Node {
    Number(f64),
    Selector {
        name: Option<String>,
        matchers: Vec<(String, &'static str, String)>,
        range: Option<f64>,
    },
    Call(String, Vec<Node>),
    Aggregate {
        op: String,
        by: Option<(bool, Vec<String>)>,
        arg: Box<Node>,
    },
    Binary(&'static str, Box<Node>, Box<Node>),
}

const AGGREGATORS: [&str; 5] = ["sum", "count", "min", "max", "avg"];

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

/// Binding power of a binary operator, loosest first.
fn precedence(op: &str) -> Option<u8> {
    Some(match op {
        "or" => 1,
        "==" | "!=" | ">" | "<" | ">=" | "<=" => 2,
        "+" | "-" => 3,
        "*" | "/" => 4,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Token::Punct(p)) if p == c => Ok(()),
            other => Err(format!("parse error: expected {c:?}, found {other:?}")),
        }
    }

    fn binary_op(&self) -> Option<&'static str> {
        match self.peek()? {
            Token::Op(op) if precedence(op).is_some() => Some(op),
            Token::Ident(word) if word == "or" => Some("or"),
            _ => None,
        }
    }

    fn expr(&mut self, min: u8) -> Result<Node, String> {
        let mut left = self.unary()?;
        while let Some(op) = self.binary_op() {
            let power = precedence(op).expect("an operator");
            if power < min {
                break;
            }
            self.at += 1;
            if matches!(self.peek(), Some(Token::Ident(w)) if w == "bool") {
                return Err("the fake Prometheus does not support `bool`".into());
            }
            let right = self.expr(power + 1)?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.peek() == Some(&Token::Op("-")) {
            self.at += 1;
            let operand = self.unary()?;
            return Ok(Node::Binary(
                "*",
                Box::new(Node::Number(-1.0)),
                Box::new(operand),
            ));
        }
        self.primary()
    }

    fn labels_list(&mut self) -> Result<Vec<String>, String> {
        self.expect('(')?;
        let mut names = Vec::new();
        loop {
            match self.next() {
                Some(Token::Punct(')')) => return Ok(names),
                Some(Token::Ident(name)) => names.push(name),
                Some(Token::Punct(',')) => {}
                other => return Err(format!("parse error: unexpected {other:?} in a label list")),
            }
        }
    }

    fn grouping(&mut self) -> Result<Option<(bool, Vec<String>)>, String> {
        match self.peek() {
            Some(Token::Ident(w)) if w == "by" || w == "without" => {
                let by = w == "by";
                self.at += 1;
                Ok(Some((by, self.labels_list()?)))
            }
            _ => Ok(None),
        }
    }

    fn primary(&mut self) -> Result<Node, String> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Node::Number(n)),
            Some(Token::Punct('(')) => {
                let inner = self.expr(0)?;
                self.expect(')')?;
                Ok(inner)
            }
            Some(Token::Punct('{')) => self.selector(None),
            Some(Token::Ident(word)) if AGGREGATORS.contains(&word.as_str()) => {
                let mut by = self.grouping()?;
                self.expect('(')?;
                let arg = self.expr(0)?;
                self.expect(')')?;
                if by.is_none() {
                    by = self.grouping()?;
                }
                Ok(Node::Aggregate {
                    op: word,
                    by,
                    arg: Box::new(arg),
                })
            }
            Some(Token::Ident(word)) if self.peek() == Some(&Token::Punct('(')) => {
                self.at += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Token::Punct(')')) {
                    loop {
                        args.push(self.expr(0)?);
                        if self.peek() == Some(&Token::Punct(',')) {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(')')?;
                Ok(Node::Call(word, args))
            }
            Some(Token::Ident(word)) => {
                if self.peek() == Some(&Token::Punct('{')) {
                    self.at += 1;
                    self.selector(Some(word))
                } else {
                    self.range(Node::Selector {
                        name: Some(word),
                        matchers: Vec::new(),
                        range: None,
                    })
                }
            }
            other => Err(format!("parse error: unexpected {other:?}")),
        }
    }

    /// The matchers after `{`, then an optional range.
    fn selector(&mut self, name: Option<String>) -> Result<Node, String> {
        let mut matchers = Vec::new();
        loop {
            match self.next() {
                Some(Token::Punct('}')) => break,
                Some(Token::Punct(',')) => {}
                Some(Token::Ident(label)) => {
                    let op = match self.next() {
                        Some(Token::Op(op @ ("=" | "!=" | "=~" | "!~"))) => op,
                        other => {
                            return Err(format!("parse error: unexpected {other:?} in a matcher"));
                        }
                    };
                    let Some(Token::Str(value)) = self.next() else {
                        return Err("parse error: a matcher's value must be a string".into());
                    };
                    matchers.push((label, op, value));
                }
                other => return Err(format!("parse error: unexpected {other:?} in a selector")),
            }
        }
        self.range(Node::Selector {
            name,
            matchers,
            range: None,
        })
    }

    fn range(&mut self, selector: Node) -> Result<Node, String> {
        if self.peek() != Some(&Token::Punct('[')) {
            return Ok(selector);
        }
        self.at += 1;
        let seconds = match self.next() {
            Some(Token::Duration(d)) => d,
            other => return Err(format!("parse error: bad range {other:?}")),
        };
        self.expect(']')?;
        let Node::Selector { name, matchers, .. } = selector else {
            unreachable!("ranges follow selectors only")
        };
        Ok(Node::Selector {
            name,
            matchers,
            range: Some(seconds),
        })
    }
}

enum Evaluated {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
    /// Each selected series' samples within the range.
    Range(Vec<(Labels, Vec<(f64, f64)>)>),
}

fn matches(labels: &Labels, name: &Option<String>, matchers: &[(String, &str, String)]) -> bool {
    if let Some(name) = name
        && labels.get("__name__") != Some(name)
    {
        return false;
    }
    matchers.iter().all(|(label, op, value)| {
        let actual = labels.get(label).map_or("", String::as_str);
        match *op {
            "=" => actual == value,
            "!=" => actual != value,
            "=~" => regex_matches(value, actual),
            _ => !regex_matches(value, actual),
        }
    })
}

/// A fully anchored match of the regular expressions dashboards use: literals, `.`, `*`, `+`,
/// `?` after one item, and `|` between alternatives at the top level.
fn regex_matches(pattern: &str, text: &str) -> bool {
    fn here(p: &[char], t: &[char]) -> bool {
        let Some(&first) = p.first() else {
            return t.is_empty();
        };
        let one = |c: char| first == '.' || first == c;
        match p.get(1) {
            Some('*') => (0..=t.len())
                .take_while(|&n| n == 0 || one(t[n - 1]))
                .any(|n| here(&p[2..], &t[n..])),
            Some('+') => (1..=t.len())
                .take_while(|&n| one(t[n - 1]))
                .any(|n| here(&p[2..], &t[n..])),
            Some('?') => here(&p[2..], t) || (!t.is_empty() && one(t[0]) && here(&p[2..], &t[1..])),
            _ => !t.is_empty() && one(t[0]) && here(&p[1..], &t[1..]),
        }
    }
    let text: Vec<char> = text.chars().collect();
    pattern.split('|').any(|alternative| {
        let alternative: Vec<char> = alternative.chars().collect();
        here(&alternative, &text)
    })
}

fn without_name(labels: &Labels) -> Labels {
    let mut labels = labels.clone();
    labels.remove("__name__");
    labels
}

fn eval(node: &Node, series: &[Series], now: f64) -> Result<Evaluated, String> {
    Ok(match node {
        Node::Number(n) => Evaluated::Scalar(*n),
        Node::Selector {
            name,
            matchers,
            range,
        } => {
            let selected = series.iter().filter(|s| matches(&s.labels, name, matchers));
            match range {
                None => Evaluated::Vector(
                    selected
                        .filter_map(|s| s.points.last().map(|(_, v)| (s.labels.clone(), *v)))
                        .collect(),
                ),
                Some(seconds) => Evaluated::Range(
                    selected
                        .map(|s| {
                            let window = s
                                .points
                                .iter()
                                .copied()
                                .filter(|(t, _)| *t > now - seconds && *t <= now)
                                .collect();
                            (s.labels.clone(), window)
                        })
                        .collect(),
                ),
            }
        }
        Node::Call(function, args) => call(function, args, series, now)?,
        Node::Aggregate { op, by, arg } => {
            let Evaluated::Vector(input) = eval(arg, series, now)? else {
                return Err(format!("parse error: {op}() expects an instant vector"));
            };
            let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
            for (labels, value) in input {
                let key: Labels = match by {
                    None => Labels::new(),
                    Some((true, names)) => labels
                        .into_iter()
                        .filter(|(k, _)| names.contains(k))
                        .collect(),
                    Some((false, names)) => without_name(&labels)
                        .into_iter()
                        .filter(|(k, _)| !names.contains(k))
                        .collect(),
                };
                groups.entry(key).or_default().push(value);
            }
            Evaluated::Vector(
                groups
                    .into_iter()
                    .map(|(labels, values)| {
                        let n = values.len() as f64;
                        let value = match op.as_str() {
                            "sum" => values.iter().sum(),
                            "count" => n,
                            "min" => values.iter().copied().fold(f64::INFINITY, f64::min),
                            "max" => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                            _ => values.iter().sum::<f64>() / n,
                        };
                        (labels, value)
                    })
                    .collect(),
            )
        }
        Node::Binary(op, left, right) => {
            binary(op, eval(left, series, now)?, eval(right, series, now)?)?
        }
    })
}

fn call(function: &str, args: &[Node], series: &[Series], now: f64) -> Result<Evaluated, String> {
    let arg = |i: usize| {
        args.get(i)
            .ok_or_else(|| format!("parse error: {function}() needs more arguments"))
            .and_then(|a| eval(a, series, now))
    };
    Ok(match function {
        "rate" | "irate" | "increase" => {
            let Evaluated::Range(ranges) = arg(0)? else {
                return Err(format!("parse error: {function}() expects a range vector"));
            };
            Evaluated::Vector(
                ranges
                    .into_iter()
                    .filter(|(_, points)| points.len() >= 2)
                    .map(|(labels, points)| {
                        // Counter resets: a drop means the count started again from zero.
                        let rise: f64 = points
                            .windows(2)
                            .map(|w| {
                                if w[1].1 >= w[0].1 {
                                    w[1].1 - w[0].1
                                } else {
                                    w[1].1
                                }
                            })
                            .sum();
                        let span = points[points.len() - 1].0 - points[0].0;
                        let value = if function == "increase" {
                            rise
                        } else if span > 0.0 {
                            rise / span
                        } else {
                            0.0
                        };
                        (without_name(&labels), value)
                    })
                    .collect(),
            )
        }
        "vector" => match arg(0)? {
            Evaluated::Scalar(v) => Evaluated::Vector(vec![(Labels::new(), v)]),
            _ => return Err("parse error: vector() expects a scalar".into()),
        },
        "histogram_quantile" => {
            let (Evaluated::Scalar(q), Evaluated::Vector(buckets)) = (arg(0)?, arg(1)?) else {
                return Err("parse error: histogram_quantile(scalar, vector)".into());
            };
            let mut histograms: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for (labels, count) in buckets {
                let Some(le) = labels.get("le").and_then(|le| parse_float(le)) else {
                    continue;
                };
                let mut key = without_name(&labels);
                key.remove("le");
                histograms.entry(key).or_default().push((le, count));
            }
            Evaluated::Vector(
                histograms
                    .into_iter()
                    .map(|(labels, mut buckets)| {
                        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                        (labels, quantile(q, &buckets))
                    })
                    .collect(),
            )
        }
        other => {
            return Err(format!(
                "the fake Prometheus does not know the function {other}()"
            ));
        }
    })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Prometheus's bucket interpolation: NaN without observations.
fn quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let mut below = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return below.0;
            }
            let within = count - below.1;
            if within <= 0.0 {
                return le;
            }
            return below.0 + (le - below.0) * (rank - below.1) / within;
        }
        below = (le, count);
    }
    below.0
}

fn compare(op: &str, a: f64, b: f64) -> Option<bool> {
    Some(match op {
        "==" => a == b,
        "!=" => a != b,
        ">" => a > b,
        "<" => a < b,
        ">=" => a >= b,
        "<=" => a <= b,
        _ => return None,
    })
}

fn arithmetic(op: &str, a: f64, b: f64) -> f64 {
    match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        _ => a / b,
    }
}

fn binary(op: &str, left: Evaluated, right: Evaluated) -> Result<Evaluated, String> {
    use Evaluated::{Range, Scalar, Vector};
    let apply = |a: f64, b: f64| -> Option<f64> {
        match compare(op, a, b) {
            Some(true) => Some(a),
            Some(false) => None,
            None => Some(arithmetic(op, a, b)),
        }
    };
    Ok(match (left, right) {
        (Range(_), _) | (_, Range(_)) => {
            return Err("parse error: binary expressions take instant vectors".into());
        }
        (Scalar(a), Scalar(b)) => Scalar(arithmetic(op, a, b)),
        (Vector(v), Scalar(b)) => Vector(
            v.into_iter()
                .filter_map(|(l, a)| apply(a, b).map(|r| (result_labels(op, l), r)))
                .collect(),
        ),
        (Scalar(a), Vector(v)) => Vector(
            v.into_iter()
                .filter_map(|(l, b)| {
                    let kept =
                        compare(op, a, b).map_or(Some(arithmetic(op, a, b)), |t| t.then_some(b));
                    kept.map(|r| (result_labels(op, l), r))
                })
                .collect(),
        ),
        (Vector(left), Vector(right)) if op == "or" => {
            let mut out = left.clone();
            let seen: Vec<Labels> = left.iter().map(|(l, _)| without_name(l)).collect();
            out.extend(
                right
                    .into_iter()
                    .filter(|(l, _)| !seen.contains(&without_name(l))),
            );
            Vector(out)
        }
        (Vector(left), Vector(right)) => Vector(
            left.into_iter()
                .filter_map(|(l, a)| {
                    let key = without_name(&l);
                    let (_, b) = right.iter().find(|(r, _)| without_name(r) == key)?;
                    apply(a, *b).map(|v| (result_labels(op, l), v))
                })
                .collect(),
        ),
    })
}

/// Arithmetic drops the metric name; a comparison filter keeps it.
fn result_labels(op: &str, labels: Labels) -> Labels {
    if compare(op, 0.0, 0.0).is_some() {
        labels
    } else {
        without_name(&labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, labels: &[(&str, &str)], points: &[(f64, f64)]) -> Series {
        let mut all: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert("__name__".into(), name.into());
        Series {
            labels: all,
            points: points.to_vec(),
        }
    }

    fn values(expr: &str, data: &[Series]) -> Vec<f64> {
        match evaluate(expr, data, 100.0).unwrap() {
            Value::Vector(v) => v.into_iter().map(|(_, x)| x).collect(),
            Value::Scalar(x) => vec![x],
        }
    }

    fn app() -> Vec<Series> {
        vec![
            series(
                "http_requests_total",
                &[("pod", "a"), ("route", "/"), ("status", "200")],
                &[(80.0, 5.0), (90.0, 15.0)],
            ),
            series(
                "http_requests_total",
                &[("pod", "b"), ("route", "/"), ("status", "200")],
                &[(80.0, 1.0), (90.0, 11.0)],
            ),
            series(
                "http_requests_total",
                &[("pod", "b"), ("route", "/metrics"), ("status", "200")],
                &[(90.0, 2.0)],
            ),
            series("up", &[("job", "app"), ("pod", "a")], &[(90.0, 1.0)]),
            series("up", &[("job", "app"), ("pod", "b")], &[(90.0, 0.0)]),
            series("d_bucket", &[("le", "0.1")], &[(80.0, 0.0), (90.0, 50.0)]),
            series("d_bucket", &[("le", "1")], &[(80.0, 0.0), (90.0, 100.0)]),
            series("d_bucket", &[("le", "+Inf")], &[(80.0, 0.0), (90.0, 100.0)]),
        ]
    }

    #[test]
    fn sums_rates_and_filters_like_prometheus() {
        let data = app();
        assert_eq!(values("sum(http_requests_total)", &data), [28.0]);
        assert_eq!(
            values("sum(http_requests_total{route=\"/\"})", &data),
            [26.0]
        );
        assert_eq!(values("sum(rate(http_requests_total[1m]))", &data), [2.0]);
        assert_eq!(values("count(up{job=\"app\"} == 1)", &data), [1.0]);
        assert_eq!(
            values("sum by (pod) (http_requests_total)", &data),
            [15.0, 13.0]
        );
        assert_eq!(
            values("sum(http_requests_total{route=~\"/m.*\"})", &data),
            [2.0]
        );
        let p95 = values(
            "histogram_quantile(0.95, sum by (le) (rate(d_bucket[5m])))",
            &data,
        );
        assert!((p95[0] - 0.91).abs() < 1e-9, "{p95:?}");
    }

    #[test]
    fn what_is_not_there_is_an_empty_answer_not_an_error() {
        let data = app();
        assert!(values("sum(rate(http_request_total[1m]))", &data).is_empty());
        // One sample in the window: no rate yet.
        assert!(values("rate(http_requests_total{route=\"/metrics\"}[1m])", &data).is_empty());
        // No 5xx yet: the ratio is empty unless the query says what "none" is.
        let ratio = "sum(rate(http_requests_total{status=~\"5..\"}[5m])) / \
                     sum(rate(http_requests_total[5m]))";
        assert!(values(ratio, &data).is_empty());
        let fixed = format!("({ratio}) or vector(0)");
        assert_eq!(values(&fixed, &data), [0.0]);
    }

    #[test]
    fn a_malformed_query_is_an_error() {
        assert!(evaluate("sum(rate(x[1m]", &[], 0.0).is_err());
        assert!(evaluate("x[1m]", &[], 0.0).is_err());
    }
}
