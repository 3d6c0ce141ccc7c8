output "api_url" {
  description = "Base URL of the API as clients use it: through CloudFront (api_base_url, https://<api_domain_name>, or the distribution's own name)."
  value       = local.api_base_url
}

output "api_endpoint" {
  description = "The API Gateway endpoint itself: CloudFront's origin, and where the gateway calls its IAM route. Other routes answer 404 here (no origin secret)."
  value       = aws_apigatewayv2_api.portal.api_endpoint
}

output "buypass_redirect_uri" {
  description = "Redirect URI to register with Buypass for this environment."
  value       = "${local.api_base_url}/v1/homeoffice/buypass/callback"
}

output "table_name" {
  description = "The DynamoDB table (for portal-admin with PORTAL_STORE=dynamodb)."
  value       = aws_dynamodb_table.portal.name
}

output "key_secret_arns" {
  description = "The key secret of each purpose (token-signing, token-verifying, code-pepper, totp-key, buypass-client-key): put the matching portal-admin keys document into each (infra/README.md)."
  value       = { for purpose, secret in aws_secretsmanager_secret.key : purpose => secret.arn }
}

output "activation_events_topic_arn" {
  description = "SNS topic the remote-access gateway subscribes to for activation and revocation events."
  value       = aws_sns_topic.activation_events.arn
}

output "gateway_invoke_policy_arn" {
  description = "IAM policy to attach to the gateway's role (var.gateway_role_arn) for GET /v1/gateway/certificates/{issuer_id}/{serial} and /{serial}."
  value       = aws_iam_policy.gateway_invoke.arn
}

output "alarm_topic_arn" {
  description = "SNS topic all alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "function_names" {
  description = "Lambda function name per crate."
  value       = { for k, f in aws_lambda_function.function : k => f.function_name }
}

output "cloudfront_domain_name" {
  description = "The distribution's host name: point api_domain_name's DNS at it."
  value       = aws_cloudfront_distribution.api.domain_name
}

output "origin_kvs_arn" {
  description = "CloudFront KeyValueStore the operator writes the origin secret into (key origin-verify; infra/README.md)."
  value       = aws_cloudfront_key_value_store.origin.arn
}

output "waf_web_acl_arn" {
  description = "The API's WAF web ACL (us-east-1)."
  value       = aws_wafv2_web_acl.api.arn
}

output "sms_protect_configuration_id" {
  description = "The Norway-only SMS protect configuration; make it the account default once (infra/README.md). Empty when manage_sms_protect_configuration is off."
  value       = one(aws_cloudformation_stack.sms_protect_configuration[*].outputs["ProtectConfigurationId"])
}
