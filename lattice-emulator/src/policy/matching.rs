//! Wildcards, ARNs and principals, as IAM matches them.

use std::collections::BTreeMap;

use super::Caller;

/// One entry of a `Principal` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Principal {
    /// `"*"` or `{"AWS": "*"}`: every caller, signed or not.
    Everyone,
    /// `"111122223333"` or `arn:aws:iam::111122223333:root`: every principal of the account.
    Account(String),
    /// A user, role or assumed-role session ARN.
    Arn(String),
}

// === impl Principal ===

impl Principal {
    /// Accepts the forms of "AWS JSON policy elements: Principal" (IAM User Guide).
    pub(super) fn parse(id: &str) -> Result<Self, String> {
        if id == "*" {
            return Ok(Self::Everyone);
        }
        if is_account_id(id) {
            return Ok(Self::Account(id.to_owned()));
        }
        if id.contains(['*', '?']) {
            // "You cannot use a wildcard to match part of a principal name or ARN."
            return Err(format!(
                "\"{id}\": a principal cannot hold wildcards; match aws:PrincipalArn \
                 with ArnLike in a Condition instead"
            ));
        }
        let parts: Vec<&str> = id.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "iam", "", account, "root"] if is_account_id(account) => {
                Ok(Self::Account((*account).to_owned()))
            }
            ["arn", _, "iam", "", _, resource] if resource.starts_with("group/") => Err(format!(
                "\"{id}\": a group cannot be a principal (\"You cannot identify a user \
                 group as a principal in a policy\"); name its users instead"
            )),
            ["arn", _, "iam" | "sts", "", account, resource]
                if is_account_id(account) && !resource.is_empty() =>
            {
                Ok(Self::Arn(id.to_owned()))
            }
            _ => Err(format!(
                "\"{id}\" is not \"*\", an account ID or an IAM/STS principal ARN"
            )),
        }
    }

    /// Whether `caller` (`None`: anonymous) is this principal.
    ///
    /// A role ARN also names every session of the role (`arn:aws:sts::<acct>:assumed-role/
    /// <role>/<session>`), and an account names every principal in it ("AWS JSON policy
    /// elements: Principal", sections "IAM role principals" and "AWS account principals").
    pub(super) fn matches(&self, caller: Option<&Caller>) -> bool {
        let Some(caller) = caller else {
            return *self == Self::Everyone;
        };
        match self {
            Self::Everyone => true,
            Self::Account(account) => account_of(&caller.principal_arn) == Some(account.as_str()),
            Self::Arn(arn) => {
                *arn == caller.principal_arn
                    || role_of_session(&caller.principal_arn)
                        .is_some_and(|role| role_matches(arn, role))
            }
        }
    }
}

/// Whether a `NotPrincipal` list names `caller`, exempting it from its Deny. For
/// `NotPrincipal`, AWS "might validate the account first, then the role, and then the
/// assumed-role user", so "you must also specify the account ARN of the principal that
/// isn't denied. Otherwise, the policy might deny access to the entire account" ("AWS
/// JSON policy elements: NotPrincipal"), and its example for a session lists the session,
/// the role and the account: "if the NotPrincipal element was missing the ARN of the
/// role, the effect of the policy might be to explicitly deny access to the role". So the
/// list must name the caller's account and, unless the caller is that account's root,
/// the caller (its user ARN; for a role session, the role's ARN, which also names the
/// session). `"*"` names everyone.
pub(super) fn not_principal_names(list: &[Principal], caller: Option<&Caller>) -> bool {
    if list.contains(&Principal::Everyone) {
        return true;
    }
    let Some(caller) = caller else {
        return false;
    };
    let arn = caller.principal_arn.as_str();
    let Some(account) = account_of(arn) else {
        return false;
    };
    let account_named = list
        .iter()
        .any(|p| matches!(p, Principal::Account(named) if named == account));
    let is_root = is_account_root(arn);
    let caller_named = match role_of_session(arn) {
        Some(role) => list
            .iter()
            .any(|p| matches!(p, Principal::Arn(listed) if role_matches(listed, role))),
        None => list
            .iter()
            .any(|p| matches!(p, Principal::Arn(listed) if listed == arn)),
    };
    account_named && (is_root || caller_named)
}

