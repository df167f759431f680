//! Version ordering per ecosystem: Debian (dpkg), Alpine (apk), PEP 440, and SemVer for OSV
//! `SEMVER` ranges.
//!
//! Advisory matching is only as good as these orderings: "is 1:1.2-3 below the fix 1.5-1?" must
//! be answered the way the package manager itself would answer it, so each comparator follows
//! its tool's algorithm (dpkg's `verrevcmp`, apk-tools' tokeniser, the PEP 440 ordering that
//! `packaging` implements) rather than a generic "split on dots" guess.

use std::cmp::Ordering;

/// Compares two digit strings as unbounded non-negative integers.
///
/// Versions carry dates and build numbers that overflow `u64` now and then
/// (`20240101123456789012`); comparing the digits without converting never overflows.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The longest run of ASCII digits at the start of `s`, and the rest.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    s.split_at(end)
}

// ---------------------------------------------------------------------------------------------
// Debian
// ---------------------------------------------------------------------------------------------

/// Orders two Debian package versions as `dpkg --compare-versions` does.
///
/// A version is `[epoch:]upstream[-revision]`: the epoch (default 0) is compared as a number,
/// then the upstream part and the revision (after the *last* `-`, default empty) with dpkg's
/// algorithm, which alternates non-digit runs (compared character by character, `~` before
/// everything including the end of the string, letters before other characters) and digit runs
/// (compared as numbers). An absent revision compares equal to `0`, as in dpkg.
/// A non-numeric "epoch" is not an epoch: the whole string is then taken as the upstream part.
pub fn compare_debian(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_debian(a.trim());
    let (eb, ub, rb) = split_debian(b.trim());
    cmp_digits(ea, eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// `(epoch, upstream, revision)` of a Debian version; epoch "0" and revision "" when absent.
fn split_debian(v: &str) -> (&str, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e, rest),
        _ => ("0", v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's weight of one character in a non-digit run; `None` is the end of the string.
fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // A run of non-digits: at least one side is on a non-digit, whose weight is never 0,
        // so equal weights mean the same character on both sides and both can step on.
        while a.get(i).is_some_and(|c| !c.is_ascii_digit())
            || b.get(j).is_some_and(|c| !c.is_ascii_digit())
        {
            let (wa, wb) = (dpkg_order(a.get(i).copied()), dpkg_order(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        let da = digit_run(a, &mut i);
        let db = digit_run(b, &mut j);
        let ord = cmp_digits(da, db);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// The digits starting at `*at` (possibly none), advancing `*at` past them.
fn digit_run<'a>(s: &'a [u8], at: &mut usize) -> &'a str {
    let start = *at;
    while s.get(*at).is_some_and(u8::is_ascii_digit) {
        *at += 1;
    }
    // Only ASCII digits were taken, so this slice is valid UTF-8.
    std::str::from_utf8(&s[start..*at]).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Alpine
// ---------------------------------------------------------------------------------------------

/// apk-tools token kinds, in the order that decides which version is greater when one has
/// more tokens than the other (a lower kind where the other has a higher one is greater).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ApkKind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix weights: the pre-release ones sort below a plain release (0), the others above.
const APK_SUFFIXES: [(&str, i8); 9] = [
    ("alpha", -4),
    ("beta", -3),
    ("pre", -2),
    ("rc", -1),
    ("cvs", 1),
    ("svn", 2),
    ("git", 3),
    ("hg", 4),
    ("p", 5),
];

/// One token of an apk version, read left to right.
struct ApkLexer<'a> {
    rest: &'a str,
    kind: ApkKind,
    text: &'a str,
    suffix: i8,
}

impl<'a> ApkLexer<'a> {
    /// Starts on the leading number, which every valid version has.
    fn new(v: &'a str) -> Self {
        let (digits, rest) = split_digits(v);
        let kind = if digits.is_empty() {
            ApkKind::Invalid
        } else {
            ApkKind::InitialDigit
        };
        ApkLexer {
            rest,
            kind,
            text: digits,
            suffix: 0,
        }
    }

    /// Moves to the next token, checking that it may follow the current one
    /// (`digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}`).
    fn advance(&mut self) {
        let Some(&c) = self.rest.as_bytes().first() else {
            self.kind = ApkKind::End;
            return;
        };
        let prev = self.kind;
        self.kind = ApkKind::Invalid;
        match c {
            b'a'..=b'z' if prev <= ApkKind::Digit => {
                self.text = &self.rest[..1];
                self.rest = &self.rest[1..];
                self.kind = ApkKind::Letter;
            }
            b'.' if prev <= ApkKind::Digit => {
                let (digits, rest) = split_digits(&self.rest[1..]);
                if !digits.is_empty() {
                    (self.text, self.rest, self.kind) = (digits, rest, ApkKind::Digit);
                }
            }
            b'0'..=b'9' if prev == ApkKind::Suffix => {
                let (digits, rest) = split_digits(self.rest);
                (self.text, self.rest, self.kind) = (digits, rest, ApkKind::SuffixNo);
            }
            b'_' if prev <= ApkKind::SuffixNo => {
                let body = &self.rest[1..];
                let end = body
                    .bytes()
                    .position(|c| !c.is_ascii_lowercase())
                    .unwrap_or(body.len());
                let name = &body[..end];
                if let Some(&(_, weight)) = APK_SUFFIXES.iter().find(|(s, _)| *s == name) {
                    (self.text, self.rest, self.suffix) = (name, &body[end..], weight);
                    self.kind = ApkKind::Suffix;
                }
            }
            b'~' if prev < ApkKind::CommitHash => {
                let body = &self.rest[1..];
                let end = body
                    .bytes()
                    .position(|c| !c.is_ascii_hexdigit())
                    .unwrap_or(body.len());
                if end > 0 {
                    (self.text, self.rest) = (&body[..end], &body[end..]);
                    self.kind = ApkKind::CommitHash;
                }
            }
            b'-' if prev < ApkKind::RevisionNo => {
                if let Some(body) = self.rest.strip_prefix("-r") {
                    let (digits, rest) = split_digits(body);
                    if !digits.is_empty() {
                        (self.text, self.rest, self.kind) = (digits, rest, ApkKind::RevisionNo);
                    }
                }
            }
            _ => {}
        }
    }

    /// Compares the current tokens of two lexers, which are of the same kind.
    fn cmp_token(&self, other: &Self) -> Ordering {
        match self.kind {
            // A component with a leading zero is compared as a string ("1.01" < "1.1"), the
            // Gentoo rule apk inherited; other numbers are compared as numbers.
            ApkKind::Digit if self.text.starts_with('0') || other.text.starts_with('0') => {
                self.text.as_bytes().cmp(other.text.as_bytes())
            }
            ApkKind::Digit | ApkKind::InitialDigit | ApkKind::SuffixNo | ApkKind::RevisionNo => {
                cmp_digits(self.text, other.text)
            }
            ApkKind::Suffix => self.suffix.cmp(&other.suffix),
            _ => self.text.as_bytes().cmp(other.text.as_bytes()),
        }
    }
}

/// Orders two Alpine package versions as apk-tools does.
///
/// `1.2.3` numbers (a component with a leading zero compares as a string), one optional letter
/// (`1.2.3a`), suffixes `_alpha`/`_beta`/`_pre`/`_rc` (below the release) and
/// `_cvs`/`_svn`/`_git`/`_hg`/`_p` (above it), each with an optional number, an optional
/// `~commit`, then the package revision `-rN`. When the shared tokens are equal, the version
/// with more tokens is greater unless its next token is a pre-release suffix; so
/// `1.2.3_rc1 < 1.2.3 < 1.2.3-r1 < 1.2.3_p1`: `_p1` is part of the upstream version while `-r1`
/// only rebuilds 1.2.3, and a suffix token ranks before a revision token.
/// Versions apk would reject compare as apk compares them (the malformed tail sorts low).
pub fn compare_apk(a: &str, b: &str) -> Ordering {
    let mut ta = ApkLexer::new(a.trim());
    let mut tb = ApkLexer::new(b.trim());
    while ta.kind == tb.kind && ta.kind < ApkKind::End {
        let ord = ta.cmp_token(&tb);
        if ord != Ordering::Equal {
            return ord;
        }
        ta.advance();
        tb.advance();
    }
    if ta.kind == tb.kind {
        return Ordering::Equal;
    }
    if ta.kind == ApkKind::Suffix && ta.suffix < 0 {
        return Ordering::Less;
    }
    if tb.kind == ApkKind::Suffix && tb.suffix < 0 {
        return Ordering::Greater;
    }
    // The side that still has an earlier-kind token has more version left: it is greater.
    tb.kind.cmp(&ta.kind)
}

// ---------------------------------------------------------------------------------------------
// PEP 440
// ---------------------------------------------------------------------------------------------

/// A number inside a version, compared by value however many digits it has.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Num(String);

impl Num {
    fn new(digits: &str) -> Self {
        Num(digits.trim_start_matches('0').to_owned())
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_digits(&self.0, &other.0)
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where the pre-release part puts a version; variant order is sort order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PreKey {
    /// A dev release of the final version (`1.0.dev1`) sorts before its pre-releases.
    BeforePre,
    /// `(a=0 | b=1 | rc=2, number)`.
    Pre(u8, Num),
    /// No pre-release: the final version, or one of its post releases.
    Release,
}

/// A dev release sorts before the same version without one.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DevKey {
    Dev(Num),
    None,
}

/// A local version segment: numbers sort above strings.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LocalSegment {
    Text(String),
    Number(Num),
}

/// A parsed PEP 440 version in the shape that sorts correctly field by field.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pep440Key {
    epoch: Num,
    /// Trailing zeros dropped, so `1.0 == 1.0.0`.
    release: Vec<Num>,
    pre: PreKey,
    post: Option<Num>,
    dev: DevKey,
    local: Option<Vec<LocalSegment>>,
}

/// A cursor over a lowercased version string.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.at += prefix.len();
            true
        } else {
            false
        }
    }

    /// An optional `.`, `-` or `_` separator.
    fn separator(&mut self) {
        if matches!(self.rest().as_bytes().first(), Some(b'.' | b'-' | b'_')) {
            self.at += 1;
        }
    }

    fn digits(&mut self) -> Option<String> {
        let (digits, _) = split_digits(self.rest());
        if digits.is_empty() {
            return None;
        }
        let digits = digits.to_owned();
        self.at += digits.len();
        Some(digits)
    }

    /// The first of `labels` the rest starts with (the order puts `alpha` before `a`).
    fn label<T: Copy>(&mut self, labels: &[(&str, T)]) -> Option<T> {
        let &(text, value) = labels.iter().find(|(l, _)| self.rest().starts_with(l))?;
        self.at += text.len();
        Some(value)
    }

    /// `[sep] label [sep] [number]`, the shape of pre, post and dev parts; the whole part or
    /// nothing. A number left out means 0.
    fn labelled<T: Copy>(&mut self, labels: &[(&str, T)]) -> Option<(T, Num)> {
        let start = self.at;
        self.separator();
        let Some(value) = self.label(labels) else {
            self.at = start;
            return None;
        };
        // PEP 440 allows a separator between the label and its number, and a trailing one
        // with no number ("1.0a-"), which the next part's own optional separator absorbs.
        self.separator();
        let number = self.digits().unwrap_or_default();
        Some((value, Num::new(&number)))
    }
}

