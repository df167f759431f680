//! The metric names a PromQL expression selects, read by a small parser of the PromQL grammar
//! (selectors, functions, aggregations with `by`/`without`, binary operators with `on`,
//! `ignoring`, `group_left`/`group_right` and `bool`, ranges, subqueries, `offset`, `@`), so
//! that a dashboard query can be checked against the series an app exposes.
//!
//! Grafana's template variables (`$__rate_interval`, `$__interval`, `$var`, `${var}`,
//! `${var:format}`, `[[var]]`) stand for whatever they will be replaced with: a variable never
//! breaks parsing and never counts as a metric name. Label names (in `{...}` and in label
//! lists), durations, strings and numbers are not metric names either. Metric names that start
//! with `:` are not supported (a leading colon is read as a subquery's separator).

use std::collections::BTreeSet;

/// The metric names `expr` selects: bare selectors (`http_requests_total`,
/// `up{job="x"}`), `{__name__="x"}` and Prometheus 3's quoted names (`{"x.y"}`).
///
/// # Errors
/// A message saying what was expected where, when `expr` is not PromQL (an unbalanced
/// bracket, an unterminated string, a malformed matcher, two operands without an operator).
pub fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let tokens = lex(expr)?;
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        names: BTreeSet::new(),
    };
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    parser.expr()?;
    if let Some(token) = parser.peek() {
        return Err(format!(
            "unexpected {} at offset {}: an operator or the end was expected",
            token.kind.describe(),
            token.offset
        ));
    }
    Ok(parser.names)
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Ident(String),
    /// A number or a duration (`1`, `0.5`, `1e3`, `0x1f`, `5m`, `1h30m`).
    Number(String),
    Str(String),
    /// A Grafana template variable.
    Variable,
    /// `( ) { } [ ] , : @`
    Punct(char),
    /// Arithmetic, comparison and matcher operators.
    Op(&'static str),
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::Ident(name) => format!("`{name}`"),
            Kind::Number(text) => format!("`{text}`"),
            Kind::Str(text) => format!("string {text:?}"),
            Kind::Variable => "a template variable".into(),
            Kind::Punct(c) => format!("`{c}`"),
            Kind::Op(op) => format!("`{op}`"),
        }
    }
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    /// Byte offset in the expression, for messages.
    offset: usize,
}

/// Longest first, so `==` is not read as `=` twice.
const OPERATORS: [&str; 15] = [
    "==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">", "=",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn lex(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let take_while = |mut j: usize, f: &dyn Fn(char) -> bool| {
        while j < chars.len() && f(chars[j].1) {
            j += 1;
        }
        j
    };
    let text = |from: usize, to: usize| -> String { chars[from..to].iter().map(|c| c.1).collect() };
    while i < chars.len() {
        let (offset, c) = chars[i];
        let next = chars.get(i + 1).map(|c| c.1);
        let kind;
        if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '#' {
            i = take_while(i, &|c| c != '\n');
            continue;
        } else if c == '$' {
            // `${var}`, `${var:format}`, `$var`, `$__rate_interval`.
            if next == Some('{') {
                let end = take_while(i + 2, &|c| c != '}');
                if end == chars.len() {
                    return Err(format!("unterminated `${{` at offset {offset}"));
                }
                i = end + 1;
            } else {
                let end = take_while(i + 1, &|c| c.is_ascii_alphanumeric() || c == '_');
                if end == i + 1 {
                    return Err(format!("a lone `$` at offset {offset}"));
                }
                i = end;
            }
            kind = Kind::Variable;
        } else if c == '[' && next == Some('[') && grafana_brackets(&chars[i..]).is_some() {
            // Grafana's deprecated `[[var]]` (`[[` is never PromQL).
            i += grafana_brackets(&chars[i..]).unwrap_or_default();
            kind = Kind::Variable;
        } else if c == '"' || c == '\'' || c == '`' {
            let mut j = i + 1;
            let mut value = String::new();
            loop {
                let Some(&(_, d)) = chars.get(j) else {
                    return Err(format!("unterminated string starting at offset {offset}"));
                };
                if d == c {
                    break;
                }
                if d == '\\' && c != '`' {
                    j += 1;
                    if let Some(&(_, escaped)) = chars.get(j) {
                        value.push(escaped);
                    }
                } else {
                    value.push(d);
                }
                j += 1;
            }
            i = j + 1;
            kind = Kind::Str(value);
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let mut j = i;
            while j < chars.len() {
                let d = chars[j].1;
                let exponent_sign = (d == '+' || d == '-')
                    && j > i
                    && matches!(chars[j - 1].1, 'e' | 'E')
                    && !text(i, j).starts_with("0x");
                if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exponent_sign {
                    j += 1;
                } else {
                    break;
                }
            }
            kind = Kind::Number(text(i, j));
            i = j;
        } else if is_ident_start(c) {
            let end = take_while(i, &is_ident_char);
            kind = Kind::Ident(text(i, end));
            i = end;
        } else if "(){}[],:@".contains(c) {
            kind = Kind::Punct(c);
            i += 1;
        } else if let Some(op) = OPERATORS.iter().find(|op| {
            let mut k = i;
            op.chars().all(|o| {
                let same = chars.get(k).is_some_and(|c| c.1 == o);
                k += 1;
                same
            })
        }) {
            kind = Kind::Op(op);
            i += op.len();
        } else {
            return Err(format!("unexpected character `{c}` at offset {offset}"));
        }
        tokens.push(Token { kind, offset });
    }
    Ok(tokens)
}

