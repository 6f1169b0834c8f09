# One customer-managed key for the project's data at rest: the raw, lake and Athena-results
# buckets, the secrets, the ECR repository, the log groups and the alarms topic. A CMK
# rather than AWS-managed keys because EventBridge and CloudWatch alarms can publish to an
# encrypted SNS topic only when the key's policy lets them.
resource "aws_kms_key" "main" {
  description             = "${local.name}: data at rest (S3, Secrets Manager, ECR, logs, SNS)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only (it cannot name its own ARN); the logs statement is limited by encryption context, and the alarm topic's policy decides who publishes.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only; it cannot name its own ARN.
  #checkov:skip=CKV_AWS_109:The account-root statement is the standard key-administration grant; IAM policies then decide who may use the key, and a key policy's "*" means this key only.
  # The account administers the key; IAM policies grant its use to the task roles.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncrypt"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }

  # EventBridge and CloudWatch alarms publish to the encrypted alarms topic (AWS's documented
  # grant; who may publish is decided by the topic's policy, monitoring.tf).
  statement {
    sid       = "AlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
  }
}
