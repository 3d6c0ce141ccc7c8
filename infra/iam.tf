# One policy per function: exactly the AWS actions its code calls (on the resources it uses),
# plus what the Lambda platform does with the role (logs, traces, reading the stream, writing
# the dead-letter queue). scripts/check-infra.sh derives the actions from the Rust sources
# (infra/checks/) and fails on any difference either way.
#
# DynamoDB transactions have no IAM action of their own: TransactWriteItems is authorised item
# by item as PutItem / UpdateItem / DeleteItem / ConditionCheckItem, TransactGetItems as
# GetItem. The table statements list those.

locals {
  # The partition-key prefixes each function's code touches (dynamodb:LeadingKeys), from the
  # one module that builds every key, functions/core/src/store/keys.rs: ACCOUNT# (profile,
  # TOTP record, session index), CHALLENGE#, SESSION#, LIMIT# (limits and password backoff),
  # LOCK#, AUDIT# and DECOY# (audit events and their stand-ins), OIDC# (Buypass login state),
  # SERIAL… (the registry: every registry key, by serial or by issuer + serial and any index
  # record, starts with SERIAL). OUTBOX and GATEWAY_EVENTS are local-only.
  # buypass re-authenticates with the password on start (failed-login counters: LIMIT#, LOCK#);
  # account reads the registry for the card status of GET /v1/account (SERIAL…).
  # functions/http/tests/api/contract.rs drives each function's routes and fails when its
  # code touches a prefix that is not listed here.
  #
  # LeadingKeys does not constrain Scan (a Scan has no partition key to compare), so the
  # activation sweep's Scan in serial-activation reads the whole table; only that role has it.
  table_key_prefixes = {
    "login"             = ["ACCOUNT#*", "AUDIT#*", "CHALLENGE#*", "DECOY#*", "LIMIT#*", "LOCK#*", "SESSION#*"]
    "sms-code"          = ["ACCOUNT#*", "AUDIT#*", "CHALLENGE#*", "DECOY#*", "LIMIT#*", "LOCK#*", "SESSION#*"]
    "account"           = ["ACCOUNT#*", "AUDIT#*", "CHALLENGE#*", "DECOY#*", "LIMIT#*", "LOCK#*", "SERIAL*", "SESSION#*"]
    "buypass"           = ["ACCOUNT#*", "AUDIT#*", "LIMIT#*", "LOCK#*", "OIDC#*", "SERIAL*", "SESSION#*"]
    "serial-activation" = ["ACCOUNT#*", "AUDIT#*", "SERIAL*"]
  }

  function_policies = {
    "login"             = data.aws_iam_policy_document.login.json
    "sms-code"          = data.aws_iam_policy_document.sms_code.json
    "account"           = data.aws_iam_policy_document.account.json
    "buypass"           = data.aws_iam_policy_document.buypass.json
    "serial-activation" = data.aws_iam_policy_document.serial_activation.json
  }
}

data "aws_iam_policy_document" "login" {
  statement {
    # Its own log group only (Terraform creates the group, so no CreateLogGroup).
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["login"].arn}:*"]
  }

  statement {
    # Active tracing. X-Ray has no resource-level permissions: "*" is the only form.
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid       = "Table"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.portal.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.table_key_prefixes["login"]
    }
  }

  statement {
    # DynamoDB uses the table's CMK on the caller's behalf (only through DynamoDB).
    sid       = "TableKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Only the key secrets this function loads (secrets.tf, FUNCTION_KEYS in lambda.rs).
    sid       = "KeySecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.key["code-pepper"].arn, aws_secretsmanager_secret.key["origin-verify"].arn]
  }

  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Text messages go straight to phone numbers, which have no ARN; NotResource on every
    # SNS ARN allows exactly that and no publishing to any topic.
    sid           = "SmsToPhoneNumbers"
    actions       = ["sns:Publish"]
    not_resources = ["arn:${local.partition}:sns:*:*:*"]
  }
}

