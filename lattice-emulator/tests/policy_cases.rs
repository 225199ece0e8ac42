//! Policy cases: each one a set of policies, a request and the expected decision with its
//! deciding statement, citing the documentation rule it checks. Then the policies the
//! engine must refuse, each with its message.
//!
//! Sources: Lattice User Guide, "Control access to VPC Lattice services using auth
//! policies" (LATTICE); IAM User Guide, "IAM JSON policy elements" pages (IAM) and
//! "Policy evaluation logic" (IAM-EVAL).

use std::time::{Duration, SystemTime};

use lattice_emulator::policy::{
    Caller, Decision, Outcome, Policies, Policy, PolicyKind, RequestContext, evaluate,
};
use serde_json::{Value, json};

/// 2026-06-01T12:00:00Z.
const NOW_EPOCH: u64 = 1_780_315_200;
const SERVICE: &str = "arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0123";
const NETWORK: &str = "arn:aws:vpc-lattice:us-west-2:123456789012:servicenetwork/sn-0123";
const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/app/s1";
const USER: &str = "arn:aws:iam::111122223333:user/alice";

const EVAL: &str = "LATTICE, How authorization works; IAM-EVAL, Determining whether a request is allowed or denied within an account";
const PRINCIPAL: &str =
    "IAM, Principal: AWS account principals / IAM role principals / IAM user principals";
const ANONYMOUS: &str =
    "LATTICE, Anonymous (unauthenticated) principals; IAM, Principal: All principals";
const ACTION: &str =
    "IAM, Action / NotAction; Service Authorization Reference, vpc-lattice-svcs actions";
const RESOURCE: &str = "LATTICE, Resource format for auth policies; IAM, Resource / NotResource";
const OPERATORS: &str = "IAM, Condition operators";
const ABSENT: &str =
    "IAM, Condition operators: a key that is not present (negated operators match)";
const IF_EXISTS: &str = "IAM, Condition operators: ...IfExists condition operators";
const NULL: &str =
    "IAM, Condition operators: Condition operator to check existence of condition keys";
const SETS: &str = "IAM, Single-valued vs. multivalued context keys (ForAnyValue / ForAllValues)";
const NULL_DATASET: &str = "IAM, Single-valued vs. multivalued context keys: ForAllValues \"also returns true if ... the context key value resolves to a null dataset, such as an empty string\"; Null false checks \"the context key exists and its value is not null\"";
const MULTIPLE: &str = "IAM, Condition: Creating a condition with multiple keys or values";
const LATTICE_KEYS: &str = "LATTICE, Condition keys that can be used in auth policies";
const GLOBAL_KEYS: &str = "IAM, AWS global condition context keys";
const VARIABLES: &str = "IAM, IAM policy elements: Variables and tags";
const NOT_PRINCIPAL: &str = "IAM, NotPrincipal: Key points (\"you must also specify the account ARN of the principal that isn't denied\"; AWS validates the account, then the role, then the assumed-role user)";
const RESOURCE_WILDCARDS: &str = "IAM, Resource: Using wildcards in resource ARNs (\"If the * wildcard is the last character of a resource ARN segment, it can expand to match beyond the colon boundaries\")";
const NO_VALUE: &str = "IAM, Variables and tags: Policy variables with no value (\"There is no equal or like value\"; \"Inverted condition operators like StringNotEquals or StringNotLike do match against a null value\")";
const SPECIAL: &str = "IAM, Variables and tags: special characters (${*} is a literal *)";

/// One case: policies (statement lists, or whole documents), a change to the default
/// request, and the expected decision.
struct Case {
    name: &'static str,
    doc: &'static str,
    network: Option<String>,
    service: Option<String>,
    identity: Option<String>,
    request: fn(&mut RequestContext),
    expected: Value,
}

fn case(name: &'static str, doc: &'static str) -> Case {
    Case {
        name,
        doc,
        network: None,
        service: None,
        identity: None,
        request: |_| {},
        expected: Value::Null,
    }
}

impl Case {
    fn network(mut self, statements: impl Into<String>) -> Self {
        self.network = Some(statements.into());
        self
    }
    fn service(mut self, statements: impl Into<String>) -> Self {
        self.service = Some(statements.into());
        self
    }
    fn identity(mut self, statements: impl Into<String>) -> Self {
        self.identity = Some(statements.into());
        self
    }
    fn request(mut self, change: fn(&mut RequestContext)) -> Self {
        self.request = change;
        self
    }
    fn allows(self, policy: &str, statement: Value) -> Self {
        self.expect("allow", json!(policy), statement)
    }
    fn allows_without_policy(self) -> Self {
        self.expect("allow", Value::Null, Value::Null)
    }
    fn denies(self, policy: &str, statement: Value) -> Self {
        self.expect("explicit_deny", json!(policy), statement)
    }
    fn implicitly_denies(self, policy: &str) -> Self {
        self.expect("implicit_deny", json!(policy), Value::Null)
    }
    fn expect(mut self, decision: &str, policy: Value, statement: Value) -> Self {
        self.expected = json!({"decision": decision, "policy": policy, "statement": statement});
        self
    }
}

