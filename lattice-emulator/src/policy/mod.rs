//! Lattice auth policies and identity-based policies: parse them, decide a request, and
//! say why.
//!
//! With `AWS_IAM` auth, Lattice evaluates the service network's auth policy, the
//! service's auth policy and the caller's identity-based policy: "an explicit deny in
//! any of these policies overrides an allow", and otherwise each one that applies must
//! allow (Lattice User Guide, "Control access to VPC Lattice services using auth
//! policies", "How authorization works"; IAM User Guide, "Policy evaluation logic").
//! [`evaluate`] does that and returns a [`Decision`] naming the policy and statement that
//! decided. "For authorization to succeed, both auth policies and identity-based
//! policies need to have explicit allow statements" (same page), so this is an AND, not
//! IAM's same-account "either allows". The emulator has no IAM: with no identity-based
//! policy given ([`Policies::identity`] is `None`) that check is skipped, where real
//! Lattice would need the caller's own policies to allow `vpc-lattice-svcs:Invoke`.
//!
//! ```
//! use std::time::SystemTime;
//! use lattice_emulator::policy::{Caller, Outcome, Policies, Policy, RequestContext, evaluate};
//!
//! let service = Policy::parse(r#"{"Version": "2012-10-17", "Statement": [{
//!     "Sid": "AppReadsOrders", "Effect": "Allow",
//!     "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
//!     "Action": "vpc-lattice-svcs:Invoke",
//!     "Resource": "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123/orders/*",
//!     "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}}
//! }]}"#)?;
//! let ctx = RequestContext {
//!     caller: Some(Caller {
//!         principal_arn: "arn:aws:sts::111122223333:assumed-role/app/s1".into(),
//!         ..Caller::default()
//!     }),
//!     method: "GET".into(),
//!     path: "/orders/7".into(),
//!     query: vec![],
//!     headers: vec![],
//!     port: 443,
//!     service_arn: "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123".into(),
//!     service_network_arn: None,
//!     source_vpc: None,
//!     source_vpc_owner_account: None,
//!     source_ip: None,
//!     now: SystemTime::UNIX_EPOCH,
//!     secure_transport: true,
//! };
//! let decision = evaluate(&Policies { service: Some(&service), ..Policies::default() }, &ctx);
//! assert_eq!(decision.outcome, Outcome::Allow);
//! # Ok::<(), lattice_emulator::policy::PolicyError>(())
//! ```
//!
//! # Why hand-written
//!
//! The `iam-rs` crate (0.8) was the candidate. It was not good enough here: its principal
//! matcher treats a wildcard *request* principal as matching every policy principal,
//! it does not know that a role ARN names the role's `assumed-role` sessions (the way
//! Lattice callers arrive), its parse errors are serde's (no `Statement[1].Condition`
//! location), and its result does not say which statement decided. The IAM language
//! subset Lattice needs fits in four small files.
//!
//! # Decisions where the documentation leaves room
//!
//! - **Condition key case.** The IAM reference says key names are case-insensitive;
//!   the Lattice page says its keys are case-sensitive. A key spelled other than as
//!   documented (`vpc-lattice-svcs:requestmethod`) is refused when the policy loads, so
//!   a policy the emulator accepts means the same under either reading. Values are
//!   case-sensitive unless the operator says `IgnoreCase`.
//! - **`RequestHeader/<name>`** compares header names ignoring case (HTTP header names
//!   are case-insensitive, RFC 9110 section 5.1); a header sent several times has
//!   several values. `RequestQueryString/<key>` keys are case-sensitive.
//! - **Anonymous callers** (unsigned requests) match only `"*"` and `{"AWS": "*"}`: IAM
//!   lists both as "everyone, including anonymous users" ("AWS JSON policy elements:
//!   Principal", "All principals"), and the Lattice page allows unauthenticated requests
//!   with `"Principal": "*"` ("Anonymous (unauthenticated) principals"). They carry
//!   `aws:PrincipalType` = `Anonymous` (the Lattice page's "authenticated only" example
//!   tests it) and no other principal key; the identity-based policy does not apply to
//!   them, since they have no identity.
//! - **`NotPrincipal`** is refused with `Allow` ("Using it with \"Effect\":\"Allow\" is
//!   not supported"). With `Deny` it exempts a caller only when it names the caller's
//!   account and, unless the caller is the account root, the caller too (its user ARN;
//!   for a session, its role's ARN): IAM says AWS may check "the account first, then
//!   the role, and then the assumed-role user", that "you must also specify the account
//!   ARN", and that without the role's ARN the policy "might" deny the role ("AWS JSON
//!   policy elements: NotPrincipal"). The page hedges, so this is the reading that
//!   never predicts an allow a real deny would refuse.
//! - **`aws:PrincipalArn`** of a role session is the role's ARN, as IAM documents; the
//!   session ARN carries no role path, so neither does that ARN. `Principal` still
//!   matches a role ARN with a path against its sessions, by role name.
//! - **`aws:PrincipalType`** is `AssumedRole`, `User`, `Account` (root),
//!   `FederatedUser` or `Anonymous`; **`aws:SecureTransport`** is `true` on the HTTPS
//!   listener; **`aws:PrincipalIsAWSService`** is `false` for every signed caller.
//! - **A policy variable with no value** and no default is null, as IAM documents
//!   ("Policy variables with no value"): that policy value matches nothing, so
//!   `StringEquals`/`StringLike` do not match it and `StringNotEquals`/`StringNotLike`
//!   do; a `Resource` pattern holding it matches nothing. Variables work in string and
//!   ARN operators and in the resource part of a `Resource` ARN (after its fifth colon;
//!   one before it is refused), as that page says; elsewhere `${` is text (and so not a
//!   number).
//!   `${*}`, `${?}` and every character of a substituted value are literal, never
//!   wildcards.
//! - **`Resource`** patterns match each colon-separated part of the ARN on its own,
//!   except that a part ending in `*` may run on across colons, as the IAM `Resource`
//!   page says ("it can expand to match beyond the colon boundaries"):
//!   `arn:aws:vpc-lattice:*` covers every Lattice service. `ArnLike`/`ArnEquals` keep
//!   the strict six-part rule their own page states ("each of the six colon-delimited
//!   components of the ARN is checked separately"). A wildcard in the service part is
//!   refused ("you can't use a wildcard in the service segment").
//! - **A JSON key repeated** in one object (two `"StringEquals"` in a `Condition`) is
//!   refused: JSON leaves it to the reader (RFC 8259, section 4), and reading the last
//!   one, as `serde_json` does, would drop the first one's conditions unseen.
//! - **An allow** reports the most specific policy that allowed (service, then network,
//!   then identity); an explicit deny reports the first deny found, network first.

