#!/usr/bin/env python3
"""Static contract check between the code, openapi.yaml and the Terraform in infra/.

Fails (exit 1, one line per finding) when:

  routes     an operation of openapi.yaml has no Terraform route, or its route points at
             another function than the operation's x-function; or a Terraform route is not in
             openapi.yaml (allowed only for a function marked `planned` in functions.toml,
             i.e. one whose crate does not exist yet).
  functions  a Lambda function crate (functions/*/ depending on lambda_http/lambda_runtime)
             has no Terraform function, or the other way round (unless `planned`).
  env        a function's code reads an environment variable its Terraform environment does
             not set, or Terraform sets one its code never reads.
  iam        a function's code calls an AWS action its role does not grant, or its role
             grants an action that neither its code nor the Lambda platform needs; a grant on
             resource "*" that is not unavoidable.
  coverage   a library file reads the environment or calls AWS but is attributed to no
             function (functions.toml), so new code cannot slip past the two checks above.
  leading    a statement granting DynamoDB item actions has no dynamodb:LeadingKeys condition
             (ForAllValues:StringLike on the key prefixes the function touches, iam.tf).
  secrets    key material is one secret per purpose: a function's environment and role may
             name only the secrets of the purposes its code loads (FUNCTION_KEYS in lambda.rs),
             and only the functions allowed to mint access tokens may load, be given or be
             granted the token-signing secret (functions.toml [key_secrets]).

Sources of truth and how they are read:

  Terraform  python-hcl2 parses every infra/*.tf. The check reads the data the stack is built
             from: local.routes, local.functions, local.function_environment, the event
             source mappings (literal maps by design, infra/*.tf comments say so), and
             local.function_policies, which it evaluates as Terraform would (TfEval: locals,
             for_each instances, dynamic statements, conditionals, for expressions) into each
             function's policy statements; an expression it cannot evaluate is a finding.
             `--print-policies` prints what they grant (to diff two revisions).
  openapi    every operation under `paths`, with its x-function.
  code       the Rust sources each function runs: its own crate plus the library modules
             functions.toml lists for it. Comments and #[cfg(test)] items are dropped first.
             Environment reads: string literals passed to var(...)/env::var(...)/required(...)
             and similar readers, and any "PORTAL_*" literal (the project's naming rule for
             its variables). AWS actions: in a file that uses an aws_sdk_<service> crate,
             every `.operation_name(` call that is an operation of that service, mapped to its
             IAM action (see OPERATIONS and IAM_SPECIAL: e.g. DynamoDB transactions are
             authorised as PutItem/UpdateItem/DeleteItem/ConditionCheckItem per item kind).

What the Lambda platform itself does with a role (not visible in the code) is derived from the
Terraform: every function writes its log group and X-Ray segments; a function fed by a
DynamoDB stream reads it; a function with an SQS on-failure destination writes to that queue.
KMS use follows from the encrypted resources a function touches (KMS_FOR_SERVICE).

Usage: check_contract.py [--repo DIR] [--infra DIR] [--openapi FILE] [--functions FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import re
import sys
import tomllib
from typing import Any, Iterable

import hcl2
import yaml
from lark import Token, Tree

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

# --------------------------------------------------------------------------------------------
# AWS SDK operations -> IAM actions
# --------------------------------------------------------------------------------------------

# The Rust SDK crate of each service and its IAM prefix.
SDK_CRATES = {
    "aws_sdk_dynamodb": "dynamodb",
    "aws_sdk_dynamodbstreams": "dynamodb",
    "aws_sdk_sns": "sns",
    "aws_sdk_secretsmanager": "secretsmanager",
    "aws_sdk_sqs": "sqs",
    "aws_sdk_ssm": "ssm",
    "aws_sdk_kms": "kms",
    "aws_sdk_cloudwatch": "cloudwatch",
    "aws_sdk_sts": "sts",
}

# Operations of each service (API names). A fluent-builder call is the snake_case name:
# `.get_item()` is GetItem. Only names listed here are recognised, so a method of the same
# name on something else (an iterator's `.scan()`) is only mistaken for an AWS call in a file
# that uses that service's SDK.
OPERATIONS = {
    "dynamodb": """BatchExecuteStatement BatchGetItem BatchWriteItem CreateBackup CreateGlobalTable
        CreateTable DeleteBackup DeleteItem DeleteResourcePolicy DeleteTable DescribeBackup
        DescribeContinuousBackups DescribeContributorInsights DescribeEndpoints DescribeExport
        DescribeGlobalTable DescribeGlobalTableSettings DescribeImport
        DescribeKinesisStreamingDestination DescribeLimits DescribeStream DescribeTable
        DescribeTableReplicaAutoScaling DescribeTimeToLive DisableKinesisStreamingDestination
        EnableKinesisStreamingDestination ExecuteStatement ExecuteTransaction
        ExportTableToPointInTime GetItem GetRecords GetResourcePolicy GetShardIterator ImportTable
        ListBackups ListContributorInsights ListExports ListGlobalTables ListImports ListStreams
        ListTables ListTagsOfResource PutItem PutResourcePolicy Query RestoreTableFromBackup
        RestoreTableToPointInTime Scan TagResource TransactGetItems TransactWriteItems
        UntagResource UpdateContinuousBackups UpdateContributorInsights UpdateGlobalTable
        UpdateGlobalTableSettings UpdateItem UpdateKinesisStreamingDestination UpdateTable
        UpdateTableReplicaAutoScaling UpdateTimeToLive""",
    "sns": """AddPermission CheckIfPhoneNumberIsOptedOut ConfirmSubscription CreatePlatformApplication
        CreatePlatformEndpoint CreateSMSSandboxPhoneNumber CreateTopic DeleteEndpoint
        DeletePlatformApplication DeleteSMSSandboxPhoneNumber DeleteTopic GetDataProtectionPolicy
        GetEndpointAttributes GetPlatformApplicationAttributes GetSMSAttributes
        GetSMSSandboxAccountStatus GetSubscriptionAttributes GetTopicAttributes
        ListEndpointsByPlatformApplication ListOriginationNumbers ListPhoneNumbersOptedOut
        ListPlatformApplications ListSMSSandboxPhoneNumbers ListSubscriptions
        ListSubscriptionsByTopic ListTagsForResource ListTopics OptInPhoneNumber Publish
        PublishBatch PutDataProtectionPolicy RemovePermission SetEndpointAttributes
        SetPlatformApplicationAttributes SetSMSAttributes SetSubscriptionAttributes
        SetTopicAttributes Subscribe TagResource Unsubscribe UntagResource
        VerifySMSSandboxPhoneNumber""",
    "secretsmanager": """BatchGetSecretValue CancelRotateSecret CreateSecret DeleteResourcePolicy
        DeleteSecret DescribeSecret GetRandomPassword GetResourcePolicy GetSecretValue
        ListSecretVersionIds ListSecrets PutResourcePolicy PutSecretValue RemoveRegionsFromReplication
        ReplicateSecretToRegions RestoreSecret RotateSecret StopReplicationToReplica TagResource
        UntagResource UpdateSecret UpdateSecretVersionStage ValidateResourcePolicy""",
    "sqs": """AddPermission CancelMessageMoveTask ChangeMessageVisibility ChangeMessageVisibilityBatch
        CreateQueue DeleteMessage DeleteMessageBatch DeleteQueue GetQueueAttributes GetQueueUrl
        ListDeadLetterSourceQueues ListMessageMoveTasks ListQueueTags ListQueues PurgeQueue
        ReceiveMessage RemovePermission SendMessage SendMessageBatch SetQueueAttributes
        StartMessageMoveTask TagQueue UntagQueue""",
    "ssm": """GetParameter GetParameters GetParametersByPath PutParameter DeleteParameter
        DescribeParameters""",
    "kms": """Decrypt Encrypt GenerateDataKey GenerateDataKeyWithoutPlaintext GenerateMac Sign
        Verify VerifyMac DescribeKey GetPublicKey ReEncrypt""",
    "cloudwatch": """PutMetricData GetMetricData GetMetricStatistics ListMetrics PutMetricAlarm
        DescribeAlarms DeleteAlarms SetAlarmState""",
    "sts": """AssumeRole GetCallerIdentity GetSessionToken""",
}
OPERATIONS = {svc: set(ops.split()) for svc, ops in OPERATIONS.items()}

# IAM authorises some operations under other names.
DYNAMODB_TRANSACT_WRITE_KINDS = {
    # item kind in a TransactWriteItems request -> IAM action that authorises it
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
UNSUPPORTED = {
    # PartiQL is authorised per statement kind (PartiQLSelect, PartiQLInsert, ...), which a
    # scan for method names cannot tell. Map it by hand before using it.
    ("dynamodb", "ExecuteStatement"),
    ("dynamodb", "BatchExecuteStatement"),
    ("dynamodb", "ExecuteTransaction"),
}

# KMS use implied by calling a service on a resource encrypted with a customer managed key,
# as "kms:<Action>@<service>" (the statement's kms:ViaService). DynamoDB: the set AWS uses for
# read/write access to a table with a CMK. Stream reads only decrypt.
KMS_FOR_SERVICE = {
    "dynamodb": {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"},
    "dynamodb-stream": {"kms:Decrypt"},
    "secretsmanager": {"kms:Decrypt"},
    "sns-topic": {"kms:Decrypt", "kms:GenerateDataKey*"},
    "sqs": {"kms:Decrypt", "kms:GenerateDataKey"},
}
VIA = {"dynamodb-stream": "dynamodb", "sns-topic": "sns"}

# What Lambda does with every execution role here: logs to the function's log group, X-Ray
# segments (tracing is Active).
PLATFORM_ALWAYS = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
STREAM_READ = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}

# Actions that have no resource-level permissions, where "*" is the only valid resource.
STAR_RESOURCE_OK = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"}


def snake(name: str) -> str:
    """GetItem -> get_item, CreateSMSSandboxPhoneNumber -> create_sms_sandbox_phone_number."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


