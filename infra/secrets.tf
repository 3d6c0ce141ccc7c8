# Secrets Manager holds the key material; Terraform creates the containers but never the values,
# so no secret ever lands in Terraform state or plans. Operators write the values (README).
#
# keys: one JSON document read via PORTAL_KEYS_SECRET_ID (functions/portal/src/security/keys.rs:
#   signing_keys [{kid, pkcs8}], code_pepper, extra{}). Rotation is the documented key roll-over
#   (add a new signing key first, drop the old one after the access-token lifetime), done by
#   putting a new secret version.
# buypass_client_key: the private key the buypass function signs its private_key_jwt client
#   assertions with.

resource "aws_secretsmanager_secret" "keys" {
  #checkov:skip=CKV2_AWS_57:Rotation is a two-step roll-over (publish a new signing key, keep verifying the old one for the token lifetime) done by putting a new version; an automatic rotation Lambda would have to know the Ed25519 key format and the pepper's re-hash rules and is not part of this stack.
  name                    = "${local.name}/portal-keys"
  description             = "Token signing keys and SMS code pepper (JSON, see functions/portal/src/security/keys.rs)"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret" "buypass_client_key" {
  #checkov:skip=CKV2_AWS_57:The Buypass client key is rotated together with its registration at Buypass (new public key registered first), which no rotation Lambda can do.
  name                    = "${local.name}/buypass-client-key"
  description             = "Private key for the Buypass OpenID Connect client assertion (private_key_jwt)"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
}

# Defence in depth: even a principal with a broad IAM policy in this account cannot read the
# secret values; only the function roles that need them can.
locals {
  secret_readers = {
    keys               = [for f, env in local.function_environment : aws_iam_role.function[f].arn if contains(keys(env), "PORTAL_KEYS_SECRET_ID")]
    buypass_client_key = [for f, env in local.function_environment : aws_iam_role.function[f].arn if contains(keys(env), "PORTAL_BUYPASS_CLIENT_KEY_SECRET_ID")]
  }
}

data "aws_iam_policy_document" "secret_readers" {
  for_each = local.secret_readers

  statement {
    sid       = "OnlyTheFunctionsThatNeedItReadTheValue"
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
      values   = each.value
    }
  }
}

resource "aws_secretsmanager_secret_policy" "keys" {
  secret_arn = aws_secretsmanager_secret.keys.arn
  policy     = data.aws_iam_policy_document.secret_readers["keys"].json
}

resource "aws_secretsmanager_secret_policy" "buypass_client_key" {
  secret_arn = aws_secretsmanager_secret.buypass_client_key.arn
  policy     = data.aws_iam_policy_document.secret_readers["buypass_client_key"].json
}