mod condition;
mod document;
mod matching;

use std::{collections::BTreeMap, net::IpAddr, time::SystemTime};

pub use document::{Policy, PolicyError};

use document::{Effect, Statement};

/// The action every Lattice request is authorized as.
pub const INVOKE_ACTION: &str = "vpc-lattice-svcs:Invoke";

/// Which level a policy is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// The service network's auth policy.
    Network,
    /// The service's auth policy.
    Service,
    /// The caller's identity-based policy.
    Identity,
}

/// Who is calling. `None` in [`RequestContext::caller`] means anonymous (unsigned).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`, `arn:aws:iam::<acct>:user/x`, ...
    pub principal_arn: String,
    /// `aws:PrincipalOrgID`.
    pub org_id: Option<String>,
    /// `aws:PrincipalOrgPaths`, e.g. `o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/`.
    pub org_paths: Vec<String>,
    /// `aws:PrincipalTag/<key>`.
    pub tags: BTreeMap<String, String>,
}

/// Everything a decision may look at.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// `None`: anonymous (an unsigned request).
    pub caller: Option<Caller>,
    /// `vpc-lattice-svcs:RequestMethod`.
    pub method: String,
    /// `vpc-lattice-svcs:RequestPath`: as received, without the query.
    pub path: String,
    /// `vpc-lattice-svcs:RequestQueryString/<key>`: decoded pairs, in order.
    pub query: Vec<(String, String)>,
    /// `vpc-lattice-svcs:RequestHeader/<name>`: lower-case names, in order; a name may
    /// repeat.
    pub headers: Vec<(String, String)>,
    /// `vpc-lattice-svcs:Port`.
    pub port: u16,
    /// `vpc-lattice-svcs:ServiceArn`: `arn:aws:vpc-lattice:<region>:<acct>:service/<svc-id>`.
    pub service_arn: String,
    /// `vpc-lattice-svcs:ServiceNetworkArn`.
    pub service_network_arn: Option<String>,
    /// `vpc-lattice-svcs:SourceVpc`.
    pub source_vpc: Option<String>,
    /// `vpc-lattice-svcs:SourceVpcOwnerAccount`.
    pub source_vpc_owner_account: Option<String>,
    /// `aws:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// `aws:CurrentTime` and `aws:EpochTime`.
    pub now: SystemTime,
    /// `aws:SecureTransport`: true on the HTTPS listener.
    pub secure_transport: bool,
}