# --------------------------------------------------------------------------------------------
# Rust sources
# --------------------------------------------------------------------------------------------


def strip_rust(text: str) -> str:
    """The source with comments blanked and #[cfg(test)] items removed; string literals kept.

    A small lexer, enough for this purpose: line and (nested) block comments, string literals
    with escapes, raw strings r"..."/r#"..."#, char literals vs lifetimes.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            out.append(" ")
            continue
        m = re.match(r'b?r(#*)"', text[i:i + 260]) if c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) else None
        if m:
            end = text.find('"' + m.group(1), i + m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append(text[i:end])
            i = end
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
            continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += m.end()
                continue
        out.append(c)
        i += 1
    return remove_cfg_test("".join(out))


def _skip_item(text: str, start: int) -> int:
    """Index just past the item starting at `start`: through its matching `}` or its `;`."""
    i, n, depth = start, len(text), 0
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return n


def remove_cfg_test(text: str) -> str:
    out, pos = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        pos = _skip_item(text, m.end())
    out.append(text[pos:])
    return "".join(out)


ENV_READER = re.compile(
    r"\b(?!set_var\b|remove_var\b)(\w*(?:var|env|required|optional)\w*)\s*(?:::<[^>]*>)?\(\s*\"([A-Z][A-Z0-9_]*)\"",
    re.IGNORECASE,
)
PORTAL_LITERAL = re.compile(r"\"(PORTAL_[A-Z0-9_]+)\"")


def env_reads(code: str) -> set[str]:
    names = {m.group(2) for m in ENV_READER.finditer(code)}
    names |= set(PORTAL_LITERAL.findall(code))
    return names


@dataclasses.dataclass
class AwsCalls:
    actions: set[str]
    uses_index: bool
    problems: list[str]


def aws_calls(code: str, where: str) -> AwsCalls:
    services = {SDK_CRATES[c] for c in re.findall(r"\b(aws_sdk_\w+)", code) if c in SDK_CRATES}
    unknown = {c for c in re.findall(r"\b(aws_sdk_\w+)", code) if c not in SDK_CRATES}
    problems = [f"{where}: uses {c}, which the checker cannot map to IAM actions (extend SDK_CRATES/OPERATIONS)" for c in sorted(unknown)]
    actions: set[str] = set()
    called = set(re.findall(r"\.\s*([a-z][a-z0-9_]*)\s*\(", code))
    for svc in services:
        for op in OPERATIONS[svc]:
            if snake(op) not in called:
                continue
            if (svc, op) in UNSUPPORTED:
                problems.append(f"{where}: calls {svc} {op}, whose IAM actions depend on the statement; map it by hand")
            elif svc == "dynamodb" and op == "TransactWriteItems":
                kinds = {k for k in DYNAMODB_TRANSACT_WRITE_KINDS if re.search(rf"\b{k}::builder\s*\(|\.\s*{snake(k)}\s*\(\s*{k}\b", code)}
                if not kinds:
                    problems.append(f"{where}: calls TransactWriteItems but builds none of Put/Update/Delete/ConditionCheck here; cannot tell its IAM actions")
                actions |= {DYNAMODB_TRANSACT_WRITE_KINDS[k] for k in kinds}
            elif svc == "dynamodb" and op == "TransactGetItems":
                actions.add("dynamodb:GetItem")
            else:
                actions.add(f"{svc}:{op}")
    uses_index = "dynamodb" in services and bool(re.search(r"\.\s*index_name\s*\(", code))
    return AwsCalls(actions, uses_index, problems)


PURPOSE_ARM = re.compile(r"KeyPurpose::(\w+)\s*=>\s*\"([A-Z][A-Z0-9_]*)\"")
FUNCTION_ARM = re.compile(r"Function::(\w+)\s*=>\s*\"([a-z][a-z0-9-]*)\"")
KEY_TABLE_ROW = re.compile(r"\(\s*Function::(\w+)\s*,\s*&\[([^\]]*)\]\s*,?\s*\)")
SECRET_REF = re.compile(r'aws_secretsmanager_secret\.(\w+)(?:\[\\?"([^"\\]+)\\?"\])?')


def secret_refs(value: Any) -> set[str]:
    """Secrets a Terraform expression refers to: "key[token-signing]" or a plain resource name."""
    return {f"{m.group(1)}[{m.group(2)}]" if m.group(2) else m.group(1) for m in SECRET_REF.finditer(str(value))}


def key_table(code: str) -> dict[str, list[str]]:
    """FUNCTION_KEYS rows: Rust variant of Function -> variants of KeyPurpose."""
    start = code.find("FUNCTION_KEYS")
    if start < 0:
        return {}
    end = code.find("];", start)
    return {m.group(1): re.findall(r"KeyPurpose::(\w+)", m.group(2)) for m in KEY_TABLE_ROW.finditer(code[start:end])}


def call_sites(code: str, ident: str) -> int:
    """Calls of `ident` (not its definition)."""
    return len(re.findall(rf"(?<!fn )(?<![\w])\b{re.escape(ident)}\s*(?:::<[^>]*>)?\(", code))


# --------------------------------------------------------------------------------------------
# Terraform
# --------------------------------------------------------------------------------------------


def unq(v: Any) -> Any:
    """python-hcl2 keeps string quotes ("\"login\""); expressions come as "${...}"."""
    if isinstance(v, str) and len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    return v


def load_terraform(infra: pathlib.Path) -> dict[str, Any]:
    merged: dict[str, list] = {}
    for path in sorted(infra.glob("*.tf")):
        with path.open() as f:
            doc = hcl2.load(f)
        for key, blocks in doc.items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def tf_locals(tf: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in tf.get("locals", []):
        for k, v in block.items():
            if k != "__is_block__":
                out[k] = v
    return out


def tf_blocks(tf: dict, kind: str, type_: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in tf.get(kind, []):
        for t, named in block.items():
            if unq(t) != type_:
                continue
            for name, body in named.items():
                out[unq(name)] = body
    return out


def as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def clean_map(v: Any) -> dict:
    if not isinstance(v, dict):
        return {}
    return {unq(k): val for k, val in v.items() if k != "__is_block__"}


@dataclasses.dataclass
class Grant:
    actions: set[str]
    star_resources: list[str]  # actions granted on resource "*"
    index_resource: bool


def policy_grants(statements: list[dict]) -> Grant:
    """Allowed actions of a rendered policy document (TfEval.policy_statements).

    KMS actions are qualified with the service of their kms:ViaService condition
    ("kms:Decrypt@secretsmanager"), so a KMS grant counts only for the use it is meant for.
    """
    grant = Grant(set(), [], False)
    for st in statements:
        if st.get("effect", "Allow") != "Allow":
            continue
        via = None
        for cond in as_list(st.get("condition")):
            if cond.get("variable") == "kms:ViaService":
                vals = [str(x) for x in as_list(cond.get("values"))]
                via = ",".join(sorted({re.sub(r"\..*", "", x) for x in vals}))
        actions = {str(a) for a in as_list(st.get("actions"))}
        resources = [str(r) for r in as_list(st.get("resources"))]
        for a in actions:
            grant.actions.add(f"{a}@{via}" if a.startswith("kms:") and via else a)
            if "*" in resources:
                grant.star_resources.append(a)
        if any("/index/" in r for r in resources):
            grant.index_resource = True
    return grant


# --------------------------------------------------------------------------------------------
# Terraform expressions
# --------------------------------------------------------------------------------------------
#
# The policies are built by one data.aws_iam_policy_document with for_each and dynamic
# statements from per-function data (iam.tf), so the checker evaluates what Terraform would:
# locals, each.key/each.value, dynamic blocks, conditionals, for expressions and a few
# functions. Values only known at apply time (resource attributes, variables) stay symbolic
# as their text ("${aws_kms_key.data.arn}"). Anything outside this subset is an EvalError,
# reported as a finding: the check never guesses what a policy grants.


class EvalError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Ref:
    """A value known only at apply time, kept as the expression's text."""

    text: str

    def __str__(self) -> str:
        return "${" + self.text + "}"