data "aws_iam_policy_document" "sms_code" {
  statement {
    # Its own log group only (Terraform creates the group, so no CreateLogGroup).
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["sms-code"].arn}:*"]
  }

  statement {
    # Active tracing. X-Ray has no resource-level permissions: "*" is the only form.
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid       = "Table"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.portal.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.table_key_prefixes["sms-code"]
    }
  }

  statement {
    # DynamoDB uses the table's CMK on the caller's behalf (only through DynamoDB).
    sid       = "TableKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Only the key secrets this function loads (secrets.tf, FUNCTION_KEYS in lambda.rs).
    sid       = "KeySecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.key["token-signing"].arn, aws_secretsmanager_secret.key["code-pepper"].arn, aws_secretsmanager_secret.key["totp-key"].arn, aws_secretsmanager_secret.key["origin-verify"].arn]
  }

  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Text messages go straight to phone numbers, which have no ARN; NotResource on every
    # SNS ARN allows exactly that and no publishing to any topic.
    sid           = "SmsToPhoneNumbers"
    actions       = ["sns:Publish"]
    not_resources = ["arn:${local.partition}:sns:*:*:*"]
  }
}

data "aws_iam_policy_document" "account" {
  statement {
    # Its own log group only (Terraform creates the group, so no CreateLogGroup).
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["account"].arn}:*"]
  }

  statement {
    # Active tracing. X-Ray has no resource-level permissions: "*" is the only form.
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid       = "Table"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.portal.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.table_key_prefixes["account"]
    }
  }

  statement {
    # DynamoDB uses the table's CMK on the caller's behalf (only through DynamoDB).
    sid       = "TableKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Only the key secrets this function loads (secrets.tf, FUNCTION_KEYS in lambda.rs).
    sid       = "KeySecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.key["token-verifying"].arn, aws_secretsmanager_secret.key["code-pepper"].arn, aws_secretsmanager_secret.key["totp-key"].arn, aws_secretsmanager_secret.key["origin-verify"].arn]
  }

  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Text messages go straight to phone numbers, which have no ARN; NotResource on every
    # SNS ARN allows exactly that and no publishing to any topic.
    sid           = "SmsToPhoneNumbers"
    actions       = ["sns:Publish"]
    not_resources = ["arn:${local.partition}:sns:*:*:*"]
  }
}

data "aws_iam_policy_document" "buypass" {
  statement {
    # Its own log group only (Terraform creates the group, so no CreateLogGroup).
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["buypass"].arn}:*"]
  }

  statement {
    # The "card replaced" notice to the account's phone (buypass/flow.rs). Phone numbers have
    # no ARN; NotResource on every SNS ARN allows exactly that and no publishing to any topic.
    sid           = "SmsToPhoneNumbers"
    actions       = ["sns:Publish"]
    not_resources = ["arn:${local.partition}:sns:*:*:*"]
  }

  statement {
    # Active tracing. X-Ray has no resource-level permissions: "*" is the only form.
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid       = "Table"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.portal.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.table_key_prefixes["buypass"]
    }
  }

  statement {
    # DynamoDB uses the table's CMK on the caller's behalf (only through DynamoDB).
    sid       = "TableKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Only the key secrets this function loads (secrets.tf, FUNCTION_KEYS in lambda.rs).
    sid       = "KeySecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.key["token-verifying"].arn, aws_secretsmanager_secret.key["buypass-client-key"].arn, aws_secretsmanager_secret.key["origin-verify"].arn]
  }

  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }

}

data "aws_iam_policy_document" "serial_activation" {
  statement {
    # Its own log group only (Terraform creates the group, so no CreateLogGroup).
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["serial-activation"].arn}:*"]
  }

  statement {
    # Active tracing. X-Ray has no resource-level permissions: "*" is the only form.
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid       = "Table"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.portal.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.table_key_prefixes["serial-activation"]
    }
  }

  statement {
    # DynamoDB uses the table's CMK on the caller's behalf (only through DynamoDB).
    sid       = "TableKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # The event source mapping reads the table's stream with this role.
    sid       = "TableStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = [aws_dynamodb_table.portal.stream_arn]
  }

  statement {
    # Failed stream batches (event source mapping) and failed sweeps (async DLQ).
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.activation_dlq.arn]
  }

  statement {
    sid       = "DeadLetterQueueKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${var.region}.amazonaws.com"]
    }
  }


  statement {
    sid       = "ActivationEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.activation_events.arn]
  }

  statement {
    sid       = "ActivationEventsKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = [aws_kms_key.messaging.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${var.region}.amazonaws.com"]
    }
  }

  statement {
    # Text messages go straight to phone numbers, which have no ARN; NotResource on every
    # SNS ARN allows exactly that and no publishing to any topic.
    sid           = "SmsToPhoneNumbers"
    actions       = ["sns:Publish"]
    not_resources = ["arn:${local.partition}:sns:*:*:*"]
  }
}
