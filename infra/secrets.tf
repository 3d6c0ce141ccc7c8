# Secrets Manager holds the key material; Terraform creates the container but never the value,
# so no secret ever lands in Terraform state or plans. Operators write the value (README).
#
# One JSON document read via PORTAL_KEYS_SECRET_ID (functions/portal/src/security/keys.rs):
# signing_keys [{kid, pkcs8}], code_pepper, and extra{} with the further named secrets, among
# them `buypass_client_key` (the ES256 key the buypass function signs its private_key_jwt client
# assertions with; functions/portal/src/buypass/config.rs) and the TOTP secret-box key.
# Rotation is the documented key roll-over (add a new signing key first, drop the old one after
# the access-token lifetime), done by putting a new secret version.

resource "aws_secretsmanager_secret" "keys" {
  #checkov:skip=CKV2_AWS_57:Rotation is a two-step roll-over (publish a new signing key, keep verifying the old one for the token lifetime; re-register the Buypass client key at Buypass first) done by putting a new version; an automatic rotation Lambda cannot do the Buypass side and is not part of this stack.
  name                    = "${local.name}/portal-keys"
  description             = "Token signing keys, SMS code pepper, Buypass client key, TOTP key (JSON, see functions/portal/src/security/keys.rs)"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
}

# Defence in depth: even a principal with a broad IAM policy in this account cannot read the
# secret value; only the function roles that are configured with it can.
data "aws_iam_policy_document" "keys_secret" {
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
      values   = [for f, env in local.function_environment : aws_iam_role.function[f].arn if contains(keys(env), "PORTAL_KEYS_SECRET_ID")]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "keys" {
  secret_arn = aws_secretsmanager_secret.keys.arn
  policy     = data.aws_iam_policy_document.keys_secret.json
}
