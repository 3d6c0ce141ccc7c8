# SMS pumping defences outside the code (issue #18): SNS SMS delivery status reaches the
# serial-activation function, which records failures in the audit trail and on the login
# challenge (functions/core/src/services/sms_delivery.rs); and an AWS End User Messaging SMS
# protect configuration that lets SMS go only to Norway (plus sms_extra_allowed_countries).
# The spend limit and its alarm are in sns.tf and alarms.tf, the portal's own ceilings in the
# code (PORTAL_SMS_PER_HOUR / _PER_DAY) with their alarms in alarms.tf.

# --- Delivery status → serial-activation ---------------------------------------------------------

# Only the failure log: successes need no action, and SNS samples them anyway
# (delivery_status_success_sampling_rate).
resource "aws_cloudwatch_log_subscription_filter" "sms_delivery_failures" {
  name            = "${local.name}-sms-delivery-failures"
  log_group_name  = aws_cloudwatch_log_group.sms_delivery_status["failure"].name
  filter_pattern  = "{ $.status = \"FAILURE\" }"
  destination_arn = aws_lambda_function.function["serial-activation"].arn

  depends_on = [aws_lambda_permission.sms_delivery_failures]
}

resource "aws_lambda_permission" "sms_delivery_failures" {
  statement_id   = "SmsDeliveryStatusLog"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.function["serial-activation"].function_name
  principal      = "logs.amazonaws.com"
  source_arn     = "${aws_cloudwatch_log_group.sms_delivery_status["failure"].arn}:*"
  source_account = local.account
}

# --- Protect configuration: Norway only ----------------------------------------------------------

# The hashicorp/aws provider has no resource for protect configurations yet
# (hashicorp/terraform-provider-aws#39605), so a CloudFormation stack carries the
# AWS::SMSVOICE::ProtectConfiguration resource. Countries left out of a rule set keep the
# default (allowed), so every ISO 3166-1 code is listed: NO and the extra countries ALLOW, all
# others BLOCK. A protect configuration applies to SNS's SMS only as the account default, which
# CloudFormation cannot set (aws-cloudformation/cloudformation-coverage-roadmap#2462): an
# operator does it once with the stack's output (infra/README.md).
locals {
  iso_countries = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW"
  ]
  sms_allowed_countries = toset(concat(["NO"], var.sms_extra_allowed_countries))
  sms_country_rules = [
    for c in local.iso_countries : {
      CountryCode   = c
      ProtectStatus = contains(local.sms_allowed_countries, c) ? "ALLOW" : "BLOCK"
    }
  ]
}

resource "aws_cloudformation_stack" "sms_protect_configuration" {
  #checkov:skip=CKV_AWS_124:The stack holds one resource that only terraform apply changes, and apply reports the outcome; stack event notifications would only repeat it on the alarm topic.
  count = var.manage_sms_protect_configuration ? 1 : 0

  name = "${local.name}-sms-protect"
  template_body = jsonencode({
    AWSTemplateFormatVersion = "2010-09-09"
    Description              = "SMS only to Norway (and the countries operators allowed): the portal's SMS pumping defence"
    Resources = {
      ProtectConfiguration = {
        Type = "AWS::SMSVOICE::ProtectConfiguration"
        Properties = {
          DeletionProtectionEnabled = var.deletion_protection
          CountryRuleSet            = { SMS = local.sms_country_rules }
          Tags                      = [{ Key = "Name", Value = "${local.name}-norway-only" }]
        }
      }
    }
    Outputs = {
      ProtectConfigurationId = { Value = { "Fn::GetAtt" = ["ProtectConfiguration", "ProtectConfigurationId"] } }
    }
  })
}
