locals {
  name      = "hjemmekontor-${var.environment}"
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition

  api_base_url  = var.api_base_url != "" ? var.api_base_url : aws_apigatewayv2_api.portal.api_endpoint
  token_issuer  = var.token_issuer != "" ? var.token_issuer : local.api_base_url
  artifacts_dir = var.lambda_artifacts_dir != "" ? var.lambda_artifacts_dir : "${path.module}/../target/lambda"
}
