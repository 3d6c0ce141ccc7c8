# Serial activation (DESIGN §5): the table's stream drives serial-activation within seconds of
# the Buypass callback writing a pending serial; a schedule every 5 minutes re-drives anything
# still pending, so a lost or failed event cannot break the 15-minute promise. Batches that keep
# failing are split (bisect) to isolate the bad record, retried, then recorded in the
# dead-letter queue, whose depth is alarmed (alarms.tf).

resource "aws_sqs_queue" "activation_dlq" {
  name                              = "${local.name}-activation-dlq"
  message_retention_seconds         = 1209600 # 14 days, the maximum: time to investigate
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = 300
}

data "aws_iam_policy_document" "activation_dlq" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.activation_dlq.arn]
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
}

resource "aws_sqs_queue_policy" "activation_dlq" {
  queue_url = aws_sqs_queue.activation_dlq.id
  policy    = data.aws_iam_policy_document.activation_dlq.json
}

resource "aws_lambda_event_source_mapping" "activation_stream" {
  event_source_arn  = aws_dynamodb_table.portal.stream_arn
  function_name     = aws_lambda_function.function["serial-activation"].arn
  starting_position = "LATEST"

  # Small batches, no batching window: activation latency (60 s p99) beats invocation count.
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0

  # The function reports the records that failed (activation/lambda.rs), so only those are
  # retried, bisected and finally dead-lettered.
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = 5
  # Give up on a record after an hour: by then the schedule has re-driven it (every step is
  # idempotent) and the failure is in the dead-letter queue for a human.
  maximum_record_age_in_seconds = 3600

  # Only certificate-serial records with work to do (buypass/registry.rs: pk SERIAL#<serial>,
  # sk SERIAL#<issuer id>, data.work = "due") wake the function; logins, sessions and counters do not. A record the
  # filter missed would still be found by the sweep within 5 minutes.
  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT", "MODIFY"]
        dynamodb = {
          Keys     = { pk = { S = [{ prefix = "SERIAL#" }] } }
          NewImage = { data = { M = { work = { S = ["due"] } } } }
        }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.activation_dlq.arn
    }
  }
}

# --- schedule -----------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "activation_sweep" {
  name                = "${local.name}-activation-sweep"
  description         = "Re-drives certificate serials still pending activation"
  schedule_expression = "rate(5 minutes)"
}

resource "aws_cloudwatch_event_target" "activation_sweep" {
  rule = aws_cloudwatch_event_rule.activation_sweep.name
  arn  = aws_lambda_function.function["serial-activation"].arn

  retry_policy {
    # A sweep that cannot be delivered within 4 minutes is superseded by the next one.
    maximum_event_age_in_seconds = 240
    maximum_retry_attempts       = 3
  }
}

resource "aws_lambda_permission" "activation_sweep" {
  statement_id  = "activation-sweep-schedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["serial-activation"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.activation_sweep.arn
}

# The schedule invokes asynchronously: retry a failed sweep twice within the 5-minute period,
# then the function's dead-letter queue (functions.tf) records it.
resource "aws_lambda_function_event_invoke_config" "activation_sweep" {
  function_name                = aws_lambda_function.function["serial-activation"].function_name
  maximum_event_age_in_seconds = 240
  maximum_retry_attempts       = 2
}
