//! Parsing and validating a policy document.
//!
//! The JSON is walked as a [`serde_json::Value`] rather than derived with serde, so every
//! refusal can name where it is (`Statement[1].Condition.StringEqual`) and why, the way
//! IAM Access Analyzer does, instead of serde's "unknown variant at line 1 column 80".

use std::{fmt, io::Read, path::Path};

use serde_json::{Map, Value};

use super::{
    PolicyKind,
    condition::{Condition, KEY_SPELLINGS, Operator, check_variables},
    matching::Principal,
};

/// A parsed, validated auth policy or identity-based policy.
///
/// See the [module docs](crate::policy) for what is supported and why.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(super) statements: Vec<Statement>,
    /// `2012-10-17` turns policy variables on; `2008-10-17` (or no `Version`) keeps
    /// `${...}` literal ("IAM JSON policy elements: Version").
    pub(super) variables: bool,
}

/// Why a policy was refused: the file (if any), where in the document, and why.
///
/// Displays as `<file>: <where>: <why>`, e.g.
/// `network.json: Statement[1].Condition: unknown operator "StringEqual"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    file: Option<String>,
    location: String,
    message: String,
}

/// One statement, validated.
#[derive(Clone, Debug)]
pub(super) struct Statement {
    /// The `Sid`, or `None` (reported as the statement's index).
    pub(super) sid: Option<String>,
    pub(super) index: usize,
    pub(super) effect: Effect,
    /// `None` when the statement names no principal (identity-based policies).
    pub(super) principal: Option<Negatable<Vec<Principal>>>,
    pub(super) action: Negatable<Vec<String>>,
    pub(super) resource: Negatable<Vec<String>>,
    /// All must hold (AND).
    pub(super) conditions: Vec<Condition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

/// `Principal`/`NotPrincipal`, `Action`/`NotAction`, `Resource`/`NotResource`.
#[derive(Clone, Debug)]
pub(super) struct Negatable<T> {
    pub(super) negated: bool,
    pub(super) value: T,
}

/// A JSON value whose objects never repeat a key. `serde_json::Value` keeps the last of
/// two `"StringEquals"` silently, dropping the first one's conditions; JSON (RFC 8259,
/// section 4) leaves duplicate names to the reader, so a policy with them is refused
/// rather than read one way here and maybe another way by AWS.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            list.push(item);
        }
        Ok(Value::Array(list))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key \"{key}\": JSON does not say which one counts"
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// "Auth policy size: 10 Kilobytes", not adjustable ("Quotas for Amazon VPC Lattice").
/// IAM's identity-based policies are smaller still. It also bounds the work of matching.
const MAX_POLICY_BYTES: usize = 10 * 1024;

const STATEMENT_ELEMENTS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

// === impl Policy ===