@dataclasses.dataclass(frozen=True)
class PolicyDoc:
    """data.aws_iam_policy_document.<name> (its instance <key> when it has for_each)."""

    name: str
    key: str | None = None


def _trees(node: Tree) -> list[Tree]:
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _meta(key: str) -> bool:
    """hcl2.load's own keys (__is_block__, __comments__), not Terraform's."""
    return key.startswith("__") and key.endswith("__")


def _unescape(chars: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), chars)


def _step_text(step: Tree, key: Any) -> str:
    return f".{key}" if step.data == "get_attr" else f"[{json.dumps(key)}]"


def _items(coll: Any) -> list[tuple[Any, Any]]:
    if isinstance(coll, dict):
        return list(coll.items())
    if isinstance(coll, list):
        return list(enumerate(coll))
    raise EvalError(f"cannot iterate over {coll!r}")


FUNCTIONS = {
    "length": lambda x: len(x),
    "contains": lambda coll, v: v in coll,
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "keys": lambda m: sorted(m),
    "toset": lambda xs: sorted(set(xs)),
}


class TfEval:
    """Evaluates hcl2.load values in the scope of the module's locals and data sources."""

    def __init__(self, locals_raw: dict[str, Any], policy_docs: dict[str, dict]):
        self.locals_raw, self.docs = locals_raw, policy_docs
        self._locals: dict[str, Any] = {}
        self._parsed: dict[str, Tree] = {}

    # -- hcl2.load values ------------------------------------------------------------------

    def value(self, raw: Any, scope: dict[str, Any]) -> Any:
        """hcl2.load keeps expressions as text: quoted strings as HCL string literals, other
        expressions as "${...}"."""
        if isinstance(raw, dict):
            return {unq(k): self.value(v, scope) for k, v in raw.items() if not _meta(k)}
        if isinstance(raw, list):
            return [self.value(v, scope) for v in raw]
        if not isinstance(raw, str):
            return raw
        text = raw if raw.startswith('"') else raw[2:-1] if raw.startswith("${") and raw.endswith("}") else None
        if text is None:
            raise EvalError(f"unexpected value {raw!r}")
        if text not in self._parsed:
            try:
                body = _trees(hcl2.parses_to_tree(f"x = {text}"))[0]
            except Exception as e:  # lark's errors have no common base worth naming
                raise EvalError(f"cannot parse {text!r}: {e}") from None
            self._parsed[text] = _trees(_trees(body)[0])[-1]  # body > attribute > expression
        return self.expr(self._parsed[text], scope)

    def local(self, name: str) -> Any:
        if name not in self._locals:
            if name not in self.locals_raw:
                raise EvalError(f"local.{name} is not defined")
            self._locals[name] = self.value(self.locals_raw[name], {})
        return self._locals[name]

    # -- expressions -----------------------------------------------------------------------

    def expr(self, node: Any, scope: dict[str, Any]) -> Any:
        kind = node.data
        kids = _trees(node)
        if kind == "expr_term":
            return self.expr(kids[0], scope)
        if kind == "int_lit":
            return int(node.children[0])
        if kind == "literal_value":
            return {"true": True, "false": False, "null": None}[str(node.children[0])]
        if kind == "string":
            return self.string(node, scope)
        if kind == "tuple":
            return [self.expr(k, scope) for k in kids]
        if kind == "object":
            return {self.object_key(_trees(elem)[0], scope): self.expr(_trees(elem)[1], scope) for elem in kids}
        if kind in ("identifier", "get_attr_expr_term", "index_expr_term"):
            return self.traverse(node, scope)
        if kind == "conditional":
            cond = self.expr(kids[0], scope)
            if not isinstance(cond, bool):
                raise EvalError(f"condition is not a known bool: {cond!r}")
            return self.expr(kids[1] if cond else kids[2], scope)
        if kind == "binary_op":
            left = self.expr(kids[0], scope)
            op_node, right_node = _trees(kids[1])
            return self.binary(str(op_node.children[0]), left, self.expr(right_node, scope))
        if kind == "unary_op":
            op, operand = str(node.children[0]), self.expr(kids[0], scope)
            if op == "!" and isinstance(operand, bool):
                return not operand
            if op == "-" and isinstance(operand, int):
                return -operand
            raise EvalError(f"cannot apply {op} to {operand!r}")
        if kind == "function_call":
            name = str(kids[0].children[0])
            args = [self.expr(a, scope) for a in (_trees(kids[1]) if len(kids) > 1 else [])]
            if name not in FUNCTIONS or any(isinstance(a, Ref) for a in args):
                raise EvalError(f"cannot evaluate {name}() here")
            return FUNCTIONS[name](*args)
        if kind in ("for_tuple_expr", "for_object_expr"):
            if any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children):
                raise EvalError("grouping for expressions (...) are not supported")
            return self.for_expr(kind, kids, scope)
        raise EvalError(f"unsupported expression: {kind}")

    def object_key(self, node: Tree, scope: dict[str, Any]) -> Any:
        """`{ name = ... }`: a bare name is the key itself, not a reference."""
        if not _trees(node):
            return str(node.children[0])  # a keyword used as a name (`in = ...`)
        key = _trees(node)[0]
        term = _trees(key)[0] if key.data == "expr_term" else key
        return str(term.children[0]) if term.data == "identifier" else self.expr(key, scope)

    def string(self, node: Tree, scope: dict[str, Any]) -> Any:
        parts = []
        for part in _trees(node):
            inner = part.children[0]
            if isinstance(inner, Token):
                parts.append(_unescape(str(inner)) if inner.type == "STRING_CHARS" else str(inner)[1:])
            elif inner.data == "interpolation":
                parts.append(self.expr(_trees(inner)[0], scope))
            else:
                raise EvalError(f"unsupported template directive: {inner.data}")
        if len(parts) == 1 and not isinstance(parts[0], str):
            return parts[0]  # "${x}" is x itself, as in Terraform
        out = []
        for p in parts:
            if isinstance(p, bool):
                out.append(str(p).lower())
            elif isinstance(p, (str, int, Ref)):
                out.append(str(p))
            else:
                raise EvalError(f"cannot interpolate {p!r}")
        return "".join(out)

    @staticmethod
    def binary(op: str, a: Any, b: Any) -> Any:
        if isinstance(a, Ref) or isinstance(b, Ref):
            raise EvalError(f"{op} on a value known only at apply time ({a} {op} {b})")
        ops = {
            "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, ">": lambda: a > b,
            "<=": lambda: a <= b, ">=": lambda: a >= b, "&&": lambda: a and b, "||": lambda: a or b,
        }
        if op not in ops:
            raise EvalError(f"unsupported operator {op}")
        return ops[op]()

    def for_expr(self, kind: str, kids: list[Tree], scope: dict[str, Any]) -> Any:
        intro, *body = kids
        intro_kids = _trees(intro)
        names = [str(k.children[0]) for k in intro_kids[:-1]]
        coll = self.expr(intro_kids[-1], scope)
        cond = body.pop() if body and body[-1].data == "for_cond" else None
        out: Any = {} if kind == "for_object_expr" else []
        for k, v in _items(coll):
            inner = {**scope, **(dict(zip(names, (k, v))) if len(names) == 2 else {names[0]: v})}
            if cond is not None and not self.expr(_trees(cond)[0], inner):
                continue
            if kind == "for_object_expr":
                out[self.expr(body[0], inner)] = self.expr(body[1], inner)
            else:
                out.append(self.expr(body[0], inner))
        return out

    def traverse(self, node: Tree, scope: dict[str, Any]) -> Any:
        steps: list[Any] = []
        while node.data != "identifier":
            if node.data == "expr_term":
                node = _trees(node)[0]
                continue
            if node.data not in ("get_attr_expr_term", "index_expr_term"):
                return self.apply(self.expr(node, scope), steps, scope)
            base, step = _trees(node)
            steps.insert(0, step)
            node = base
        root = str(node.children[0])
        if root in scope:
            return self.apply(scope[root], steps, scope)
        names = [self.step_key(s, scope) for s in steps]
        if root == "local" and names:
            return self.apply(self.local(names[0]), steps[1:], scope)
        if root == "data" and names[:1] == ["aws_iam_policy_document"] and len(names) > 1:
            return self.apply(self.policy_doc(names[1]), steps[2:], scope)
        if root in ("each", "count", "self"):
            raise EvalError(f"{root} used outside of its block")
        return Ref(root + "".join(_step_text(s, k) for s, k in zip(steps, names)))

    def step_key(self, step: Tree, scope: dict[str, Any]) -> Any:
        if step.data == "get_attr":
            return str(_trees(step)[0].children[0])
        if step.data == "braces_index":
            key = self.expr(_trees(step)[0], scope)
            if isinstance(key, Ref):
                raise EvalError(f"index known only at apply time: {key}")
            return key
        if step.data == "short_index":
            return int(step.children[-1])
        raise EvalError(f"unsupported traversal: {step.data}")

    def apply(self, value: Any, steps: list[Tree], scope: dict[str, Any]) -> Any:
        for step in steps:
            key = self.step_key(step, scope)
            if isinstance(value, Ref):
                value = Ref(value.text + _step_text(step, key))
            elif isinstance(value, PolicyDoc) and key == "json":
                pass  # the document stands for its JSON
            elif isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                value = value[key]
            else:
                raise EvalError(f"{key!r} not found in {value!r}")
        return value

    # -- policy documents ------------------------------------------------------------------

    def policy_doc(self, name: str) -> Any:
        if name not in self.docs:
            raise EvalError(f"data.aws_iam_policy_document.{name} is not defined")
        if "for_each" not in self.docs[name]:
            return PolicyDoc(name)
        return {k: PolicyDoc(name, k) for k, _ in _items(self.value(self.docs[name]["for_each"], {}))}

    def block(self, body: dict, scope: dict[str, Any]) -> dict[str, Any]:
        """A block with its attributes evaluated and its dynamic blocks expanded (after the
        static blocks of the same type: statement order does not change what a policy grants)."""
        out: dict[str, Any] = {}
        for key, raw in body.items():
            if _meta(key) or key in ("for_each", "dynamic"):
                continue
            if isinstance(raw, list) and raw and all(isinstance(b, dict) and b.get("__is_block__") for b in raw):
                out[key] = [self.block(b, scope) for b in raw]
            else:
                out[key] = self.value(raw, scope)
        for dynamic in as_list(body.get("dynamic")):
            for label, spec in dynamic.items():
                if _meta(label):
                    continue
                label = unq(label)
                iterator = str(unq(spec.get("iterator", label))).removeprefix("${").removesuffix("}")
                content = as_list(spec.get("content"))
                if len(content) != 1:
                    raise EvalError(f"dynamic {label} needs one content block")
                for k, v in _items(self.value(spec.get("for_each"), scope)):
                    out.setdefault(label, []).append(self.block(content[0], {**scope, iterator: {"key": k, "value": v}}))
        return out

    def policy_statements(self, doc: PolicyDoc, seen: frozenset = frozenset()) -> list[dict]:
        """The statements of a policy document instance, its source documents' included."""
        if doc in seen:
            raise EvalError(f"data.aws_iam_policy_document.{doc.name} includes itself")
        body = self.docs[doc.name]
        scope: dict[str, Any] = {}
        if doc.key is not None:
            instances = self.value(body["for_each"], {})
            scope["each"] = {"key": doc.key, "value": dict(_items(instances))[doc.key]}
        rendered = self.block(body, scope)
        statements = []
        for src in as_list(rendered.get("source_policy_documents")):
            if not isinstance(src, PolicyDoc):
                raise EvalError(f"source policy document {src!r} is not a data.aws_iam_policy_document")
            statements += self.policy_statements(src, seen | {doc})
        return statements + as_list(rendered.get("statement"))