/// The policies that apply; `None` means that level's auth type is `NONE` (or, for
/// identity, that no identity-based policy is configured).
#[derive(Clone, Copy, Debug, Default)]
pub struct Policies<'a> {
    /// The service network's auth policy.
    pub network: Option<&'a Policy>,
    /// The service's auth policy.
    pub service: Option<&'a Policy>,
    /// The caller's identity-based policy.
    pub identity: Option<&'a Policy>,
}

/// What was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every applicable policy allows, and none denies.
    Allow,
    /// A statement denies.
    ExplicitDeny,
    /// An applicable policy has no statement that allows.
    ImplicitDeny,
}

/// A statement: its `Sid`, or its 0-based index when it has none.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum StatementRef {
    /// The statement's `Sid`.
    Sid(String),
    /// The statement's index in `Statement`.
    Index(usize),
}

/// A decision and its explanation. Serializes to exactly
/// `{"decision": .., "policy": .., "statement": .., "reason": ..}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// Allow, explicit deny or implicit deny.
    #[serde(rename = "decision")]
    pub outcome: Outcome,
    /// The policy that decided; `None` when no policy applied.
    pub policy: Option<PolicyKind>,
    /// The deciding statement; `None` for an implicit deny or when no policy applied.
    pub statement: Option<StatementRef>,
    /// One line a person can act on.
    pub reason: String,
}

