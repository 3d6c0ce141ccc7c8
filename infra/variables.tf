variable "environment" {
  description = "Environment name, part of every resource name (e.g. dev, test, prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment: 2-16 characters, lower-case letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region for the whole stack (SMS preferences are per region too)."
  type        = string
  default     = "eu-north-1"
}

variable "portal_url" {
  description = "Origin of the portal front end, e.g. https://portal.example.no. The only CORS origin, and the base of the Buypass callback's redirects (PORTAL_URL)."
  type        = string

  validation {
    # An origin: scheme and host (optionally port), no path and no trailing slash, because
    # API Gateway compares CORS origins byte for byte.
    condition     = can(regex("^https://[a-z0-9.-]+(:[0-9]{1,5})?$", var.portal_url))
    error_message = "portal_url must be an https origin without path or trailing slash, e.g. https://portal.example.no."
  }
}

variable "api_base_url" {
  description = "Public base URL of the API, if not https://<api_domain_name> (or, without one, the CloudFront distribution's URL). Used for the token issuer default and the Buypass redirect URI."
  type        = string
  default     = ""

  validation {
    condition     = var.api_base_url == "" || can(regex("^https://[a-z0-9.-]+(:[0-9]{1,5})?$", var.api_base_url))
    error_message = "api_base_url must be empty or an https origin without path or trailing slash."
  }
}

variable "token_issuer" {
  description = "`iss` of access tokens (PORTAL_TOKEN_ISSUER). Empty: the API base URL."
  type        = string
  default     = ""
}

variable "token_audience" {
  description = "`aud` of access tokens (PORTAL_TOKEN_AUDIENCE)."
  type        = string
  default     = "hjemmekontor-portal"
}

variable "buypass_issuer" {
  description = "Buypass OpenID Connect issuer for the security domain, https://auth.buypass.no/auth/realms/<domain> (test: the Buypass test realm)."
  type        = string

  validation {
    condition     = can(regex("^https://[a-z0-9.-]+/auth/realms/[A-Za-z0-9._-]+$", var.buypass_issuer))
    error_message = "buypass_issuer must look like https://auth.buypass.no/auth/realms/<domain>."
  }
}

variable "gateway_role_arn" {
  description = "ARN of the remote-access gateway's IAM role (arn:aws:iam::<account>:role/<path/><name>). serial-activation answers the certificate lookup only for callers that assumed exactly this role (partition, account and role name compared); any other principal the IAM authorizer lets through gets 403."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", var.gateway_role_arn))
    error_message = "gateway_role_arn must be an IAM role ARN: arn:aws:iam::<12-digit account>:role/<optional/path/><name>."
  }
}

variable "buypass_client_id" {
  description = "Client id registered with Buypass for this environment."
  type        = string

  validation {
    condition     = length(var.buypass_client_id) > 0
    error_message = "buypass_client_id must not be empty."
  }
}

variable "buypass_ca_bundle_pem" {
  description = "PEM of the Buypass issuing CA certificates whose smartcard certificates are accepted (BUYPASS_CA_BUNDLE). Lambda caps a function's whole environment at 4 KB, which leaves room for about two certificates."
  type        = string

  validation {
    condition     = can(regex("-----BEGIN CERTIFICATE-----", var.buypass_ca_bundle_pem)) && length(var.buypass_ca_bundle_pem) <= 3000
    error_message = "buypass_ca_bundle_pem must hold PEM certificates and stay under 3000 characters (Lambda's 4 KB environment limit)."
  }
}

variable "sms_sender_id" {
  description = "Alphanumeric SMS sender ID (3-11 characters, at least one letter). Norway accepts alphanumeric sender IDs without registration."
  type        = string
  default     = "Hjemmekont"

  validation {
    condition     = can(regex("^[A-Za-z0-9]{3,11}$", var.sms_sender_id)) && can(regex("[A-Za-z]", var.sms_sender_id))
    error_message = "sms_sender_id: 3-11 letters or digits, at least one letter."
  }
}