/// Whether `role_arn` (`arn:aws:iam::<acct>:role/<path/><name>`) is the role of a session
/// identified by `(account, role name)`: sessions do not carry the role's path.
fn role_matches(role_arn: &str, (account, name): (&str, &str)) -> bool {
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", role_account, resource] => {
            *role_account == account
                && resource
                    .strip_prefix("role/")
                    .is_some_and(|path| path.rsplit('/').next() == Some(name))
        }
        _ => false,
    }
}

/// `arn:<partition>:iam::<account>:root`: the account itself ("AWS account principals").
pub(super) fn is_account_root(arn: &str) -> bool {
    arn.ends_with(":root") && arn.contains(":iam::")
}

/// `(account, role name)` of `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
pub(super) fn role_of_session(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "sts", "", account, resource] => {
            let rest = resource.strip_prefix("assumed-role/")?;
            let (role, _session) = rest.split_once('/')?;
            Some((account, role))
        }
        _ => None,
    }
}

/// The account field of an ARN.
pub(super) fn account_of(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    is_account_id(account).then_some(account)
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// One element of a wildcard pattern. A `*` or `?` that came from `${*}`/`${?}` or from a
/// policy variable's value is a [`Glob::Literal`]: "IAM policy elements: Variables and
/// tags", special characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Glob {
    Literal(char),
    /// `*`: any run of characters, `/` and `:` included.
    Any,
    /// `?`: exactly one character.
    One,
}

/// `*` and `?` are wildcards, everything else literal.
pub(super) fn glob(pattern: &str) -> Vec<Glob> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Glob::Any,
            '?' => Glob::One,
            c => Glob::Literal(c),
        })
        .collect()
}

/// The pattern as text, for operators without wildcards (`StringEquals`, `Numeric...`).
pub(super) fn glob_text(pattern: &[Glob]) -> String {
    pattern
        .iter()
        .map(|g| match g {
            Glob::Literal(c) => *c,
            Glob::Any => '*',
            Glob::One => '?',
        })
        .collect()
}

/// `*` matches any run of characters (`/` and `:` included), `?` exactly one; everything
/// else literally ("IAM JSON policy elements: Resource", wildcards; `StringLike`).
pub(super) fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    glob_match(&glob(pattern), text, ignore_case)
}

/// [`wildcard_match`] on a parsed pattern.
///
/// Runs the pattern as a set of states, one bit per pattern position, 64 to a word
/// (the shift-and method): `pattern.len() / 64 + 1` word operations per text character,
/// whatever the pattern's `*`s. This is a bound on the time a hostile policy or request
/// can take, not a speed-up: a greedy matcher that backtracks to the last `*` needs
/// `pattern.len() * text.len()` steps on `*aaaa…b` against `aaaa…`.
///
/// With `ignore_case` (action names), a character compares by its lower case when that
/// is one character, as it is for every character an action name may hold.
pub(super) fn glob_match(pattern: &[Glob], text: &str, ignore_case: bool) -> bool {
    let fold = |c: char| {
        let mut lower = c.to_lowercase();
        match (ignore_case, lower.next(), lower.next()) {
            (true, Some(one), None) => one,
            _ => c,
        }
    };
    // A run of `*` is one `*`, so one closure step below follows every empty `*` match.
    let mut steps: Vec<Glob> = Vec::with_capacity(pattern.len());
    for &g in pattern {
        if !(g == Glob::Any && steps.last() == Some(&Glob::Any)) {
            steps.push(g);
        }
    }
    // Bit i set: the first i steps have matched the text read so far.
    let words = steps.len() / 64 + 1;
    let bit = |i: usize| (i / 64, 1u64 << (i % 64));
    let mut any = vec![0u64; words];
    let mut one = vec![0u64; words];
    let mut literals: BTreeMap<char, Vec<u64>> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        let (word, mask) = bit(i);
        let set = match step {
            Glob::Any => &mut any,
            Glob::One => &mut one,
            Glob::Literal(c) => literals
                .entry(fold(*c))
                .or_insert_with(|| vec![0u64; words]),
        };
        if let Some(w) = set.get_mut(word) {
            *w |= mask;
        }
    }
    let mut state = vec![0u64; words];
    if let Some(first) = state.first_mut() {
        *first = 1;
    }
    close_over_stars(&mut state, &any);
    let none = vec![0u64; words];
    let mut next = vec![0u64; words];
    for c in text.chars() {
        let literal = literals.get(&fold(c)).unwrap_or(&none);
        let mut carry = 0;
        for ((n, &s), ((&a, &o), &l)) in next
            .iter_mut()
            .zip(&state)
            .zip(any.iter().zip(&one).zip(literal))
        {
            let moved = s & (o | l);
            *n = (moved << 1) | carry | (s & a);
            carry = moved >> 63;
        }
        close_over_stars(&mut next, &any);
        std::mem::swap(&mut state, &mut next);
        if state.iter().all(|&w| w == 0) {
            return false;
        }
    }
    let (word, mask) = bit(steps.len());
    state.get(word).is_some_and(|w| w & mask != 0)
}

