//! The `Condition` element: operators, the keys Lattice puts in the request context,
//! and policy variables.
//!
//! Rules from the IAM User Guide, "IAM JSON policy elements: Condition operators"
//! (operators, `...IfExists`, `Null`), "Single-valued vs. multivalued context keys"
//! (`ForAnyValue:`/`ForAllValues:`), "Creating a condition with multiple keys or values"
//! (values OR, keys and operators AND) and "IAM policy elements: Variables and tags"; and
//! from the Lattice User Guide, "Condition keys that can be used in auth policies".

use std::net::IpAddr;

use time::{
    Date, OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description,
};

use super::{
    RequestContext,
    matching::{
        Glob, account_of, arn_match, glob, glob_match, glob_text, is_account_root, role_of_session,
    },
};

/// Every key the emulator puts in the request context, spelled as documented; a trailing
/// `/` takes a name (`RequestHeader/<name>`). Lattice's own keys come from "Condition keys
/// that can be used in auth policies", the global ones from "AWS global condition
/// context keys" (those Lattice's page lists as available, plus `aws:username`).
pub(super) const KEY_SPELLINGS: &[&str] = &[
    "vpc-lattice-svcs:RequestMethod",
    "vpc-lattice-svcs:RequestPath",
    "vpc-lattice-svcs:RequestHeader/",
    "vpc-lattice-svcs:RequestQueryString/",
    "vpc-lattice-svcs:Port",
    "vpc-lattice-svcs:ServiceArn",
    "vpc-lattice-svcs:ServiceNetworkArn",
    "vpc-lattice-svcs:SourceVpc",
    "vpc-lattice-svcs:SourceVpcOwnerAccount",
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalTag/",
    "aws:PrincipalType",
    "aws:PrincipalIsAWSService",
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:SecureTransport",
    "aws:username",
];

/// One key under one operator: `"StringEquals": {"<key>": [<values>]}`.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    operator: Operator,
    key: String,
    values: Vec<String>,
}

/// A condition operator with its qualifiers, e.g. `ForAllValues:StringLikeIfExists`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Operator {
    set: Option<SetQualifier>,
    test: Test,
    /// `StringNotEquals`, `NotIpAddress`, `ArnNotLike`, ...: true when no value matches.
    negated: bool,
    if_exists: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// How one request value is compared with one policy value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Order),
    Date(Order),
    Bool,
    IpAddress,
    /// `ArnEquals` and `ArnLike` behave alike: per-component, with wildcards.
    Arn,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// Base operator name -> (test, negated).
const OPERATORS: &[(&str, Test, bool)] = &[
    ("StringEquals", Test::StringEquals, false),
    ("StringNotEquals", Test::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Test::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Test::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
    ("NumericEquals", Test::Numeric(Order::Equal), false),
    ("NumericNotEquals", Test::Numeric(Order::Equal), true),
    ("NumericLessThan", Test::Numeric(Order::Less), false),
    (
        "NumericLessThanEquals",
        Test::Numeric(Order::LessOrEqual),
        false,
    ),
    ("NumericGreaterThan", Test::Numeric(Order::Greater), false),
    (
        "NumericGreaterThanEquals",
        Test::Numeric(Order::GreaterOrEqual),
        false,
    ),
    ("DateEquals", Test::Date(Order::Equal), false),
    ("DateNotEquals", Test::Date(Order::Equal), true),
    ("DateLessThan", Test::Date(Order::Less), false),
    ("DateLessThanEquals", Test::Date(Order::LessOrEqual), false),
    ("DateGreaterThan", Test::Date(Order::Greater), false),
    (
        "DateGreaterThanEquals",
        Test::Date(Order::GreaterOrEqual),
        false,
    ),
    ("Bool", Test::Bool, false),
    ("IpAddress", Test::IpAddress, false),
    ("NotIpAddress", Test::IpAddress, true),
    ("ArnEquals", Test::Arn, false),
    ("ArnLike", Test::Arn, false),
    ("ArnNotEquals", Test::Arn, true),
    ("ArnNotLike", Test::Arn, true),
    ("Null", Test::Null, false),
];

// === impl Operator ===

impl Operator {
    /// Parses an operator name; the error is the whole message.
    pub(super) fn parse(name: &str) -> Result<Self, String> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let Some(&(_, test, negated)) = OPERATORS.iter().find(|(known, ..)| *known == base) else {
            if base == "BinaryEquals" {
                return Err(format!(
                    "unsupported operator \"{name}\": no Lattice condition key is binary"
                ));
            }
            return Err(format!("unknown operator \"{name}\""));
        };
        if test == Test::Null && (if_exists || set.is_some()) {
            // "You can add IfExists to the end of any condition operator name except the
            // Null condition."
            return Err(format!(
                "unknown operator \"{name}\": Null takes no IfExists or set qualifier"
            ));
        }
        Ok(Self {
            set,
            test,
            negated,
            if_exists,
        })
    }
}

