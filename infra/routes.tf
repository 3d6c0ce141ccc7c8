# The API's routes: which function serves each, how it is authorised at the edge and which
# throttling class it gets. This table is the single source the API Gateway routes, the Lambda
# invoke permissions and the per-route throttles are built from (for_each), and it must agree
# with openapi.yaml (x-function of every operation):
#   - statically, by scripts/check-infra.sh (infra/checks/check_contract.py), and
#   - at plan time, by the precondition on aws_apigatewayv2_api.portal (apigateway.tf).
#
# authorization: "NONE" routes are public or check their credential inside the function
#   (challenge id + code, refresh cookie, or the bearer token, which is an EdDSA JWT plus a
#   session liveness lookup that API Gateway's JWT authorizer cannot do). "AWS_IAM" is the
#   remote-access gateway's lookups, SigV4-signed by the gateway's own IAM role; the function
#   also checks that the caller is that role (var.gateway_role_arn), since any principal with
#   execute-api:Invoke would pass the IAM authorizer.
# Routes of functions whose crate does not exist yet (buypass, serial-activation) are here
# ahead of openapi.yaml, as infra/checks/functions.toml documents ("planned"); any other route
# appears here only once the contract has it (the check fails both ways).
#
# throttle: "auth" routes are reachable without a session and send SMS or check passwords, so
#   they get the tighter var.api_throttle_auth on top of the stage default. Both are cost
#   ceilings shared by all callers; per-IP limits are the WAF's (cloudfront.tf). Refresh and
#   logout are "default": browsers call them on their own, and they check a session credential.
locals {
  routes = {
    "POST /v1/auth/login"                      = { function = "login", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/password/forgot"            = { function = "login", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/password/reset"             = { function = "login", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/sms/resend"                 = { function = "sms-code", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/sms/verify"                 = { function = "sms-code", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/sms/status"                 = { function = "sms-code", authorization = "NONE", throttle = "default" }
    "POST /v1/auth/totp/verify"                = { function = "sms-code", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/refresh"                    = { function = "sms-code", authorization = "NONE", throttle = "default" }
    "POST /v1/auth/logout"                     = { function = "sms-code", authorization = "NONE", throttle = "default" }
    "GET /v1/account"                          = { function = "account", authorization = "NONE", throttle = "default" }
    "PUT /v1/account/password"                 = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/account/phone"                   = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/account/phone/confirm"           = { function = "account", authorization = "NONE", throttle = "auth" }
    "GET /v1/account/totp"                     = { function = "account", authorization = "NONE", throttle = "default" }
    "POST /v1/account/totp"                    = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/account/totp/confirm"            = { function = "account", authorization = "NONE", throttle = "auth" }
    "DELETE /v1/account/totp"                  = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/passkey/verify"             = { function = "sms-code", authorization = "NONE", throttle = "auth" }
    "GET /v1/account/passkeys"                 = { function = "account", authorization = "NONE", throttle = "default" }
    "POST /v1/account/passkeys"                = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/account/passkeys/confirm"        = { function = "account", authorization = "NONE", throttle = "auth" }
    "DELETE /v1/account/passkeys/{id}"         = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/account/step-up/options"         = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/account/step-up"                 = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/auth/recovery-code/verify"       = { function = "sms-code", authorization = "NONE", throttle = "auth" }
    "GET /v1/account/recovery-codes"           = { function = "account", authorization = "NONE", throttle = "default" }
    "POST /v1/account/recovery-codes"          = { function = "account", authorization = "NONE", throttle = "auth" }
    "PUT /v1/account/language"                 = { function = "account", authorization = "NONE", throttle = "default" }
    "GET /v1/account/sessions"                 = { function = "account", authorization = "NONE", throttle = "default" }
    "DELETE /v1/account/sessions/{session_id}" = { function = "account", authorization = "NONE", throttle = "default" }
    "POST /v1/account/sessions/revoke-others"  = { function = "account", authorization = "NONE", throttle = "default" }
    "GET /v1/account/security-events"          = { function = "account", authorization = "NONE", throttle = "default" }
    # Checks the password (counts as a failed login when wrong), like the other re-authentications.
    "POST /v1/account/not-me"               = { function = "account", authorization = "NONE", throttle = "auth" }
    "POST /v1/homeoffice/buypass/start"     = { function = "buypass", authorization = "NONE", throttle = "default" }
    "GET /v1/homeoffice/buypass/callback"   = { function = "buypass", authorization = "NONE", throttle = "default" }
    "GET /v1/gateway/certificates/{serial}" = { function = "serial-activation", authorization = "AWS_IAM", throttle = "default" }
    # The card's issuer id (hex SHA-256 of the issuer Name) and serial; serials are unique per
    # issuer only, and the serial-only route above refuses a serial two issuers share.
    "GET /v1/gateway/certificates/{issuer_id}/{serial}" = { function = "serial-activation", authorization = "AWS_IAM", throttle = "default" }
  }

  # The contract: every deployed operation of openapi.yaml as "METHOD /path" => x-function.
  # Operations served only by portal-local (x-function portal-local, e.g. the dev SMS outbox)
  # are never deployed.
  openapi_operations = merge([
    for path, item in yamldecode(file("${path.module}/../openapi.yaml")).paths : {
      for method, operation in item :
      "${upper(method)} ${path}" => try(operation["x-function"], "(none)")
      # try(): path items also hold non-operations (parameters, summary), and HCL's && does not
      # short-circuit.
      if contains(["get", "put", "post", "delete", "patch", "head", "options"], method) && try(operation["x-function"], "") != "portal-local"
    }
  ]...)

  routes_missing_from_openapi = [for key, route in local.routes : key if lookup(local.openapi_operations, key, null) != route.function]
  openapi_missing_from_routes = [for key, fn in local.openapi_operations : key if try(local.routes[key].function, null) != fn]
}