/// A `*` may match nothing: whoever reached it has also reached the step after it.
fn close_over_stars(state: &mut [u64], any: &[u64]) {
    let mut carry = 0;
    for (s, &a) in state.iter_mut().zip(any) {
        let at_star = *s & a;
        *s |= (at_star << 1) | carry;
        carry = at_star >> 63;
    }
}

/// ARN matching for `ArnLike`/`ArnEquals`: "each of the six colon-delimited components
/// of the ARN is checked separately and each can include wildcards" (IAM "Condition
/// operators", ARN condition operators). A lone `*` matches anything.
pub(super) fn arn_match(pattern: &[Glob], arn: &str) -> bool {
    if pattern == [Glob::Any] {
        return true;
    }
    let pattern = arn_parts(pattern);
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    pattern.len() == 6
        && arn.len() == 6
        && pattern
            .iter()
            .zip(&arn)
            .all(|(p, a)| glob_match(p, a, false))
}

/// `Resource` matching: like [`arn_match`], except that "if the `*` wildcard is the last
/// character of a resource ARN segment, it can expand to match beyond the colon
/// boundaries" (IAM "IAM JSON policy elements: Resource", using wildcards in resource
/// ARNs), so `arn:aws:vpc-lattice:*` covers every Lattice resource.
pub(super) fn resource_match(pattern: &[Glob], arn: &str) -> bool {
    if pattern == [Glob::Any] {
        return true;
    }
    let pattern = arn_parts(pattern);
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    parts_match(&pattern, &arn)
}

/// At most six parts each side, so the search is at most a few dozen part comparisons.
fn parts_match(pattern: &[&[Glob]], arn: &[&str]) -> bool {
    let (Some((first, pattern_rest)), Some((part, arn_rest))) =
        (pattern.split_first(), arn.split_first())
    else {
        return pattern.is_empty() && arn.is_empty();
    };
    if first.last() != Some(&Glob::Any) {
        return glob_match(first, part, false) && parts_match(pattern_rest, arn_rest);
    }
    // A trailing `*` may also take the next parts, colons and all.
    (1..=arn.len()).any(|taken| {
        arn.get(..taken)
            .is_some_and(|parts| glob_match(first, &parts.join(":"), false))
            && arn
                .get(taken..)
                .is_some_and(|rest| parts_match(pattern_rest, rest))
    })
}

