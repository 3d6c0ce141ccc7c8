# The environment of each function: exactly the variables its code reads
# (functions/entry/lambda/src/config.rs documents them). Spelled out per function, without merge(),
# so a reviewer sees at a glance what each one gets, and so scripts/check-infra.sh can read the
# maps statically: it fails when a function's code reads a variable that is not set here, or
# when one is set here that its code never reads.
#
# Key secrets: each function gets only the PORTAL_*_SECRET_ID variables of the key purposes its
# code loads (FUNCTION_KEYS in functions/entry/lambda/src/config.rs; secrets.tf); a function handed
# another refuses to start. Only sms-code may mint access tokens (token-signing);
# serial-activation holds no key at all.
#
# PORTAL_RESET_SMS_PER_HOUR, PORTAL_SMS_PER_HOUR and PORTAL_SMS_PER_DAY are part of the policy
# every function reads at start-up; only login and sms-code spend from the reset budget, every
# function that texts counts against the portal-wide ones (services/sms_spend.rs).
#
# Deliberately never set in AWS (infra/checks/functions.toml, local_only_env): PORTAL_SQLITE_PATH
# and PORTAL_KEYS_FILE (the local alternatives to DynamoDB and Secrets Manager),
# PORTAL_GATEWAY_KEY (API-key auth of the gateway route; AWS uses IAM), BUYPASS_CA_BUNDLE_FILE
# (the file alternative to BUYPASS_CA_BUNDLE); also RUST_LOG (defaults to info) and AWS_* (set
# by Lambda itself).
locals {
  function_environment = {
    "login" = {
      PORTAL_STORE                   = "dynamodb"
      PORTAL_TABLE                   = aws_dynamodb_table.portal.name
      PORTAL_SMS                     = "sns"
      PORTAL_SMS_SENDER_ID           = var.sms_sender_id
      PORTAL_CODE_PEPPER_SECRET_ID   = aws_secretsmanager_secret.key["code-pepper"].arn
      PORTAL_TOTP_KEY_SECRET_ID      = aws_secretsmanager_secret.key["totp-key"].arn
      PORTAL_ORIGIN_VERIFY_SECRET_ID = aws_secretsmanager_secret.key["origin-verify"].arn
      PORTAL_TOKEN_ISSUER            = local.token_issuer
      PORTAL_TOKEN_AUDIENCE          = var.token_audience
      PORTAL_URL                     = var.portal_url
      PORTAL_RESET_SMS_PER_HOUR      = var.reset_sms_per_hour
      PORTAL_SMS_PER_HOUR            = var.sms_per_hour
      PORTAL_SMS_PER_DAY             = var.sms_per_day
    }
    "sms-code" = {
      PORTAL_STORE                   = "dynamodb"
      PORTAL_TABLE                   = aws_dynamodb_table.portal.name
      PORTAL_SMS                     = "sns"
      PORTAL_SMS_SENDER_ID           = var.sms_sender_id
      PORTAL_TOKEN_SIGNING_SECRET_ID = aws_secretsmanager_secret.key["token-signing"].arn
      PORTAL_CODE_PEPPER_SECRET_ID   = aws_secretsmanager_secret.key["code-pepper"].arn
      PORTAL_TOTP_KEY_SECRET_ID      = aws_secretsmanager_secret.key["totp-key"].arn
      PORTAL_ORIGIN_VERIFY_SECRET_ID = aws_secretsmanager_secret.key["origin-verify"].arn
      PORTAL_TOKEN_ISSUER            = local.token_issuer
      PORTAL_TOKEN_AUDIENCE          = var.token_audience
      PORTAL_URL                     = var.portal_url
      PORTAL_RESET_SMS_PER_HOUR      = var.reset_sms_per_hour
      PORTAL_SMS_PER_HOUR            = var.sms_per_hour
      PORTAL_SMS_PER_DAY             = var.sms_per_day
    }
    "account" = {
      PORTAL_STORE                     = "dynamodb"
      PORTAL_TABLE                     = aws_dynamodb_table.portal.name
      PORTAL_SMS                       = "sns"
      PORTAL_SMS_SENDER_ID             = var.sms_sender_id
      PORTAL_TOKEN_VERIFYING_SECRET_ID = aws_secretsmanager_secret.key["token-verifying"].arn
      PORTAL_CODE_PEPPER_SECRET_ID     = aws_secretsmanager_secret.key["code-pepper"].arn
      PORTAL_TOTP_KEY_SECRET_ID        = aws_secretsmanager_secret.key["totp-key"].arn
      PORTAL_ORIGIN_VERIFY_SECRET_ID   = aws_secretsmanager_secret.key["origin-verify"].arn
      PORTAL_TOKEN_ISSUER              = local.token_issuer
      PORTAL_TOKEN_AUDIENCE            = var.token_audience
      PORTAL_URL                       = var.portal_url
      PORTAL_RESET_SMS_PER_HOUR        = var.reset_sms_per_hour
      PORTAL_SMS_PER_HOUR              = var.sms_per_hour
      PORTAL_SMS_PER_DAY               = var.sms_per_day
    }
    "buypass" = {
      PORTAL_STORE                        = "dynamodb"
      PORTAL_TABLE                        = aws_dynamodb_table.portal.name
      PORTAL_SMS                          = "sns"
      PORTAL_SMS_SENDER_ID                = var.sms_sender_id
      PORTAL_TOKEN_VERIFYING_SECRET_ID    = aws_secretsmanager_secret.key["token-verifying"].arn
      PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID = aws_secretsmanager_secret.key["buypass-client-key"].arn
      PORTAL_ORIGIN_VERIFY_SECRET_ID      = aws_secretsmanager_secret.key["origin-verify"].arn
      PORTAL_TOKEN_ISSUER                 = local.token_issuer
      PORTAL_TOKEN_AUDIENCE               = var.token_audience
      PORTAL_URL                          = var.portal_url
      PORTAL_RESET_SMS_PER_HOUR           = var.reset_sms_per_hour
      PORTAL_SMS_PER_HOUR                 = var.sms_per_hour
      PORTAL_SMS_PER_DAY                  = var.sms_per_day
      BUYPASS_ISSUER_URL                  = var.buypass_issuer
      BUYPASS_CLIENT_ID                   = var.buypass_client_id
      BUYPASS_REDIRECT_URI                = "${local.api_base_url}/v1/homeoffice/buypass/callback"
      BUYPASS_CA_BUNDLE                   = var.buypass_ca_bundle_pem
    }
    "serial-activation" = {
      PORTAL_STORE              = "dynamodb"
      PORTAL_TABLE              = aws_dynamodb_table.portal.name
      PORTAL_SMS                = "sns"
      PORTAL_SMS_SENDER_ID      = var.sms_sender_id
      PORTAL_TOKEN_ISSUER       = local.token_issuer
      PORTAL_TOKEN_AUDIENCE     = var.token_audience
      PORTAL_URL                = var.portal_url
      PORTAL_RESET_SMS_PER_HOUR = var.reset_sms_per_hour
      PORTAL_SMS_PER_HOUR       = var.sms_per_hour
      PORTAL_SMS_PER_DAY        = var.sms_per_day
      PORTAL_GATEWAY_EVENTS     = "sns"
      PORTAL_GATEWAY_TOPIC_ARN  = aws_sns_topic.activation_events.arn
      PORTAL_GATEWAY_AUTH       = "iam"
      PORTAL_GATEWAY_ROLE_ARN   = var.gateway_role_arn
    }
  }
}
