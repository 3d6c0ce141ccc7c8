# Key material, one Secrets Manager secret per purpose, so that each function holds only the
# keys its routes use (functions/core/src/security/key_parts.rs; which function loads which
# is FUNCTION_KEYS in functions/entry/lambda/src/config.rs, and scripts/check-infra.sh fails when
# environment.tf or iam.tf name another secret for a function):
#
#   token-signing       Ed25519 private keys that mint access tokens          sms-code
#   token-verifying     their public halves only: verify, cannot mint         account, buypass
#   code-pepper         HMAC key of the one-time SMS codes                    login, sms-code, account
#   totp-key            AES-256 key of authenticator-app secrets              login, sms-code, account
#   buypass-client-key  ES256 key of our private_key_jwt client assertions    buypass
#   origin-verify       the header value CloudFront adds (cloudfront.tf)      login, sms-code, account, buypass
#
# serial-activation holds no key (its only route is IAM-authorised, called at the API directly). Terraform creates the containers but never the values, so no
# secret lands in Terraform state or plans; operators write them with the documents
# `portal-admin keys generate|split|rotate|retire` produces (infra/README.md, "Key secrets").

locals {
  # purpose => the environment variable that names its secret (KeyPurpose::env_var).
  key_secrets = {
    "token-signing"      = { env = "PORTAL_TOKEN_SIGNING_SECRET_ID", description = "Access-token signing keys (Ed25519 PKCS#8, first signs): sms-code only" }
    "token-verifying"    = { env = "PORTAL_TOKEN_VERIFYING_SECRET_ID", description = "Public halves of the access-token signing keys (verify only)" }
    "code-pepper"        = { env = "PORTAL_CODE_PEPPER_SECRET_ID", description = "HMAC pepper of the one-time SMS codes" }
    "totp-key"           = { env = "PORTAL_TOTP_KEY_SECRET_ID", description = "AES-256 key of the authenticator-app secrets" }
    "buypass-client-key" = { env = "PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID", description = "ES256 key of the Buypass private_key_jwt client assertions" }
    "origin-verify"      = { env = "PORTAL_ORIGIN_VERIFY_SECRET_ID", description = "Header value CloudFront adds to every API request; the functions refuse requests without it" }
  }
}

resource "aws_secretsmanager_secret" "key" {
  for_each = local.key_secrets
  #checkov:skip=CKV2_AWS_57:Rotation is a multi-step roll-over done by putting new versions (portal-admin keys rotate/retire for the token keys: publish the new verifying key, then sign with it, keep the old one for the token lifetime; the Buypass client key is re-registered at Buypass first; the origin secret is accepted in both versions while CloudFront's KeyValueStore switches); an automatic rotation Lambda cannot do the Buypass or CloudFront side and is not part of this stack.

  name                    = "${local.name}/${each.key}"
  description             = each.value.description
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
}

# Defence in depth: even a principal with a broad IAM policy in this account cannot read a
# secret's value; only the roles of the functions whose environment names that secret can
# (so the signing keys are readable by the sms-code role alone).
data "aws_iam_policy_document" "key_secret" {
  for_each = local.key_secrets

  statement {
    sid       = "OnlyTheFunctionsThatUseItReadTheValue"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"] # in a secret's resource policy, "*" is this secret
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values   = [for f, env in local.function_environment : aws_iam_role.function[f].arn if contains(keys(env), each.value.env)]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "key" {
  for_each = local.key_secrets

  secret_arn = aws_secretsmanager_secret.key[each.key].arn
  policy     = data.aws_iam_policy_document.key_secret[each.key].json
}