/// The length of a `[[var]]` or `[[var:format]]` at the start of `chars`, if there is one.
fn grafana_brackets(chars: &[(usize, char)]) -> Option<usize> {
    let name = chars
        .get(2..)?
        .iter()
        .take_while(|c| is_ident_char(c.1))
        .count();
    let close = 2 + name;
    (name > 0 && chars.get(close)?.1 == ']' && chars.get(close + 1)?.1 == ']').then_some(close + 2)
}

const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Binary operators spelt as words.
const SET_OPERATORS: [&str; 4] = ["and", "or", "unless", "atan2"];

/// Words that are never a metric name where an operand is expected.
const KEYWORDS: [&str; 11] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
];

const BINARY_OPERATORS: [&str; 12] = [
    "+", "-", "*", "/", "%", "^", "==", "!=", "<=", ">=", "<", ">",
];

const MATCHERS: [&str; 4] = ["=", "!=", "=~", "!~"];

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    names: BTreeSet<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_kind(&self) -> Option<&Kind> {
        self.peek().map(|t| &t.kind)
    }

    fn peek_word(&self) -> Option<String> {
        match self.peek_kind() {
            Some(Kind::Ident(word)) => Some(word.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek_kind() == Some(&Kind::Punct(c))
    }

    /// An error at the current token (or the end), saying what was expected.
    fn expected(&self, what: &str) -> String {
        match self.peek() {
            Some(token) => format!(
                "expected {what} at offset {}, found {}",
                token.offset,
                token.kind.describe()
            ),
            None => format!("expected {what}, found the end of the expression"),
        }
    }

    fn punct(&mut self, c: char) -> Result<(), String> {
        if self.is_punct(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.expected(&format!("`{c}`")))
        }
    }

    /// `unary (binop [bool] [on|ignoring (labels)] [group_left|group_right [(labels)]] unary)*`;
    /// precedence does not change which names an expression selects, so it is not kept.
    fn expr(&mut self) -> Result<(), String> {
        self.unary()?;
        loop {
            let binary = match self.peek_kind() {
                Some(Kind::Op(op)) => BINARY_OPERATORS.contains(op),
                Some(Kind::Ident(word)) => {
                    SET_OPERATORS.contains(&word.to_ascii_lowercase().as_str())
                }
                _ => false,
            };
            if !binary {
                return Ok(());
            }
            self.at += 1;
            if self.peek_word().as_deref() == Some("bool") {
                self.at += 1;
            }
            if matches!(self.peek_word().as_deref(), Some("on" | "ignoring")) {
                self.at += 1;
                self.label_list()?;
            }
            if matches!(
                self.peek_word().as_deref(),
                Some("group_left" | "group_right")
            ) {
                self.at += 1;
                if self.is_punct('(') {
                    self.label_list()?;
                }
            }
            self.unary()?;
        }
    }

    fn unary(&mut self) -> Result<(), String> {
        if matches!(self.peek_kind(), Some(Kind::Op("+" | "-"))) {
            self.at += 1;
            return self.unary();
        }
        self.primary()?;
        self.postfix()
    }

    /// Ranges and subqueries (`[5m]`, `[1h:1m]`), `offset` and `@` after an operand.
    fn postfix(&mut self) -> Result<(), String> {
        loop {
            if self.is_punct('[') {
                self.at += 1;
                self.duration()?;
                if self.is_punct(':') {
                    self.at += 1;
                    if !self.is_punct(']') {
                        self.duration()?;
                    }
                }
                self.punct(']')?;
            } else if self.peek_word().as_deref() == Some("offset") {
                self.at += 1;
                if matches!(self.peek_kind(), Some(Kind::Op("-"))) {
                    self.at += 1;
                }
                self.duration()?;
            } else if self.is_punct('@') {
                self.at += 1;
                match self.peek_kind() {
                    Some(Kind::Number(_) | Kind::Variable) => self.at += 1,
                    Some(Kind::Ident(word))
                        if matches!(word.to_ascii_lowercase().as_str(), "start" | "end") =>
                    {
                        self.at += 1;
                        self.punct('(')?;
                        self.punct(')')?;
                    }
                    _ => return Err(self.expected("a timestamp, `start()` or `end()` after `@`")),
                }
            } else {
                return Ok(());
            }
        }
    }

    fn duration(&mut self) -> Result<(), String> {
        match self.peek_kind() {
            Some(Kind::Number(text)) if is_duration(text) => {
                self.at += 1;
                Ok(())
            }
            Some(Kind::Variable) => {
                self.at += 1;
                Ok(())
            }
            _ => Err(self.expected("a duration such as `5m`")),
        }
    }

    fn primary(&mut self) -> Result<(), String> {
        let Some(token) = self.peek() else {
            return Err(self.expected("an expression"));
        };
        match &token.kind {
            Kind::Number(text) => {
                if !is_number(text) && !is_duration(text) {
                    return Err(format!(
                        "`{text}` at offset {} is neither a number nor a duration",
                        token.offset
                    ));
                }
                self.at += 1;
                Ok(())
            }
            Kind::Str(_) => {
                self.at += 1;
                Ok(())
            }
            Kind::Variable => {
                // A variable may stand for a metric name (`$metric{job="x"}`): its name is
                // unknown here, its matchers are still checked.
                self.at += 1;
                if self.is_punct('{') {
                    self.matchers()?;
                }
                Ok(())
            }
            Kind::Punct('(') => {
                self.at += 1;
                self.expr()?;
                self.punct(')')
            }
            Kind::Punct('{') => self.matchers(),
            Kind::Ident(word) => {
                let word = word.clone();
                let lower = word.to_ascii_lowercase();
                self.at += 1;
                let next_word = self.peek_word();
                if AGGREGATIONS.contains(&lower.as_str())
                    && (self.is_punct('(')
                        || matches!(next_word.as_deref(), Some("by" | "without")))
                {
                    self.aggregation()
                } else if self.is_punct('(') {
                    self.arguments()
                } else if matches!(lower.as_str(), "inf" | "nan") {
                    Ok(())
                } else if KEYWORDS.contains(&lower.as_str()) {
                    self.at -= 1;
                    Err(self.expected("an expression"))
                } else {
                    self.names.insert(word);
                    if self.is_punct('{') {
                        self.matchers()?;
                    }
                    Ok(())
                }
            }
            _ => Err(self.expected("an expression")),
        }
    }

    /// After the operator's name: `[by|without (labels)] (args) [by|without (labels)]`.
    fn aggregation(&mut self) -> Result<(), String> {
        let modifier = |p: &mut Self| -> Result<bool, String> {
            if matches!(p.peek_word().as_deref(), Some("by" | "without")) {
                p.at += 1;
                p.label_list()?;
                return Ok(true);
            }
            Ok(false)
        };
        let before = modifier(self)?;
        self.arguments()?;
        if !before {
            modifier(self)?;
        }
        Ok(())
    }

    /// `( [expr (, expr)*] )`
    fn arguments(&mut self) -> Result<(), String> {
        self.punct('(')?;
        if self.is_punct(')') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.expr()?;
            if self.is_punct(',') {
                self.at += 1;
                continue;
            }
            return self.punct(')');
        }
    }

    /// `( [label (, label)* [,]] )`, labels as words, quoted names or variables.
    fn label_list(&mut self) -> Result<(), String> {
        self.punct('(')?;
        loop {
            match self.peek_kind() {
                Some(Kind::Punct(')')) => {
                    self.at += 1;
                    return Ok(());
                }
                Some(Kind::Ident(_) | Kind::Str(_) | Kind::Variable) => {
                    self.at += 1;
                    if self.is_punct(',') {
                        self.at += 1;
                    } else if !self.is_punct(')') {
                        return Err(self.expected("`,` or `)` in a label list"));
                    }
                }
                _ => return Err(self.expected("a label name")),
            }
        }
    }

    /// `{ [matcher (, matcher)* [,]] }`: `label op "value"`; a quoted name alone is the
    /// metric name, and so is the value of `__name__="..."`.
    fn matchers(&mut self) -> Result<(), String> {
        self.punct('{')?;
        loop {
            let label = match self.peek_kind() {
                Some(Kind::Punct('}')) => {
                    self.at += 1;
                    return Ok(());
                }
                Some(Kind::Ident(name) | Kind::Str(name)) => Some(name.clone()),
                Some(Kind::Variable) => None,
                _ => return Err(self.expected("a label matcher")),
            };
            let quoted = matches!(self.peek_kind(), Some(Kind::Str(_)));
            self.at += 1;
            match self.peek_kind() {
                Some(Kind::Op(op)) if MATCHERS.contains(op) => {
                    let op = *op;
                    self.at += 1;
                    let value = match self.peek_kind() {
                        Some(Kind::Str(value)) => Some(value.clone()),
                        // Grafana formats such as `${var:doublequote}` make a quoted value.
                        Some(Kind::Variable) => None,
                        _ => return Err(self.expected("a quoted label value")),
                    };
                    self.at += 1;
                    if label.as_deref() == Some("__name__")
                        && op == "="
                        && let Some(value) = value
                    {
                        self.names.insert(value);
                    }
                }
                Some(Kind::Punct(',' | '}')) if quoted => {
                    self.names.extend(label);
                }
                _ => return Err(self.expected("a matcher operator (=, !=, =~, !~)")),
            }
            if self.is_punct(',') {
                self.at += 1;
            } else if !self.is_punct('}') {
                return Err(self.expected("`,` or `}` between matchers"));
            }
        }
    }
}