// === impl Condition ===

impl Condition {
    /// Checks the values fit the operator (a number for `Numeric*`, a date for `Date*`,
    /// ...), so a typo is refused when the policy loads rather than silently false.
    pub(super) fn new(
        operator: Operator,
        key: &str,
        values: Vec<String>,
        variables: bool,
    ) -> Result<Self, String> {
        for value in &values {
            if variables && operator.test.takes_variables() && value.contains("${") {
                check_variables(value)?;
                continue;
            }
            let valid = match operator.test {
                Test::Numeric(_) => parse_number(value).is_some(),
                Test::Date(_) => parse_date(value).is_some(),
                Test::Bool | Test::Null => {
                    value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
                }
                Test::IpAddress => parse_cidr(value).is_some(),
                _ => true,
            };
            if !valid {
                let expected = match operator.test {
                    Test::Numeric(_) => "a number",
                    Test::Date(_) => {
                        "a date (ISO 8601, e.g. 2026-01-01T00:00:00Z, or epoch seconds)"
                    }
                    Test::IpAddress => "an IP address or CIDR block",
                    _ => "\"true\" or \"false\"",
                };
                return Err(format!("\"{value}\" is not {expected}"));
            }
        }
        Ok(Self {
            operator,
            key: key.to_owned(),
            values,
        })
    }

    /// Whether the condition holds for `ctx`.
    ///
    /// An absent key makes a condition false, except that negated operators are then
    /// true, `...IfExists` is true, `ForAllValues:` is true and `ForAnyValue:` false
    /// ("Condition operators", "...IfExists condition operators"; "Single-valued vs.
    /// multivalued context keys"). For `Null` and the set qualifiers, a key whose values
    /// are all empty strings counts as absent, as that page says.
    pub(super) fn holds(&self, ctx: &RequestContext, variables: bool) -> bool {
        let policy_values = self.policy_values(ctx, variables);
        let request_values = context_values(ctx, &self.key).unwrap_or_default();
        let op = self.operator;
        // "A null dataset, such as an empty string": `Null` with false checks "the
        // context key exists and its value is not null", and the set qualifiers treat it
        // as no key ("Single-valued vs. multivalued context keys").
        let null_dataset = request_values.iter().all(String::is_empty);
        if op.test == Test::Null {
            return policy_values
                .iter()
                .any(|value| glob_text(value).eq_ignore_ascii_case("true") == null_dataset);
        }
        if request_values.is_empty() || (op.set.is_some() && null_dataset) {
            return match op.set {
                _ if op.if_exists => true,
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => op.negated,
            };
        }
        // One request value passes if it matches any policy value (OR), or, for a
        // negated operator, none.
        let passes = |value: &String| {
            let matched = policy_values
                .iter()
                .any(|expected| compare(op.test, value, expected));
            matched != op.negated
        };
        match op.set {
            Some(SetQualifier::ForAllValues) => request_values.iter().all(passes),
            Some(SetQualifier::ForAnyValue) => request_values.iter().any(passes),
            // Single-valued use: a negated operator needs every value to pass ("not
            // equal to any"), a positive one any.
            None if op.negated => request_values.iter().all(passes),
            None => request_values.iter().any(passes),
        }
    }

    /// The policy's values with variables substituted. A value with a variable that has
    /// no value (and no default) is left out: "the value is effectively null. There is no
    /// equal or like value", so positive operators do not match it and "inverted condition
    /// operators like StringNotEquals or StringNotLike do match against a null value"
    /// ("IAM policy elements: Variables and tags", policy variables with no value).
    fn policy_values(&self, ctx: &RequestContext, variables: bool) -> Vec<Vec<Glob>> {
        if !variables || !self.operator.test.takes_variables() {
            return self.values.iter().map(|value| glob(value)).collect();
        }
        self.values
            .iter()
            .filter_map(|value| substitute(value, ctx))
            .collect()
    }
}

