# The two secrets the tasks read, injected by ECS as environment variables. Their values
# never pass through Terraform (no variable, no secret version, nothing in state): give the
# ARN of a secret you manage, or let an empty one be created here and put its value with
# `aws secretsmanager put-secret-value` (README, "Deploying on AWS").

resource "aws_secretsmanager_secret" "api_keys" {
  #checkov:skip=CKV2_AWS_57:API keys are shared with the clients that call the API; they are rotated by hand with them (put a new comma-separated list, then drop the old key), which no rotation Lambda can coordinate.
  count = var.api_keys_secret_arn == "" ? 1 : 0

  name        = "${local.name}/api-keys"
  description = "PHONE_CONSENT_API_KEYS for phone-consent serve: comma-separated bearer keys, 16+ characters each"
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret" "pii_key" {
  #checkov:skip=CKV2_AWS_57:The PII hashing key must not rotate on a schedule: every SSN and name hash in bronze is keyed by it, and hashes made with a new key no longer match the stored ones.
  count = var.pii_key_secret_arn == "" ? 1 : 0

  name        = "${local.name}/pii-key"
  description = "PHONE_CONSENT_PII_KEY for phone-consent run: the keyed-hash secret for SSNs and names in bronze"
  kms_key_id  = aws_kms_key.main.arn
}
