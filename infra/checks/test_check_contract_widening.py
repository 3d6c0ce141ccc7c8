"""Ways to widen a function's role that the contract checker must report (found by the
issue 15 security review; each passed the checker with no finding before it was fixed). Each
test makes one widening mutation in a copy of the repository and expects a new finding.
Run by scripts/check-infra.sh with the other checker tests."""

from __future__ import annotations

import pathlib
import tempfile
import unittest

import test_check_contract as tcc


class WideningProbe(unittest.TestCase):
    baseline: set[str]

    @classmethod
    def setUpClass(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tcc.copy_repo(pathlib.Path(tmp))
            cls.baseline = tcc.findings(pathlib.Path(tmp))

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.repo = pathlib.Path(self._tmp.name)
        tcc.copy_repo(self.repo)
        self.iam = self.repo / "infra/iam.tf"

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def new_findings(self) -> set[str]:
        return tcc.findings(self.repo) - self.baseline

    def test_a_not_actions_statement_on_star_is_reported(self) -> None:
        # Allow everything except IAM, on every resource, for login only.
        tcc.edit(
            self.iam,
            r'(data "aws_iam_policy_document" "function" \{\n  for_each = [^\n]*\n)',
            r'\1  dynamic "statement" {\n    for_each = each.key == "login" ? [1] : []\n'
            r'    content {\n      sid         = "Probe"\n      not_actions = ["iam:*"]\n      resources   = ["*"]\n    }\n  }\n',
        )
        self.assertTrue(self.new_findings(), "login may do everything but IAM on *, and the checker is silent")

    def test_an_override_policy_document_is_evaluated(self) -> None:
        # A second document merged in with override_policy_documents (the aws provider merges
        # it like source_policy_documents) granting every DynamoDB action on every table.
        text = self.iam.read_text()
        text = text.replace(
            'data "aws_iam_policy_document" "function" {\n  for_each = local.function_access\n',
            'data "aws_iam_policy_document" "wide" {\n  statement {\n    sid       = "Wide"\n'
            '    actions   = ["dynamodb:*"]\n    resources = ["arn:aws:dynamodb:*:*:table/*"]\n  }\n}\n\n'
            'data "aws_iam_policy_document" "function" {\n  for_each = local.function_access\n'
            "  override_policy_documents = [data.aws_iam_policy_document.wide.json]\n",
            1,
        )
        self.assertIn('"wide"', text)
        self.iam.write_text(text)
        self.assertTrue(self.new_findings(), "every role gets dynamodb:* on every table, and the checker is silent")

    def test_leading_keys_widened_to_everything_is_reported(self) -> None:
        # login's item access no longer confined to its prefixes: any partition, including
        # OIDC#, SERIAL…, OUTBOX.
        tcc.edit(self.iam, r'("login"\s*= )\["ACCOUNT#\*"[^\]]*\]', r'\1["*"]')
        self.assertTrue(self.new_findings(), "login's LeadingKeys is [\"*\"], and the checker is silent")

    def test_a_statement_whose_effect_is_known_only_at_apply_time_is_reported(self) -> None:
        # effect = var.… stays symbolic; the checker treats "not literally Allow" as a Deny
        # and skips the statement, though Terraform will render it Allow.
        (self.repo / "infra/probe_variables.tf").write_text(
            'variable "probe_effect" {\n  type    = string\n  default = "Allow"\n}\n'
        )
        tcc.edit(
            self.iam,
            r'(data "aws_iam_policy_document" "function" \{\n  for_each = [^\n]*\n)',
            r'\1  dynamic "statement" {\n    for_each = each.key == "login" ? [1] : []\n'
            r'    content {\n      sid       = "Probe"\n      effect    = var.probe_effect\n'
            r'      actions   = ["dynamodb:*"]\n      resources = ["*"]\n    }\n  }\n',
        )
        self.assertTrue(self.new_findings(), "an apply-time Allow of dynamodb:* on * is skipped as if it were a Deny")


if __name__ == "__main__":
    unittest.main()
