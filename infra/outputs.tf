# What the Makefile (run-remote, push-data, push-image) and a reviewer need.

output "region" {
  description = "AWS region."
  value       = var.region
}

output "raw_bucket" {
  description = "Bucket the feed lands in (make push-data)."
  value       = aws_s3_bucket.raw.id
}

output "raw_prefix" {
  description = "Prefix of the feed in the raw bucket."
  value       = local.raw_prefix
}

output "raw_uri" {
  description = "The pipeline's DATA_DIR."
  value       = local.raw_uri
}

output "lake_bucket" {
  description = "Bucket of the Delta Lake."
  value       = aws_s3_bucket.lake.id
}

output "lake_uri" {
  description = "The --lake of every task."
  value       = local.lake_uri
}

output "athena_results_bucket" {
  description = "Bucket of Athena's query results."
  value       = aws_s3_bucket.athena_results.id
}

output "image_registry" {
  description = "Registry host (and namespace) make push-image pushes to."
  value       = local.image_registry
}

output "image_repository_url" {
  description = "Image repository, without tag."
  value       = local.image_repository_url
}

output "image" {
  description = "Image the task definitions run."
  value       = local.image
}

output "ecs_cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "pipeline_task_definition" {
  description = "Pipeline task definition, family:revision (make run-remote)."
  value       = "${aws_ecs_task_definition.pipeline.family}:${aws_ecs_task_definition.pipeline.revision}"
}

output "pipeline_task_group" {
  description = "ECS task group of pipeline runs (the failure alarm matches it)."
  value       = local.pipeline_group
}

output "pipeline_subnet_ids" {
  description = "Subnets of the pipeline task, comma-separated (make run-remote)."
  value       = join(",", local.private_subnet_ids)
}

output "pipeline_security_group_id" {
  description = "Security group of the pipeline task (make run-remote)."
  value       = aws_security_group.pipeline.id
}

output "pipeline_log_group" {
  description = "CloudWatch log group of pipeline runs."
  value       = aws_cloudwatch_log_group.pipeline.name
}

output "api_url" {
  description = "Base URL of the API (point your DNS name, the certificate's, at alb_dns_name)."
  value       = "https://${aws_lb.api.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the ALB (CNAME or alias target for the API's name)."
  value       = aws_lb.api.dns_name
}

output "api_service_name" {
  description = "ECS service of the API."
  value       = aws_ecs_service.api.name
}

output "api_keys_secret_arn" {
  description = "Secret holding PHONE_CONSENT_API_KEYS (put its value: README)."
  value       = local.api_keys_secret_arn
}

output "pii_key_secret_arn" {
  description = "Secret holding PHONE_CONSENT_PII_KEY (put its value: README)."
  value       = local.pii_key_secret_arn
}

output "glue_database" {
  description = "Glue database of the lake's tables (Athena's database)."
  value       = aws_glue_catalog_database.lake.name
}

output "athena_workgroup" {
  description = "Athena workgroup."
  value       = aws_athena_workgroup.main.name
}

output "can_send_sms_named_query_id" {
  description = "Id of the can_send_sms Athena named query (sql/athena/can_send_sms.sql)."
  value       = aws_athena_named_query.shipped["can_send_sms.sql"].id
}

output "alarms_topic_arn" {
  description = "SNS topic of every alarm."
  value       = aws_sns_topic.alarms.arn
}