/// Decides `ctx` under `policies`.
///
/// See the [module docs](self) for the rules and an example.
pub fn evaluate(policies: &Policies<'_>, ctx: &RequestContext) -> Decision {
    let resource = ctx.resource_arn();
    let who = principal_name(ctx);
    // An anonymous caller has no identity, so no identity-based policy.
    let identity = policies.identity.filter(|_| ctx.caller.is_some());
    let applicable: Vec<(PolicyKind, &Policy)> = [
        (PolicyKind::Network, policies.network),
        (PolicyKind::Service, policies.service),
        (PolicyKind::Identity, identity),
    ]
    .into_iter()
    .filter_map(|(kind, policy)| Some((kind, policy?)))
    .collect();

    // "An explicit deny in any of these policies overrides an allow."
    for &(kind, policy) in &applicable {
        if let Some(statement) = policy.first_match(kind, Effect::Deny, &resource, ctx) {
            return Decision {
                outcome: Outcome::ExplicitDeny,
                policy: Some(kind),
                statement: Some(statement.reference()),
                reason: format!(
                    "statement {} in the {} denies {INVOKE_ACTION} on {resource} for {who}",
                    statement.describe(),
                    kind.describe(),
                ),
            };
        }
    }
    let mut allowed_by = Vec::new();
    for &(kind, policy) in &applicable {
        match policy.first_match(kind, Effect::Allow, &resource, ctx) {
            Some(statement) => allowed_by.push((kind, statement)),
            None => {
                return Decision {
                    outcome: Outcome::ImplicitDeny,
                    policy: Some(kind),
                    statement: None,
                    reason: format!(
                        "no statement in the {} allows {INVOKE_ACTION} on {resource} for {who}",
                        kind.describe()
                    ),
                };
            }
        }
    }
    let explanation = allowed_by
        .iter()
        .map(|(kind, statement)| format!("{} statement {}", kind.describe(), statement.describe()))
        .collect::<Vec<_>>()
        .join(", ");
    // The most specific policy decided: service, then network, then identity.
    let specificity = |kind: PolicyKind| match kind {
        PolicyKind::Service => 0,
        PolicyKind::Network => 1,
        PolicyKind::Identity => 2,
    };
    let Some(&(kind, statement)) = allowed_by.iter().min_by_key(|(kind, _)| specificity(*kind))
    else {
        return Decision {
            outcome: Outcome::Allow,
            policy: None,
            statement: None,
            reason: "no policy applies: auth type NONE on the network and the service, and \
                     no identity-based policy"
                .to_owned(),
        };
    };
    Decision {
        outcome: Outcome::Allow,
        policy: Some(kind),
        statement: Some(statement.reference()),
        reason: format!("{INVOKE_ACTION} on {resource} for {who} is allowed by {explanation}"),
    }
}

fn principal_name(ctx: &RequestContext) -> &str {
    ctx.caller
        .as_ref()
        .map_or("anonymous", |caller| caller.principal_arn.as_str())
}

// === impl Policy ===

impl Policy {
    /// The first statement with `effect` that applies to the request.
    fn first_match(
        &self,
        kind: PolicyKind,
        effect: Effect,
        resource: &str,
        ctx: &RequestContext,
    ) -> Option<&Statement> {
        self.statements.iter().find(|statement| {
            statement.effect == effect && statement.applies(kind, resource, ctx, self.variables)
        })
    }
}

// === impl Statement ===

impl Statement {
    /// Whether principal, action, resource and every condition match.
    fn applies(
        &self,
        kind: PolicyKind,
        resource: &str,
        ctx: &RequestContext,
        variables: bool,
    ) -> bool {
        let caller = ctx.caller.as_ref();
        let principal = match &self.principal {
            // Identity-based policies name no principal: they apply to their identity.
            None => kind == PolicyKind::Identity,
            Some(principals) if principals.negated => {
                !matching::not_principal_names(&principals.value, caller)
            }
            Some(principals) => principals.value.iter().any(|p| p.matches(caller)),
        };
        let action = self
            .action
            .value
            .iter()
            .any(|pattern| matching::wildcard_match(pattern, INVOKE_ACTION, true))
            != self.action.negated;
        let resource = self.resource.value.iter().any(|pattern| {
            // A variable with no value: "there is no equal or like value".
            let pattern = if variables {
                condition::substitute(pattern, ctx)
            } else {
                Some(matching::glob(pattern))
            };
            pattern.is_some_and(|pattern| matching::resource_match(&pattern, resource))
        }) != self.resource.negated;
        principal
            && action
            && resource
            && self
                .conditions
                .iter()
                .all(|condition| condition.holds(ctx, variables))
    }

    fn reference(&self) -> StatementRef {
        match &self.sid {
            Some(sid) => StatementRef::Sid(sid.clone()),
            None => StatementRef::Index(self.index),
        }
    }