variable "sms_monthly_spend_limit" {
  description = "SNS SMS monthly spend limit in USD for the account and region. Above 1 USD needs an AWS support case first, or apply fails."
  type        = number
  default     = 1

  validation {
    condition     = var.sms_monthly_spend_limit >= 1 && floor(var.sms_monthly_spend_limit) == var.sms_monthly_spend_limit
    error_message = "sms_monthly_spend_limit must be a whole number of USD, at least 1."
  }
}

variable "manage_sms_preferences" {
  description = "Whether this stack owns the account's SNS SMS preferences in this region (a per-region singleton: let exactly one stack per account and region set it)."
  type        = bool
  default     = true
}

variable "lambda_artifacts_dir" {
  description = "Directory holding <function>/bootstrap.zip as built by scripts/build-lambdas.sh. Empty: ../target/lambda relative to this module."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of Lambda, API access and SMS delivery logs. One year by default (security investigations, ASVS 7.1)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "api_throttle_default" {
  description = "Stage-wide throttling for every route: a cost ceiling on the whole API (one bucket shared by all callers); per-caller limits are the WAF's (waf_*_per_ip) and the code's."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = {
    rate_limit  = 50
    burst_limit = 100
  }
}

variable "api_throttle_auth" {
  description = "Stage throttling of the unauthenticated auth routes (login, codes, password reset; not refresh or logout): a cost ceiling on SMS and password hashing, shared by all callers. Floods from one address are the WAF's to stop (waf_auth_requests_per_ip), account-level abuse the code's."
  type = object({
    rate_limit  = number
    burst_limit = number
  })
  default = {
    rate_limit  = 20
    burst_limit = 40
  }
}

variable "alarm_email_endpoints" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "activation_event_subscriber_arns" {
  description = "IAM principals (e.g. the remote-access gateway's account root or role) allowed to subscribe to the activation event topic."
  type        = list(string)
  default     = []
}

variable "activation_event_extra_publisher_arns" {
  description = "IAM principals besides the serial-activation role allowed to publish activation events, e.g. the operators' role that runs `portal-admin revoke`."
  type        = list(string)
  default     = []
}

variable "activation_metric" {
  description = "The metric serial-activation writes on every sweep as a CloudWatch embedded-metric-format log line (functions/core/src/activation/mod.rs, emf_line): the age in seconds of the oldest serial still pending, alarmed above 10 minutes."
  type = object({
    namespace  = string
    name       = string
    dimensions = map(string)
  })
  default = {
    namespace  = "Hjemmekontor"
    name       = "OldestPendingActivationAge"
    dimensions = { Function = "serial-activation" }
  }
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection. Turn off only to tear down a throwaway environment."
  type        = bool
  default     = true
}

variable "reset_sms_per_hour" {
  description = "Forgot-password SMS of all accounts together per hour (PORTAL_RESET_SMS_PER_HOUR): the ceiling on what anonymous callers can spend on text messages. Past it, resets answer 503 sms_unavailable until the hour has passed, and the reset_sms_budget_exhausted alarm fires. Login codes are not counted."
  type        = number
  default     = 500

  validation {
    condition     = var.reset_sms_per_hour >= 1 && floor(var.reset_sms_per_hour) == var.reset_sms_per_hour
    error_message = "reset_sms_per_hour must be a whole number, at least 1."
  }
}

variable "sms_per_hour" {
  description = "Every SMS of the portal (codes, resends, notices), all accounts together, per hour (PORTAL_SMS_PER_HOUR): past it new codes answer 503 sms_unavailable and the sms_budget_exhausted alarm for Budget sms-global-hour fires. Notices are counted but still sent."
  type        = number
  default     = 1000

  validation {
    condition     = var.sms_per_hour >= 1 && floor(var.sms_per_hour) == var.sms_per_hour
    error_message = "sms_per_hour must be a whole number, at least 1."
  }
}

variable "sms_per_day" {
  description = "Every SMS of the portal per day (PORTAL_SMS_PER_DAY); as sms_per_hour, Budget sms-global-day. Keep it below what sms_monthly_spend_limit buys in a day."
  type        = number
  default     = 5000

  validation {
    condition     = var.sms_per_day >= 1 && floor(var.sms_per_day) == var.sms_per_day
    error_message = "sms_per_day must be a whole number, at least 1."
  }
}

variable "manage_sms_protect_configuration" {
  description = "Whether this stack creates the AWS End User Messaging SMS protect configuration that allows SMS only to Norway (and sms_extra_allowed_countries). An operator then makes it the account default once (infra/README.md): neither CloudFormation nor the aws provider can set that association. Off for LocalStack."
  type        = bool
  default     = true
}

variable "sms_extra_allowed_countries" {
  description = "ISO 3166-1 alpha-2 codes (SE, DK) the protect configuration allows besides NO: needed when an operator allows a country for an account (portal-admin allow-country), or SNS blocks those SMS."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.sms_extra_allowed_countries : can(regex("^[A-Z]{2}$", c))])
    error_message = "sms_extra_allowed_countries holds two-letter upper-case ISO 3166-1 codes."
  }
}

