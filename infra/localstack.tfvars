# For `tflocal apply -var-file=localstack.tfvars` against LocalStack (README).
environment             = "local"
region                  = "us-east-1"
portal_url              = "https://portal.localhost"
buypass_issuer          = "https://auth.test.buypass.no/auth/realms/local"
buypass_client_id       = "local"
gateway_role_arn        = "arn:aws:iam::000000000000:role/hk-gateway"
sms_monthly_spend_limit = 1
deletion_protection     = false
log_retention_days      = 1
# LocalStack has no AWS End User Messaging protect configurations.
manage_sms_protect_configuration = false

# No certificate in LocalStack: *.cloudfront.net, which only test environments may use.
allow_default_cloudfront_certificate = true