fn compare(test: Test, value: &str, pattern: &[Glob]) -> bool {
    match test {
        Test::StringLike => return glob_match(pattern, value, false),
        Test::Arn => return arn_match(pattern, value),
        _ => {}
    }
    let expected = glob_text(pattern);
    let expected = expected.as_str();
    match test {
        Test::StringEquals => value == expected,
        Test::StringEqualsIgnoreCase => value.to_lowercase() == expected.to_lowercase(),
        Test::StringLike | Test::Arn | Test::Null => false,
        Test::Numeric(order) => match (parse_number(value), parse_number(expected)) {
            (Some(value), Some(expected)) => order.holds(value.partial_cmp(&expected)),
            _ => false,
        },
        Test::Date(order) => match (parse_date(value), parse_date(expected)) {
            (Some(value), Some(expected)) => order.holds(Some(value.cmp(&expected))),
            _ => false,
        },
        Test::Bool => value.eq_ignore_ascii_case(expected),
        Test::IpAddress => match (value.parse::<IpAddr>(), parse_cidr(expected)) {
            (Ok(ip), Some(block)) => in_block(ip, block),
            _ => false,
        },
    }
}

// === impl Test ===

impl Test {
    /// Policy variables work in string and ARN comparisons ("IAM policy elements:
    /// Variables and tags", where you can use policy variables); elsewhere `${` is text,
    /// so `"NumericLessThan": {"...": "${aws:username}"}` is refused as not a number.
    fn takes_variables(self) -> bool {
        matches!(
            self,
            Self::StringEquals | Self::StringEqualsIgnoreCase | Self::StringLike | Self::Arn
        )
    }
}

// === impl Order ===

impl Order {
    fn holds(self, ordering: Option<std::cmp::Ordering>) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        matches!(
            (self, ordering),
            (Self::Equal, Some(Equal))
                | (Self::Less, Some(Less))
                | (Self::LessOrEqual, Some(Less | Equal))
                | (Self::Greater, Some(Greater))
                | (Self::GreaterOrEqual, Some(Greater | Equal))
        )
    }
}

/// The request's values for `key` (empty or `None`: absent). Key names are compared
/// ignoring ASCII case (the parser already refuses any spelling but the documented one);
/// header names too, since HTTP header names are case-insensitive (RFC 9110, 5.1); tag
/// keys too ("aws:PrincipalTag/tag-key": tag keys are matched case-insensitively).
pub(super) fn context_values(ctx: &RequestContext, key: &str) -> Option<Vec<String>> {
    let lower = key.to_ascii_lowercase();
    let one = |value: String| Some(vec![value]);
    if let Some(name) = lower.strip_prefix("vpc-lattice-svcs:requestheader/") {
        let values: Vec<String> = ctx
            .headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .collect();
        return Some(values);
    }
    if lower.starts_with("vpc-lattice-svcs:requestquerystring/") {
        // Query keys keep their case: take the name from the original key.
        let name = &key["vpc-lattice-svcs:RequestQueryString/".len()..];
        let values = ctx
            .query
            .iter()
            .filter(|(query_key, _)| query_key == name)
            .map(|(_, value)| value.clone())
            .collect();
        return Some(values);
    }
    if lower.starts_with("aws:principaltag/") {
        let name = &key["aws:PrincipalTag/".len()..];
        let caller = ctx.caller.as_ref()?;
        return caller
            .tags
            .iter()
            .find(|(tag, _)| tag.eq_ignore_ascii_case(name))
            .map(|(_, value)| vec![value.clone()]);
    }
    let caller = ctx.caller.as_ref();
    match lower.as_str() {
        "vpc-lattice-svcs:requestmethod" => one(ctx.method.clone()),
        "vpc-lattice-svcs:requestpath" => one(ctx.path.clone()),
        "vpc-lattice-svcs:port" => one(ctx.port.to_string()),
        "vpc-lattice-svcs:servicearn" => one(ctx.service_arn.clone()),
        "vpc-lattice-svcs:servicenetworkarn" => ctx.service_network_arn.clone().and_then(one),
        "vpc-lattice-svcs:sourcevpc" => ctx.source_vpc.clone().and_then(one),
        "vpc-lattice-svcs:sourcevpcowneraccount" => {
            ctx.source_vpc_owner_account.clone().and_then(one)
        }
        "aws:principalarn" => one(principal_arn(&caller?.principal_arn)),
        "aws:principalaccount" => one(account_of(&caller?.principal_arn)?.to_owned()),
        "aws:principalorgid" => caller?.org_id.clone().and_then(one),
        "aws:principalorgpaths" => Some(caller?.org_paths.clone()),
        // The Lattice page's "authenticated only" example tests aws:PrincipalType against
        // "anonymous", so unsigned requests carry it.
        "aws:principaltype" => one(principal_type(caller).to_owned()),
        // Present on every signed request; Lattice callers are never AWS services.
        "aws:principalisawsservice" => caller.and(one("false".to_owned())),
        "aws:username" => one(user_name(&caller?.principal_arn)?.to_owned()),
        // A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d; it is that IPv4
        // address, which is what an IPv4 CIDR block in a policy means.
        "aws:sourceip" => ctx
            .source_ip
            .map(|ip| ip.to_canonical().to_string())
            .and_then(one),
        "aws:currenttime" => one(OffsetDateTime::from(ctx.now).format(&Rfc3339).ok()?),
        "aws:epochtime" => one(OffsetDateTime::from(ctx.now).unix_timestamp().to_string()),
        "aws:securetransport" => one(ctx.secure_transport.to_string()),
        _ => None,
    }
}

