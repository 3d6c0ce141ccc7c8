# The public entrance: CloudFront with an AWS WAF web ACL in front of the HTTP API.
#
#   client --TLS 1.2+--> CloudFront (WAF: per-IP rate limits, AWS managed rules)
#          --viewer-request function: adds the origin secret header-->
#          HTTP API (execute-api, stage throttles as a cost ceiling) --> Lambda
#
# HTTP APIs cannot have a web ACL of their own, and their execute-api hostname is guessable,
# so the functions refuse (404) every request without the origin secret header that only
# CloudFront adds (functions/http/src/origin.rs, constant-time comparison). The secret is
# the `origin-verify` key secret (secrets.tf) for the functions and a KeyValueStore entry for
# CloudFront, both written by the operator (infra/README.md), never by Terraform: it is in no
# state, plan or code. The WAF logs redact the header. The only route that skips the check is
# the gateway's IAM-authorised certificate lookup (SigV4 is bound to the execute-api host,
# so the gateway calls the API directly; IAM is its gate).
#
# The viewer's address: behind CloudFront, API Gateway's sourceIp is an edge server's, so the
# same function also sets x-hk-viewer-ip to the viewer's IP (dropping any copy the viewer
# sent). The code uses it for its per-IP limits only on requests that carry the matching
# origin secret (functions/http/src/origin.rs). Headers a viewer-request function sets
# are part of the viewer request, and the origin request policy (all viewer headers except
# Host) forwards both to the API.

locals {
  origin_verify_header  = "x-hk-origin-verify"
  origin_verify_kvs_key = "origin-verify"
  viewer_ip_header      = "x-hk-viewer-ip" # VIEWER_IP_HEADER in functions/http/src/origin.rs
  api_origin_id         = "http-api"
  # Auth paths in the tight per-IP class: everything under /v1/auth/ except refresh and
  # logout, which a signed-in browser calls on its own and which check a session credential
  # (refresh has a per-IP rule of its own).
  waf_auth_prefix       = "/v1/auth/"
  waf_auth_exempt_paths = ["/v1/auth/refresh", "/v1/auth/logout"]
  waf_forgot_path       = "/v1/auth/password/forgot"
  waf_refresh_path      = "/v1/auth/refresh"
  # Applied to the URI path before every path match, in this order (priority = index):
  # percent-decoding, then removing duplicate slashes and ./ ../ segments, so /v1/%61uth/login
  # or /v1//auth/./login is matched as /v1/auth/login.
  waf_path_transformations = ["URL_DECODE", "NORMALIZE_PATH"]
}

data "aws_cloudfront_cache_policy" "caching_disabled" {
  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_origin_request_policy" "all_viewer_except_host" {
  name = "Managed-AllViewerExceptHostHeader"
}

data "aws_cloudfront_response_headers_policy" "security_headers" {
  name = "Managed-SecurityHeadersPolicy"
}

resource "aws_cloudfront_key_value_store" "origin" {
  name    = "${local.name}-origin"
  comment = "The origin secret the viewer-request function adds (value written by the operator, never by Terraform)"
}

resource "aws_cloudfront_function" "origin_verify" {
  name    = "${local.name}-origin-verify"
  runtime = "cloudfront-js-2.0"
  comment = "Adds the origin secret header the API requires and the viewer IP header"
  publish = true
  code = templatefile("${path.module}/cloudfront/origin-verify.js", {
    kvs_id           = element(split("/", aws_cloudfront_key_value_store.origin.arn), 1)
    header           = local.origin_verify_header
    kvs_key          = local.origin_verify_kvs_key
    viewer_ip_header = local.viewer_ip_header
    api_host         = lower(var.api_domain_name)
  })
  key_value_store_associations = [aws_cloudfront_key_value_store.origin.arn]
}

