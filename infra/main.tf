locals {
  name      = "hjemmekontor-${var.environment}"
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition

  # Clients reach the API through CloudFront (cloudfront.tf), never at its execute-api URL.
  api_base_url = var.api_base_url != "" ? var.api_base_url : (
    var.api_domain_name != "" ? "https://${var.api_domain_name}" : "https://${aws_cloudfront_distribution.api.domain_name}"
  )
  token_issuer  = var.token_issuer != "" ? var.token_issuer : local.api_base_url
  artifacts_dir = var.lambda_artifacts_dir != "" ? var.lambda_artifacts_dir : "${path.module}/../target/lambda"
}