/// `aws:PrincipalType`: `AssumedRole`, `User`, `Account`, `FederatedUser` or `Anonymous`.
fn principal_type(caller: Option<&super::Caller>) -> &'static str {
    let Some(caller) = caller else {
        return "Anonymous";
    };
    let arn = caller.principal_arn.as_str();
    if role_of_session(arn).is_some() {
        "AssumedRole"
    } else if is_account_root(arn) {
        "Account"
    } else if arn.contains(":federated-user/") {
        "FederatedUser"
    } else {
        "User"
    }
}

/// `aws:PrincipalArn`: for a role session, the role's ARN ("Do not specify the assumed
/// role session ARN as a value for this key", "AWS global condition context keys"). A
/// session ARN does not carry the role's path, so the role ARN has none either.
fn principal_arn(arn: &str) -> String {
    match (role_of_session(arn), arn.split(':').nth(1)) {
        (Some((account, role)), Some(partition)) => {
            format!("arn:{partition}:iam::{account}:role/{role}")
        }
        _ => arn.to_owned(),
    }
}

/// `aws:username`: the friendly name of an IAM user; absent for any other principal.
fn user_name(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let path = resource.strip_prefix("user/")?;
    arn.contains(":iam::")
        .then(|| path.rsplit('/').next().unwrap_or(path))
}

/// Replaces `${key}`, `${key, 'default'}`, `${*}`, `${?}` and `${$}` ("IAM policy
/// elements: Variables and tags"), giving a wildcard pattern. `${*}` and `${?}` are
/// literal characters, "to represent a literal * or ? in a value that supports
/// wildcards"; so is every character of a substituted value. `None` if a key has no
/// value and no default.
pub(super) fn substitute(template: &str, ctx: &RequestContext) -> Option<Vec<Glob>> {
    let mut out = Vec::with_capacity(template.len());
    let literal = |out: &mut Vec<Glob>, text: &str| out.extend(text.chars().map(Glob::Literal));
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.extend(glob(&rest[..start]));
        let after = &rest[start + 2..];
        // check_variables() made sure every `${` is closed.
        let end = after.find('}')?;
        let inner = after[..end].trim();
        match inner {
            "*" | "?" | "$" => literal(&mut out, inner),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((key, default)) => (
                        key.trim(),
                        Some(default.trim().trim_matches('\'').to_owned()),
                    ),
                    None => (inner, None),
                };
                let value = context_values(ctx, key)
                    .and_then(|values| values.into_iter().next())
                    .or(default)?;
                literal(&mut out, &value);
            }
        }
        rest = &after[end + 1..];
    }
    out.extend(glob(rest));
    Some(out)
}