variable "api_domain_name" {
  description = "The API's public host name on CloudFront (api.example.no), with api_certificate_arn. Empty: the distribution's *.cloudfront.net name (test environments only, with allow_default_cloudfront_certificate: no TLS minimum can be set on it)."
  type        = string
  default     = ""
}

variable "api_certificate_arn" {
  description = "ACM certificate for api_domain_name, issued in us-east-1 (CloudFront's region). Given: TLS 1.2 (TLSv1.2_2021) minimum, SNI. Required unless allow_default_cloudfront_certificate is true (test environments)."
  type        = string
  default     = ""

  validation {
    condition     = var.api_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:us-east-1:", var.api_certificate_arn))
    error_message = "api_certificate_arn must be an ACM certificate in us-east-1."
  }
}

variable "cloudfront_price_class" {
  description = "CloudFront price class (edge locations used). PriceClass_100: Europe and North America."
  type        = string
  default     = "PriceClass_100"
}

variable "waf_auth_requests_per_ip" {
  description = "Requests per client IP per 5 minutes to the auth paths (/v1/auth/* except refresh and logout) before WAF answers 429 for that IP. Offices behind one NAT address share it: raise it for them rather than loosening the stage throttle."
  type        = number
  default     = 100

  validation {
    condition     = var.waf_auth_requests_per_ip >= 10
    error_message = "WAF rate-based rules need a limit of at least 10."
  }
}

variable "waf_requests_per_ip" {
  description = "Requests per client IP per 5 minutes to any path before WAF answers 429 for that IP."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_requests_per_ip >= 10
    error_message = "WAF rate-based rules need a limit of at least 10."
  }
}

variable "waf_forgot_requests_per_ip" {
  description = "POST requests per client IP per 5 minutes to /v1/auth/password/forgot before WAF answers 429 for that IP. Each may send an SMS, and all callers share reset_sms_per_hour: one address can spend at most 12 times this per hour, so keep it well below that budget."
  type        = number
  default     = 10

  validation {
    condition     = var.waf_forgot_requests_per_ip >= 10 && floor(var.waf_forgot_requests_per_ip) == var.waf_forgot_requests_per_ip
    error_message = "waf_forgot_requests_per_ip must be a whole number, at least 10 (WAF rate-based rules need a limit of at least 10)."
  }
}

variable "waf_refresh_requests_per_ip" {
  description = "POST requests per client IP per 5 minutes to /v1/auth/refresh before WAF answers 429 for that IP. A browser refreshes about once per page load or per 15-minute access token; offices behind one NAT address share the limit."
  type        = number
  default     = 60

  validation {
    condition     = var.waf_refresh_requests_per_ip >= 10 && floor(var.waf_refresh_requests_per_ip) == var.waf_refresh_requests_per_ip
    error_message = "waf_refresh_requests_per_ip must be a whole number, at least 10 (WAF rate-based rules need a limit of at least 10)."
  }
}

variable "allow_default_cloudfront_certificate" {
  description = "Test environments only: allow the distribution without api_certificate_arn, on *.cloudfront.net with CloudFront's default certificate, which accepts TLS 1.0. Without this, planning fails when no certificate is given."
  type        = bool
  default     = false
}
