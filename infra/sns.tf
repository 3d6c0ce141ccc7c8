# SNS: the activation event topic the remote-access gateway subscribes to, SMS settings for the
# account and region, and SMS delivery status logs (the source of the SMS failure alarm's
# details; the alarm itself uses the AWS/SNS metrics).

resource "aws_sns_topic" "activation_events" {
  name              = "${local.name}-activation-events"
  display_name      = "Hjemmekontor certificate activation events"
  kms_master_key_id = aws_kms_key.messaging.arn
}

data "aws_iam_policy_document" "activation_events_topic" {
  statement {
    sid       = "OnlySerialActivationAndOperatorsPublish"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.activation_events.arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values   = concat([aws_iam_role.function["serial-activation"].arn], var.activation_event_extra_publisher_arns)
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sns:Publish", "sns:Subscribe"]
    resources = [aws_sns_topic.activation_events.arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = length(var.activation_event_subscriber_arns) > 0 ? [1] : []
    content {
      sid       = "GatewaySubscribes"
      actions   = ["sns:Subscribe"]
      resources = [aws_sns_topic.activation_events.arn]
      principals {
        type        = "AWS"
        identifiers = var.activation_event_subscriber_arns
      }
    }
  }
}

resource "aws_sns_topic_policy" "activation_events" {
  arn    = aws_sns_topic.activation_events.arn
  policy = data.aws_iam_policy_document.activation_events_topic.json
}

# --- SMS ----------------------------------------------------------------------------------------

# Account-wide for this region: transactional routing (codes must arrive now, not cheaply), the
# spend cap that stops an SMS-pumping attack from running up cost, the sender ID and delivery
# status logging.
resource "aws_sns_sms_preferences" "portal" {
  count = var.manage_sms_preferences ? 1 : 0

  default_sms_type                      = "Transactional"
  monthly_spend_limit                   = var.sms_monthly_spend_limit
  default_sender_id                     = var.sms_sender_id
  delivery_status_iam_role_arn          = aws_iam_role.sms_delivery_status.arn
  delivery_status_success_sampling_rate = "10"

  depends_on = [aws_cloudwatch_log_group.sms_delivery_status]
}

# SNS writes SMS delivery status to these fixed log group names; creating them here sets
# retention and encryption instead of SNS creating them without either.
locals {
  sms_delivery_log_groups = {
    success = "sns/${var.region}/${local.account}/DirectPublishToPhoneNumber"
    failure = "sns/${var.region}/${local.account}/DirectPublishToPhoneNumber/Failure"
  }
}

resource "aws_cloudwatch_log_group" "sms_delivery_status" {
  for_each = local.sms_delivery_log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

data "aws_iam_policy_document" "sns_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "sms_delivery_status" {
  name               = "${local.name}-sms-delivery-status"
  description        = "Lets SNS write SMS delivery status logs"
  assume_role_policy = data.aws_iam_policy_document.sns_assume.json
}

data "aws_iam_policy_document" "sms_delivery_status" {
  statement {
    sid = "WriteDeliveryStatusLogs"
    # The set SNS documents for delivery status logging, scoped from "*" down to the two log
    # groups SNS writes (it calls CreateLogGroup even when they exist).
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:PutMetricFilter",
      "logs:PutRetentionPolicy",
    ]
    resources = flatten([for g in aws_cloudwatch_log_group.sms_delivery_status : [g.arn, "${g.arn}:*"]])
  }
}

resource "aws_iam_role_policy" "sms_delivery_status" {
  name   = "write-delivery-status"
  role   = aws_iam_role.sms_delivery_status.id
  policy = data.aws_iam_policy_document.sms_delivery_status.json
}