/// The pattern cut at its first five colons, like `str::splitn(6, ':')`.
fn arn_parts(pattern: &[Glob]) -> Vec<&[Glob]> {
    let mut parts = Vec::with_capacity(6);
    let mut rest = pattern;
    while parts.len() < 5 {
        let Some(colon) = rest.iter().position(|g| *g == Glob::Literal(':')) else {
            break;
        };
        let (part, after) = rest.split_at(colon);
        parts.push(part);
        rest = after.get(1..).unwrap_or_default();
    }
    parts.push(rest);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("a*c", "abbbc", false));
        assert!(wildcard_match("a?c", "abc", false));
        assert!(!wildcard_match("a?c", "ac", false));
        assert!(wildcard_match("*", "", false));
        assert!(!wildcard_match("ABC", "abc", false));
        assert!(wildcard_match("ABC", "abc", true));
        assert!(wildcard_match("*a*b*c*", "xaxbxcx", false));
        assert!(!wildcard_match("*a*b*c", "xaxbxcx", false));
    }

    #[test]
    fn arns_match_by_component() {
        let arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-1/orders/7";
        assert!(arn_match(
            &glob("arn:aws:vpc-lattice:*:*:service/svc-1/*"),
            arn
        ));
        assert!(arn_match(&glob("*"), arn));
        // A `*` in one component does not cover the colons of the next.
        assert!(!arn_match(&glob("arn:aws:*:service/svc-1/*"), arn));
    }

    #[test]
    fn resources_let_a_trailing_star_cross_colons() {
        let arn = "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-1/orders/7";
        assert!(resource_match(&glob("arn:aws:vpc-lattice:*"), arn));
        assert!(resource_match(
            &glob("arn:aws:vpc-lattice:us-west-2:*"),
            arn
        ));
        assert!(resource_match(
            &glob("arn:aws:vpc-lattice:*:service/svc-1/*"),
            arn
        ));
        assert!(resource_match(
            &glob("arn:aws:vpc-lattice:*:*:service/svc-1/*"),
            arn
        ));
        // A `*` inside a segment, not at its end, stays within it.
        assert!(!resource_match(
            &glob("arn:aws:vpc-lattice:*2:service/svc-1/*"),
            arn
        ));
        assert!(!resource_match(
            &glob("arn:aws:vpc-lattice:us-east-1:*"),
            arn
        ));
        assert!(!resource_match(&glob("arn:aws:vpc-lattice:us-west-2"), arn));
    }

    /// The textbook recursive definition, for small inputs only.
    fn reference(pattern: &[Glob], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((Glob::Any, rest)) => {
                (0..=text.len()).any(|skip| text.get(skip..).is_some_and(|t| reference(rest, t)))
            }
            Some((step, rest)) => text.split_first().is_some_and(|(c, t)| {
                (*step == Glob::One || *step == Glob::Literal(*c)) && reference(rest, t)
            }),
        }
    }

    #[test]
    fn agrees_with_the_definition_on_every_small_case() {
        // Every pattern over {a, b, *, ?} up to 5 long against every text over {a, b}
        // up to 6 long: 1,365 x 127 pairs.
        let patterns = words(&['a', 'b', '*', '?'], 5);
        let texts = words(&['a', 'b'], 6);
        for pattern in &patterns {
            let parsed = glob(pattern);
            for text in &texts {
                let chars: Vec<char> = text.chars().collect();
                assert_eq!(
                    glob_match(&parsed, text, false),
                    reference(&parsed, &chars),
                    "{pattern:?} against {text:?}"
                );
            }
        }
        // Patterns longer than one 64-bit word.
        let long = "a".repeat(70);
        assert!(wildcard_match(
            &format!("{long}*"),
            &format!("{long}b"),
            false
        ));
        assert!(wildcard_match(
            &format!("*{long}"),
            &format!("b{long}"),
            false
        ));
        assert!(!wildcard_match(
            &format!("*{long}b"),
            &long.repeat(3),
            false
        ));
        assert!(wildcard_match(&"?".repeat(130), &"x".repeat(130), false));
        assert!(!wildcard_match(&"?".repeat(130), &"x".repeat(129), false));
    }

    /// Every string over `alphabet` of length 0 to `max`.
    fn words(alphabet: &[char], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn literal_stars_are_not_wildcards() {
        let pattern = [Glob::Literal('a'), Glob::Literal('*')];
        assert!(glob_match(&pattern, "a*", false));
        assert!(!glob_match(&pattern, "ab", false));
        assert_eq!(glob_text(&pattern), "a*");
    }
}
