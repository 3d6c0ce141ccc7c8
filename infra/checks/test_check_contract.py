"""Tests of the contract checker: it must catch what it claims to catch.

The integration tests copy the real repository's Terraform, openapi.yaml, functions.toml and
Rust sources into a temporary directory, apply one deliberate mistake, and assert that the
checker reports exactly that mistake: the findings of the mutated copy minus those of the
unmutated copy must contain the expected message. Diffing against the unmutated copy keeps the
tests meaningful whatever state the rest of the project is in while code lands in parallel.

Run: python -m unittest discover -s infra/checks -p 'test_*.py'  (scripts/check-infra.sh does)
"""

from __future__ import annotations

import pathlib
import re
import shutil
import tempfile
import unittest

import hcl2

import check_contract as cc

REPO = pathlib.Path(__file__).resolve().parents[2]


def copy_repo(dest: pathlib.Path) -> None:
    shutil.copytree(REPO / "infra", dest / "infra", ignore=shutil.ignore_patterns(".terraform*", "__pycache__", "*.tfstate*"))
    if (REPO / "openapi.yaml").exists():
        shutil.copy2(REPO / "openapi.yaml", dest / "openapi.yaml")
    for manifest in (REPO / "functions").rglob("Cargo.toml"):
        crate = manifest.parent
        target = dest / crate.relative_to(REPO)
        target.mkdir(parents=True)
        shutil.copy2(manifest, target / "Cargo.toml")
        # Only what the checker reads: Rust sources (no data files, no build output).
        for source in (crate / "src").rglob("*.rs"):
            dest_file = target / source.relative_to(crate)
            dest_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest_file)


def findings(repo: pathlib.Path) -> set[str]:
    checker = cc.Checker(repo, repo / "infra", repo / "openapi.yaml", repo / "infra/checks/functions.toml")
    return set(checker.collect())


def edit(path: pathlib.Path, old: str, new: str, count: int = 1) -> None:
    """Replaces `old` (a regex) by `new` in `path`; fails the test if `old` is not there, so a
    change in the Terraform's shape shows up here instead of making a test vacuous."""
    text = path.read_text()
    changed, n = re.subn(old, new, text, count=count, flags=re.M)
    if n == 0:
        raise AssertionError(f"{path.name}: pattern not found: {old}")
    path.write_text(changed)


