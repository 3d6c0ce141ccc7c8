# One policy per function: exactly the AWS actions its code calls (on the resources it uses),
# plus what the Lambda platform does with the role (logs, traces, reading the stream, writing
# the dead-letter queue). One document builds all of them from local.function_access.
# scripts/check-infra.sh derives the actions from the Rust sources (infra/checks/) and fails
# on any difference either way.
#
# DynamoDB transactions have no IAM action of their own: TransactWriteItems is authorised item
# by item as PutItem / UpdateItem / DeleteItem / ConditionCheckItem, TransactGetItems as
# GetItem. The table statements list those.

locals {
  # The partition-key prefixes each function's code touches (dynamodb:LeadingKeys), from the
  # one module that builds every key, functions/core/src/store/keys.rs: ACCOUNT# (profile,
  # TOTP record, session index), CHALLENGE#, SESSION#, LIMIT# (limits and password backoff),
  # LOCK#, AUDIT# and DECOY# (audit events and their stand-ins), OIDC# (Buypass login state),
  # SMSID# (each SMS sent, by SNS message id, for its delivery status; every function texts),
  # PASSKEY# (which account a passkey's credential id belongs to; account only: passkeys
  # themselves live under ACCOUNT#, their WebAuthn ceremony state under CHALLENGE#),
  # SERIAL… (the registry: every registry key, by serial or by issuer + serial and any index
  # record, starts with SERIAL). OUTBOX and GATEWAY_EVENTS are local-only.
  # buypass re-authenticates with the password on start (failed-login counters: LIMIT#, LOCK#);
  # account reads the registry for the card status of GET /v1/account (SERIAL…), and "this
  # wasn't me" revokes the card there and opens the account's incident (the one partition
  # INCIDENT, the operators' list); ACCOUNT# also holds the known browsers (DEVICE#… sort keys)
  # that sms-code records at login.
  # serial-activation also records SMS delivery failures (the SNS delivery status log's
  # subscription): SMSID#, the challenge the SMS was for (CHALLENGE#), and it counts its
  # "home office ready" SMS in the portal-wide SMS ceiling (LIMIT#sms-global#all).
  # functions/http/tests/api/contract.rs drives each function's routes and fails when its
  # code touches a prefix that is not listed here.
  #
  # LeadingKeys does not constrain Scan (a Scan has no partition key to compare), so the
  # activation sweep's Scan in serial-activation reads the whole table; only that role has it.
  table_key_prefixes = {
    "login"             = ["ACCOUNT#*", "AUDIT#*", "CHALLENGE#*", "DECOY#*", "LIMIT#*", "LOCK#*", "SESSION#*", "SMSID#*"]
    "sms-code"          = ["ACCOUNT#*", "AUDIT#*", "CHALLENGE#*", "DECOY#*", "LIMIT#*", "LOCK#*", "SESSION#*", "SMSID#*"]
    "account"           = ["ACCOUNT#*", "AUDIT#*", "CHALLENGE#*", "DECOY#*", "INCIDENT", "LIMIT#*", "LOCK#*", "PASSKEY#*", "SERIAL*", "SESSION#*", "SMSID#*"]
    "buypass"           = ["ACCOUNT#*", "AUDIT#*", "LIMIT#*", "LOCK#*", "OIDC#*", "SERIAL*", "SESSION#*", "SMSID#*"]
    "serial-activation" = ["ACCOUNT#*", "AUDIT#*", "CHALLENGE#*", "LIMIT#sms-global#*", "SERIAL*", "SMSID#*"]
  }

  # What differs between the roles; data.aws_iam_policy_document.function builds every role's
  # policy from its entry, and what all of them need is written there once.
  #   scans_table        the activation sweep's Scan (every function gets the item actions)
  #   key_secrets        the key purposes it loads (FUNCTION_KEYS in lambda.rs; secrets.tf)
  #   reads_stream       the event source mapping reads the table's stream with this role
  #   dead_letter_queue  failed stream batches and failed sweeps go to the activation DLQ
  #   activation_events  publishes to the activation event topic (the gateway subscribes)
  # Every function texts phone numbers (sms/sns.rs): codes, and buypass's "card replaced"
  # notice (buypass/flow.rs), so that statement is not optional.
  function_access = {
    "login" = {
      scans_table       = false
      key_secrets       = ["code-pepper", "totp-key", "origin-verify"]
      reads_stream      = false
      dead_letter_queue = false
      activation_events = false
    }
    "sms-code" = {
      scans_table       = false
      key_secrets       = ["token-signing", "code-pepper", "totp-key", "origin-verify"]
      reads_stream      = false
      dead_letter_queue = false
      activation_events = false
    }
    "account" = {
      scans_table       = false
      key_secrets       = ["token-verifying", "code-pepper", "totp-key", "origin-verify"]
      reads_stream      = false
      dead_letter_queue = false
      activation_events = false
    }
    "buypass" = {
      scans_table       = false
      key_secrets       = ["token-verifying", "buypass-client-key", "origin-verify"]
      reads_stream      = false
      dead_letter_queue = false
      activation_events = false
    }
    "serial-activation" = {
      scans_table       = true
      key_secrets       = []
      reads_stream      = true
      dead_letter_queue = true
      activation_events = true
    }
  }

  function_policies = { for fn, doc in data.aws_iam_policy_document.function : fn => doc.json }
}

# What every role has is written out with literal actions: checkov runs its IAM checks once
# per for_each document, skips those that need actions taken from each.value, and does not
# look into dynamic statements. The contract check (scripts/check-infra.sh) evaluates every
# statement of every role.
data "aws_iam_policy_document" "function" {
  for_each = local.function_access

  statement {
    # Its own log group only (Terraform creates the group, so no CreateLogGroup).
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    # Active tracing. X-Ray has no resource-level permissions: "*" is the only form.
    sid       = "Tracing"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid       = "Table"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.portal.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.table_key_prefixes[each.key]
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

  dynamic "statement" {
    for_each = each.value.scans_table ? [1] : []
    content {
      # LeadingKeys does not constrain a Scan (see table_key_prefixes); the condition is kept
      # so that every table grant carries it.
      sid       = "TableScan"
      actions   = ["dynamodb:Scan"]
      resources = [aws_dynamodb_table.portal.arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = local.table_key_prefixes[each.key]
      }
    }
  }

  dynamic "statement" {
    for_each = length(each.value.key_secrets) > 0 ? [each.value.key_secrets] : []
    content {
      # Only the key secrets this function loads.
      sid       = "KeySecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [for purpose in statement.value : aws_secretsmanager_secret.key[purpose].arn]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.key_secrets) > 0 ? [1] : []
    content {
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

  dynamic "statement" {
    for_each = each.value.reads_stream ? [1] : []
    content {
      sid       = "TableStream"
      actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
      resources = [aws_dynamodb_table.portal.stream_arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.dead_letter_queue ? [1] : []
    content {
      sid       = "DeadLetterQueue"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.activation_dlq.arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.dead_letter_queue ? [1] : []
    content {
      sid       = "DeadLetterQueueKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [aws_kms_key.data.arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${var.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = each.value.activation_events ? [1] : []
    content {
      sid       = "ActivationEvents"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.activation_events.arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.activation_events ? [1] : []
    content {
      sid       = "ActivationEventsKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = [aws_kms_key.messaging.arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${var.region}.amazonaws.com"]
      }
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