/// A whole document when it starts with `{`, else the inside of `"Statement": [..]`.
fn document(text: &str) -> String {
    if text.trim_start().starts_with('{') && text.contains("\"Version\"") {
        text.to_owned()
    } else {
        format!(r#"{{"Version": "2012-10-17", "Statement": [{text}]}}"#)
    }
}

fn allow_all() -> String {
    statement(
        "All",
        "Allow",
        r#""*""#,
        r#""vpc-lattice-svcs:Invoke""#,
        r#""*""#,
        "",
    )
}
fn deny_all() -> String {
    statement("NoOne", "Deny", r#""*""#, r#""*""#, r#""*""#, "")
}
/// `Allow` for everyone when `condition` (the inside of `"Condition": {..}`) holds.
fn allow_if(condition: &str) -> String {
    statement(
        "Cond",
        "Allow",
        r#""*""#,
        r#""vpc-lattice-svcs:Invoke""#,
        r#""*""#,
        condition,
    )
}
fn allow_principal(principal: &str) -> String {
    statement(
        "P",
        "Allow",
        principal,
        r#""vpc-lattice-svcs:Invoke""#,
        r#""*""#,
        "",
    )
}
fn allow_action(action_element: &str) -> String {
    format!(
        r#"{{"Sid": "A", "Effect": "Allow", "Principal": "*", {action_element}, "Resource": "*"}}"#
    )
}
fn allow_resource(resource_element: &str) -> String {
    format!(
        r#"{{"Sid": "R", "Effect": "Allow", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", {resource_element}}}"#
    )
}
/// An identity-based statement (no Principal).
fn identity_statement(sid: &str, effect: &str) -> String {
    format!(
        r#"{{"Sid": "{sid}", "Effect": "{effect}", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}}"#
    )
}
fn statement(
    sid: &str,
    effect: &str,
    principal: &str,
    action: &str,
    resource: &str,
    condition: &str,
) -> String {
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!(r#", "Condition": {{{condition}}}"#)
    };
    format!(
        r#"{{"Sid": "{sid}", "Effect": "{effect}", "Principal": {principal}, "Action": {action}, "Resource": {resource}{condition}}}"#
    )
}

/// GET https://<orders>/orders/7?id=7&tag=a&tag=b from the `app` role's session `s1`.
fn request() -> RequestContext {
    RequestContext {
        caller: Some(Caller {
            principal_arn: SESSION.to_owned(),
            org_id: Some("o-abc123".to_owned()),
            org_paths: vec!["o-abc123/r-ab12/ou-ab12-11111111/".to_owned()],
            tags: [("team", "payments"), ("env", "prod")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }),
        method: "GET".to_owned(),
        path: "/orders/7".to_owned(),
        query: [("id", "7"), ("tag", "a"), ("tag", "b")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-team".to_owned(), "payments".to_owned()),
        ],
        port: 443,
        service_arn: SERVICE.to_owned(),
        service_network_arn: Some(NETWORK.to_owned()),
        source_vpc: Some("vpc-0123".to_owned()),
        source_vpc_owner_account: Some("111122223333".to_owned()),
        source_ip: Some("10.0.1.5".parse().expect("an IP")),
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_EPOCH),
        secure_transport: true,
    }
}

fn anonymous(r: &mut RequestContext) {
    r.caller = None;
}
fn as_user(r: &mut RequestContext) {
    if let Some(caller) = r.caller.as_mut() {
        caller.principal_arn = USER.to_owned();
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // --- Principal ---
        case("principal * allows a signed caller", PRINCIPAL).service(allow_principal(r#""*""#)).allows("service", json!("P")),
        case("principal AWS * allows a signed caller", PRINCIPAL).service(allow_principal(r#"{"AWS": "*"}"#)).allows("service", json!("P")),
        case("an account ID matches every principal in it", PRINCIPAL).service(allow_principal(r#"{"AWS": "111122223333"}"#)).allows("service", json!("P")),
        case("another account does not match", PRINCIPAL).service(allow_principal(r#"{"AWS": "444455556666"}"#)).implicitly_denies("service"),
        case("the account root ARN matches every principal in it", PRINCIPAL).service(allow_principal(r#"{"AWS": "arn:aws:iam::111122223333:root"}"#)).allows("service", json!("P")),
        case("a role ARN matches the role's assumed-role sessions", PRINCIPAL).service(allow_principal(r#"{"AWS": "arn:aws:iam::111122223333:role/app"}"#)).allows("service", json!("P")),
        case("a role ARN with a path matches its sessions (sessions carry no path)", PRINCIPAL).service(allow_principal(r#"{"AWS": "arn:aws:iam::111122223333:role/team/app"}"#)).allows("service", json!("P")),
        case("another role does not match", PRINCIPAL).service(allow_principal(r#"{"AWS": "arn:aws:iam::111122223333:role/other"}"#)).implicitly_denies("service"),
        case("a role of the same name in another account does not match", PRINCIPAL).service(allow_principal(r#"{"AWS": "arn:aws:iam::444455556666:role/app"}"#)).implicitly_denies("service"),
        case("a user ARN matches that user", PRINCIPAL).service(allow_principal(r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#)).request(as_user).allows("service", json!("P")),
        case("a user ARN does not match a role session", PRINCIPAL).service(allow_principal(r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#)).implicitly_denies("service"),
        case("a list of principals: any one matches", PRINCIPAL).service(allow_principal(r#"{"AWS": ["444455556666", "arn:aws:iam::111122223333:role/app"]}"#)).allows("service", json!("P")),
        case("NotPrincipal: a deny skips the listed role and its account", NOT_PRINCIPAL).service(format!(r#"{{"Sid": "OnlyApp", "Effect": "Deny", "NotPrincipal": {{"AWS": ["arn:aws:iam::111122223333:role/app", "111122223333"]}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).allows("service", json!("All")),
        case("NotPrincipal: the IAM example's session, role and account exempt the session", NOT_PRINCIPAL).service(format!(r#"{{"Sid": "OnlyApp", "Effect": "Deny", "NotPrincipal": {{"AWS": ["{SESSION}", "arn:aws:iam::111122223333:role/app", "arn:aws:iam::111122223333:root"]}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).allows("service", json!("All")),
        case("NotPrincipal: a session ARN and its account without the role still deny", NOT_PRINCIPAL).service(format!(r#"{{"Sid": "OnlyApp", "Effect": "Deny", "NotPrincipal": {{"AWS": ["{SESSION}", "arn:aws:iam::111122223333:root"]}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).denies("service", json!("OnlyApp")),
        case("NotPrincipal: naming the role without its account still denies the role", NOT_PRINCIPAL).service(format!(r#"{{"Sid": "OnlyApp", "Effect": "Deny", "NotPrincipal": {{"AWS": "arn:aws:iam::111122223333:role/app"}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).denies("service", json!("OnlyApp")),
        case("NotPrincipal: naming only the account does not exempt its roles", NOT_PRINCIPAL).service(format!(r#"{{"Sid": "OnlyRoot", "Effect": "Deny", "NotPrincipal": {{"AWS": "111122223333"}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).denies("service", json!("OnlyRoot")),
        case("NotPrincipal: the account root is exempt when its account is named", NOT_PRINCIPAL).service(format!(r#"{{"Sid": "OnlyRoot", "Effect": "Deny", "NotPrincipal": {{"AWS": "arn:aws:iam::111122223333:root"}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).request(|r| { if let Some(c) = r.caller.as_mut() { c.principal_arn = "arn:aws:iam::111122223333:root".into(); } }).allows("service", json!("All")),
        case("NotPrincipal: a user and its account exempt the user", NOT_PRINCIPAL).service(format!(r#"{{"Sid": "OnlyAlice", "Effect": "Deny", "NotPrincipal": {{"AWS": ["{USER}", "111122223333"]}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).request(as_user).allows("service", json!("All")),
        case("NotPrincipal: a deny hits everyone else", "IAM, NotPrincipal").service(format!(r#"{{"Sid": "OnlyApp", "Effect": "Deny", "NotPrincipal": {{"AWS": "arn:aws:iam::111122223333:role/app"}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).request(as_user).denies("service", json!("OnlyApp")),

        // --- Anonymous callers ---
        case("anonymous: Principal * with no condition lets an unsigned request in", ANONYMOUS).service(allow_principal(r#""*""#)).request(anonymous).allows("service", json!("P")),
        case("anonymous: Principal AWS * lets an unsigned request in", ANONYMOUS).service(allow_principal(r#"{"AWS": "*"}"#)).request(anonymous).allows("service", json!("P")),
        case("anonymous: an account principal does not match", ANONYMOUS).service(allow_principal(r#"{"AWS": "111122223333"}"#)).request(anonymous).implicitly_denies("service"),
        case("anonymous: the identity-based policy does not apply", ANONYMOUS).service(allow_all()).identity(identity_statement("Nope", "Deny")).request(anonymous).allows("service", json!("All")),
        case("anonymous: a NotPrincipal deny covers the anonymous caller", ANONYMOUS).service(format!(r#"{{"Sid": "SignedOnly", "Effect": "Deny", "NotPrincipal": {{"AWS": "111122223333"}}, "Action": "*", "Resource": "*"}}, {}"#, allow_all())).request(anonymous).denies("service", json!("SignedOnly")),
        case("anonymous: aws:PrincipalType is Anonymous (the Lattice authenticated-only example)", "LATTICE, Example auth policies: authenticated requests only").service(allow_if(r#""StringNotEqualsIgnoreCase": {"aws:PrincipalType": "anonymous"}"#)).request(anonymous).implicitly_denies("service"),
        case("anonymous: the authenticated-only example admits a signed caller", "LATTICE, Example auth policies: authenticated requests only").service(allow_if(r#""StringNotEqualsIgnoreCase": {"aws:PrincipalType": "anonymous"}"#)).allows("service", json!("Cond")),

        // --- Action / NotAction ---
        case("vpc-lattice-svcs:* covers Invoke", ACTION).service(allow_action(r#""Action": "vpc-lattice-svcs:*""#)).allows("service", json!("A")),
        case("* covers Invoke", ACTION).service(allow_action(r#""Action": "*""#)).allows("service", json!("A")),
        case("actions are case-insensitive", ACTION).service(allow_action(r#""Action": "VPC-Lattice-Svcs:INVOKE""#)).allows("service", json!("A")),
        case("another action does not cover Invoke", ACTION).service(allow_action(r#""Action": "vpc-lattice-svcs:Connect""#)).implicitly_denies("service"),
        case("a list of actions: any one matches", ACTION).service(allow_action(r#""Action": ["s3:GetObject", "vpc-lattice-svcs:Invoke"]"#)).allows("service", json!("A")),
        case("NotAction of another action covers Invoke", ACTION).service(allow_action(r#""NotAction": "vpc-lattice-svcs:Connect""#)).allows("service", json!("A")),
        case("NotAction vpc-lattice-svcs:* excludes Invoke", ACTION).service(allow_action(r#""NotAction": "vpc-lattice-svcs:*""#)).implicitly_denies("service"),

        // --- Resource / NotResource ---
        case("the service ARN with /* covers every path", RESOURCE).service(allow_resource(&format!(r#""Resource": "{SERVICE}/*""#))).allows("service", json!("R")),
        case("the bare service ARN does not cover a request path", RESOURCE).service(allow_resource(&format!(r#""Resource": "{SERVICE}""#))).implicitly_denies("service"),
        case("a path pattern covers the paths below it", RESOURCE).service(allow_resource(&format!(r#""Resource": "{SERVICE}/orders/*""#))).allows("service", json!("R")),
        case("a path pattern does not cover other paths", RESOURCE).service(allow_resource(&format!(r#""Resource": "{SERVICE}/orders/*""#))).request(|r| r.path = "/admin/users".into()).implicitly_denies("service"),
        case("? matches exactly one character", RESOURCE).service(allow_resource(&format!(r#""Resource": "{SERVICE}/orders/?""#))).allows("service", json!("R")),
        case("? does not match two characters", RESOURCE).service(allow_resource(&format!(r#""Resource": "{SERVICE}/orders/?""#))).request(|r| r.path = "/orders/42".into()).implicitly_denies("service"),
        case("wildcards in the region and account parts", RESOURCE).service(allow_resource(r#""Resource": "arn:aws:vpc-lattice:*:*:service/svc-0123/*""#)).allows("service", json!("R")),
        case("another service ID does not match", RESOURCE).service(allow_resource(r#""Resource": "arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-9999/*""#)).implicitly_denies("service"),
        case("resource paths are case-sensitive", RESOURCE).service(allow_resource(&format!(r#""Resource": "{SERVICE}/Orders/*""#))).implicitly_denies("service"),
        case("NotResource of another path covers this one", RESOURCE).service(allow_resource(&format!(r#""NotResource": "{SERVICE}/admin*""#))).allows("service", json!("R")),
        case("a * ending a segment spans the colons after it", RESOURCE_WILDCARDS).service(allow_resource(r#""Resource": "arn:aws:vpc-lattice:*""#)).allows("service", json!("R")),
        case("a region then a trailing * covers that region's services", RESOURCE_WILDCARDS).service(allow_resource(r#""Resource": "arn:aws:vpc-lattice:us-west-2:*""#)).allows("service", json!("R")),
        case("another region then a trailing * does not", RESOURCE_WILDCARDS).service(allow_resource(r#""Resource": "arn:aws:vpc-lattice:us-east-1:*""#)).implicitly_denies("service"),
        case("a * inside a segment, not at its end, stays within it", RESOURCE_WILDCARDS).service(allow_resource(r#""Resource": "arn:aws:vpc-lattice:*2:service/svc-0123/*""#)).implicitly_denies("service"),
        case("a Deny on arn:aws:vpc-lattice:* denies", RESOURCE_WILDCARDS).service(format!(r#"{}, {{"Sid": "Lockdown", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "arn:aws:vpc-lattice:*"}}"#, allow_all())).denies("service", json!("Lockdown")),
        case("NotResource of this path excludes it", RESOURCE).service(allow_resource(&format!(r#""NotResource": ["{SERVICE}/admin*", "{SERVICE}/orders/*"]"#))).implicitly_denies("service"),

        // --- Evaluation across policies ---
        case("an explicit deny beats an allow in the same policy", EVAL).service(format!("{}, {}", allow_all(), deny_all())).denies("service", json!("NoOne")),
        case("a deny in the network policy beats an allow in the service policy", EVAL).network(deny_all()).service(allow_all()).denies("network", json!("NoOne")),
        case("a deny in the service policy beats an allow in the network policy", EVAL).network(allow_all()).service(deny_all()).denies("service", json!("NoOne")),
        case("network allows but the service policy has no allow", EVAL).network(allow_all()).service(allow_principal(r#"{"AWS": "444455556666"}"#)).implicitly_denies("service"),
        case("the service allows but the network policy has no allow", EVAL).network(allow_principal(r#"{"AWS": "444455556666"}"#)).service(allow_all()).implicitly_denies("network"),
        case("both allow: the service policy is reported", EVAL).network(allow_all()).service(allow_principal(r#""*""#)).allows("service", json!("P")),
        case("network auth type NONE: only the service policy counts", EVAL).service(allow_all()).allows("service", json!("All")),
        case("service auth type NONE: only the network policy counts", EVAL).network(allow_all()).allows("network", json!("All")),
        case("auth type NONE everywhere and no identity policy: allowed, nothing decided", EVAL).allows_without_policy(),
        case("the identity-based policy must allow too", EVAL).service(allow_all()).identity(identity_statement("Other", "Deny").replace("vpc-lattice-svcs:Invoke", "s3:GetObject")).implicitly_denies("identity"),
        case("an explicit deny in the identity-based policy wins", EVAL).network(allow_all()).service(allow_all()).identity(identity_statement("NoLattice", "Deny")).denies("identity", json!("NoLattice")),
        case("identity policy alone, allowing", EVAL).identity(identity_statement("CallLattice", "Allow")).allows("identity", json!("CallLattice")),
        case("all three allow", EVAL).network(allow_all()).service(allow_principal(r#""*""#)).identity(identity_statement("CallLattice", "Allow")).allows("service", json!("P")),
        case("a statement without Sid is reported by its index", EVAL).service(format!(r#"{}, {{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "{SERVICE}/orders/*"}}"#, allow_all())).denies("service", json!(1)),
        case("a statement that does not match is skipped, not a deny", EVAL).service(format!(r#"{{"Sid": "AdminOnly", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "{SERVICE}/admin/*"}}, {}"#, allow_all())).allows("service", json!("All")),

        // --- String operators ---
        case("StringEquals matches", OPERATORS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}"#)).allows("service", json!("Cond")),
        case("StringEquals values are case-sensitive", OPERATORS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestMethod": "get"}"#)).implicitly_denies("service"),
        case("StringNotEquals", OPERATORS).service(allow_if(r#""StringNotEquals": {"vpc-lattice-svcs:RequestMethod": "POST"}"#)).allows("service", json!("Cond")),
        case("StringEqualsIgnoreCase", OPERATORS).service(allow_if(r#""StringEqualsIgnoreCase": {"vpc-lattice-svcs:RequestMethod": "get"}"#)).allows("service", json!("Cond")),
        case("StringNotEqualsIgnoreCase", OPERATORS).service(allow_if(r#""StringNotEqualsIgnoreCase": {"vpc-lattice-svcs:RequestMethod": "get"}"#)).implicitly_denies("service"),
        case("StringLike with *", OPERATORS).service(allow_if(r#""StringLike": {"vpc-lattice-svcs:RequestPath": "/orders/*"}"#)).allows("service", json!("Cond")),
        case("StringNotLike", OPERATORS).service(allow_if(r#""StringNotLike": {"vpc-lattice-svcs:RequestPath": "/admin*"}"#)).allows("service", json!("Cond")),
        case("StringNotLike on a matching value", OPERATORS).service(allow_if(r#""StringNotLike": {"vpc-lattice-svcs:RequestPath": "/orders/?"}"#)).implicitly_denies("service"),

        // --- Several values, keys, operators ---
        case("several values for one key: OR", MULTIPLE).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestMethod": ["POST", "GET"]}"#)).allows("service", json!("Cond")),
        case("several keys under one operator: AND", MULTIPLE).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET", "vpc-lattice-svcs:RequestPath": "/admin"}"#)).implicitly_denies("service"),
        case("several operators: AND", MULTIPLE).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}, "NumericEquals": {"vpc-lattice-svcs:Port": "8443"}"#)).implicitly_denies("service"),
        case("several operators all holding", MULTIPLE).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"}, "NumericEquals": {"vpc-lattice-svcs:Port": 443}"#)).allows("service", json!("Cond")),

        // --- ARN operators ---
        case("ArnLike on aws:PrincipalArn", OPERATORS).service(allow_if(r#""ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/a*"}"#)).allows("service", json!("Cond")),
        case("ArnEquals on vpc-lattice-svcs:ServiceArn", OPERATORS).service(allow_if(&format!(r#""ArnEquals": {{"vpc-lattice-svcs:ServiceArn": "{SERVICE}"}}"#))).allows("service", json!("Cond")),
        case("ArnNotEquals on vpc-lattice-svcs:ServiceNetworkArn", OPERATORS).service(allow_if(r#""ArnNotEquals": {"vpc-lattice-svcs:ServiceNetworkArn": "arn:aws:vpc-lattice:us-west-2:123456789012:servicenetwork/sn-other"}"#)).allows("service", json!("Cond")),
        case("ArnNotLike on a matching ARN", OPERATORS).service(allow_if(r#""ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app"}"#)).implicitly_denies("service"),
        case("ArnLike compares each ARN part: * does not cross a colon", OPERATORS).service(allow_if(r#""ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}"#)).implicitly_denies("service"),

        // --- Numeric operators ---
        case("NumericEquals on the port", OPERATORS).service(allow_if(r#""NumericEquals": {"vpc-lattice-svcs:Port": "443"}"#)).allows("service", json!("Cond")),
        case("NumericNotEquals", OPERATORS).service(allow_if(r#""NumericNotEquals": {"vpc-lattice-svcs:Port": "80"}"#)).allows("service", json!("Cond")),
        case("NumericLessThan", OPERATORS).service(allow_if(r#""NumericLessThan": {"vpc-lattice-svcs:Port": "1024"}"#)).allows("service", json!("Cond")),
        case("NumericLessThanEquals at the bound", OPERATORS).service(allow_if(r#""NumericLessThanEquals": {"vpc-lattice-svcs:Port": "443"}"#)).allows("service", json!("Cond")),
        case("NumericGreaterThan", OPERATORS).service(allow_if(r#""NumericGreaterThan": {"vpc-lattice-svcs:Port": "443"}"#)).implicitly_denies("service"),
        case("NumericGreaterThanEquals", OPERATORS).service(allow_if(r#""NumericGreaterThanEquals": {"vpc-lattice-svcs:Port": "8443"}"#)).implicitly_denies("service"),

        // --- Date operators (aws:CurrentTime, aws:EpochTime) ---
        case("DateGreaterThan on aws:CurrentTime", OPERATORS).service(allow_if(r#""DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}"#)).allows("service", json!("Cond")),
        case("DateLessThan on aws:CurrentTime", OPERATORS).service(allow_if(r#""DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}"#)).implicitly_denies("service"),
        case("DateEquals on aws:EpochTime", OPERATORS).service(allow_if(r#""DateEquals": {"aws:EpochTime": "1780315200"}"#)).allows("service", json!("Cond")),
        case("DateNotEquals", OPERATORS).service(allow_if(r#""DateNotEquals": {"aws:CurrentTime": "2026-06-01T12:00:00Z"}"#)).implicitly_denies("service"),
        case("DateLessThanEquals at the bound", OPERATORS).service(allow_if(r#""DateLessThanEquals": {"aws:CurrentTime": "2026-06-01T12:00:00Z"}"#)).allows("service", json!("Cond")),
        case("a date without a time is midnight UTC", OPERATORS).service(allow_if(r#""DateGreaterThan": {"aws:CurrentTime": "2026-06-01"}"#)).allows("service", json!("Cond")),
        case("a W3C ISO 8601 time without seconds", "IAM, Condition operators: Date condition operators (W3C implementations of ISO 8601)").service(allow_if(r#""DateLessThan": {"aws:CurrentTime": "2026-06-01T12:01Z"}"#)).allows("service", json!("Cond")),
        case("a W3C ISO 8601 year and month", "IAM, Condition operators: Date condition operators (W3C implementations of ISO 8601)").service(allow_if(r#""DateGreaterThan": {"aws:CurrentTime": "2026-06"}"#)).allows("service", json!("Cond")),
        case("a W3C ISO 8601 time with an offset", "IAM, Condition operators: Date condition operators (W3C implementations of ISO 8601)").service(allow_if(r#""DateLessThan": {"aws:CurrentTime": "2026-06-01T13:59+02:00"}"#)).implicitly_denies("service"),
        case("DateGreaterThanEquals with an epoch value", OPERATORS).service(allow_if(r#""DateGreaterThanEquals": {"aws:EpochTime": 1780315201}"#)).implicitly_denies("service"),

        // --- Bool, IP ---
        case("Bool on aws:SecureTransport over HTTPS", OPERATORS).service(allow_if(r#""Bool": {"aws:SecureTransport": "true"}"#)).allows("service", json!("Cond")),
        case("Bool on aws:SecureTransport over plain HTTP", OPERATORS).service(allow_if(r#""Bool": {"aws:SecureTransport": true}"#)).request(|r| r.secure_transport = false).implicitly_denies("service"),
        case("Bool on aws:PrincipalIsAWSService: callers are not services", GLOBAL_KEYS).service(allow_if(r#""Bool": {"aws:PrincipalIsAWSService": "false"}"#)).allows("service", json!("Cond")),
        case("IpAddress with a CIDR block", OPERATORS).service(allow_if(r#""IpAddress": {"aws:SourceIp": "10.0.0.0/16"}"#)).allows("service", json!("Cond")),
        case("IpAddress outside the block", OPERATORS).service(allow_if(r#""IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "10.9.0.0/16"]}"#)).implicitly_denies("service"),
        case("IpAddress with an IPv6 block", OPERATORS).service(allow_if(r#""IpAddress": {"aws:SourceIp": "2001:db8::/32"}"#)).request(|r| r.source_ip = Some("2001:db8::7".parse().expect("an IP"))).allows("service", json!("Cond")),
        case("an IPv4-mapped IPv6 source is its IPv4 address", OPERATORS).service(allow_if(r#""IpAddress": {"aws:SourceIp": "10.0.0.0/16"}"#)).request(|r| r.source_ip = Some("::ffff:10.0.1.5".parse().expect("an IP"))).allows("service", json!("Cond")),
        case("NotIpAddress", OPERATORS).service(allow_if(r#""NotIpAddress": {"aws:SourceIp": "10.0.0.0/16"}"#)).implicitly_denies("service"),

        // --- Absent keys ---
        case("absent key: a positive operator is false", ABSENT).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestHeader/x-env": "prod"}"#)).implicitly_denies("service"),
        case("absent key: StringNotEquals is true", ABSENT).service(allow_if(r#""StringNotEquals": {"vpc-lattice-svcs:RequestHeader/x-env": "prod"}"#)).allows("service", json!("Cond")),
        case("absent key: StringNotLike is true", ABSENT).service(allow_if(r#""StringNotLike": {"vpc-lattice-svcs:RequestQueryString/debug": "*"}"#)).allows("service", json!("Cond")),
        case("absent key: IpAddress is false", ABSENT).service(allow_if(r#""IpAddress": {"aws:SourceIp": "0.0.0.0/0"}"#)).request(|r| r.source_ip = None).implicitly_denies("service"),
        case("absent key: NotIpAddress is true", ABSENT).service(allow_if(r#""NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}"#)).request(|r| r.source_ip = None).allows("service", json!("Cond")),
        case("absent key: ArnNotLike is true", ABSENT).service(allow_if(r#""ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}"#)).request(anonymous).allows("service", json!("Cond")),

        // --- IfExists, Null ---
        case("StringEqualsIfExists: absent key is true", IF_EXISTS).service(allow_if(r#""StringEqualsIfExists": {"vpc-lattice-svcs:RequestHeader/x-env": "prod"}"#)).allows("service", json!("Cond")),
        case("StringEqualsIfExists: a present key is compared", IF_EXISTS).service(allow_if(r#""StringEqualsIfExists": {"vpc-lattice-svcs:RequestHeader/x-team": "ops"}"#)).implicitly_denies("service"),
        case("NumericLessThanIfExists on a present key", IF_EXISTS).service(allow_if(r#""NumericLessThanIfExists": {"vpc-lattice-svcs:Port": 1024}"#)).allows("service", json!("Cond")),
        case("Null false: the key is present", NULL).service(allow_if(r#""Null": {"vpc-lattice-svcs:SourceVpc": "false"}"#)).allows("service", json!("Cond")),
        case("Null true on a present key", NULL).service(allow_if(r#""Null": {"aws:PrincipalOrgID": "true"}"#)).implicitly_denies("service"),
        case("Null true: an anonymous caller has no aws:PrincipalArn", NULL).service(allow_if(r#""Null": {"aws:PrincipalArn": "true"}"#)).request(anonymous).allows("service", json!("Cond")),

        // --- Set operators ---
        case("ForAnyValue: one query value matches", SETS).service(allow_if(r#""ForAnyValue:StringEquals": {"vpc-lattice-svcs:RequestQueryString/tag": ["b", "z"]}"#)).allows("service", json!("Cond")),
        case("ForAllValues: every query value is allowed", SETS).service(allow_if(r#""ForAllValues:StringEquals": {"vpc-lattice-svcs:RequestQueryString/tag": ["a", "b", "c"]}"#)).allows("service", json!("Cond")),
        case("ForAllValues: one query value is not allowed", SETS).service(allow_if(r#""ForAllValues:StringEquals": {"vpc-lattice-svcs:RequestQueryString/tag": ["a"]}"#)).implicitly_denies("service"),
        case("ForAllValues: an absent key is true", SETS).service(allow_if(r#""ForAllValues:StringEquals": {"vpc-lattice-svcs:RequestQueryString/none": ["a"]}"#)).allows("service", json!("Cond")),
        case("ForAnyValue with IfExists: an absent key is true", "IAM, Condition operators: ...IfExists; IAM, Single-valued vs. multivalued context keys").service(allow_if(r#""ForAnyValue:StringEqualsIfExists": {"vpc-lattice-svcs:RequestQueryString/none": ["a"]}"#)).allows("service", json!("Cond")),
        case("ForAnyValue: an absent key is false", SETS).service(allow_if(r#""ForAnyValue:StringEquals": {"vpc-lattice-svcs:RequestQueryString/none": ["a"]}"#)).implicitly_denies("service"),
        case("ForAllValues: a key whose value is an empty string is a null dataset: true", NULL_DATASET).service(allow_if(r#""ForAllValues:StringEquals": {"vpc-lattice-svcs:RequestHeader/x-empty": "a"}"#)).request(|r| r.headers.push(("x-empty".into(), String::new()))).allows("service", json!("Cond")),
        case("ForAnyValue: a null dataset is false", NULL_DATASET).service(allow_if(r#""ForAnyValue:StringEquals": {"vpc-lattice-svcs:RequestHeader/x-empty": ""}"#)).request(|r| r.headers.push(("x-empty".into(), String::new()))).implicitly_denies("service"),
        case("Null false: an empty value is null", NULL_DATASET).service(allow_if(r#""Null": {"vpc-lattice-svcs:RequestHeader/x-empty": "false"}"#)).request(|r| r.headers.push(("x-empty".into(), String::new()))).implicitly_denies("service"),
        case("an empty value is still a value for StringEquals", OPERATORS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestHeader/x-empty": ""}"#)).request(|r| r.headers.push(("x-empty".into(), String::new()))).allows("service", json!("Cond")),
        case("ForAnyValue:StringLike on aws:PrincipalOrgPaths", SETS).service(allow_if(r#""ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc123/r-ab12/ou-ab12-11111111/*"}"#)).allows("service", json!("Cond")),
        case("ForAllValues:StringNotEquals on query values", SETS).service(allow_if(r#""ForAllValues:StringNotEquals": {"vpc-lattice-svcs:RequestQueryString/tag": "b"}"#)).implicitly_denies("service"),

        // --- Lattice keys ---
        case("RequestHeader names are case-insensitive", LATTICE_KEYS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestHeader/X-Team": "payments"}"#)).allows("service", json!("Cond")),
        case("RequestHeader values are case-sensitive", LATTICE_KEYS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "Payments"}"#)).implicitly_denies("service"),
        case("RequestQueryString/<key>", LATTICE_KEYS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestQueryString/id": "7"}"#)).allows("service", json!("Cond")),
        case("SourceVpc", LATTICE_KEYS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:SourceVpc": "vpc-0123"}"#)).allows("service", json!("Cond")),
        case("SourceVpcOwnerAccount", LATTICE_KEYS).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:SourceVpcOwnerAccount": "444455556666"}"#)).implicitly_denies("service"),
        case("ServiceNetworkArn in the network policy", LATTICE_KEYS).network(allow_if(&format!(r#""ArnEquals": {{"vpc-lattice-svcs:ServiceNetworkArn": "{NETWORK}"}}"#))).allows("network", json!("Cond")),
        case("a network policy is evaluated with the same request path", LATTICE_KEYS).network(allow_resource(r#""Resource": "arn:aws:vpc-lattice:us-west-2:123456789012:service/*/orders/*""#)).service(allow_all()).request(|r| r.path = "/admin".into()).implicitly_denies("network"),

        // --- Global keys ---
        case("aws:PrincipalAccount", GLOBAL_KEYS).service(allow_if(r#""StringEquals": {"aws:PrincipalAccount": "111122223333"}"#)).allows("service", json!("Cond")),
        case("aws:PrincipalOrgID", GLOBAL_KEYS).service(allow_if(r#""StringEquals": {"aws:PrincipalOrgID": "o-abc123"}"#)).allows("service", json!("Cond")),
        case("aws:PrincipalTag/<key>", "LATTICE, Principal tags; IAM, AWS global condition context keys").service(allow_if(r#""StringEquals": {"aws:PrincipalTag/team": "payments"}"#)).allows("service", json!("Cond")),
        case("aws:PrincipalTag of another value", "LATTICE, Principal tags").service(allow_if(r#""StringEquals": {"aws:PrincipalTag/env": "dev"}"#)).implicitly_denies("service"),
        case("aws:PrincipalType of a role session", GLOBAL_KEYS).service(allow_if(r#""StringEquals": {"aws:PrincipalType": "AssumedRole"}"#)).allows("service", json!("Cond")),
        case("aws:PrincipalType of a user", GLOBAL_KEYS).service(allow_if(r#""StringEquals": {"aws:PrincipalType": "User"}"#)).request(as_user).allows("service", json!("Cond")),
        case("aws:PrincipalArn of a role session is the role's ARN", "IAM, AWS global condition context keys: aws:PrincipalArn (role)").service(allow_if(r#""StringEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/app"}"#)).allows("service", json!("Cond")),
        case("aws:PrincipalArn is never the session ARN", "IAM, AWS global condition context keys: aws:PrincipalArn (role)").service(allow_if(&format!(r#""StringEquals": {{"aws:PrincipalArn": "{SESSION}"}}"#))).implicitly_denies("service"),
        case("aws:PrincipalArn of a user is the user's ARN", GLOBAL_KEYS).service(allow_if(&format!(r#""StringEquals": {{"aws:PrincipalArn": "{USER}"}}"#))).request(as_user).allows("service", json!("Cond")),
        case("an unknown global key is absent", GLOBAL_KEYS).service(allow_if(r#""StringEquals": {"aws:RequestedRegion": "us-west-2"}"#)).implicitly_denies("service"),

        // --- Policy variables ---
        case("a variable in Resource", VARIABLES).service(allow_resource(&format!(r#""Resource": "{SERVICE}/teams/${{aws:PrincipalTag/team}}/*""#))).request(|r| r.path = "/teams/payments/x".into()).allows("service", json!("R")),
        case("a variable in Resource for another team", VARIABLES).service(allow_resource(&format!(r#""Resource": "{SERVICE}/teams/${{aws:PrincipalTag/team}}/*""#))).request(|r| r.path = "/teams/ops/x".into()).implicitly_denies("service"),
        case("a variable in a condition value", VARIABLES).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "${aws:PrincipalTag/team}"}"#)).allows("service", json!("Cond")),
        case("${aws:username} for an IAM user", VARIABLES).service(allow_if(r#""StringLike": {"vpc-lattice-svcs:RequestPath": "/home/${aws:username}/*"}"#)).request(|r| { as_user(r); r.path = "/home/alice/notes".into(); }).allows("service", json!("Cond")),
        case("a variable with no value: StringNotEquals matches the null value", NO_VALUE).service(allow_if(r#""StringNotEquals": {"vpc-lattice-svcs:RequestPath": "/home/${aws:username}"}"#)).allows("service", json!("Cond")),
        case("a variable with no value: StringEquals has no equal value", NO_VALUE).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestPath": "/home/${aws:username}"}"#)).implicitly_denies("service"),
        case("a variable with no value: StringNotLike in a Deny matches, so it denies", NO_VALUE).service(format!(r#"{}, {{"Sid": "OwnHomeOnly", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {{"StringNotLike": {{"vpc-lattice-svcs:RequestPath": "/home/${{aws:username}}/*"}}}}}}"#, allow_all())).denies("service", json!("OwnHomeOnly")),
        case("a variable with no value: the other values still count", NO_VALUE).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestPath": ["/home/${aws:username}", "/orders/7"]}"#)).allows("service", json!("Cond")),
        case("a variable with no value in Resource matches nothing", NO_VALUE).service(allow_resource(&format!(r#""Resource": "{SERVICE}/home/${{aws:username}}""#))).request(|r| r.path = "/home/".into()).implicitly_denies("service"),
        case("${*} in StringLike is a literal *, not a wildcard", SPECIAL).service(allow_if(r#""StringLike": {"vpc-lattice-svcs:RequestPath": "/stars/${*}"}"#)).request(|r| r.path = "/stars/anything".into()).implicitly_denies("service"),
        case("${*} in StringLike matches a literal *", SPECIAL).service(allow_if(r#""StringLike": {"vpc-lattice-svcs:RequestPath": "/stars/${*}"}"#)).request(|r| r.path = "/stars/*".into()).allows("service", json!("Cond")),
        case("${?} in Resource is a literal ?", SPECIAL).service(allow_resource(&format!(r#""Resource": "{SERVICE}/orders/${{?}}""#))).implicitly_denies("service"),
        case("a substituted value's * is literal in StringLike", SPECIAL).service(allow_if(r#""StringLike": {"vpc-lattice-svcs:RequestPath": "/teams/${aws:PrincipalTag/team}"}"#)).request(|r| { if let Some(c) = r.caller.as_mut() { c.tags.insert("team".into(), "*".into()); } r.path = "/teams/ops".into(); }).implicitly_denies("service"),
        case("a variable's default value", VARIABLES).service(allow_if(r#""StringLike": {"vpc-lattice-svcs:RequestPath": "/home/${aws:username, 'guest'}/*"}"#)).request(|r| r.path = "/home/guest/x".into()).allows("service", json!("Cond")),
        case("${*} is a literal asterisk", VARIABLES).service(allow_if(r#""StringEquals": {"vpc-lattice-svcs:RequestPath": "/stars/${*}"}"#)).request(|r| r.path = "/stars/*".into()).allows("service", json!("Cond")),
        case("Version 2008-10-17 keeps ${...} literal", "IAM, Version; IAM, Variables and tags").service(r#"{"Version": "2008-10-17", "Statement": [{"Sid": "Old", "Effect": "Allow", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestPath": "/teams/${aws:PrincipalTag/team}"}}}]}"#).request(|r| r.path = "/teams/payments".into()).implicitly_denies("service"),
    ]
}

fn decide(case: &Case) -> Result<Decision, String> {
    let load = |text: &Option<String>| -> Result<Option<Policy>, String> {
        text.as_deref()
            .map(|text| Policy::parse(&document(text)).map_err(|error| error.to_string()))
            .transpose()
    };
    let (network, service, identity) = (
        load(&case.network)?,
        load(&case.service)?,
        load(&case.identity)?,
    );
    for (policy, kind) in [
        (&network, PolicyKind::Network),
        (&service, PolicyKind::Service),
        (&identity, PolicyKind::Identity),
    ] {
        if let Some(policy) = policy {
            policy.check_kind(kind).map_err(|error| error.to_string())?;
        }
    }
    let mut ctx = request();
    (case.request)(&mut ctx);
    let policies = Policies {
        network: network.as_ref(),
        service: service.as_ref(),
        identity: identity.as_ref(),
    };
    Ok(evaluate(&policies, &ctx))
}

#[test]
fn policy_cases() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        assert!(!case.doc.is_empty(), "{}: cites no rule", case.name);
        assert!(!case.expected.is_null(), "{}: expects nothing", case.name);
        match decide(case) {
            Err(error) => failures.push(format!(
                "{} ({}): policy refused: {error}",
                case.name, case.doc
            )),
            Ok(decision) => {
                let mut got = serde_json::to_value(&decision).expect("a decision serializes");
                let reason = got.as_object_mut().and_then(|o| o.remove("reason"));
                if got != case.expected {
                    failures.push(format!(
                        "{} ({}):\n    expected {}\n    got      {got} ({})",
                        case.name,
                        case.doc,
                        case.expected,
                        reason.unwrap_or_default()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Policies the engine refuses, and the exact message.
#[rustfmt::skip]
const BAD_POLICIES: &[(&str, &str, &str)] = &[
    ("invalid JSON, with line and column",
     "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [}\n}",
     "line 3 column 17: invalid JSON: expected value"),
    ("a repeated operator, which would drop the first one's conditions",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}, "StringEquals": {"aws:PrincipalTag/team": "a"}}}]}"#,
     r#"line 1 column 160: invalid JSON: duplicate key "StringEquals": JSON does not say which one counts"#),
    ("not an object", r#"["Allow"]"#, "document: must be a JSON object, not a list"),
    ("an unknown top-level element", r#"{"Version": "2012-10-17", "Statment": []}"#,
     "Statment: unknown element (a policy has Version, Id and Statement)"),
    ("a wrong Version", r#"{"Version": "2012-10-18", "Statement": []}"#,
     r#"Version: must be "2012-10-17" (or the old "2008-10-17"), not "2012-10-18""#),
    ("a Version of the wrong type", r#"{"Version": 2012, "Statement": []}"#,
     r#"Version: must be "2012-10-17" (or the old "2008-10-17"), not 2012"#),
    ("no Statement", r#"{"Version": "2012-10-17"}"#, "Statement: is missing"),
    ("an empty Statement", r#"{"Version": "2012-10-17", "Statement": []}"#,
     "Statement: is empty: a policy needs at least one statement"),
    ("a Statement of the wrong type", r#"{"Statement": "Allow"}"#,
     "Statement: must be an object or a list of objects, not a string"),
    ("an unknown statement element",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Conditions": {}}]}"#,
     "Statement[0].Conditions: unknown element (a statement has Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition)"),
    ("a bad Effect", r#"{"Statement": {"Effect": "allow"}}"#,
     r#"Statement[0].Effect: must be "Allow" or "Deny", not "allow""#),
    ("a missing Effect", r#"{"Statement": [{"Action": "*", "Resource": "*"}]}"#, "Statement[0].Effect: is missing"),
    ("no Action", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Resource": "*"}]}"#,
     "Statement[0]: needs Action or NotAction"),
    ("Action and NotAction", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "NotAction": "*", "Resource": "*"}]}"#,
     "Statement[0]: has both Action and NotAction: use one"),
    ("an Action of the wrong type", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": 7, "Resource": "*"}]}"#,
     "Statement[0].Action: must be a string or a list of strings, not a number"),
    ("an Action without a service", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["vpc-lattice-svcs:Invoke", "Invoke"], "Resource": "*"}]}"#,
     r#"Statement[0].Action[1]: "Invoke" is not an action: write service:Action, e.g. vpc-lattice-svcs:Invoke"#),
    ("a NotAction without a service", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "NotAction": "Connect", "Resource": "*"}]}"#,
     r#"Statement[0].NotAction: "Connect" is not an action: write service:Action, e.g. vpc-lattice-svcs:Invoke"#),
    ("a Resource that is not an ARN", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "svc-0123/*"}]}"#,
     r#"Statement[0].Resource: "svc-0123/*" is not "*" or an ARN, e.g. arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123/*"#),
    ("a duplicate Sid", r#"{"Statement": [{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}, {"Sid": "B", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}, {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}"#,
     r#"Statement[2].Sid: "A" is also the Sid of Statement[0]: Sids must be unique"#),
    ("no Resource", r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*"}]}"#,
     "Statement[0]: needs Resource or NotResource"),
    ("a wildcard inside a principal ARN",
     r#"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:role/*"]}, "Action": "*", "Resource": "*"}]}"#,
     r#"Statement[0].Principal.AWS[1]: "arn:aws:iam::111122223333:role/*": a principal cannot hold wildcards; match aws:PrincipalArn with ArnLike in a Condition instead"#),
    ("a principal that is not an ARN",
     r#"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "app"}, "Action": "*", "Resource": "*"}]}"#,
     r#"Statement[0].Principal.AWS: "app" is not "*", an account ID or an IAM/STS principal ARN"#),
    ("a group as a principal",
     r#"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:group/devs"}, "Action": "*", "Resource": "*"}]}"#,
     r#"Statement[0].Principal.AWS: "arn:aws:iam::111122223333:group/devs": a group cannot be a principal ("You cannot identify a user group as a principal in a policy"); name its users instead"#),
    ("a Service principal",
     r#"{"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "*", "Resource": "*"}]}"#,
     r#"Statement[0].Principal.Service: unsupported principal type: Lattice callers are AWS principals, name them under "AWS""#),
    ("statements are checked in order: the first problem is reported",
     r#"{"Statement": [{}, {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEqual": {"aws:PrincipalOrgID": "o-1"}}}]}"#,
     "Statement[0].Effect: is missing"),
    ("an unknown operator, located",
     r#"{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}, {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEqual": {"aws:PrincipalOrgID": "o-1"}}}]}"#,
     r#"Statement[1].Condition: unknown operator "StringEqual""#),
    ("BinaryEquals, which no Lattice key needs",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"BinaryEquals": {"aws:SourceIp": "QmluYXJ5"}}}]}"#,
     r#"Statement[0].Condition: unsupported operator "BinaryEquals": no Lattice condition key is binary"#),
    ("Null with IfExists",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"NullIfExists": {"aws:SourceIp": "true"}}}]}"#,
     r#"Statement[0].Condition: unknown operator "NullIfExists": Null takes no IfExists or set qualifier"#),
    ("a condition key spelled in another case",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:requestmethod": "GET"}}}]}"#,
     "Statement[0].Condition.StringEquals.vpc-lattice-svcs:requestmethod: write the key as vpc-lattice-svcs:RequestMethod: IAM reads key names case-insensitively but the Lattice auth-policy page says its condition keys are case-sensitive, so only the documented spelling means the same to both"),
    ("a tag key in another case keeps its tag name",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:principaltag/Team": "x"}}}]}"#,
     "Statement[0].Condition.StringEquals.aws:principaltag/Team: write the key as aws:PrincipalTag/Team: IAM reads key names case-insensitively but the Lattice auth-policy page says its condition keys are case-sensitive, so only the documented spelling means the same to both"),
    ("a RequestHeader key with an empty name",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader/": "x"}}}]}"#,
     "Statement[0].Condition.StringEquals.vpc-lattice-svcs:RequestHeader/: vpc-lattice-svcs:RequestHeader/<name> needs a name after the slash"),
    ("an unknown Lattice condition key",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestVerb": "GET"}}}]}"#,
     r#"Statement[0].Condition.StringEquals.vpc-lattice-svcs:RequestVerb: unknown vpc-lattice-svcs condition key (see "Condition keys that can be used in auth policies")"#),
    ("a RequestHeader key without a name",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader": "x"}}}]}"#,
     "Statement[0].Condition.StringEquals.vpc-lattice-svcs:RequestHeader: vpc-lattice-svcs:RequestHeader/<name> needs a name after the slash"),
    ("a number that is not a number",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"vpc-lattice-svcs:Port": "high"}}}]}"#,
     r#"Statement[0].Condition.NumericLessThan.vpc-lattice-svcs:Port: "high" is not a number"#),
    ("a number that is not finite",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"vpc-lattice-svcs:Port": "NaN"}}}]}"#,
     r#"Statement[0].Condition.NumericLessThan.vpc-lattice-svcs:Port: "NaN" is not a number"#),
    ("a date that is not a date",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}]}"#,
     r#"Statement[0].Condition.DateLessThan.aws:CurrentTime: "soon" is not a date (ISO 8601, e.g. 2026-01-01T00:00:00Z, or epoch seconds)"#),
    ("a bad CIDR block",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/40"}}}]}"#,
     r#"Statement[0].Condition.IpAddress.aws:SourceIp: "10.0.0.0/40" is not an IP address or CIDR block"#),
    ("a condition value of the wrong type",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": [{"id": 1}]}}}]}"#,
     "Statement[0].Condition.StringEquals.aws:PrincipalOrgID[0]: must be a string, number or boolean, not an object"),
    ("a Resource whose service part holds a wildcard",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:*:service/svc-1/*"}]}"#,
     r#"Statement[0].Resource: "arn:aws:*:service/svc-1/*": the service part of a resource ARN cannot hold a wildcard (write vpc-lattice)"#),
    ("a short Resource ARN with no trailing * to expand",
     r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:vpc-lattice:us-west-2"}]}"#,
     r#"Statement[0].Resource: "arn:aws:vpc-lattice:us-west-2" is not "*" or an ARN, e.g. arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-0123/*"#),
    ("a policy variable before the resource part of a Resource ARN",
     r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:vpc-lattice:us-west-2:${aws:PrincipalAccount}:service/svc-1/*"}]}"#,
     r#"Statement[0].Resource: "arn:aws:vpc-lattice:us-west-2:${aws:PrincipalAccount}:service/svc-1/*": a policy variable can stand only in the resource part of the ARN, after the fifth colon"#),
    ("an unclosed policy variable in Resource",
     r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-1/${aws:username"}]}"#,
     r#"Statement[0].Resource: "arn:aws:vpc-lattice:us-west-2:111122223333:service/svc-1/${aws:username": a policy variable is not closed with }"#),
    ("a policy variable where variables do not work (Numeric)",
     r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"vpc-lattice-svcs:Port": "${aws:PrincipalTag/port}"}}}]}"#,
     r#"Statement[0].Condition.NumericLessThan.vpc-lattice-svcs:Port: "${aws:PrincipalTag/port}" is not a number"#),
    ("NotPrincipal with Allow",
     r#"{"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "Action": "*", "Resource": "*"}]}"#,
     r#"Statement[0].NotPrincipal: NotPrincipal works only with "Effect": "Deny"; to allow all but some principals, use Principal with a Condition on aws:PrincipalArn"#),
    ("an unclosed policy variable",
     r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestPath": "/${aws:username"}}}]}"#,
     r#"Statement[0].Condition.StringEquals.vpc-lattice-svcs:RequestPath: "/${aws:username": a policy variable is not closed with }"#),
];

#[test]
fn bad_policies_are_refused_with_where_and_why() {
    let mut failures = Vec::new();
    for (name, json, expected) in BAD_POLICIES {
        match Policy::parse(json) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(error) if error.to_string() != *expected => {
                failures.push(format!(
                    "{name}:\n    expected {expected}\n    got      {error}"
                ));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_principal_rule_depends_on_the_level() {
    let auth = Policy::parse(&document(&allow_all())).expect("parses");
    let identity = Policy::parse(&document(&identity_statement("I", "Allow"))).expect("parses");
    assert_eq!(auth.check_kind(PolicyKind::Service), Ok(()));
    assert_eq!(identity.check_kind(PolicyKind::Identity), Ok(()));
    assert_eq!(
        identity
            .check_kind(PolicyKind::Network)
            .unwrap_err()
            .to_string(),
        r#"Statement[0]: an auth policy statement needs Principal or NotPrincipal ("Principal": "*" for everyone)"#
    );
    assert_eq!(
        auth.check_kind(PolicyKind::Identity)
            .unwrap_err()
            .to_string(),
        "Statement[0]: an identity-based policy cannot name a Principal: it applies to the identity it is attached to"
    );
}

/// A policy `check_kind` refuses still never over-allows: an auth-policy statement with
/// no principal applies to no one ("you must specify a principal in a resource-based
/// policy", "How Amazon VPC Lattice works with IAM").
#[test]
fn an_auth_policy_statement_without_principal_applies_to_no_one() {
    let policy =
        Policy::parse(&document(&identity_statement("NoPrincipal", "Allow"))).expect("parses");
    let ctx = request();
    for policies in [
        Policies {
            network: Some(&policy),
            ..Policies::default()
        },
        Policies {
            service: Some(&policy),
            ..Policies::default()
        },
    ] {
        assert_eq!(evaluate(&policies, &ctx).outcome, Outcome::ImplicitDeny);
    }
    let identity = Policies {
        identity: Some(&policy),
        ..Policies::default()
    };
    assert_eq!(evaluate(&identity, &ctx).outcome, Outcome::Allow);
}

/// An `AWS_IAM` level with no auth policy attached denies everything ("If you do not add
/// an auth policy, all traffic will get an access denied error").
#[test]
fn an_empty_policy_allows_nothing() {
    let empty = Policy::empty();
    let allow = Policy::parse(&document(&allow_all())).expect("parses");
    let policies = Policies {
        network: Some(&empty),
        service: Some(&allow),
        ..Policies::default()
    };
    let decision = evaluate(&policies, &request());
    assert_eq!(
        (decision.outcome, decision.policy),
        (Outcome::ImplicitDeny, Some(PolicyKind::Network))
    );
}

#[test]
fn policy_files_are_named_in_errors() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("network.json");
    std::fs::write(&path, r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"StringEqual": {}}}]}"#).expect("written");
    let error = Policy::from_file(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            r#"{}: Statement[0].Condition: unknown operator "StringEqual""#,
            path.display()
        )
    );
    let missing = Policy::from_file(&dir.path().join("missing.json")).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("missing.json: file: cannot read it"),
        "{missing}"
    );
    // A huge file is refused after reading one byte past the quota, not read whole.
    let huge = dir.path().join("huge.json");
    let file = std::fs::File::create(&huge).expect("created");
    file.set_len(1 << 30).expect("a sparse 1 GiB file");
    let error = Policy::from_file(&huge).unwrap_err();
    assert!(
        error.to_string().ends_with(
            "huge.json: file: is over the 10 KB Lattice allows for an auth policy \
             (\"Quotas for Amazon VPC Lattice\", auth policy size)"
        ),
        "{error}"
    );
}

#[test]
fn lattice_messages() {
    let service =
        Policy::parse(&document(&allow_principal(r#"{"AWS": "444455556666"}"#))).expect("parses");
    let ctx = request();
    let decision = evaluate(
        &Policies {
            service: Some(&service),
            ..Policies::default()
        },
        &ctx,
    );
    assert_eq!(
        decision.lattice_message(&ctx),
        format!(
            "User: {SESSION} is not authorized to perform: vpc-lattice-svcs:Invoke on resource: {SERVICE}/orders/7 because no service-based policy allows the vpc-lattice-svcs:Invoke action"
        )
    );
    assert_eq!(
        decision.reason,
        format!(
            "no statement in the service policy allows vpc-lattice-svcs:Invoke on {SERVICE}/orders/7 for {SESSION}"
        )
    );
    let network = Policy::parse(&document(&deny_all())).expect("parses");
    let mut anonymous_ctx = request();
    anonymous(&mut anonymous_ctx);
    let decision = evaluate(
        &Policies {
            network: Some(&network),
            ..Policies::default()
        },
        &anonymous_ctx,
    );
    assert_eq!(
        decision.lattice_message(&anonymous_ctx),
        format!(
            "User: anonymous is not authorized to perform: vpc-lattice-svcs:Invoke on resource: {SERVICE}/orders/7 with an explicit deny in a network-based policy"
        )
    );
    // As a real Lattice answers an unsigned request to `/` (the resource ends in `/`).
    let nobody =
        Policy::parse(&document(&allow_principal(r#"{"AWS": "444455556666"}"#))).expect("parses");
    anonymous_ctx.path = "/".to_owned();
    let decision = evaluate(
        &Policies {
            network: Some(&nobody),
            ..Policies::default()
        },
        &anonymous_ctx,
    );
    assert_eq!(
        decision.lattice_message(&anonymous_ctx),
        format!(
            "User: anonymous is not authorized to perform: vpc-lattice-svcs:Invoke on resource: {SERVICE}/ because no network-based policy allows the vpc-lattice-svcs:Invoke action"
        )
    );
}

/// "Never a panic": every one-character edit of a rich policy either parses and
/// evaluates, or is refused with a message.
#[test]
fn edited_policies_never_panic() {
    let policy = document(&format!(
        r#"{}, {{"Sid": "Vars", "Effect": "Deny", "NotPrincipal": {{"AWS": ["111122223333", "arn:aws:iam::111122223333:role/app"]}},
        "NotAction": "vpc-lattice-svcs:Connect", "Resource": "{SERVICE}/teams/${{aws:PrincipalTag/team, 'x'}}/?*",
        "Condition": {{"ForAllValues:StringLikeIfExists": {{"vpc-lattice-svcs:RequestHeader/x-a": ["${{*}}a", "b"]}},
        "NumericLessThan": {{"vpc-lattice-svcs:Port": 1e3}}, "DateGreaterThan": {{"aws:CurrentTime": "2026-01-01"}},
        "IpAddress": {{"aws:SourceIp": "10.0.0.0/8"}}, "Null": {{"aws:PrincipalOrgID": false}}}}}}"#,
        allow_if(r#""ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}"#)
    ));
    let ctx = request();
    let mut anonymous_ctx = request();
    anonymous(&mut anonymous_ctx);
    let (mut parsed, mut refused) = (0, 0);
    for (at, _) in policy.char_indices() {
        let next = policy[at..]
            .chars()
            .next()
            .map_or(at, |c| at + c.len_utf8());
        for replacement in ["", "{", "\"", "*", "$", "}", "0", "é", "[]"] {
            let edited = format!("{}{replacement}{}", &policy[..at], &policy[next..]);
            match Policy::parse(&edited) {
                Ok(policy) => {
                    parsed += 1;
                    for ctx in [&ctx, &anonymous_ctx] {
                        for policies in [
                            Policies {
                                network: Some(&policy),
                                ..Policies::default()
                            },
                            Policies {
                                identity: Some(&policy),
                                ..Policies::default()
                            },
                        ] {
                            let decision = evaluate(&policies, ctx);
                            assert!(!decision.reason.is_empty());
                        }
                    }
                }
                Err(error) => {
                    refused += 1;
                    assert!(
                        !error.message().is_empty() && !error.location().is_empty(),
                        "{edited}"
                    );
                }
            }
        }
    }
    assert!(
        parsed > 100 && refused > 100,
        "{parsed} parsed, {refused} refused"
    );
}

/// Hostile documents and requests: each is refused with a reason or decided, quickly.
#[test]
fn adversarial_inputs_are_refused_or_decided_in_bounded_time() {
    use std::time::Instant;
    let started = Instant::now();

    // Nesting deeper than serde_json's limit: an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let error = Policy::parse(&deep).expect_err("too deep");
    assert!(error.message().contains("recursion limit"), "{error}");

    // Larger than Lattice's 10 KB auth-policy quota.
    let huge = document(&vec![allow_all(); 200].join(", "));
    let error = Policy::parse(&huge).expect_err("too large");
    assert_eq!(error.location(), "document");

    // Unclosed and empty variables are refused, never substituted half-way.
    for value in ["${", "a${aws:username", "${}", "${ , 'x'}x"] {
        let json = document(&allow_if(&format!(
            r#""StringLike": {{"vpc-lattice-svcs:RequestPath": "{value}"}}"#
        )));
        assert!(Policy::parse(&json).is_err(), "{value}");
    }

    // Unicode keys, values and paths compare as whole characters.
    let unicode = Policy::parse(&document(&format!(
        r#"{{"Sid": "☃ ünïcödé \u202e", "Effect": "Allow", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "{SERVICE}/ü?er/*", "Condition": {{"StringLike": {{"vpc-lattice-svcs:RequestHeader/x-name": "*😀"}}}}}}"#
    )))
    .expect("a Unicode policy parses");
    let mut ctx = request();
    ctx.path = "/über/\u{0}\u{202e}".to_owned();
    ctx.headers.push(("x-name".to_owned(), "née 😀".to_owned()));
    let decision = evaluate(
        &Policies {
            service: Some(&unicode),
            ..Policies::default()
        },
        &ctx,
    );
    assert_eq!(decision.outcome, Outcome::Allow, "{}", decision.reason);

    // The worst patterns a 10 KB policy can hold, against a 64 KiB path and 100 long
    // header values: wildcard matching is linear in the text, never exponential or
    // quadratic. 5 s is generous for linear work on a loaded two-core machine.
    let backtracking = format!("*{}b", "a".repeat(4_000));
    let stars = format!("{}b", "*a".repeat(2_000));
    let hostile = Policy::parse(&document(&allow_if(&format!(
        r#""StringLike": {{"vpc-lattice-svcs:RequestPath": ["{backtracking}", "{stars}"]}}, "ForAnyValue:StringLike": {{"vpc-lattice-svcs:RequestHeader/x-long": "*?a*?a*?a*?b"}}"#
    ))))
    .expect("a wildcard-heavy policy within the quota parses");
    let mut ctx = request();
    ctx.path = "a".repeat(64 * 1024);
    ctx.headers
        .extend((0..100).map(|_| ("x-long".to_owned(), "a".repeat(4_096))));
    let decided = Instant::now();
    let decision = evaluate(
        &Policies {
            service: Some(&hostile),
            ..Policies::default()
        },
        &ctx,
    );
    assert_eq!(decision.outcome, Outcome::ImplicitDeny);
    assert!(
        decided.elapsed() < Duration::from_secs(5),
        "a hostile decision took {:?}",
        decided.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