class MutationTest(unittest.TestCase):
    """Each test: one deliberate mistake in a copy of the repository, one expected finding."""

    baseline: set[str]

    @classmethod
    def setUpClass(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            copy_repo(pathlib.Path(tmp))
            cls.baseline = findings(pathlib.Path(tmp))

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.repo = pathlib.Path(self._tmp.name)
        copy_repo(self.repo)
        self.infra = self.repo / "infra"

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def assertNewFinding(self, *patterns: str) -> None:
        new = findings(self.repo) - self.baseline
        for pattern in patterns:
            self.assertTrue(
                any(re.search(pattern, f) for f in new),
                f"expected a new finding matching {pattern!r}; new findings: {sorted(new)}",
            )

    def add_library_module(self, name: str, code: str, functions: list[str]) -> None:
        """A library file run by `functions` (added to their `modules` in functions.toml)."""
        (self.repo / "functions/core/src" / name).write_text(code)
        toml = self.infra / "checks/functions.toml"
        for fn in functions:
            edit(toml, rf'(\[functions\.{re.escape(fn)}\]\nmodules = \[)', rf'\1"core/src/{name}", ')

    def add_statement(self, function: str, actions: str, resources: str) -> None:
        """An extra Allow statement in the policy of `function` only (a dynamic statement in
        the shared data.aws_iam_policy_document.function)."""
        edit(
            self.infra / "iam.tf",
            r'(data "aws_iam_policy_document" "function" \{\n  for_each = [^\n]*\n)',
            rf'\1  dynamic "statement" {{\n    for_each = each.key == "{function}" ? [1] : []\n'
            rf'    content {{\n      sid       = "Probe"\n      actions   = {actions}\n      resources = {resources}\n    }}\n  }}\n',
        )

    def edit_access(self, function: str, attribute: str, old: str, new: str) -> None:
        """Replaces `old` (a regex) by `new` in `attribute` of local.function_access[function]."""
        edit(self.infra / "iam.tf", rf'(\n    "{re.escape(function)}" = \{{\n(?:      [^\n]*\n)*?      {attribute}\s*= [^\n]*?){old}', rf"\1{new}")

    # -- routes --------------------------------------------------------------------------

    def test_route_pointing_at_the_wrong_function(self) -> None:
        edit(self.infra / "routes.tf", r'("POST /v1/auth/login"\s*=\s*\{ function = )"login"', r'\1"sms-code"')
        self.assertNewFinding(r"^\[routes\] POST /v1/auth/login is served by login \(openapi\.yaml x-function\) but its Terraform route points at sms-code$")

    def test_openapi_operation_without_terraform_route(self) -> None:
        edit(self.infra / "routes.tf", r'^\s*"POST /v1/auth/sms/verify"\s*=.*\n', "")
        self.assertNewFinding(r"^\[routes\] POST /v1/auth/sms/verify \(x-function sms-code\) is in openapi\.yaml but has no Terraform route")

    def test_terraform_route_not_in_openapi_for_an_existing_function(self) -> None:
        edit(self.infra / "routes.tf", r"(  routes = \{\n)", r'\1    "POST /v1/auth/backdoor" = { function = "login", authorization = "NONE", throttle = "auth" }\n')
        self.assertNewFinding(r"^\[routes\] Terraform route POST /v1/auth/backdoor \(login\) is not an operation of openapi\.yaml$")

    def test_local_only_operation_must_not_be_deployed(self) -> None:
        edit(self.infra / "routes.tf", r"(  routes = \{\n)", r'\1    "GET /dev/sms" = { function = "login", authorization = "NONE", throttle = "default" }\n')
        self.assertNewFinding(r"^\[routes\] GET /dev/sms is served only by portal-local .* must not be deployed")

    def test_gateway_route_must_use_iam(self) -> None:
        (self.repo / "openapi.yaml").write_text(
            (self.repo / "openapi.yaml").read_text().replace(
                "\npaths:\n",
                "\npaths:\n  /v1/gateway/certificates/{serial}:\n    get:\n      x-function: serial-activation\n      responses: {'200': {description: ok}}\n",
                1,
            )
        )
        edit(self.infra / "routes.tf", r'("GET /v1/gateway/certificates/\{serial\}"\s*=\s*\{[^}]*authorization = )"AWS_IAM"', r'\1"NONE"')
        self.assertNewFinding(r"^\[routes\] GET /v1/gateway/certificates/\{serial\} is a gateway route and must be authorised with AWS_IAM$")

    # -- IAM -----------------------------------------------------------------------------

    def test_code_calls_an_action_the_role_does_not_grant(self) -> None:
        self.add_library_module(
            "probe_queue.rs",
            "use aws_sdk_sqs::Client;\n"
            "pub async fn send(c: &Client) { let _ = c.send_message().queue_url(\"q\").send().await; }\n",
            ["login"],
        )
        self.assertNewFinding(r"^\[iam\] login: role does not grant sqs:SendMessage \(its code calls it\)$")

    def test_role_grants_an_action_nothing_calls(self) -> None:
        self.add_statement("sms-code", '["sqs:DeleteQueue"]', "[aws_sqs_queue.activation_dlq.arn]")
        self.assertNewFinding(r"^\[iam\] sms-code: role grants sqs:DeleteQueue, which neither its code nor the Lambda platform needs$")
        self.assertFalse(any(f.startswith("[iam] login:") for f in findings(self.repo) - self.baseline), "the probe is sms-code's alone")

    def test_scan_granted_by_a_functions_data(self) -> None:
        self.edit_access("serial-activation", "scans_table", "true", "false")
        self.edit_access("login", "scans_table", "false", "true")
        self.assertNewFinding(
            r"^\[iam\] serial-activation: role does not grant dynamodb:Scan \(its code calls it\)$",
            r"^\[iam\] login: role grants dynamodb:Scan, which neither its code nor the Lambda platform needs$",
        )

    def test_item_action_missing_from_the_shared_statement(self) -> None:
        edit(self.infra / "iam.tf", r'(sid       = "Table"\n\s*actions   = \[[^\]]*), "dynamodb:Query"', r"\1")
        self.assertNewFinding(*(rf"^\[iam\] {fn}: role does not grant dynamodb:Query \(its code calls it\)$" for fn in ("login", "sms-code", "account", "buypass", "serial-activation")))

    def test_a_role_given_the_stream_it_is_not_fed_by(self) -> None:
        self.edit_access("login", "reads_stream", "false", "true")
        self.assertNewFinding(r"^\[iam\] login: role grants dynamodb:GetRecords, which neither its code nor the Lambda platform needs$")

    def test_dead_letter_queue_grant_missing(self) -> None:
        self.edit_access("serial-activation", "dead_letter_queue", "true", "false")
        self.assertNewFinding(
            r"^\[iam\] serial-activation: role does not grant sqs:SendMessage \(the Lambda platform needs it\)$",
            r"^\[iam\] serial-activation: role does not grant kms:GenerateDataKey@sqs \(it uses a KMS-encrypted resource\)$",
        )

    def test_a_policy_the_checker_cannot_evaluate_fails(self) -> None:
        # Fail closed: an expression outside what the checker evaluates is a finding, never a
        # policy taken as granting nothing (or everything).
        edit(self.infra / "iam.tf", r"for_each = (each\.value\.scans_table \? \[1\] : \[\])", r"for_each = distinct(\1)")
        self.assertNewFinding(r"^\[iam\] login: cannot evaluate its policy document data\.aws_iam_policy_document\.function: cannot evaluate distinct\(\) here$")

    def test_platform_action_missing(self) -> None:
        edit(self.infra / "iam.tf", r'(?s)(data "aws_iam_policy_document" "function" \{.*?sid\s*= "Logs"\n\s*actions\s*= \["logs:CreateLogStream"), "logs:PutLogEvents"\]', r"\1]")
        self.assertNewFinding(r"^\[iam\] login: role does not grant logs:PutLogEvents \(the Lambda platform needs it\)$")

    def test_dynamodb_transaction_needs_the_item_actions(self) -> None:
        # The roles grant ConditionCheckItem today (the store's transactions use it): take it
        # away, so the finding this test expects can appear.
        edit(self.infra / "iam.tf", r'"dynamodb:ConditionCheckItem", ', "")
        self.add_library_module(
            "probe_tx.rs",
            "use aws_sdk_dynamodb::types::{Put, ConditionCheck, TransactWriteItem};\n"
            "pub async fn tx(c: &aws_sdk_dynamodb::Client) {\n"
            "    let p = Put::builder().table_name(\"t\").build();\n"
            "    let k = ConditionCheck::builder().table_name(\"t\").build();\n"
            "    let _ = c.transact_write_items().send().await;\n"
            "}\n",
            ["sms-code"],
        )
        self.assertNewFinding(r"^\[iam\] sms-code: role does not grant dynamodb:ConditionCheckItem \(its code calls it\)$")
        self.assertFalse(any("TransactWriteItems" in f for f in findings(self.repo)), "TransactWriteItems is not an IAM action")

    def test_wildcard_resource_is_refused(self) -> None:
        self.add_library_module(
            "probe_get.rs",
            "pub async fn get(c: &aws_sdk_dynamodb::Client) { let _ = c.get_item().send().await; }\n",
            ["login"],
        )
        self.add_statement("login", '["dynamodb:GetItem"]', '["*"]')
        self.assertNewFinding(r'^\[iam\] login: dynamodb:GetItem is granted on resource "\*"; scope it to the resource$')

    # -- environment ---------------------------------------------------------------------

    def test_code_reads_a_variable_terraform_does_not_set(self) -> None:
        self.add_library_module(
            "probe_env.rs",
            'pub fn setting() -> Option<String> { std::env::var("PORTAL_NEW_SETTING").ok() }\n',
            ["login"],
        )
        self.assertNewFinding(r"^\[env\] login reads PORTAL_NEW_SETTING, which its Terraform environment \(infra/environment\.tf\) does not set$")

    def test_terraform_sets_a_variable_no_code_reads(self) -> None:
        edit(self.infra / "environment.tf", r'(    "login" = \{\n)', r'\1      PORTAL_LEFTOVER = "x"\n')
        self.assertNewFinding(r"^\[env\] login: Terraform sets PORTAL_LEFTOVER, which its code never reads$")

    # -- key secrets (one per purpose) ---------------------------------------------------

    def test_a_verify_only_function_given_the_signing_secret(self) -> None:
        edit(self.infra / "environment.tf", r'(    "account" = \{\n)', '\\1      PORTAL_TOKEN_SIGNING_SECRET_ID = aws_secretsmanager_secret.key["token-signing"].arn\n')
        self.assertNewFinding(
            r"^\[secrets\] account: Terraform gives it PORTAL_TOKEN_SIGNING_SECRET_ID; it only verifies tokens and must not hold the signing keys$",
            r"^\[env\] account: Terraform sets PORTAL_TOKEN_SIGNING_SECRET_ID, which its code never reads$",
            r"^\[secrets\] account: environment names secret key\[token-signing\], which its role may not read$",
        )

    def test_a_role_granted_the_signing_secret_it_does_not_load(self) -> None:
        self.edit_access("buypass", "key_secrets", r'"buypass-client-key"', '"buypass-client-key", "token-signing"')
        self.assertNewFinding(
            r"^\[secrets\] buypass: role may read the token-signing secret key\[token-signing\]; only sms-code may$",
            r"^\[secrets\] buypass: role may read secret key\[token-signing\], which its environment does not name",
        )

    def test_code_that_would_load_the_signing_keys_in_a_verify_only_function(self) -> None:
        edit(
            self.repo / "functions/entry/lambda/src/config.rs",
            r"(Function::Buypass,\s*&\[\s*)KeyPurpose::TokenVerifying",
            r"\1KeyPurpose::TokenSigning, KeyPurpose::TokenVerifying",
        )
        self.assertNewFinding(
            r"^\[secrets\] buypass loads the token-signing keys \(FUNCTION_KEYS\), but only sms-code may mint access tokens$",
            r"^\[env\] buypass reads PORTAL_TOKEN_SIGNING_SECRET_ID, which its Terraform environment",
        )

    def test_a_role_may_read_a_secret_of_another_purpose(self) -> None:
        self.edit_access("login", "key_secrets", r'"code-pepper"', '"code-pepper", "token-verifying"')
        self.assertNewFinding(r"^\[secrets\] login: role may read secret key\[token-verifying\], which its environment does not name")

    def test_a_function_without_keys_must_not_read_secrets(self) -> None:
        self.add_statement("serial-activation", '["secretsmanager:GetSecretValue"]', '[aws_secretsmanager_secret.key["code-pepper"].arn]')
        self.assertNewFinding(
            r"^\[iam\] serial-activation: role grants secretsmanager:GetSecretValue, which neither its code nor the Lambda platform needs$",
            r"^\[secrets\] serial-activation: role may read secret key\[code-pepper\]",
        )

    def test_table_access_without_leading_keys(self) -> None:
        edit(
            self.infra / "iam.tf",
            r'(?s)(data "aws_iam_policy_document" "function" \{.*?sid\s*= "Table".*?)\n\s*condition \{\n\s*test\s*= "ForAllValues:StringLike"\n\s*variable = "dynamodb:LeadingKeys"\n\s*values\s*= [^\n]*\n\s*\}',
            r"\1",
        )
        self.assertNewFinding(r"^\[leading\] account: statement Table grants DynamoDB item access without a ForAllValues:StringLike dynamodb:LeadingKeys condition$")

    # -- coverage and claims -------------------------------------------------------------

    def test_new_aws_code_must_be_attributed(self) -> None:
        (self.repo / "functions/core/src/probe_unlisted.rs").write_text(
            "pub async fn f(c: &aws_sdk_sns::Client) { let _ = c.publish().send().await; }\n"
        )
        self.assertNewFinding(r"^\[coverage\] functions/core/src/probe_unlisted\.rs reads or calls sns:Publish, but functions\.toml attributes it to no function")

    def test_a_stale_unreachable_claim_is_rejected(self) -> None:
        self.add_library_module(
            "probe_scan.rs",
            "pub async fn sweep(c: &aws_sdk_dynamodb::Client) { let _ = c.scan().send().await; }\n",
            ["login"],
        )
        (self.repo / "functions/core/src/probe_caller.rs").write_text("pub async fn on_login() { crate::probe_scan::sweep(todo!()).await }\n")
        toml = self.infra / "checks/functions.toml"
        toml.write_text(toml.read_text() + '\n[[functions.login.unreachable]]\naction = "dynamodb:Scan"\nvia = "sweep"\nreason = "only the activation sweep scans"\n')
        self.assertNewFinding(r"^\[coverage\] functions\.toml: login claims it never reaches dynamodb:Scan \(via sweep\), but sweep\( is called in functions/core/src/probe_caller\.rs$")


class SourceScanTest(unittest.TestCase):
    """The Rust scanning on its own."""

    def test_comments_and_test_modules_are_ignored(self) -> None:
        code = cc.strip_rust(
            '//! reads PORTAL_DOC_ONLY\n'
            'fn a() { let _ = std::env::var("PORTAL_REAL"); } // var("PORTAL_COMMENT")\n'
            '/* var("PORTAL_BLOCK") */\n'
            '#[cfg(test)]\nmod tests { fn t() { std::env::set_var("PORTAL_TEST_ONLY", "1"); let c = \'{\'; } }\n'
            'fn b<\'a>(x: &\'a str) -> &\'a str { x }\n'
        )
        self.assertEqual(cc.env_reads(code), {"PORTAL_REAL"})

    def test_env_reader_helpers_and_constants_are_found(self) -> None:
        code = 'fn f() { required("PORTAL_A"); var("OTHER_B"); optional_env("PORTAL_C"); let _ = "PORTAL_D"; std::env::set_var("X_Y", "1"); }'
        self.assertEqual(cc.env_reads(code), {"PORTAL_A", "OTHER_B", "PORTAL_C", "PORTAL_D"})

    def test_sdk_calls_map_to_iam_actions(self) -> None:
        code = (
            "use aws_sdk_dynamodb::Client; use aws_sdk_sns as sns;\n"
            "async fn f(c: &Client, s: &aws_sdk_sns::Client) {\n"
            "  c.get_item(); c.query().index_name(\"gsi1\"); s.publish(); c.transact_get_items();\n"
            "  vec![1].iter().map(|x| x);\n"
            "}\n"
        )
        calls = cc.aws_calls(code, "x.rs")
        self.assertEqual(calls.actions, {"dynamodb:GetItem", "dynamodb:Query", "sns:Publish"})
        self.assertTrue(calls.uses_index)
        self.assertEqual(calls.problems, [])

    def test_methods_of_an_unused_service_are_not_aws_calls(self) -> None:
        code = "use aws_sdk_sns::Client; fn f(v: Vec<u8>) { v.iter().scan(0, |a, b| None::<u8>); }"
        self.assertEqual(cc.aws_calls(code, "x.rs").actions, set())

    def test_partiql_must_be_mapped_by_hand(self) -> None:
        calls = cc.aws_calls("use aws_sdk_dynamodb::Client; fn f(c: &Client) { c.execute_statement(); }", "x.rs")
        self.assertTrue(any("ExecuteStatement" in p for p in calls.problems))

    def test_snake_case_of_operation_names(self) -> None:
        self.assertEqual(cc.snake("GetItem"), "get_item")
        self.assertEqual(cc.snake("CreateSMSSandboxPhoneNumber"), "create_sms_sandbox_phone_number")
        self.assertEqual(cc.snake("Publish"), "publish")


class TerraformEvalTest(unittest.TestCase):
    """The evaluation of the policy documents' expressions on its own."""

    @staticmethod
    def statements(tf: str, key: str | None) -> list[dict]:
        doc = hcl2.loads(tf)
        docs = cc.tf_blocks(doc, "data", "aws_iam_policy_document")
        return cc.TfEval(cc.tf_locals(doc), docs).policy_statements(cc.PolicyDoc("p", key))

    TF = """
locals {
  partition = data.aws_partition.current.partition
  access = {
    "a" = { secrets = ["x", "y"], extra = true }
    "b" = { secrets = [], extra = false }
  }
}
data "aws_iam_policy_document" "p" {
  for_each = local.access
  statement {
    sid       = "Logs"
    resources = ["${aws_log_group.f[each.key].arn}:*", "arn:${local.partition}:sns:*"]
  }
  dynamic "statement" {
    for_each = length(each.value.secrets) > 0 ? [each.value.secrets] : []
    content {
      sid       = "Secrets"
      resources = [for s in statement.value : aws_secret.key[s].arn if s != "y"]
    }
  }
  dynamic "statement" {
    for_each = each.value.extra && !contains(each.value.secrets, "z") ? [1] : []
    content {
      sid = "Extra"
    }
  }
}
"""

    def test_each_instance_gets_its_own_statements(self) -> None:
        a = self.statements(self.TF, "a")
        self.assertEqual([st["sid"] for st in a], ["Logs", "Secrets", "Extra"])
        self.assertEqual(a[1]["resources"], [cc.Ref('aws_secret.key["x"].arn')])
        self.assertEqual([st["sid"] for st in self.statements(self.TF, "b")], ["Logs"])

    def test_apply_time_values_stay_symbolic_text(self) -> None:
        logs = self.statements(self.TF, "b")[0]
        self.assertEqual(logs["resources"], ['${aws_log_group.f["b"].arn}:*', "arn:${data.aws_partition.current.partition}:sns:*"])

    def test_what_cannot_be_evaluated_is_an_error(self) -> None:
        for expr in ("var.enabled ? [1] : []", "distinct([1])", "each.value.missing ? [1] : []"):
            tf = self.TF.replace("each.value.extra && !contains(each.value.secrets, \"z\") ? [1] : []", expr)
            with self.subTest(expr), self.assertRaises(cc.EvalError):
                self.statements(tf, "a")


class RealRepositoryTest(unittest.TestCase):
    def test_the_real_terraform_parses_and_has_the_data_the_checker_reads(self) -> None:
        checker = cc.Checker(REPO, REPO / "infra", REPO / "openapi.yaml", REPO / "infra/checks/functions.toml")
        checker.load()
        self.assertTrue(checker.tf_routes, "local.routes not found")
        self.assertTrue(checker.tf_functions, "local.functions not found")
        self.assertEqual(set(checker.tf_env), set(checker.tf_functions))
        self.assertEqual(set(checker.tf_policies), set(checker.tf_functions))
        for route in checker.tf_routes.values():
            self.assertIn(route["authorization"], {"NONE", "AWS_IAM"})
            self.assertIn(route["throttle"], {"auth", "default"})


if __name__ == "__main__":
    unittest.main()
