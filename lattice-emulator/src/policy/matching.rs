//! Wildcards, ARNs and principals, as IAM matches them.

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

/// `*` matches any run of characters (`/` and `:` included), `?` exactly one; everything
/// else literally ("IAM JSON policy elements: Resource", wildcards; `StringLike`).
pub(super) fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let same = |p: char, t: char| {
        p == '?' || p == t || (ignore_case && p.to_lowercase().eq(t.to_lowercase()))
    };
    // Greedy matching with one backtrack point: linear in practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && same(pattern[p], text[t]) {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// ARN matching for `Resource` and `ArnLike`/`ArnEquals`: "each of the six
/// colon-delimited components of the ARN is checked separately and each can include
/// wildcards" (IAM "Condition operators", ARN condition operators). A lone `*` matches
/// anything.
pub(super) fn arn_match(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    pattern.len() == 6
        && arn.len() == 6
        && pattern
            .iter()
            .zip(&arn)
            .all(|(p, a)| wildcard_match(p, a, false))
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
        assert!(arn_match("arn:aws:vpc-lattice:*:*:service/svc-1/*", arn));
        assert!(arn_match("*", arn));
        // A `*` in one component does not cover the colons of the next.
        assert!(!arn_match("arn:aws:*:service/svc-1/*", arn));
    }
}