/// Every `${` has a closing `}` and a key.
pub(super) fn check_variables(value: &str) -> Result<(), String> {
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "\"{value}\": a policy variable is not closed with }}"
            ));
        };
        let inner = after[..end].trim();
        let (key, default) = match inner.split_once(',') {
            Some((key, default)) => (key.trim(), Some(default.trim())),
            None => (inner, None),
        };
        if key.is_empty() {
            return Err(format!("\"{value}\": a policy variable names no key"));
        }
        // `${key, 'default'}` ("Specifying default values").
        if default.is_some_and(|d| d.len() < 2 || !d.starts_with('\'') || !d.ends_with('\'')) {
            return Err(format!(
                "\"{value}\": a policy variable's default value goes in single quotes, \
                 e.g. ${{aws:username, 'guest'}}"
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// "An integer or decimal value" ("Condition operators", numeric condition operators):
/// `NaN` and `inf`, which Rust would parse, are neither.
fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// "One of the W3C implementations of the ISO 8601 date formats" or epoch seconds
/// ("Condition operators", date condition operators), as nanoseconds since the epoch.
/// The W3C profile: `YYYY-MM`, `YYYY-MM-DD` (midnight UTC), and
/// `YYYY-MM-DDThh:mm[:ss[.s]]` with `Z` or `+hh:mm`. Its `YYYY` alone is digits only,
/// which IAM's epoch form also is: it reads as epoch seconds.
fn parse_date(text: &str) -> Option<i128> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(i128::from(seconds) * 1_000_000_000);
    }
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(time.unix_timestamp_nanos());
    }
    // `hh:mm` without seconds: the same instant with `:00`.
    if let Some((date, time)) = text.split_once('T')
        && let Some(zone) = time.find(['Z', '+', '-']).filter(|&at| at == 5)
    {
        let with_seconds = format!("{date}T{}:00{}", &time[..zone], &time[zone..]);
        return OffsetDateTime::parse(&with_seconds, &Rfc3339)
            .ok()
            .map(OffsetDateTime::unix_timestamp_nanos);
    }
    let day = match text.len() {
        7 => format!("{text}-01"),
        _ => text.to_owned(),
    };
    let date = Date::parse(&day, format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp_nanos())
}

/// `203.0.113.0/24`, `2001:db8::/32`, or one address.
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = match text.trim().split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip = text.trim().parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_block(ip: IpAddr, (network, bits): (IpAddr, u8)) -> bool {
    let prefix = |a: u128, b: u128, width: u32| {
        let shift = width - u32::from(bits);
        shift >= width || (a >> shift) == (b >> shift)
    };
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(b)) => prefix(u32::from(a).into(), u32::from(b).into(), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => prefix(u128::from(a), u128::from(b), 128),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAllValues:StringNotLikeIfExists").unwrap();
        assert_eq!(op.set, Some(SetQualifier::ForAllValues));
        assert!(op.negated && op.if_exists);
        assert!(Operator::parse("StringEqual").is_err());
        assert!(Operator::parse("NullIfExists").is_err());
        assert!(Operator::parse("stringequals").is_err());
    }

    #[test]
    fn cidr_blocks() {
        let block = parse_cidr("10.1.0.0/16").unwrap();
        assert!(in_block("10.1.200.3".parse().unwrap(), block));
        assert!(!in_block("10.2.0.1".parse().unwrap(), block));
        assert!(in_block(
            "10.2.0.1".parse().unwrap(),
            parse_cidr("0.0.0.0/0").unwrap()
        ));
        assert!(in_block(
            "2001:db8::1".parse().unwrap(),
            parse_cidr("2001:db8::/32").unwrap()
        ));
        assert!(!in_block(
            "10.1.0.1".parse().unwrap(),
            parse_cidr("2001:db8::/32").unwrap()
        ));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1"), Some(1_000_000_000));
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000_000_000));
        assert!(parse_date("tomorrow").is_none());
        // The W3C profile of ISO 8601.
        assert_eq!(parse_date("1970"), Some(1_970_000_000_000));
        assert_eq!(parse_date("1970-02"), Some(31 * 86_400_000_000_000));
        assert_eq!(parse_date("1970-01-01T00:01Z"), Some(60_000_000_000));
        assert_eq!(parse_date("1970-01-01T01:01+01:00"), Some(60_000_000_000));
        assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert!(parse_date("1970-01-01T00Z").is_none() && parse_date("1970-1").is_none());
    }
}