# What a function role's policy document and its statements may contain. Anything else would
# widen the role in a way the checks above do not read (override documents, NotAction, an
# effect known only at apply time), so it is an error, never silently skipped.
ROLE_DOCUMENT_KEYS = {"for_each", "statement", "dynamic", "source_policy_documents", "version", "__is_block__"}
ROLE_STATEMENT_KEYS = {"sid", "effect", "actions", "resources", "not_resources", "condition"}


def check_role_statement_shapes(document: dict, statements: list[dict]) -> None:
    """Raises EvalError when a function role's policy holds anything the checks cannot judge."""
    extra = sorted(set(document) - ROLE_DOCUMENT_KEYS)
    if extra:
        raise EvalError(f"the document sets {', '.join(extra)}, which the checker does not evaluate")
    for st in statements:
        sid = st.get("sid", "?")
        extra = sorted(set(st) - ROLE_STATEMENT_KEYS)
        if extra:
            raise EvalError(f"statement {sid} uses {', '.join(extra)}, which a function role must not")
        effect = st.get("effect", "Allow")
        if effect not in ("Allow", "Deny"):
            raise EvalError(f"statement {sid}'s effect {effect!r} is not known before apply")
        # NotResource is how SMS to phone numbers is granted (sns:Publish on everything but
        # topics); on any other action it would grant nearly every resource.
        if st.get("not_resources") and {str(a) for a in as_list(st.get("actions"))} != {"sns:Publish"}:
            raise EvalError(f"statement {sid} uses not_resources with actions other than sns:Publish")