resource "aws_cloudfront_distribution" "api" {
  #checkov:skip=CKV_AWS_86:CloudFront standard logs record the query string, which carries the Buypass callback's authorization code; every request is logged by the WAF (redacted, cloudfront.tf) and by the API's access log (no query string, apigateway.tf).
  #checkov:skip=CKV_AWS_310:One origin (the HTTP API); there is no second origin to fail over to.
  #checkov:skip=CKV_AWS_305:An API, not a website: there is no root object to serve.
  #checkov:skip=CKV_AWS_374:Users sign in from wherever they work, abroad included; abuse is limited per IP by the WAF and per account in the code, not by country.
  #checkov:skip=CKV2_AWS_42:The certificate is the operator's (api_domain_name + api_certificate_arn, ACM in us-east-1); without one the precondition below refuses to plan unless allow_default_cloudfront_certificate is set (test environments only, README).
  #checkov:skip=CKV_AWS_174:TLS 1.2_2021 is set whenever a certificate is given (api_certificate_arn); *.cloudfront.net's default certificate cannot set a minimum, and the precondition below allows it only with allow_default_cloudfront_certificate (test environments only, README).
  enabled = true
  # IPv4 only: the WAF's rate rules and the code's per-IP limits key on one address, and an
  # IPv6 host owns a whole /64 (2^64 addresses), so over IPv6 one client could rotate source
  # addresses past every per-IP limit. IPv6-only clients reach it through their network's
  # NAT64/464XLAT, as they reach any IPv4-only site.
  is_ipv6_enabled = false
  comment         = "${local.name}: the portal API (HTTP API behind WAF)"
  price_class     = var.cloudfront_price_class
  aliases         = var.api_domain_name != "" ? [var.api_domain_name] : []
  web_acl_id      = aws_wafv2_web_acl.api.arn
  http_version    = "http2and3"

  origin {
    origin_id   = local.api_origin_id
    domain_name = replace(aws_apigatewayv2_api.portal.api_endpoint, "https://", "")

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = 30
      origin_keepalive_timeout = 5
    }
  }

  default_cache_behavior {
    target_origin_id = local.api_origin_id
    # Never redirect: a redirected POST would arrive as a GET; plain HTTP gets 403.
    viewer_protocol_policy = "https-only"
    allowed_methods        = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods         = ["GET", "HEAD"]
    # Nothing of the API is cached; every viewer header (Authorization, Cookie,
    # Accept-Language...) and the query string go to the API, only Host is CloudFront's.
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host.id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers.id
    compress                   = true

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.origin_verify.arn
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.api_certificate_arn == ""
    acm_certificate_arn            = var.api_certificate_arn != "" ? var.api_certificate_arn : null
    ssl_support_method             = var.api_certificate_arn != "" ? "sni-only" : null
    minimum_protocol_version       = var.api_certificate_arn != "" ? "TLSv1.2_2021" : "TLSv1"
  }

  lifecycle {
    precondition {
      # The default *.cloudfront.net certificate lets viewers in with TLS 1.0: never by
      # accident, only where someone said so (test environments).
      condition     = var.api_certificate_arn != "" || var.allow_default_cloudfront_certificate
      error_message = "api_certificate_arn is empty: the distribution would serve *.cloudfront.net with TLS 1.0 allowed. Set api_domain_name and api_certificate_arn (ACM, us-east-1), or allow_default_cloudfront_certificate = true in a test environment."
    }
  }
}

