terraform {
  # 1.5+ for `check` blocks (routes against openapi.yaml, see routes.tf).
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.60+ and 6.x carry every resource used here (aws_sns_sms_preferences,
      # aws_lambda_function.logging_config, aws_apigatewayv2_*, CloudFront KeyValueStore and
      # its function association, WAF rate rules with evaluation_window_sec). Commit
      # .terraform.lock.hcl after the first `terraform init` so every deploy uses the same
      # provider build.
      version = ">= 5.60, < 7.0"
    }
  }
}