def grant_lines(statements: list[dict]) -> list[str]:
    """What a policy allows or denies, one line per action and resource with its conditions,
    sorted: independent of how the grants are grouped into statements or ordered."""
    lines = set()
    for st in statements:
        conditions = sorted(
            f"{c.get('test')} {c.get('variable')} [{', '.join(sorted(str(v) for v in as_list(c.get('values'))))}]"
            for c in as_list(st.get("condition"))
        )
        when = f" if {' and '.join(conditions)}" if conditions else ""
        targets = [f"on {r}" for r in as_list(st.get("resources"))]
        if st.get("not_resources"):
            targets.append(f"on all but [{', '.join(sorted(str(r) for r in as_list(st['not_resources'])))}]")
        for action in as_list(st.get("actions")):
            for target in targets or ["on (no resource)"]:
                lines.add(f"{st.get('effect', 'Allow')} {action} {target}{when}")
        for key in sorted(set(st) - {"sid", "effect", "actions", "resources", "not_resources", "condition"}):
            lines.add(f"{st.get('sid')}: {key} = {st[key]}")  # principals, not_actions: shown, not expanded
    return sorted(lines)


# --------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Config:
    library: pathlib.Path
    not_in_lambdas: list[str]
    local_only_functions: list[str]
    local_only_env: dict[str, str]
    functions: dict[str, dict]
    key_secrets: dict[str, Any]


def load_config(path: pathlib.Path, repo: pathlib.Path) -> Config:
    raw = tomllib.loads(path.read_text())
    return Config(
        library=repo / raw["library"],
        not_in_lambdas=raw.get("not_in_lambdas", []),
        local_only_functions=raw.get("local_only_functions", []),
        local_only_env=raw.get("local_only_env", {}),
        functions=raw.get("functions", {}),
        key_secrets=raw.get("key_secrets", {}),
    )


def lambda_crates(repo: pathlib.Path) -> dict[str, pathlib.Path]:
    """Function crates: functions/*/ with a main.rs whose manifest depends on the Lambda runtime
    (the same rule scripts/build-lambdas.sh builds by)."""
    out = {}
    for manifest in sorted((repo / "functions").glob("*/Cargo.toml")):
        text = manifest.read_text()
        if not (manifest.parent / "src/main.rs").exists():
            continue
        if not re.search(r"^\s*lambda_(http|runtime)\s*[.=]", text, re.M):
            continue
        name = re.search(r'^name\s*=\s*"([^"]+)"', text, re.M).group(1)
        out[name] = manifest.parent
    return out