impl Policy {
    /// Parses and validates a policy document.
    ///
    /// ```
    /// use lattice_emulator::policy::Policy;
    ///
    /// let policy = Policy::parse(r#"{"Version": "2012-10-17", "Statement": [
    ///     {"Effect": "Allow", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}
    /// ]}"#);
    /// assert!(policy.is_ok());
    ///
    /// let error = Policy::parse(r#"{"Statement": {"Effect": "Permit"}}"#).unwrap_err();
    /// assert_eq!(error.to_string(), r#"Statement[0].Effect: must be "Allow" or "Deny", not "Permit""#);
    /// ```
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        if json.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::new(
                "document",
                format!(
                    "{} bytes is over the 10 KB Lattice allows for an auth policy \
                     (\"Quotas for Amazon VPC Lattice\", auth policy size)",
                    json.len()
                ),
            ));
        }
        let document = serde_json::from_str::<UniqueKeys>(json).map_err(|error| {
            PolicyError::new(
                format!("line {} column {}", error.line(), error.column()),
                format!("invalid JSON: {}", json_reason(&error)),
            )
        })?;
        parse_document(&document.0)
    }

    /// The policy of an `AWS_IAM` level with no auth policy attached: it allows nothing
    /// ("If you do not add an auth policy, all traffic will get an access denied error",
    /// "Control access to VPC Lattice services using auth policies").
    pub fn empty() -> Policy {
        Policy {
            statements: Vec::new(),
            variables: false,
        }
    }

    /// Reads and parses the policy in `path`; errors name the file.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let refuse = |message: String| PolicyError {
            file: Some(file.clone()),
            location: "file".to_owned(),
            message,
        };
        // One byte past the quota is enough to refuse it: never read a huge file whole.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_POLICY_BYTES as u64 + 1).read_to_end(&mut bytes))
            .map_err(|error| refuse(format!("cannot read it: {error}")))?;
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(refuse(
                "is over the 10 KB Lattice allows for an auth policy (\"Quotas for Amazon \
                 VPC Lattice\", auth policy size)"
                    .to_owned(),
            ));
        }
        let json = String::from_utf8(bytes)
            .map_err(|error| refuse(format!("cannot read it: not UTF-8 ({error})")))?;
        Policy::parse(&json).map_err(|error| error.in_file(file))
    }

    /// Checks the `Principal` rule of the policy's level: every statement of an auth
    /// policy (network or service) names `Principal` or `NotPrincipal`, since "you must
    /// specify a principal in a resource-based policy", and no statement of an
    /// identity-based policy does, since "you can't specify the principal in an
    /// identity-based policy" ("How Amazon VPC Lattice works with IAM").
    ///
    /// [`evaluate`](super::evaluate) never applies an auth-policy statement without a
    /// principal, so a policy that fails this check denies rather than over-allows; call
    /// it when loading a policy to refuse it with the reason instead.
    pub fn check_kind(&self, kind: PolicyKind) -> Result<(), PolicyError> {
        for statement in &self.statements {
            let at = format!("Statement[{}]", statement.index);
            match (kind, &statement.principal) {
                (PolicyKind::Identity, Some(_)) => {
                    return Err(PolicyError::new(
                        at,
                        "an identity-based policy cannot name a Principal: it applies to \
                         the identity it is attached to",
                    ));
                }
                (PolicyKind::Network | PolicyKind::Service, None) => {
                    return Err(PolicyError::new(
                        at,
                        "an auth policy statement needs Principal or NotPrincipal \
                         (\"Principal\": \"*\" for everyone)",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn parse_document(document: &Value) -> Result<Policy, PolicyError> {
    let Value::Object(top) = document else {
        return Err(PolicyError::new(
            "document",
            format!("must be a JSON object, not {}", kind_of(document)),
        ));
    };
    for key in top.keys() {
        if !["Version", "Id", "Statement"].contains(&key.as_str()) {
            return Err(PolicyError::new(
                key.clone(),
                "unknown element (a policy has Version, Id and Statement)",
            ));
        }
    }
    let variables = match top.get("Version") {
        None => false,
        Some(Value::String(version)) if version == "2012-10-17" => true,
        Some(Value::String(version)) if version == "2008-10-17" => false,
        Some(other) => {
            return Err(PolicyError::new(
                "Version",
                format!(
                    "must be \"2012-10-17\" (or the old \"2008-10-17\"), not {}",
                    compact(other)
                ),
            ));
        }
    };
    if let Some(id) = top.get("Id")
        && !id.is_string()
    {
        return Err(PolicyError::new(
            "Id",
            format!("must be a string, not {}", kind_of(id)),
        ));
    }
    let statements = match top.get("Statement") {
        None => return Err(PolicyError::new("Statement", "is missing")),
        Some(Value::Array(list)) if list.is_empty() => {
            return Err(PolicyError::new(
                "Statement",
                "is empty: a policy needs at least one statement",
            ));
        }
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(other) => {
            return Err(PolicyError::new(
                "Statement",
                format!(
                    "must be an object or a list of objects, not {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let statements: Vec<Statement> = statements
        .into_iter()
        .enumerate()
        .map(|(index, value)| parse_statement(index, value, variables))
        .collect::<Result<_, _>>()?;
    // A decision names its statement by Sid, so a Sid must name one statement.
    for (later, statement) in statements.iter().enumerate() {
        let Some(sid) = &statement.sid else { continue };
        if let Some(first) = statements[..later]
            .iter()
            .find(|s| s.sid.as_ref() == Some(sid))
        {
            return Err(PolicyError::new(
                format!("Statement[{later}].Sid"),
                format!(
                    "\"{sid}\" is also the Sid of Statement[{}]: Sids must be unique",
                    first.index
                ),
            ));
        }
    }
    Ok(Policy {
        statements,
        variables,
    })
}

fn parse_statement(index: usize, value: &Value, variables: bool) -> Result<Statement, PolicyError> {
    let at = format!("Statement[{index}]");
    let Value::Object(fields) = value else {
        return Err(PolicyError::new(
            at,
            format!("must be an object, not {}", kind_of(value)),
        ));
    };
    for key in fields.keys() {
        if !STATEMENT_ELEMENTS.contains(&key.as_str()) {
            return Err(PolicyError::new(
                format!("{at}.{key}"),
                format!(
                    "unknown element (a statement has {})",
                    STATEMENT_ELEMENTS.join(", ")
                ),
            ));
        }
    }
    let sid = match fields.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(other) => {
            return Err(PolicyError::new(
                format!("{at}.Sid"),
                format!("must be a string, not {}", kind_of(other)),
            ));
        }
    };
    let effect = match fields.get("Effect") {
        Some(Value::String(effect)) if effect == "Allow" => Effect::Allow,
        Some(Value::String(effect)) if effect == "Deny" => Effect::Deny,
        None => return Err(PolicyError::new(format!("{at}.Effect"), "is missing")),
        Some(other) => {
            return Err(PolicyError::new(
                format!("{at}.Effect"),
                format!("must be \"Allow\" or \"Deny\", not {}", compact(other)),
            ));
        }
    };
    let principal = match pair(fields, &at, "Principal", "NotPrincipal")? {
        None => None,
        Some((name, negated, value)) => Some(Negatable {
            negated,
            value: parse_principal(&format!("{at}.{name}"), value)?,
        }),
    };
    if principal.as_ref().is_some_and(|p| p.negated) && effect == Effect::Allow {
        // "NotPrincipal must be used with "Effect":"Deny". Using it with "Effect":"Allow"
        // is not supported." ("AWS JSON policy elements: NotPrincipal")
        return Err(PolicyError::new(
            format!("{at}.NotPrincipal"),
            "NotPrincipal works only with \"Effect\": \"Deny\"; to allow all but some \
             principals, use Principal with a Condition on aws:PrincipalArn",
        ));
    }
    let action = required_strings(fields, &at, "Action", "NotAction")?;
    check_each(fields, &at, &action, "Action", |action| {
        (action == "*" || action.contains(':')).then_some(()).ok_or_else(|| {
            format!("\"{action}\" is not an action: write service:Action, e.g. vpc-lattice-svcs:Invoke")
        })
    })?;
    let resource = required_strings(fields, &at, "Resource", "NotResource")?;
    check_each(fields, &at, &resource, "Resource", |resource| {
        check_resource(resource, variables)
    })?;
    let conditions = match fields.get("Condition") {
        None => Vec::new(),
        Some(value) => parse_conditions(&format!("{at}.Condition"), value, variables)?,
    };
    Ok(Statement {
        sid,
        index,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// `"*"` or an ARN pattern. Fewer than six parts are fine when a part ends in `*`, which
/// "can expand to match beyond the colon boundaries"; the service part cannot hold a
/// wildcard ("IAM JSON policy elements: Resource", using wildcards in resource ARNs).
fn check_resource(resource: &str, variables: bool) -> Result<(), String> {
    if resource == "*" {
        return Ok(());
    }
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if parts.first() == Some(&"arn") && parts.get(2).is_some_and(|s| s.contains(['*', '?'])) {
        return Err(format!(
            "\"{resource}\": the service part of a resource ARN cannot hold a wildcard \
             (write vpc-lattice)"
        ));
    }
    let expands = parts.iter().any(|part| part.ends_with('*'));
    if parts.first() != Some(&"arn") || !(parts.len() == 6 || (parts.len() >= 4 && expands)) {
        return Err(format!(
            "\"{resource}\" is not \"*\" or an ARN, e.g. \
             arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123/*"
        ));
    }
    if variables && let Some(first) = resource.find("${") {
        // "You can use a policy variable in the Resource element, but only in the
        // resource portion of the ARN. This portion of the ARN appears after the fifth
        // colon" ("IAM policy elements: Variables and tags").
        if resource[..first].matches(':').count() < 5 {
            return Err(format!(
                "\"{resource}\": a policy variable can stand only in the resource part of \
                 the ARN, after the fifth colon"
            ));
        }
        check_variables(resource)?;
    }
    Ok(())
}

/// Runs `check` on every value of `element` (or `Not<element>`), locating a refusal
/// (`Statement[0].Action` for a string, `Statement[0].Action[1]` in a list).
fn check_each(
    fields: &Map<String, Value>,
    at: &str,
    values: &Negatable<Vec<String>>,
    element: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), PolicyError> {
    let element = if values.negated {
        format!("Not{element}")
    } else {
        element.to_owned()
    };
    let in_list = fields.get(&element).is_some_and(Value::is_array);
    for (i, value) in values.value.iter().enumerate() {
        check(value).map_err(|why| {
            let index = if in_list {
                format!("[{i}]")
            } else {
                String::new()
            };
            PolicyError::new(format!("{at}.{element}{index}"), why)
        })?;
    }
    Ok(())
}

/// At most one of `name`/`not_name`: which one, whether it is the negated one, its value.
fn pair<'a>(
    fields: &'a Map<String, Value>,
    at: &str,
    name: &'static str,
    not_name: &'static str,
) -> Result<Option<(&'static str, bool, &'a Value)>, PolicyError> {
    match (fields.get(name), fields.get(not_name)) {
        (Some(_), Some(_)) => Err(PolicyError::new(
            at,
            format!("has both {name} and {not_name}: use one"),
        )),
        (Some(value), None) => Ok(Some((name, false, value))),
        (None, Some(value)) => Ok(Some((not_name, true, value))),
        (None, None) => Ok(None),
    }
}

/// Exactly one of `name`/`not_name`, holding strings.
fn required_strings(
    fields: &Map<String, Value>,
    at: &str,
    name: &'static str,
    not_name: &'static str,
) -> Result<Negatable<Vec<String>>, PolicyError> {
    let (element, negated, value) = pair(fields, at, name, not_name)?
        .ok_or_else(|| PolicyError::new(at, format!("needs {name} or {not_name}")))?;
    let value = strings(&format!("{at}.{element}"), value)?;
    Ok(Negatable { negated, value })
}

/// A string or a non-empty list of strings.
fn strings(at: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(one) => Ok(vec![one.clone()]),
        Value::Array(list) if list.is_empty() => Err(PolicyError::new(at, "is an empty list")),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(one) => Ok(one.clone()),
                other => Err(PolicyError::new(
                    format!("{at}[{i}]"),
                    format!("must be a string, not {}", kind_of(other)),
                )),
            })
            .collect(),
        other => Err(PolicyError::new(
            at,
            format!(
                "must be a string or a list of strings, not {}",
                kind_of(other)
            ),
        )),
    }
}

/// `"*"` or `{"AWS": "<id>" | ["<id>", ..]}` (IAM "AWS JSON policy elements: Principal").
fn parse_principal(at: &str, value: &Value) -> Result<Vec<Principal>, PolicyError> {
    match value {
        Value::String(star) if star == "*" => Ok(vec![Principal::Everyone]),
        Value::String(other) => Err(PolicyError::new(
            at,
            format!("must be \"*\" or {{\"AWS\": ...}}, not \"{other}\""),
        )),
        Value::Object(map) => {
            let mut principals = Vec::new();
            for (kind, ids) in map {
                if kind != "AWS" {
                    return Err(PolicyError::new(
                        format!("{at}.{kind}"),
                        "unsupported principal type: Lattice callers are AWS principals, \
                         name them under \"AWS\"",
                    ));
                }
                let at = format!("{at}.AWS");
                for (i, id) in strings(&at, ids)?.into_iter().enumerate() {
                    let principal = Principal::parse(&id).map_err(|why| {
                        let at = if ids.is_array() {
                            format!("{at}[{i}]")
                        } else {
                            at.clone()
                        };
                        PolicyError::new(at, why)
                    })?;
                    principals.push(principal);
                }
            }
            if principals.is_empty() {
                return Err(PolicyError::new(at, "names no principal"));
            }
            Ok(principals)
        }
        other => Err(PolicyError::new(
            at,
            format!("must be \"*\" or an object, not {}", kind_of(other)),
        )),
    }
}

/// `{"<operator>": {"<key>": <value or values>, ..}, ..}`.
fn parse_conditions(
    at: &str,
    value: &Value,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return Err(PolicyError::new(
            at,
            format!("must be an object, not {}", kind_of(value)),
        ));
    };
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let operator = Operator::parse(name).map_err(|why| PolicyError::new(at, why))?;
        let at = format!("{at}.{name}");
        let Value::Object(keys) = keys else {
            return Err(PolicyError::new(
                at,
                format!("must be an object of condition keys, not {}", kind_of(keys)),
            ));
        };
        if keys.is_empty() {
            return Err(PolicyError::new(at, "names no condition key"));
        }
        for (key, values) in keys {
            let at = format!("{at}.{key}");
            check_key_spelling(&at, key)?;
            let values = condition_values(&at, values)?;
            let condition = Condition::new(operator, key, values, variables)
                .map_err(|why| PolicyError::new(at.clone(), why))?;
            conditions.push(condition);
        }
    }
    Ok(conditions)
}

/// The IAM reference says key names are case-insensitive; the Lattice auth-policy page
/// says its keys are case-sensitive. A policy that spells a key differently from the
/// documentation would behave differently under the two readings, so it is refused:
/// whatever passes here means the same on both.
fn check_key_spelling(at: &str, key: &str) -> Result<(), PolicyError> {
    let (name, suffix) = match key.split_once('/') {
        Some((name, suffix)) => (name, Some(suffix)),
        None => (key, None),
    };
    let known = KEY_SPELLINGS
        .iter()
        .find(|known| known.trim_end_matches('/').eq_ignore_ascii_case(name));
    match known {
        Some(known) if known.ends_with('/') != suffix.is_some() => Err(PolicyError::new(
            at,
            if suffix.is_some() {
                format!("{known} takes no /suffix")
            } else {
                format!("{known}<name> needs a name after the slash")
            },
        )),
        Some(known) if suffix == Some("") => Err(PolicyError::new(
            at,
            format!("{known}<name> needs a name after the slash"),
        )),
        Some(known) if known.trim_end_matches('/') != name => Err(PolicyError::new(
            at,
            format!(
                "write the key as {}{}: IAM reads key names case-insensitively but the \
                 Lattice auth-policy page says its condition keys are case-sensitive, so \
                 only the documented spelling means the same to both",
                known.trim_end_matches('/'),
                suffix
                    .map(|suffix| format!("/{suffix}"))
                    .unwrap_or_default()
            ),
        )),
        None if name.to_ascii_lowercase().starts_with("vpc-lattice-svcs:") => {
            Err(PolicyError::new(
                at,
                "unknown vpc-lattice-svcs condition key (see \"Condition keys that can be \
                 used in auth policies\")",
            ))
        }
        _ => Ok(()),
    }
}

/// A string, number or boolean, or a non-empty list of them, as strings.
fn condition_values(at: &str, value: &Value) -> Result<Vec<String>, PolicyError> {
    let scalar = |at: String, value: &Value| match value {
        Value::String(one) => Ok(one.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(PolicyError::new(
            at,
            format!(
                "must be a string, number or boolean, not {}",
                kind_of(other)
            ),
        )),
    };
    match value {
        Value::Array(list) if list.is_empty() => Err(PolicyError::new(at, "is an empty list")),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, item)| scalar(format!("{at}[{i}]"), item))
            .collect(),
        one => Ok(vec![scalar(at.to_owned(), one)?]),
    }
}

/// serde_json's message without its own " at line L column C" suffix.
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a value for a message.
fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

// === impl PolicyError ===

impl PolicyError {
    pub(super) fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            location: location.into(),
            message: message.into(),
        }
    }

    /// The same error, naming `file`.
    pub(crate) fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Where in the document, e.g. `Statement[1].Condition` or `line 3 column 7`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Why it was refused.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for PolicyError {}
