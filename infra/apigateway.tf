# The HTTP API: one route per entry of local.routes (routes.tf), each integrated with its
# function's Lambda (payload 2.0), CORS for exactly the portal origin with credentials (the
# refresh cookie), stage throttling with tighter limits on the auth routes, JSON access logs.

resource "aws_apigatewayv2_api" "portal" {
  name          = "${local.name}-api"
  protocol_type = "HTTP"
  description   = "Hjemmekontor portal API (openapi.yaml)"

  cors_configuration {
    allow_origins     = [var.portal_url]
    allow_credentials = true
    allow_methods     = sort(distinct([for key, _ in local.routes : split(" ", key)[0]]))
    allow_headers     = ["accept-language", "authorization", "content-type"]
    expose_headers    = ["retry-after", "x-request-id"]
    max_age           = 600
  }

  lifecycle {
    precondition {
      condition     = length(local.openapi_missing_from_routes) == 0 && length(local.routes_missing_from_openapi) == 0
      error_message = "routes.tf and openapi.yaml disagree. In openapi.yaml but not wired (or to another function): ${jsonencode(local.openapi_missing_from_routes)}. Wired but not in openapi.yaml (or with another x-function): ${jsonencode(local.routes_missing_from_openapi)}."
    }
  }
}

resource "aws_apigatewayv2_integration" "function" {
  for_each = local.http_functions

  api_id                 = aws_apigatewayv2_api.portal.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
  # API Gateway's own cap is 30 s; fail a little after the function's own timeout.
  timeout_milliseconds = min(30000, local.functions[each.key].timeout_s * 1000 + 1000)
}

resource "aws_apigatewayv2_route" "route" {
  for_each = local.routes
  #checkov:skip=CKV_AWS_309:Public and function-authorised routes are NONE by design (routes.tf): login and code routes are how a caller gets credentials; bearer routes verify an EdDSA JWT and the session record in the function, which API Gateway's JWT authorizer cannot do. The gateway route uses AWS_IAM.

  api_id             = aws_apigatewayv2_api.portal.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.function[each.value.function].id}"
  authorization_type = each.value.authorization
}

locals {
  # "METHOD /a/{param}" => "METHOD/a/*", the tail of the route's execute-api ARN.
  route_arn_suffix = {
    for key, _ in local.routes :
    key => "${split(" ", key)[0]}${replace(split(" ", key)[1], "/\\{[^}]+\\}/", "*")}"
  }
}

# Each function may be invoked by this API only, and only through its own routes.
resource "aws_lambda_permission" "route" {
  for_each = local.routes

  statement_id  = "api-${lower(replace(each.key, "/[^A-Za-z0-9]+/", "-"))}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.value.function].function_name
  principal     = "apigateway.amazonaws.com"
  # arn:...:execute-api:region:account:api-id/stage/METHOD/path; a path parameter matches any
  # one value ("*").
  source_arn = "${aws_apigatewayv2_api.portal.execution_arn}/*/${local.route_arn_suffix[each.key]}"
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.name}-api/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.portal.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit    = var.api_throttle_default.rate_limit
    throttling_burst_limit   = var.api_throttle_default.burst_limit
    detailed_metrics_enabled = true
  }

  dynamic "route_settings" {
    for_each = { for key, route in local.routes : key => route if route.throttle == "auth" }
    content {
      route_key                = route_settings.key
      throttling_rate_limit    = var.api_throttle_auth.rate_limit
      throttling_burst_limit   = var.api_throttle_auth.burst_limit
      detailed_metrics_enabled = true
    }
  }

  # One JSON line per request. Never the query string (the Buypass callback carries an
  # authorization code in it), headers or bodies; the source IP is kept for abuse
  # investigations and is covered by the log retention.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      iamPrincipal       = "$context.identity.userArn"
    })
  }

  depends_on = [aws_apigatewayv2_route.route]
}

# What the remote-access gateway's IAM principal needs to call its route (HTTP APIs have no
# resource policies, so access is granted on the caller's side: attach this policy to it).
data "aws_iam_policy_document" "gateway_invoke" {
  statement {
    sid     = "LookUpCertificateSerials"
    actions = ["execute-api:Invoke"]
    resources = [
      for key, route in local.routes :
      "${aws_apigatewayv2_api.portal.execution_arn}/*/${local.route_arn_suffix[key]}"
      if route.authorization == "AWS_IAM"
    ]
  }
}

resource "aws_iam_policy" "gateway_invoke" {
  name        = "${local.name}-gateway-invoke"
  description = "Attach to the remote-access gateway's principal: lets it call the IAM-authorised certificate lookup route"
  policy      = data.aws_iam_policy_document.gateway_invoke.json
}