/// `5m`, `1h30m`, `500ms`: digits and a unit, repeated.
fn is_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

fn is_number(text: &str) -> bool {
    let text = text.replace('_', "");
    text.parse::<f64>().is_ok()
        || text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .into_iter()
            .collect()
    }

    #[test]
    fn the_reference_dashboard_queries() {
        assert_eq!(
            names("sum(rate(http_requests_total[1m]))"),
            ["http_requests_total"]
        );
        assert_eq!(
            names(
                r#"(sum(rate(http_requests_total{status=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total[1m]))"#
            ),
            ["http_requests_total"]
        );
        assert_eq!(
            names(
                "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
            ),
            ["http_request_duration_seconds_bucket"]
        );
        assert_eq!(names(r#"count(up{job="deploycheck-app"} == 1)"#), ["up"]);
    }

    #[test]
    fn label_lists_are_not_metric_names() {
        assert_eq!(names("sum(rate(x_total[5m])) by (le, route)"), ["x_total"]);
        assert_eq!(names("sum without (instance) (y)"), ["y"]);
        assert_eq!(names("a / on(job) group_left(instance, pod) b"), ["a", "b"]);
        assert_eq!(names("a * ignoring(code) group_right b"), ["a", "b"]);
        assert_eq!(names("a and on() b unless c or d"), ["a", "b", "c", "d"]);
        assert_eq!(names("SUM BY (le) (x)"), ["x"]);
        // A label list may name labels that read like keywords.
        assert_eq!(names("sum by (on, bool, offset) (x)"), ["x"]);
    }

    #[test]
    fn matchers_durations_numbers_and_strings_are_not_metric_names() {
        assert_eq!(
            names(r#"rate(http_requests_total{route="/data", method!="GET", status!~"2.."}[5m])"#),
            ["http_requests_total"]
        );
        assert_eq!(names("x offset 5m"), ["x"]);
        assert_eq!(names("x offset -1h30m"), ["x"]);
        assert_eq!(names("x @ 1609746000"), ["x"]);
        assert_eq!(names("x @ start()"), ["x"]);
        assert_eq!(names("max_over_time(rate(x[5m])[1h:1m])"), ["x"]);
        assert_eq!(names("deriv(x[10m:])"), ["x"]);
        assert_eq!(names("x > bool 0.5"), ["x"]);
        assert_eq!(names("-x + 1e3 * 0x1f - .5 + Inf - NaN"), ["x"]);
        assert_eq!(names("1 + 2"), Vec::<String>::new());
        assert_eq!(
            names(r#"label_replace(up, "dst", "$1", "src", "(.*)")"#),
            ["up"]
        );
        assert_eq!(
            names(r#"count_values("version", build_info)"#),
            ["build_info"]
        );
        assert_eq!(names("topk(5, x) # the busiest five"), ["x"]);
        assert_eq!(
            names("job:http_requests:rate5m"),
            ["job:http_requests:rate5m"]
        );
    }

    #[test]
    fn name_selectors() {
        assert_eq!(names(r#"{__name__="x", job="a"}"#), ["x"]);
        assert_eq!(
            names(r#"{"metric.with.dots", job="a"}"#),
            ["metric.with.dots"]
        );
        // A regular expression over names selects names nobody can list here.
        assert_eq!(names(r#"{__name__=~"x.*"}"#), Vec::<String>::new());
        // An aggregation's name alone is a metric name.
        assert_eq!(names("count"), ["count"]);
        assert_eq!(names("sum(count)"), ["count"]);
    }

    #[test]
    fn grafana_variables_do_not_break_parsing() {
        assert_eq!(names("rate(x[$__rate_interval])"), ["x"]);
        assert_eq!(names("rate(x[${__interval}])"), ["x"]);
        assert_eq!(names("increase(x[$__range])"), ["x"]);
        assert_eq!(names("avg_over_time(x[$__interval:$__interval])"), ["x"]);
        assert_eq!(names(r#"x{job=~"$job", pod=~"${pod:regex}"}"#), ["x"]);
        assert_eq!(names("x{job=${job:doublequote}}"), ["x"]);
        assert_eq!(names("sum by ($group) (x)"), ["x"]);
        assert_eq!(names("x > $threshold"), ["x"]);
        assert_eq!(names("x offset $offset"), ["x"]);
        assert_eq!(names("rate(x[[[interval]]])"), ["x"]);
        // The variable's metric is unknown; the other operand still counts.
        assert_eq!(names(r#"$metric{job="a"} / y"#), ["y"]);
    }

    #[test]
    fn malformed_expressions_say_what_was_expected() {
        for (expr, says) in [
            ("sum(rate(x[5m])", "`)`"),
            ("x{job=\"a\"", "`,` or `}`"),
            ("x{job=}", "a quoted label value"),
            ("x{job}", "matcher operator"),
            ("\"unterminated", "unterminated string"),
            ("rate(x[5m]) y", "unexpected `y`"),
            ("rate(x[5m]) +", "expected an expression"),
            ("rate(x[5q])", "a duration"),
            ("rate(x[])", "a duration"),
            ("sum by le (x)", "`(`"),
            ("x = 1", "unexpected `=`"),
            ("x ! y", "unexpected character `!`"),
            ("", "empty"),
            ("   ", "empty"),
            ("by", "expected an expression"),
            ("12abc", "neither a number nor a duration"),
            ("x @ foo", "a timestamp"),
            ("${unclosed", "unterminated `${`"),
        ] {
            let error = metric_names(expr).expect_err(expr);
            assert!(error.contains(says), "{expr:?}: {error}");
        }
    }

    #[test]
    fn durations_and_numbers() {
        for d in ["5m", "1h30m", "500ms", "2d", "1w", "1y", "90s"] {
            assert!(is_duration(d), "{d}");
        }
        for d in ["5", "m", "5q", "1.5m", ""] {
            assert!(!is_duration(d), "{d}");
        }
        for n in ["1", "0.5", "1e3", "1e-3", "0x1F", "1_000"] {
            assert!(is_number(n), "{n}");
        }
        assert!(!is_number("0x"));
    }
}