# WAF for CloudFront lives in us-east-1 (scope CLOUDFRONT), whatever the stack's region.
resource "aws_wafv2_web_acl" "api" {
  provider = aws.us_east_1

  name        = "${local.name}-api"
  description = "Portal API: per-IP rate limits (tight on the auth paths) and AWS managed rules"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    # Forgot-password sends an SMS to anyone's number and all callers share one hourly SMS
    # budget (reset_sms_per_hour), so one address gets far fewer POSTs here than on the other
    # auth paths: it cannot use up the budget for everyone on its own. Only POST is counted
    # (the CORS preflight is not the SMS). Evaluated before the auth-path rule.
    name     = "forgot-password-per-ip"
    priority = 5

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "too-many-requests"
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_forgot_requests_per_ip
        evaluation_window_sec = 300
        aggregate_key_type    = "IP"

        scope_down_statement {
          and_statement {
            statement {
              byte_match_statement {
                search_string         = "POST"
                positional_constraint = "EXACTLY"
                field_to_match {
                  method {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
            statement {
              byte_match_statement {
                # STARTS_WITH: a trailing slash or suffix is counted too, never let through.
                search_string         = local.waf_forgot_path
                positional_constraint = "STARTS_WITH"
                field_to_match {
                  uri_path {}
                }
                dynamic "text_transformation" {
                  for_each = local.waf_path_transformations
                  content {
                    priority = text_transformation.key
                    type     = text_transformation.value
                  }
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-forgot-password-per-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    # Login, codes, password reset, TOTP: per client IP, so one flooding address is blocked
    # without throttling everyone (the stage throttle is one bucket for all callers).
    name     = "auth-paths-per-ip"
    priority = 10

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "too-many-requests"
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_auth_requests_per_ip
        evaluation_window_sec = 300
        aggregate_key_type    = "IP"

        scope_down_statement {
          and_statement {
            statement {
              byte_match_statement {
                search_string         = local.waf_auth_prefix
                positional_constraint = "STARTS_WITH"
                field_to_match {
                  uri_path {}
                }
                dynamic "text_transformation" {
                  for_each = local.waf_path_transformations
                  content {
                    priority = text_transformation.key
                    type     = text_transformation.value
                  }
                }
              }
            }
            statement {
              not_statement {
                statement {
                  or_statement {
                    dynamic "statement" {
                      for_each = local.waf_auth_exempt_paths
                      content {
                        byte_match_statement {
                          search_string         = statement.value
                          positional_constraint = "EXACTLY"
                          field_to_match {
                            uri_path {}
                          }
                          dynamic "text_transformation" {
                            for_each = local.waf_path_transformations
                            content {
                              priority = text_transformation.key
                              type     = text_transformation.value
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-auth-paths-per-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    # Refresh is exempt from the auth-path rule (signed-in browsers call it on their own),
    # but a browser needs about one per page load or per 15-minute access token, so an
    # address far above that is guessing or replaying refresh tokens.
    name     = "refresh-per-ip"
    priority = 15

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "too-many-requests"
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_refresh_requests_per_ip
        evaluation_window_sec = 300
        aggregate_key_type    = "IP"

        scope_down_statement {
          and_statement {
            statement {
              byte_match_statement {
                search_string         = "POST"
                positional_constraint = "EXACTLY"
                field_to_match {
                  method {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
            statement {
              byte_match_statement {
                # STARTS_WITH: a trailing slash or suffix is counted too, never let through.
                search_string         = local.waf_refresh_path
                positional_constraint = "STARTS_WITH"
                field_to_match {
                  uri_path {}
                }
                dynamic "text_transformation" {
                  for_each = local.waf_path_transformations
                  content {
                    priority = text_transformation.key
                    type     = text_transformation.value
                  }
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-refresh-per-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    # Every path, refresh and logout included: a looser per-IP ceiling.
    name     = "all-paths-per-ip"
    priority = 20

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "too-many-requests"
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_requests_per_ip
        evaluation_window_sec = 300
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-all-paths-per-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common-rule-set"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    # Known exploit payloads (Log4j JNDI lookups and the like) in paths, headers and bodies.
    name     = "aws-known-bad-inputs"
    priority = 40

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    # Counted, not blocked: users work from home through VPNs, corporate proxies and privacy
    # relays, which this list holds. The metric and the labels in the WAF log show whether
    # abuse comes from such addresses before anyone decides to block them.
    name     = "aws-anonymous-ip-count-only"
    priority = 50

    override_action {
      count {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-aws-anonymous-ip"
      sampled_requests_enabled   = true
    }
  }

  # The API's own problem document (RFC 9457) and code for too many attempts, so clients
  # handle a WAF block like the API's own 429 (WAF cannot send problem+json or localise).
  custom_response_body {
    key          = "too-many-requests"
    content_type = "APPLICATION_JSON"
    content = jsonencode({
      type   = "https://errors.hjemmekontor.nhn.no/too_many_attempts"
      status = 429
      code   = "too_many_attempts"
      title  = "For mange forsøk. Vent litt og prøv igjen."
    })
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.name}-api"
    sampled_requests_enabled   = true
  }
}

# WAF logs: CloudWatch Logs in us-east-1 (the group name must start with aws-waf-logs-),
# encrypted with a key of that region. Credentials, cookies, the query string (the Buypass
# callback's authorization code) and the origin secret header are redacted, nothing else.
# x-hk-viewer-ip is not: WAF sees the request before the viewer-request function, so a value
# in the log is one a viewer sent (a spoofing attempt worth seeing; the function replaces it),
# and the real viewer address is in the log's clientIp anyway.
resource "aws_cloudwatch_log_group" "waf" {
  provider = aws.us_east_1

  name              = "aws-waf-logs-${local.name}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.waf_logs.arn
}

resource "aws_wafv2_web_acl_logging_configuration" "api" {
  provider = aws.us_east_1

  resource_arn            = aws_wafv2_web_acl.api.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
  redacted_fields {
    single_header {
      name = local.origin_verify_header
    }
  }
  redacted_fields {
    query_string {}
  }
}

resource "aws_kms_key" "waf_logs" {
  provider = aws.us_east_1

  description             = "${local.name}: WAF logs of the API's CloudFront distribution (us-east-1)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_logs["waf"].json # kms.tf
}
