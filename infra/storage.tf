# The buckets: raw (the feed as the bank delivers it), lake (the Delta tables), Athena's
# query results, and the access logs of all of them and of the ALB. Every bucket is
# versioned, private (public access blocked, TLS only) and encrypted: SSE-KMS with the
# project's key, except the access-logs bucket, which must be SSE-S3 because neither S3
# server access logging nor ALB access logging can write to an SSE-KMS bucket.

resource "aws_s3_bucket" "raw" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is left off as a cost choice: versioning guards against overwrites and deletes, and a replica doubles storage cost; add it if the agency's retention policy needs a second region.
  bucket        = var.raw_bucket_name
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_144:Cross-region replication not wanted: the lake is derived data (re-derivable from the raw feed by phone-consent run) and versioned.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to lake writes: the API polls the lake for new gold versions itself.
  bucket        = var.lake_bucket_name
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket" "athena_results" {
  #checkov:skip=CKV_AWS_144:Query results are transient (expired after athena_results_expiration_days); replicating them has no use.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to query results being written.
  bucket        = local.athena_results_bucket_name
  force_destroy = var.force_destroy_buckets
}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_144:Access logs are kept for audit in-region; replicating them doubles cost for no recovery need.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to access-log deliveries.
  #checkov:skip=CKV_AWS_18:This is the access-log target bucket; logging its own access into itself would loop.
  #checkov:skip=CKV_AWS_145:S3 server access logging and ALB access logs can only be delivered to SSE-S3 (AES256) buckets, not SSE-KMS.
  bucket        = local.access_logs_bucket_name
  force_destroy = var.force_destroy_buckets
}

locals {
  buckets = {
    raw            = aws_s3_bucket.raw
    lake           = aws_s3_bucket.lake
    athena_results = aws_s3_bucket.athena_results
    access_logs    = aws_s3_bucket.access_logs
  }
  kms_buckets = {
    raw            = aws_s3_bucket.raw
    lake           = aws_s3_bucket.lake
    athena_results = aws_s3_bucket.athena_results
  }
}

resource "aws_s3_bucket_public_access_block" "all" {
  for_each = local.buckets

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "all" {
  for_each = local.buckets

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "all" {
  for_each = local.buckets

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "kms" {
  for_each = local.kms_buckets

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # One data key per bucket instead of a KMS call per object: Delta reads many objects.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_logging" "kms_buckets" {
  for_each = local.kms_buckets

  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "s3/${each.value.id}/"
}

# Raw: the feed moves to cheaper classes as it ages. A run lists the whole prefix but reads
# only files its ledger does not have, so old files are rarely read; Glacier Instant
# Retrieval keeps them readable at once (run --replace, an audit).
resource "aws_s3_bucket_lifecycle_configuration" "raw" {
  bucket = aws_s3_bucket.raw.id

  rule {
    id     = "age-feed-files"
    status = "Enabled"

    filter {}

    transition {
      days          = var.raw_transition_ia_days
      storage_class = "STANDARD_IA"
    }

    transition {
      days          = var.raw_transition_glacier_ir_days
      storage_class = "GLACIER_IR"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.all]
}

# Lake: Delta never overwrites a data file; files it removes (and replaced _last_checkpoint
# versions) become noncurrent and expire.
resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  rule {
    id     = "expire-noncurrent"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.all]
}

resource "aws_s3_bucket_lifecycle_configuration" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id

  rule {
    id     = "expire-results"
    status = "Enabled"

    filter {}

    expiration {
      days = var.athena_results_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.all]
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.all]
}

# New feed files start a pipeline run: S3 sends its events to EventBridge (pipeline.tf).
resource "aws_s3_bucket_notification" "raw" {
  bucket      = aws_s3_bucket.raw.id
  eventbridge = true
}

# --- Bucket policies: TLS only; the access-logs bucket also admits the log deliveries ---

data "aws_iam_policy_document" "tls_only" {
  for_each = local.kms_buckets

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "kms_buckets" {
  for_each = local.kms_buckets

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.all]
}

# The account that delivers ALB access logs in this region.
data "aws_elb_service_account" "main" {}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "AlbAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.main.arn]
    }
  }

  statement {
    sid       = "AlbAccessLogsServicePrincipal"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.all]
}
