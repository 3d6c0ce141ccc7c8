# CloudWatch alarms (DESIGN §7), all to one encrypted SNS topic that operators subscribe to.

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  display_name      = "Hjemmekontor portal alarms"
  kms_master_key_id = aws_kms_key.messaging.arn
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${var.region}:${local.account}:alarm:${local.name}-*"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = toset(var.alarm_email_endpoints)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
}

# --- API ----------------------------------------------------------------------------------------

# More than 1 % of requests answered 5xx over 5 minutes (and at least 5 of them, so one error
# at night does not page anyone).
resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.name}-api-5xx-rate"
  alarm_description   = "API 5xx responses above 1% of requests for 5 minutes"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(errors >= 5 AND requests > 0, 100 * errors / requests, 0)"
    label       = "5xx percent"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      period      = 300
      stat        = "Sum"
      dimensions = {
        ApiId = aws_apigatewayv2_api.portal.id
        Stage = aws_apigatewayv2_stage.default.name
      }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      period      = 300
      stat        = "Sum"
      dimensions = {
        ApiId = aws_apigatewayv2_api.portal.id
        Stage = aws_apigatewayv2_stage.default.name
      }
    }
  }
}

# --- Lambda -------------------------------------------------------------------------------------

# Any throttle means a function hit its reserved concurrency: users see 5xx/429 or activations
# wait.
resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = local.functions

  alarm_name          = "${local.name}-${each.key}-throttles"
  alarm_description   = "Lambda ${each.key} throttled (reserved concurrency ${each.value.reserved_concurrency} reached)"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.function[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# serial-activation errors are retried quietly by the stream and the schedule; a few in a row
# mean activations are stuck.
resource "aws_cloudwatch_metric_alarm" "activation_errors" {
  alarm_name          = "${local.name}-serial-activation-errors"
  alarm_description   = "serial-activation failing for 10 minutes"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.function["serial-activation"].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The stream falling behind delays activations (60 s p99 target).
resource "aws_cloudwatch_metric_alarm" "activation_stream_age" {
  alarm_name          = "${local.name}-activation-stream-iterator-age"
  alarm_description   = "serial-activation is more than 60 s behind the table's stream"
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.function["serial-activation"].function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = 60000 # milliseconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- activation ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "activation_dlq_depth" {
  alarm_name          = "${local.name}-activation-dlq-not-empty"
  alarm_description   = "Activation work landed in the dead-letter queue: investigate, fix, and let the sweep re-drive"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.activation_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The 15-minute promise: alarm when the oldest pending serial is older than 10 minutes. The
# function emits this metric on every sweep (every 5 minutes, 0 when nothing is pending), so no
# data for 15 minutes means the sweep itself is not running: that alarms too.
resource "aws_cloudwatch_metric_alarm" "oldest_pending_activation" {
  alarm_name          = "${local.name}-oldest-pending-activation"
  alarm_description   = "A certificate serial has been pending activation for more than 10 minutes (15-minute promise), or the sweep stopped reporting"
  namespace           = var.activation_metric.namespace
  metric_name         = var.activation_metric.name
  dimensions          = var.activation_metric.dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 1
  threshold           = 600
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- SMS ----------------------------------------------------------------------------------------

# Text messages SNS could not deliver (published straight to phone numbers).
resource "aws_cloudwatch_metric_alarm" "sms_failures" {
  alarm_name          = "${local.name}-sms-delivery-failures"
  alarm_description   = "SMS deliveries failing; details in the SMS delivery status log group"
  namespace           = "AWS/SNS"
  metric_name         = "NumberOfNotificationsFailed"
  dimensions          = { PhoneNumber = "PhoneNumberDirect" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Someone is asking for password-reset codes faster than real users ever do (SMS pumping, or
# a username list being worked through): the global hourly budget refused at least one. The
# login and sms-code functions write the metric as an embedded-metric-format log line
# (functions/core/src/services/challenges.rs, budget_exhausted_metric).
resource "aws_cloudwatch_metric_alarm" "reset_sms_budget_exhausted" {
  alarm_name          = "${local.name}-reset-sms-budget-exhausted"
  alarm_description   = "Forgot-password SMS budget (${var.reset_sms_per_hour}/hour, all accounts) used up: resets are refused until the hour passes. Check the login function's logs and the WAF for the source."
  namespace           = "Hjemmekontor"
  metric_name         = "SmsBudgetExhausted"
  dimensions          = { Budget = "sms-reset-global" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The portal-wide SMS ceilings (functions/core/src/services/sms_spend.rs) refused a new code:
# every SMS the portal sends, all accounts together, reached sms_per_hour or sms_per_day. Any
# function that texts may write the metric.
resource "aws_cloudwatch_metric_alarm" "sms_budget_exhausted" {
  for_each = {
    "sms-global-hour" = "${var.sms_per_hour}/hour"
    "sms-global-day"  = "${var.sms_per_day}/day"
  }

  alarm_name          = "${local.name}-${each.key}-budget-exhausted"
  alarm_description   = "Portal-wide SMS ceiling (${each.value}, all SMS of all accounts) reached: new login, reset and phone-change codes are refused (503 sms_unavailable) until it slides. Look for SMS pumping in the functions' logs and the audit trail."
  namespace           = "Hjemmekontor"
  metric_name         = "SmsBudgetExhausted"
  dimensions          = { Budget = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# At 80 % of the monthly spend limit SNS is about to stop sending codes, and nobody can log in.
resource "aws_cloudwatch_metric_alarm" "sms_spend" {
  alarm_name          = "${local.name}-sms-spend-near-limit"
  alarm_description   = "SMS spend this month above 80% of the ${var.sms_monthly_spend_limit} USD limit"
  namespace           = "AWS/SNS"
  metric_name         = "SMSMonthToDateSpentUSD"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.sms_monthly_spend_limit * 0.8
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