/// Parses a version per PEP 440 (with its normalisations); `None` if it is not one.
fn parse_pep440(version: &str) -> Option<Pep440Key> {
    let lower = version.trim().to_ascii_lowercase();
    let mut c = Cursor { s: &lower, at: 0 };
    c.eat("v");

    let start = c.at;
    let epoch = match c.digits() {
        Some(e) if c.eat("!") => Num::new(&e),
        _ => {
            c.at = start;
            Num::new("0")
        }
    };

    let mut release = vec![Num::new(&c.digits()?)];
    loop {
        let before = c.at;
        if c.eat(".")
            && let Some(d) = c.digits()
        {
            release.push(Num::new(&d));
            continue;
        }
        c.at = before;
        break;
    }
    while release.last().is_some_and(Num::is_zero) {
        release.pop();
    }

    const PRE: [(&str, u8); 8] = [
        ("alpha", 0),
        ("a", 0),
        ("beta", 1),
        ("b", 1),
        ("preview", 2),
        ("pre", 2),
        ("c", 2),
        ("rc", 2),
    ];
    let pre = c.labelled(&PRE);

    // `-N` is an implicit post release; otherwise `[sep](post|rev|r)[sep][N]`.
    let before = c.at;
    let post = match (c.eat("-"), c.digits()) {
        (true, Some(n)) => Some(Num::new(&n)),
        _ => {
            c.at = before;
            c.labelled(&[("post", ()), ("rev", ()), ("r", ())])
                .map(|(_, n)| n)
        }
    };

    let dev = c.labelled(&[("dev", ())]).map(|(_, n)| n);

    let local = if c.eat("+") {
        let text = c.rest();
        let segments: Vec<&str> = text.split(['.', '-', '_']).collect();
        let well_formed = segments
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed {
            return None;
        }
        c.at = lower.len();
        Some(
            segments
                .into_iter()
                .map(|s| {
                    if s.bytes().all(|b| b.is_ascii_digit()) {
                        LocalSegment::Number(Num::new(s))
                    } else {
                        LocalSegment::Text(s.to_owned())
                    }
                })
                .collect(),
        )
    } else {
        None
    };

    if !c.rest().is_empty() {
        return None;
    }

    let pre = match (pre, &post, &dev) {
        (Some((kind, n)), _, _) => PreKey::Pre(kind, n),
        (None, None, Some(_)) => PreKey::BeforePre,
        (None, _, _) => PreKey::Release,
    };
    Some(Pep440Key {
        epoch,
        release,
        pre,
        post,
        dev: dev.map_or(DevKey::None, DevKey::Dev),
        local,
    })
}

