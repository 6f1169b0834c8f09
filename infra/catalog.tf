# The lake in the Glue catalog, for Athena (engine v3 reads Delta tables natively: it takes
# the schema and the live files from each table's _delta_log, so a new gold version is
# visible without a crawler or a manifest). Registered: gold phone_consent and silver
# phone_state and phone_events; the columns are given for other Glue readers and follow
# SPEC.md (gold) and crates/lake/src/schema.rs (silver).

resource "aws_glue_catalog_database" "lake" {
  name        = var.glue_database_name
  description = "phone-consent Delta Lake (${local.lake_uri})"
}

locals {
  glue_tables = {
    phone_consent = {
      path        = "gold/phone_consent"
      description = "Gold: one row per (account, phone), SPEC.md's columns"
      columns = [
        { name = "account_number", type = "string" },
        { name = "phone_number", type = "string" },
        { name = "phone_source", type = "string" },
        { name = "has_sms_consent", type = "boolean" },
        { name = "sms_consent_updated_at", type = "date" },
        { name = "is_deleted", type = "boolean" },
        { name = "delete_type", type = "string" },
        { name = "deleted_at", type = "date" },
      ]
    }
    phone_state = {
      path        = "silver/phone_state"
      description = "Silver: one row per (account, phone): state, attributes, decision and its evidence"
      columns = [
        { name = "account_number", type = "string" },
        { name = "phone_number", type = "string" },
        { name = "phone_source", type = "string" },
        { name = "phone_type", type = "string" },
        { name = "phone_status", type = "string" },
        { name = "phone_technology", type = "string" },
        { name = "quality_score", type = "string" },
        { name = "record_id", type = "string" },
        { name = "has_sms_consent", type = "boolean" },
        { name = "sms_consent_updated_at", type = "date" },
        { name = "is_deleted", type = "boolean" },
        { name = "delete_type", type = "string" },
        { name = "deleted_at", type = "date" },
        { name = "first_seen_at", type = "date" },
        { name = "last_seen_at", type = "date" },
        { name = "last_event_at", type = "date" },
        { name = "can_send_sms", type = "boolean" },
        { name = "reason", type = "string" },
        { name = "decided_by_event", type = "string" },
        { name = "decided_by_date", type = "date" },
        { name = "decided_by_file", type = "string" },
        { name = "decided_by_line", type = "bigint" },
        { name = "changes_after_delete", type = "bigint" },
      ]
    }
    phone_events = {
      path        = "silver/phone_events"
      description = "Silver: the audit trail, every event per (account, phone) with its file and line"
      columns = [
        { name = "account_number", type = "string" },
        { name = "phone_number", type = "string" },
        { name = "event", type = "string" },
        { name = "event_date", type = "date" },
        { name = "last_date", type = "date" },
        { name = "file_date", type = "date" },
        { name = "source_file", type = "string" },
        { name = "line", type = "bigint" },
        { name = "last_source_file", type = "string" },
        { name = "last_line", type = "bigint" },
        { name = "phone_source", type = "string" },
        { name = "phone_type", type = "string" },
        { name = "phone_status", type = "string" },
        { name = "phone_technology", type = "string" },
        { name = "quality_score", type = "string" },
        { name = "record_id", type = "string" },
        { name = "consent", type = "boolean" },
        { name = "consent_date", type = "date" },
        { name = "run_id", type = "bigint" },
      ]
    }
  }
}

resource "aws_glue_catalog_table" "lake" {
  for_each = local.glue_tables

  name          = each.key
  database_name = aws_glue_catalog_database.lake.name
  description   = each.value.description
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "EXTERNAL"                   = "TRUE"
    "table_type"                 = "DELTA"
    "spark.sql.sources.provider" = "delta"
    "classification"             = "delta"
  }

  storage_descriptor {
    location      = "${local.lake_uri}/${each.value.path}"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        "serialization.format" = "1"
        "path"                 = "${local.lake_uri}/${each.value.path}"
      }
    }

    dynamic "columns" {
      for_each = each.value.columns

      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_athena_workgroup" "main" {
  name          = var.athena_workgroup_name
  description   = "phone-consent: queries over the lake; results encrypted, settings enforced"
  force_destroy = var.force_destroy_buckets

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.athena_results.id}/results/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.main.arn
      }
    }
  }
}

# The shipped Athena queries (sql/athena/*.sql: the compliance check can_send_sms and the
# reports), one named query each, described by the file's first comment line. They name
# the tables phone_consent.<table>: keep glue_database_name = "phone_consent" for them.
locals {
  athena_sql_dir = "${path.module}/../sql/athena"
}

resource "aws_athena_named_query" "shipped" {
  for_each = fileset(local.athena_sql_dir, "*.sql")

  name        = trimsuffix(each.value, ".sql")
  description = substr(trimprefix(split("\n", file("${local.athena_sql_dir}/${each.value}"))[0], "-- "), 0, 1024)
  workgroup   = aws_athena_workgroup.main.id
  database    = aws_glue_catalog_database.lake.name
  query       = file("${local.athena_sql_dir}/${each.value}")
}
