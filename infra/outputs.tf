output "api_url" {
  description = "Base URL of the API (the API Gateway endpoint, or api_base_url when set)."
  value       = local.api_base_url
}

output "api_endpoint" {
  description = "The API Gateway endpoint itself (target for a custom domain mapping)."
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

output "keys_secret_arn" {
  description = "Secrets Manager secret to put the key material JSON into, Buypass client key included (README)."
  value       = aws_secretsmanager_secret.keys.arn
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