    /// `"Sid"` or `#2`.
    fn describe(&self) -> String {
        match &self.sid {
            Some(sid) => format!("\"{sid}\""),
            None => format!("#{}", self.index),
        }
    }
}

// === impl PolicyKind ===

impl PolicyKind {
    /// How reasons name the policy: `network policy`, `service policy`, `identity policy`.
    fn describe(self) -> &'static str {
        match self {
            Self::Network => "network policy",
            Self::Service => "service policy",
            Self::Identity => "identity policy",
        }
    }

    /// The words Lattice's 403 message uses for this level: "network-based" and
    /// "service-based" as seen in real Lattice responses (e.g. "because no
    /// network-based policy allows the vpc-lattice-svcs:Invoke action").
    fn lattice_words(self) -> &'static str {
        match self {
            Self::Network => "network-based",
            Self::Service => "service-based",
            Self::Identity => "identity-based",
        }
    }

    /// The article before [`Self::lattice_words`], as IAM writes it: "with an explicit
    /// deny in an identity-based policy".
    fn lattice_article(self) -> &'static str {
        match self {
            Self::Identity => "an",
            Self::Network | Self::Service => "a",
        }
    }
}

// === impl RequestContext ===

impl RequestContext {
    /// The `query` of a raw query string: `a=1&b=x%20y` is `[("a", "1"), ("b", "x y")]`, in
    /// order, and `+` stays `+` (RFC 3986, not HTML forms). The server and `policy check` both
    /// build their contexts with it, so both see `RequestQueryString/<key>` alike.
    pub fn query_pairs(raw_query: Option<&str>) -> Vec<(String, String)> {
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8_lossy()
                .into_owned()
        };
        raw_query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key), decode(value))
            })
            .collect()
    }

    /// `<service_arn>/<path without the leading slash>`: what `Resource` matches ("Resource
    /// format for auth policies").
    pub fn resource_arn(&self) -> String {
        format!(
            "{}/{}",
            self.service_arn,
            self.path.strip_prefix('/').unwrap_or(&self.path)
        )
    }
}

// === impl Decision ===

impl Decision {
    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// Lattice's 403 message for a deny:
    ///
    /// ```text
    /// User: <principal|anonymous> is not authorized to perform: vpc-lattice-svcs:Invoke
    /// on resource: <arn> because no <network-based|service-based|identity-based> policy
    /// allows the vpc-lattice-svcs:Invoke action
    /// ```
    ///
    /// or `... on resource: <arn> with an explicit deny in a|an <..> policy` (one line
    /// each). `<arn>` is [`RequestContext::resource_arn`].
    pub fn lattice_message(&self, ctx: &RequestContext) -> String {
        let who = principal_name(ctx);
        let resource = ctx.resource_arn();
        let kind = self.policy.unwrap_or(PolicyKind::Service);
        let (article, words) = (kind.lattice_article(), kind.lattice_words());
        match self.outcome {
            Outcome::Allow => {
                format!(
                    "User: {who} is authorized to perform: {INVOKE_ACTION} on resource: {resource}"
                )
            }
            Outcome::ExplicitDeny => format!(
                "User: {who} is not authorized to perform: {INVOKE_ACTION} on resource: \
                 {resource} with an explicit deny in {article} {words} policy"
            ),
            Outcome::ImplicitDeny => format!(
                "User: {who} is not authorized to perform: {INVOKE_ACTION} on resource: \
                 {resource} because no {words} policy allows the {INVOKE_ACTION} action"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_decoded_in_order() {
        assert_eq!(
            RequestContext::query_pairs(Some("b=x%20y&a=1&flag&&c=%2B+")),
            [
                ("b".to_owned(), "x y".to_owned()),
                ("a".to_owned(), "1".to_owned()),
                ("flag".to_owned(), String::new()),
                ("c".to_owned(), "++".to_owned()),
            ]
        );
        assert!(RequestContext::query_pairs(None).is_empty());
    }
}