/// Whether `version` is a valid PEP 440 version (after its normalisations).
pub fn is_pep440(version: &str) -> bool {
    parse_pep440(version).is_some()
}

/// Orders two Python package versions per PEP 440; `None` if either is not a valid version.
///
/// Epochs (`1!2.0`), release segments padded with zeros (`1.0 == 1.0.0`), pre-releases
/// (`a`/`b`/`rc`, also spelled `alpha`/`beta`/`c`/`pre`/`preview`, with optional `.`/`-`/`_`
/// separators), post releases (`.post1`, `-1`, `rev`, `r`), dev releases (`.dev1`) and local
/// versions (`+ubuntu.1`, compared segment by segment, numbers above strings), case-insensitive
/// with an optional leading `v`. Order: `1.0.dev1 < 1.0a1.dev1 < 1.0a1 < 1.0b1 < 1.0rc1 < 1.0 <
/// 1.0+local < 1.0.post1.dev1 < 1.0.post1`.
pub fn compare_pep440(a: &str, b: &str) -> Option<Ordering> {
    Some(parse_pep440(a)?.cmp(&parse_pep440(b)?))
}

// ---------------------------------------------------------------------------------------------
// SemVer
// ---------------------------------------------------------------------------------------------

/// Orders two versions by SemVer 2.0 precedence (section 11), leniently.
///
/// OSV `SEMVER` ranges use this ordering. `MAJOR.MINOR.PATCH` compared numerically (missing
/// parts are 0, a leading `v` is ignored), a pre-release (`-rc.1`) below the release, its
/// dot-separated identifiers compared numerically when both are numbers, numbers below text,
/// fewer identifiers below more; build metadata (`+...`) ignored.
pub fn compare_semver(a: &str, b: &str) -> Ordering {
    let (core_a, pre_a) = split_semver(a);
    let (core_b, pre_b) = split_semver(b);
    let mut parts_a = core_a.split('.');
    let mut parts_b = core_b.split('.');
    for _ in 0..3 {
        let pa = leading_number(parts_a.next().unwrap_or("0"));
        let pb = leading_number(parts_b.next().unwrap_or("0"));
        let ord = cmp_digits(pa, pb);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    match (pre_a, pre_b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(pa), Some(pb)) => {
            let mut ia = pa.split('.');
            let mut ib = pb.split('.');
            loop {
                match (ia.next(), ib.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(x), Some(y)) => {
                        let numeric =
                            |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
                        let ord = match (numeric(x), numeric(y)) {
                            (true, true) => cmp_digits(x, y),
                            (true, false) => Ordering::Less,
                            (false, true) => Ordering::Greater,
                            (false, false) => x.cmp(y),
                        };
                        if ord != Ordering::Equal {
                            return ord;
                        }
                    }
                }
            }
        }
    }
}

