# The Lambda functions: one per crate under functions/ (DESIGN §1), each built by
# scripts/build-lambdas.sh into target/lambda/<name>/bootstrap.zip.
#
# reserved_concurrency caps each function (a flood on one route cannot starve the others or run
# up SMS and DynamoDB cost) and reserves that much of the account's concurrency for it. The sum
# (75) must leave the account's unreserved minimum of 100: new accounts with a concurrency quota
# of 10 must ask for the default 1000 first.
locals {
  functions = {
    "login" = {
      description = "Password login, forgot/reset password"
      # argon2id (19 MiB, t=2) per login: memory buys CPU on Lambda.
      memory_mb            = 1024
      timeout_s            = 10
      reserved_concurrency = 20
    }
    "sms-code" = {
      description          = "SMS/TOTP code resend and verify, session refresh, logout"
      memory_mb            = 512
      timeout_s            = 10
      reserved_concurrency = 20
    }
    "account" = {
      description          = "Account read, password change, phone change, authenticator app"
      memory_mb            = 1024
      timeout_s            = 10
      reserved_concurrency = 10
    }
    "buypass" = {
      description = "Buypass OpenID Connect start and callback (smartcard registration)"
      memory_mb   = 512
      # Discovery, JWKS and the token endpoint at Buypass are on the callback's path.
      timeout_s            = 20
      reserved_concurrency = 10
    }
    "serial-activation" = {
      description = "Activates registered certificate serials (stream + schedule), gateway lookup, SMS delivery failures"
      memory_mb   = 256
      # A stream batch or a sweep may publish and text several serials.
      timeout_s            = 60
      reserved_concurrency = 15
    }
  }

  # Functions API Gateway integrates with: every function that serves a route.
  http_functions = toset(distinct([for route in local.routes : route.function]))
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${local.name}-${each.key}"
  description        = "Execution role of the ${each.key} Lambda function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      # Only Lambda functions of this account may assume these roles (confused deputy).
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

# Each role gets exactly its function's policy document (iam.tf).
resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = "least-privilege"
  role   = aws_iam_role.function[each.key].id
  policy = local.function_policies[each.key]
}

resource "aws_lambda_function" "function" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_117:No VPC: the functions reach only AWS public endpoints (DynamoDB, SNS, Secrets Manager) and Buypass over HTTPS; there is nothing private to reach, and a VPC would add NAT cost and an egress path without reducing exposure.
  #checkov:skip=CKV_AWS_272:Code signing needs artefacts signed by AWS Signer and deployed from S3; these are deployed from the locally built zip whose hash Terraform pins (source_code_hash). Revisit when CI builds and signs the artefacts.
  #checkov:skip=CKV_AWS_173:The environment holds only resource names, ARNs and URLs (no secrets: those are in Secrets Manager); Lambda encrypts it at rest with its service key, and a CMK here would add key grants for no gain.

  function_name = "${local.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.function[each.key].arn

  filename         = "${local.artifacts_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${local.artifacts_dir}/${each.key}/bootstrap.zip")
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]

  memory_size                    = each.value.memory_mb
  timeout                        = each.value.timeout_s
  reserved_concurrent_executions = each.value.reserved_concurrency

  environment {
    variables = local.function_environment[each.key]
  }

  logging_config {
    log_format = "Text" # the functions already write JSON lines themselves
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tracing_config {
    mode = "Active"
  }

  dynamic "dead_letter_config" {
    for_each = each.key == "serial-activation" ? [aws_sqs_queue.activation_dlq.arn] : []
    content {
      target_arn = dead_letter_config.value
    }
  }

  depends_on = [aws_iam_role_policy.function]
}