def rust_files(path: pathlib.Path) -> list[pathlib.Path]:
    if path.is_dir():
        return sorted(path.rglob("*.rs"))
    return [path] if path.exists() else []


class Checker:
    def __init__(self, repo: pathlib.Path, infra: pathlib.Path, openapi: pathlib.Path, functions_toml: pathlib.Path):
        self.repo, self.infra, self.openapi_path = repo, infra, openapi
        self.cfg = load_config(functions_toml, repo)
        self.findings: list[str] = []
        self.notes: list[str] = []
        self._code: dict[pathlib.Path, str] = {}

    def fail(self, kind: str, msg: str) -> None:
        self.findings.append(f"[{kind}] {msg}")

    def code(self, path: pathlib.Path) -> str:
        if path not in self._code:
            self._code[path] = strip_rust(path.read_text())
        return self._code[path]

    def rel(self, path: pathlib.Path) -> str:
        return str(path.relative_to(self.repo))

    # -- inputs ----------------------------------------------------------------------------

    def load(self) -> None:
        self.tf = load_terraform(self.infra)
        self.locals = tf_locals(self.tf)
        self.tf_routes = {unq(k): {kk: unq(vv) for kk, vv in clean_map(v).items()} for k, v in clean_map(self.locals.get("routes")).items()}
        self.tf_functions = clean_map(self.locals.get("functions"))
        self.tf_env_values = {fn: clean_map(env) for fn, env in clean_map(self.locals.get("function_environment")).items()}
        self.tf_env = {fn: set(env) for fn, env in self.tf_env_values.items()}
        self.load_key_secrets()
        self.policy_docs = tf_blocks(self.tf, "data", "aws_iam_policy_document")
        self.tf_eval = TfEval(self.locals, self.policy_docs)
        self._statements: dict[str, list[dict] | None] = {}
        try:
            policies = self.tf_eval.local("function_policies")
        except EvalError as e:
            self.fail("iam", f"cannot evaluate local.function_policies: {e}")
            policies = {}
        self.tf_policies: dict[str, Any] = policies if isinstance(policies, dict) else {}
        self.esms = tf_blocks(self.tf, "resource", "aws_lambda_event_source_mapping")
        spec: dict = {}
        if self.openapi_path.exists():
            with self.openapi_path.open() as f:
                spec = yaml.safe_load(f) or {}
        else:
            self.fail("routes", f"{self.openapi_path.name} not found: the contract every route is checked against")
        self.operations: dict[str, str | None] = {}
        for path, item in (spec.get("paths") or {}).items():
            for method, op in (item or {}).items():
                if method.lower() in HTTP_METHODS and isinstance(op, dict):
                    self.operations[f"{method.upper()} {path}"] = op.get("x-function")
        self.crates = lambda_crates(self.repo)

    def load_key_secrets(self) -> None:
        """purpose env vars, and each function's (by its deployed name) purposes, from the Rust."""
        spec = self.cfg.key_secrets
        self.purpose_env: dict[str, str] = {}
        self.function_purposes: dict[str, list[str]] = {}
        if not spec:
            return
        files = {k: self.cfg.library / spec[k] for k in ("purposes", "table", "names")}
        for k, path in files.items():
            if not path.exists():
                self.fail("secrets", f"functions.toml [key_secrets] {k} = {spec[k]}: file not found")
                return
        self.purpose_env = dict(PURPOSE_ARM.findall(self.code(files["purposes"])))
        names = dict(FUNCTION_ARM.findall(self.code(files["names"])))
        table = key_table(self.code(files["table"]))
        if not self.purpose_env or not table:
            self.fail("secrets", "could not read the key purposes (KeyPurpose::env_var) or FUNCTION_KEYS")
            return
        for variant, purposes in table.items():
            for p in purposes:
                if p not in self.purpose_env:
                    self.fail("secrets", f"FUNCTION_KEYS: {variant} loads KeyPurpose::{p}, which has no env_var arm")
            self.function_purposes[names.get(variant, variant)] = purposes

    def secret_envs_of(self, fn: str) -> set[str]:
        return {self.purpose_env[p] for p in self.function_purposes.get(fn, []) if p in self.purpose_env}

    def check_key_secrets(self) -> None:
        spec = self.cfg.key_secrets
        if not spec or not self.purpose_env:
            return
        signing = spec.get("signing")
        signing_env = self.purpose_env.get(signing)
        may_mint = set(spec.get("may_mint", []))
        signing_secrets = {ref for fn in may_mint for ref in secret_refs(self.tf_env_values.get(fn, {}).get(signing_env, ""))}
        for fn in sorted(self.tf_functions):
            if fn not in self.crates:
                continue
            if fn not in self.function_purposes:
                self.fail("secrets", f"{fn} has no row in FUNCTION_KEYS ({spec.get('table')})")
                continue
            env = self.tf_env_values.get(fn, {})
            env_secrets = {ref for name, value in env.items() if name in set(self.purpose_env.values()) for ref in secret_refs(value)}
            granted = self.granted_secrets(fn)
            for ref in sorted(granted - env_secrets):
                self.fail("secrets", f"{fn}: role may read secret {ref}, which its environment does not name (its code never loads it)")
            for ref in sorted(env_secrets - granted):
                self.fail("secrets", f"{fn}: environment names secret {ref}, which its role may not read")
            if fn in may_mint:
                continue
            if signing in self.function_purposes[fn]:
                self.fail("secrets", f"{fn} loads the token-signing keys (FUNCTION_KEYS), but only {', '.join(sorted(may_mint))} may mint access tokens")
            if signing_env in env:
                self.fail("secrets", f"{fn}: Terraform gives it {signing_env}; it only verifies tokens and must not hold the signing keys")
            for ref in sorted(granted & signing_secrets):
                self.fail("secrets", f"{fn}: role may read the token-signing secret {ref}; only {', '.join(sorted(may_mint))} may")

    ITEM_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"}

    def check_leading_keys(self) -> None:
        """Item access is confined to the function's key prefixes (Scan cannot be: it has no
        partition key, which is why only serial-activation's sweep may scan)."""
        for fn in sorted(self.tf_functions):
            for st in self.statements(fn) or []:
                actions = {str(a) for a in as_list(st.get("actions"))}
                if st.get("effect", "Allow") != "Allow" or not actions & self.ITEM_ACTIONS:
                    continue
                ok = any(
                    c.get("variable") == "dynamodb:LeadingKeys" and c.get("test") == "ForAllValues:StringLike"
                    for c in as_list(st.get("condition"))
                )
                sid = st.get("sid", "?")
                if not ok:
                    self.fail("leading", f"{fn}: statement {sid} grants DynamoDB item access without a ForAllValues:StringLike dynamodb:LeadingKeys condition")
                for c in as_list(st.get("condition")):
                    if c.get("variable") != "dynamodb:LeadingKeys":
                        continue
                    patterns = [str(v) for v in as_list(c.get("values"))]
                    # A pattern must name a key prefix: one that starts with a wildcard (or an
                    # empty list) confines nothing.
                    loose = [v for v in patterns if not v or v[0] in "*?$"]
                    if not patterns or loose:
                        self.fail("leading", f"{fn}: statement {sid}'s dynamodb:LeadingKeys {patterns} does not confine the partition keys (each pattern must start with a key prefix)")

    def granted_secrets(self, fn: str) -> set[str]:
        """Secrets the function's role may read (secretsmanager:GetSecretValue statements)."""
        out: set[str] = set()
        for st in self.statements(fn) or []:
            if st.get("effect", "Allow") != "Allow":
                continue
            if "secretsmanager:GetSecretValue" not in {str(a) for a in as_list(st.get("actions"))}:
                continue
            for r in as_list(st.get("resources")):
                out |= secret_refs(r) or {str(r)}
        return out

    def statements(self, fn: str) -> list[dict] | None:
        """The rendered statements of fn's policy (local.function_policies[fn]); None, with a
        finding, when the entry is not a policy document or cannot be evaluated."""
        if fn not in self._statements:
            doc = self.tf_policies.get(fn)
            self._statements[fn] = None
            if not isinstance(doc, PolicyDoc):
                self.fail("iam", f"{fn}: local.function_policies entry is not the json of a data.aws_iam_policy_document")
            else:
                try:
                    statements = self.tf_eval.policy_statements(doc)
                    check_role_statement_shapes(self.tf_eval.docs[doc.name], statements)
                    self._statements[fn] = statements
                except EvalError as e:
                    self.fail("iam", f"{fn}: cannot evaluate its policy document data.aws_iam_policy_document.{doc.name}: {e}")
        return self._statements[fn]

    # -- routes and functions --------------------------------------------------------------

    def planned(self, fn: str) -> bool:
        return fn not in self.crates and "planned" in self.cfg.functions.get(fn, {})

    def check_functions(self) -> None:
        for fn in sorted(self.crates):
            if fn not in self.tf_functions:
                self.fail("functions", f"function crate {fn} has no entry in local.functions (infra/functions.tf)")
            if fn not in self.cfg.functions:
                self.fail("functions", f"function crate {fn} is not described in infra/checks/functions.toml")
        for fn in sorted(self.tf_functions):
            if fn not in self.crates:
                if self.planned(fn):
                    self.notes.append(f"{fn}: planned, crate not in the tree yet ({self.cfg.functions[fn]['planned']}); env and IAM not checked")
                else:
                    self.fail("functions", f"local.functions has {fn}, but there is no Lambda crate functions/{fn} (mark it `planned` in functions.toml if it is coming)")
            for what, table in (("local.function_environment", self.tf_env), ("local.function_policies", self.tf_policies)):
                if fn not in table:
                    self.fail("functions", f"{fn} has no entry in {what}")

    def check_routes(self) -> None:
        for key, fn in sorted(self.operations.items()):
            if not fn:
                self.fail("routes", f"openapi.yaml: {key} has no x-function")
                continue
            if fn in self.cfg.local_only_functions:
                if key in self.tf_routes:
                    self.fail("routes", f"{key} is served only by {fn} (local development) and must not be deployed, but Terraform has a route for it")
                continue
            route = self.tf_routes.get(key)
            if route is None:
                self.fail("routes", f"{key} (x-function {fn}) is in openapi.yaml but has no Terraform route (infra/routes.tf)")
            elif route.get("function") != fn:
                self.fail("routes", f"{key} is served by {fn} (openapi.yaml x-function) but its Terraform route points at {route.get('function')}")
        for key, route in sorted(self.tf_routes.items()):
            fn = route.get("function")
            if fn not in self.tf_functions:
                self.fail("routes", f"Terraform route {key} points at {fn}, which is not in local.functions")
            if key in self.operations and self.operations[key] not in self.cfg.local_only_functions:
                continue
            if self.planned(fn):
                self.notes.append(f"route {key}: not in openapi.yaml yet, function {fn} planned")
            else:
                self.fail("routes", f"Terraform route {key} ({fn}) is not an operation of openapi.yaml")
            if route.get("authorization") not in ("NONE", "AWS_IAM"):
                self.fail("routes", f"Terraform route {key}: authorization must be NONE or AWS_IAM")
        gateway = [k for k in self.operations if k.split(" ", 1)[1].startswith("/v1/gateway/")]
        for key in gateway:
            if self.tf_routes.get(key, {}).get("authorization") != "AWS_IAM":
                self.fail("routes", f"{key} is a gateway route and must be authorised with AWS_IAM")

    # -- per-function sources --------------------------------------------------------------

    def sources(self, fn: str) -> list[pathlib.Path]:
        files = rust_files(self.crates[fn] / "src")
        spec = self.cfg.functions.get(fn, {})
        for module in spec.get("modules", []) + spec.get("exclusive", []):
            found = rust_files(self.cfg.library / module)
            if not found:
                self.fail("coverage", f"functions.toml: {fn} lists library module {module}, which does not exist")
            files += found
        return sorted(set(files))

    def exclusive_to_others(self, fn: str) -> set[pathlib.Path]:
        out: set[pathlib.Path] = set()
        for other, spec in self.cfg.functions.items():
            if other != fn:
                for module in spec.get("exclusive", []):
                    out |= set(rust_files(self.cfg.library / module))
        return out

    def verify_unreachable(self, fn: str, claim: dict) -> bool:
        """An `unreachable` claim holds if its `via` identifier is called nowhere this function
        can reach: not in its crate, not in any library file other than those that no Lambda
        runs or that belong exclusively to other functions."""
        via = claim.get("via")
        if not via or not claim.get("reason"):
            self.fail("coverage", f"functions.toml: {fn} unreachable claim {claim} needs `via` and `reason`")
            return False
        skip = {p for m in self.cfg.not_in_lambdas for p in rust_files(self.cfg.library / m)} | self.exclusive_to_others(fn)
        candidates = set(rust_files(self.crates[fn] / "src")) | (set(rust_files(self.cfg.library)) - skip)
        hits = [self.rel(p) for p in sorted(candidates) if call_sites(self.code(p), via)]
        if hits:
            what = claim.get("action") or claim.get("env")
            self.fail("coverage", f"functions.toml: {fn} claims it never reaches {what} (via {via}), but {via}( is called in {', '.join(hits)}")
            return False
        return True

    def check_env_and_iam(self) -> None:
        for fn in sorted(self.crates):
            if fn not in self.cfg.functions or fn not in self.tf_functions:
                continue
            spec = self.cfg.functions[fn]
            files = self.sources(fn)
            reads: set[str] = set()
            calls: set[str] = set()
            uses_index = False
            for p in files:
                reads |= env_reads(self.code(p))
                found = aws_calls(self.code(p), self.rel(p))
                calls |= found.actions
                uses_index |= found.uses_index
                for problem in found.problems:
                    self.fail("iam", problem)
            for claim in spec.get("unreachable", []):
                if self.verify_unreachable(fn, claim):
                    calls.discard(claim.get("action"))
                    reads.discard(claim.get("env"))
            if self.purpose_env:
                # The shared start-up names every purpose's variable; a function loads only
                # its own (FUNCTION_KEYS), and with none it never calls Secrets Manager.
                reads = (reads - set(self.purpose_env.values())) | self.secret_envs_of(fn)
                if not self.secret_envs_of(fn):
                    calls.discard("secretsmanager:GetSecretValue")
            self.check_env(fn, reads)
            self.check_iam(fn, calls, uses_index)

    def check_env(self, fn: str, reads: set[str]) -> None:
        reads = {r for r in reads if not r.startswith("AWS_")} - set(self.cfg.local_only_env)
        tf = self.tf_env.get(fn, set())
        for name in sorted(reads - tf):
            self.fail("env", f"{fn} reads {name}, which its Terraform environment (infra/environment.tf) does not set")
        for name in sorted(tf - reads):
            self.fail("env", f"{fn}: Terraform sets {name}, which its code never reads")
        for name in sorted(tf & set(self.cfg.local_only_env)):
            self.fail("env", f"{fn}: Terraform sets {name}, which is local-only ({self.cfg.local_only_env[name]})")

    def platform_needs(self, fn: str) -> tuple[set[str], set[str]]:
        """(actions, kms uses) the Lambda platform performs with this function's role."""
        actions, kms = set(PLATFORM_ALWAYS), set()
        for esm in self.esms.values():
            target = re.search(r'aws_lambda_function\.\w+\["([^"]+)"\]', str(esm.get("function_name")))
            if not target or target.group(1) != fn:
                continue
            if "stream_arn" in str(esm.get("event_source_arn")):
                actions |= STREAM_READ
                kms.add("dynamodb-stream")
            for dest in as_list(esm.get("destination_config")):
                for on_failure in as_list(dest.get("on_failure")):
                    if "aws_sqs_queue" in str(on_failure.get("destination_arn")):
                        actions.add("sqs:SendMessage")
                        kms.add("sqs")
        return actions, kms

    def check_iam(self, fn: str, calls: set[str], uses_index: bool) -> None:
        statements = self.statements(fn)
        if statements is None:
            return
        grant = policy_grants(statements)
        platform, kms_uses = self.platform_needs(fn)
        services = {a.split(":")[0] for a in calls}
        if "dynamodb" in services:
            kms_uses.add("dynamodb")
        if "secretsmanager" in services:
            kms_uses.add("secretsmanager")
        if "sqs" in services:
            kms_uses.add("sqs")
        if "sns:Publish" in calls and any("@sns" in a for a in grant.actions):
            # Publishing to an encrypted topic needs the topic key; SMS to phone numbers does
            # not, so the topic key is required only when the role also publishes to a topic.
            kms_uses.add("sns-topic")
        needed_kms = {f"{a}@{VIA.get(use, use)}" for use in kms_uses for a in KMS_FOR_SERVICE[use]}
        expected = calls | platform | needed_kms
        for action in sorted(expected - grant.actions):
            origin = "its code calls it" if action in calls else "the Lambda platform needs it" if action in platform else "it uses a KMS-encrypted resource"
            self.fail("iam", f"{fn}: role does not grant {action} ({origin})")
        for action in sorted(grant.actions - expected):
            self.fail("iam", f"{fn}: role grants {action}, which neither its code nor the Lambda platform needs")
        for action in sorted(set(grant.star_resources) - STAR_RESOURCE_OK):
            self.fail("iam", f'{fn}: {action} is granted on resource "*"; scope it to the resource')
        if uses_index and not grant.index_resource:
            self.fail("iam", f"{fn}: code queries a DynamoDB index but no statement grants <table>/index/*")
        if grant.index_resource and not uses_index:
            self.fail("iam", f"{fn}: role grants <table>/index/*, but its code queries no index")

    # -- coverage --------------------------------------------------------------------------

    def check_coverage(self) -> None:
        attributed: set[pathlib.Path] = set()
        for spec in self.cfg.functions.values():
            for module in spec.get("modules", []) + spec.get("exclusive", []):
                attributed |= set(rust_files(self.cfg.library / module))
        for module in self.cfg.not_in_lambdas:
            attributed |= set(rust_files(self.cfg.library / module))
        for p in rust_files(self.cfg.library):
            if p in attributed:
                continue
            code = self.code(p)
            found = aws_calls(code, self.rel(p))
            reads = {r for r in env_reads(code) if not r.startswith("AWS_")}
            if found.actions or reads:
                what = ", ".join(sorted(found.actions | reads))
                self.fail("coverage", f"{self.rel(p)} reads or calls {what}, but functions.toml attributes it to no function (list it under the functions that run it, or in not_in_lambdas)")

    def collect(self) -> list[str]:
        """Runs every check; the findings (empty when the contract holds)."""
        self.load()
        self.check_functions()
        self.check_routes()
        self.check_env_and_iam()
        self.check_key_secrets()
        self.check_leading_keys()
        self.check_coverage()
        return self.findings

    def print_policies(self) -> int:
        self.load()
        out = {fn: grant_lines(self.statements(fn) or []) for fn in sorted(self.tf_policies)}
        for finding in self.findings:
            print(finding, file=sys.stderr)
        print(json.dumps(out, indent=2, sort_keys=True))
        return 1 if self.findings else 0

    def run(self) -> int:
        self.collect()
        for note in self.notes:
            print(f"note: {note}")
        for finding in self.findings:
            print(finding)
        summary = f"{len(self.operations)} operations, {len(self.tf_routes)} routes, {len(self.tf_functions)} functions"
        if self.findings:
            print(f"contract check FAILED: {len(self.findings)} finding(s) ({summary})")
            return 1
        print(f"contract check passed ({summary})")
        return 0


def main(argv: Iterable[str] | None = None) -> int:
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=pathlib.Path, default=here.parent.parent)
    parser.add_argument("--infra", type=pathlib.Path)
    parser.add_argument("--openapi", type=pathlib.Path)
    parser.add_argument("--functions", type=pathlib.Path, default=here / "functions.toml")
    parser.add_argument(
        "--print-policies",
        action="store_true",
        help="print what each function's policy grants as the checker renders it (one line per action and resource; diff two revisions) and exit",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    repo = args.repo.resolve()
    checker = Checker(repo, args.infra or repo / "infra", args.openapi or repo / "openapi.yaml", args.functions)
    if args.print_policies:
        return checker.print_policies()
    return checker.run()


if __name__ == "__main__":
    sys.exit(main())
