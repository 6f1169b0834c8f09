# Names and values shared by the other files.
locals {
  name       = var.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  raw_prefix  = var.raw_prefix
  lake_prefix = var.lake_prefix
  raw_uri     = "s3://${var.raw_bucket_name}/${local.raw_prefix}"
  lake_uri    = "s3://${var.lake_bucket_name}/${local.lake_prefix}"

  athena_results_bucket_name = coalesce(var.athena_results_bucket_name, "${var.lake_bucket_name}-athena-results")
  access_logs_bucket_name    = coalesce(var.access_logs_bucket_name, "${var.lake_bucket_name}-access-logs")

  create_ecr           = var.image_registry == ""
  image_repository_url = local.create_ecr ? aws_ecr_repository.app[0].repository_url : "${trimsuffix(var.image_registry, "/")}/${var.image_repository}"
  image_registry       = local.create_ecr ? split("/", aws_ecr_repository.app[0].repository_url)[0] : trimsuffix(var.image_registry, "/")
  image                = "${local.image_repository_url}:${var.image_tag}"

  api_keys_secret_arn = var.api_keys_secret_arn != "" ? var.api_keys_secret_arn : aws_secretsmanager_secret.api_keys[0].arn
  pii_key_secret_arn  = var.pii_key_secret_arn != "" ? var.pii_key_secret_arn : aws_secretsmanager_secret.pii_key[0].arn

  vpc_id             = var.create_vpc ? aws_vpc.main[0].id : var.vpc_id
  public_subnet_ids  = var.create_vpc ? aws_subnet.public[*].id : var.public_subnet_ids
  private_subnet_ids = var.create_vpc ? aws_subnet.private[*].id : var.private_subnet_ids

  pipeline_family = "${local.name}-pipeline"
  # The ECS task group of every pipeline run (schedule, arrivals, make run-remote): the
  # failure alarm matches it.
  pipeline_group = "${local.name}-pipeline"
  api_family     = "${local.name}-api"
  api_port       = 8080

  # The image's user (Dockerfile).
  container_user = "10001:10001"

  # Liveness probe of the API container: the slim image has no curl, bash's /dev/tcp asks.
  api_health_command = "exec 3<>/dev/tcp/127.0.0.1/${local.api_port} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"

  repository_credentials = var.registry_credentials_secret_arn == "" ? null : {
    credentialsParameter = var.registry_credentials_secret_arn
  }
}