/// `(core, pre-release)` of a SemVer string, build metadata dropped.
fn split_semver(v: &str) -> (&str, Option<&str>) {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let v = v.split_once('+').map_or(v, |(head, _)| head);
    match v.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (v, None),
    }
}

/// The digits a SemVer core part starts with ("" counts as 0).
fn leading_number(part: &str) -> &str {
    split_digits(part).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    /// Asserts that `versions` is strictly increasing under `cmp`, checking every pair both ways.
    fn assert_ascending(cmp: impl Fn(&str, &str) -> Ordering, versions: &[&str]) {
        for (i, a) in versions.iter().enumerate() {
            for (j, b) in versions.iter().enumerate() {
                assert_eq!(cmp(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn debian_epoch_outranks_everything_else() {
        assert_eq!(compare_debian("1:1.0", "2.0"), Greater);
        assert_eq!(compare_debian("0:2.0", "2.0"), Equal);
        assert_eq!(compare_debian("1:1.0-1", "1:1.0-2"), Less);
        assert_eq!(compare_debian("10:1", "9:2"), Greater);
    }

    #[test]
    fn debian_tilde_sorts_before_everything_even_the_end() {
        assert_ascending(
            compare_debian,
            &[
                "1.0~~", "1.0~~a", "1.0~", "1.0~rc1", "1.0", "1.0a", "1.0+b1",
            ],
        );
        assert_eq!(compare_debian("2.36-9+deb12u4", "2.36-9+deb12u10"), Less);
    }

    #[test]
    fn debian_revision_is_after_the_last_hyphen_and_absent_equals_zero() {
        assert_eq!(compare_debian("1.0-1", "1.0-1.1"), Less);
        // dpkg takes a missing revision as "", and verrevcmp("", "0") skips the zero: equal.
        assert_eq!(compare_debian("1.0", "1.0-0"), Equal);
        assert_eq!(compare_debian("1.0", "1.0-1"), Less);
        // Hyphens inside the upstream part belong to it; only the last one starts the revision.
        assert_eq!(compare_debian("1.0-rc-2", "1.0-rc-10"), Less);
    }

    #[test]
    fn debian_letters_sort_before_other_characters_and_numbers_compare_by_value() {
        assert_eq!(compare_debian("1.0a", "1.0+"), Less);
        assert_eq!(compare_debian("1.0a", "1.0."), Less);
        assert_eq!(compare_debian("1.9", "1.10"), Less);
        assert_eq!(compare_debian("1.010", "1.10"), Equal);
        assert_eq!(compare_debian("1.0", "1.0.1"), Less);
        assert_eq!(compare_debian("1.0a", "1.0"), Greater);
        assert_eq!(
            compare_debian("99999999999999999999999", "100000000000000000000000"),
            Less
        );
    }

    #[test]
    fn apk_suffixes_letters_and_revisions() {
        // _p1 is an upstream patch level, -r1 only a rebuild of 1.2.3 (apk-tools: a suffix token
        // outranks a revision token once the shared tokens are equal).
        assert_ascending(
            compare_apk,
            &[
                "1.2.3_alpha",
                "1.2.3_alpha1",
                "1.2.3_beta2",
                "1.2.3_pre1",
                "1.2.3_rc1",
                "1.2.3",
                "1.2.3-r1",
                "1.2.3-r2",
                "1.2.3-r10",
                "1.2.3_p1",
                "1.2.3_p1-r1",
                "1.2.3a",
                "1.2.3.1",
                "1.2.4",
            ],
        );
    }

    #[test]
    fn apk_numbers_leading_zeros_and_equality() {
        assert_eq!(compare_apk("1.10", "1.9"), Greater);
        assert_eq!(compare_apk("1.01", "1.1"), Less);
        assert_eq!(compare_apk("3.1.4-r0", "3.1.4-r0"), Equal);
        assert_eq!(compare_apk("1.0", "1.0.0"), Less);
        assert_eq!(compare_apk("1.2_rc1", "1.2.1"), Less);
        assert_eq!(compare_apk("2.0", "10.0"), Less);
    }

    #[test]
    fn pep440_pre_dev_post_order() {
        assert_ascending(
            |a, b| compare_pep440(a, b).expect("valid"),
            &[
                "1.0.dev1",
                "1.0a1.dev1",
                "1.0a1",
                "1.0b1",
                "1.0rc1",
                "1.0",
                "1.0+abc",
                "1.0+abc.2",
                "1.0+5",
                "1.0.post1.dev1",
                "1.0.post1",
                "1.1",
                "1!0.1",
            ],
        );
    }

    #[test]
    fn pep440_normalised_spellings_are_equal() {
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0alpha1", "1.0a1"),
            ("1.0-beta.2", "1.0b2"),
            ("1.0c1", "1.0rc1"),
            ("1.0pre", "1.0rc0"),
            ("1.0preview1", "1.0rc1"),
            ("1.0-1", "1.0.post1"),
            ("1.0rev1", "1.0.post1"),
            ("1.0.post", "1.0.post0"),
            ("1.0-dev", "1.0.dev0"),
            ("V1.0RC1", "1.0rc1"),
            ("  v1.0 ", "1.0"),
            ("0!1.0", "1.0"),
            ("1.0+Local_1", "1.0+local.1"),
        ] {
            assert_eq!(compare_pep440(a, b), Some(Equal), "{a} vs {b}");
        }
        assert_eq!(compare_pep440("1!0.1", "2.0"), Some(Greater));
    }

    #[test]
    fn pep440_invalid_versions_are_none() {
        for bad in [
            "", "abc", "1.0.", "1.0+", "1.0+a..b", "1.0_1", "1..0", "1.0-", "1.0 beta", "latest",
        ] {
            assert_eq!(compare_pep440(bad, "1.0"), None, "{bad:?}");
            assert!(!is_pep440(bad), "{bad:?}");
        }
        assert!(is_pep440("2024.1.0rc2.post3.dev4+cu121"));
    }

    #[test]
    fn semver_precedence() {
        assert_ascending(
            compare_semver,
            &[
                "1.0.0-alpha",
                "1.0.0-alpha.1",
                "1.0.0-alpha.beta",
                "1.0.0-beta",
                "1.0.0-beta.2",
                "1.0.0-beta.11",
                "1.0.0-rc.1",
                "1.0.0",
                "1.0.1",
                "1.10.0",
                "2.0.0",
            ],
        );
        assert_eq!(compare_semver("1.0.0+build.5", "v1.0.0"), Equal);
        assert_eq!(compare_semver("1.2", "1.2.0"), Equal);
    }
}
