#!/usr/bin/env bash
# Creates the portal's resources in LocalStack exactly as infra/ and
# `portal-admin init-table` do. Idempotent: safe on every start.
set -euo pipefail

table="${PORTAL_TABLE:-hjemmekontor-portal}"
topic="${PORTAL_ACTIVATION_TOPIC:-hjemmekontor-activation-events}"
secret_prefix="${PORTAL_SECRET_PREFIX:-hjemmekontor}"

if ! awslocal dynamodb describe-table --table-name "$table" >/dev/null 2>&1; then
  awslocal dynamodb create-table \
    --table-name "$table" \
    --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES \
    --sse-specification Enabled=true >/dev/null
  awslocal dynamodb wait table-exists --table-name "$table"
  awslocal dynamodb update-time-to-live \
    --table-name "$table" \
    --time-to-live-specification Enabled=true,AttributeName=expires_at >/dev/null
  awslocal dynamodb update-continuous-backups \
    --table-name "$table" \
    --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true >/dev/null
  echo "created DynamoDB table $table"
fi

# create-topic returns the existing topic when it is there already.
arn=$(awslocal sns create-topic --name "$topic" --query TopicArn --output text)
echo "SNS topic for activation events: $arn"

# The Lambda functions read their keys from Secrets Manager, one secret per purpose, named
# <prefix>/<purpose> as infra/secrets.tf names them. The values are the documents
# `portal-admin keys split --out .portal-data/secrets` wrote from the local data dir's keys.json,
# so tokens issued by portal-local and by the functions verify against each other.
for document in /portal-data/secrets/*.json; do
  [ -f "$document" ] || continue
  purpose=$(basename "$document" .json)
  case "$purpose" in
    token-signing | token-verifying | code-pepper | totp-key | buypass-client-key) ;;
    *) echo "skipping $document: not a key document" >&2; continue ;;
  esac
  secret="$secret_prefix/$purpose"
  if ! awslocal secretsmanager describe-secret --secret-id "$secret" >/dev/null 2>&1; then
    awslocal secretsmanager create-secret --name "$secret" \
      --secret-string "file://$document" >/dev/null
    echo "created secret $secret"
  fi
done
