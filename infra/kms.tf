# Customer managed keys, one per kind of data, so a grant on one never opens another:
#   data      - the DynamoDB table (and its stream) and the activation dead-letter queue
#   secrets   - Secrets Manager (signing keys, pepper, Buypass client key, TOTP key)
#   messaging - SNS topics (activation events, alarms)
#   logs      - CloudWatch log groups (Lambda, API access logs, SMS delivery status)
# Every key: yearly automatic rotation, 30-day deletion window, and a key policy that lets the
# account's IAM policies grant use (so each role's policy, iam.tf, is where use is granted and
# reviewed) plus exactly the service principals that must use the key on their own.

locals {
  kms_keys = {
    data      = "DynamoDB table and stream, activation dead-letter queue"
    secrets   = "Secrets Manager key secrets, one per purpose (token signing, token verification, code pepper, TOTP key, Buypass client key)"
    messaging = "SNS topics (activation events, alarms)"
    logs      = "CloudWatch Logs log groups"
  }
}

data "aws_iam_policy_document" "kms_account" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; the account statement hands control of the key to IAM policies, the standard default key policy.
  #checkov:skip=CKV_AWS_111:As above: "*" in a key policy is the key itself.
  #checkov:skip=CKV_AWS_356:As above: "*" in a key policy is the key itself.
  statement {
    sid       = "AccountIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
}

# The logs keys' policy, per region with log groups: the stack's, and us-east-1 for the WAF
# logs (cloudfront.tf). Only CloudWatch Logs of that region, for this account's log groups.
data "aws_iam_policy_document" "kms_logs" {
  for_each = { stack = var.region, waf = "us-east-1" }

  source_policy_documents = [data.aws_iam_policy_document.kms_account.json]

  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${each.value}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${each.value}:${local.account}:log-group:*"]
    }
  }
}

data "aws_iam_policy_document" "kms_messaging" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" is this key; the CloudWatch service statement has no condition on purpose (see below), and the alarm topic's policy limits publishing to this stack's alarms.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" is this key (as for CKV_AWS_111).
  source_policy_documents = [data.aws_iam_policy_document.kms_account.json]

  statement {
    # CloudWatch alarms publish to the encrypted alarm topic as the CloudWatch service, which
    # needs the key itself (this is why the topic cannot use the AWS managed SNS key). The
    # alarm topic's policy (alarms.tf) is what limits publishing to this stack's alarms; no
    # condition here, because an alarm whose notification cannot be encrypted fails silently.
    sid       = "CloudWatchAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${local.name}: ${local.kms_keys.data}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_account.json
}

resource "aws_kms_key" "secrets" {
  description             = "${local.name}: ${local.kms_keys.secrets}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_account.json
}

resource "aws_kms_key" "messaging" {
  description             = "${local.name}: ${local.kms_keys.messaging}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_messaging.json
}

resource "aws_kms_key" "logs" {
  description             = "${local.name}: ${local.kms_keys.logs}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_logs["stack"].json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${local.name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

resource "aws_kms_alias" "messaging" {
  name          = "alias/${local.name}-messaging"
  target_key_id = aws_kms_key.messaging.key_id
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}
