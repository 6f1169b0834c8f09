# Every input of the deployment. infra/terraform.tfvars.example documents each one with
# its default; no variable holds a secret (the API keys and the PII key live in Secrets
# Manager, referenced by ARN or created empty here).

# --- Naming and region ----------------------------------------------------------------

variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name (cluster, roles, log groups, ...)."
  type        = string
  default     = "phone-consent"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name: lower-case letters, digits and '-', 2-31 characters, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource (besides Project = name)."
  type        = map(string)
  default     = {}
}

# --- Buckets --------------------------------------------------------------------------

variable "raw_bucket_name" {
  description = "S3 bucket the bank's feed files land in (created here; globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.raw_bucket_name))
    error_message = "raw_bucket_name must be a valid S3 bucket name."
  }
}

variable "raw_prefix" {
  description = "Key prefix of the feed in the raw bucket: the data root, holding ENROLLMENT/ and MAINTENANCE/ (no leading or trailing '/')."
  type        = string
  default     = "feed"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.raw_prefix))
    error_message = "raw_prefix: one or more path segments, without leading or trailing '/'."
  }
}

variable "lake_bucket_name" {
  description = "S3 bucket of the Delta Lake (created here; globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lake_bucket_name))
    error_message = "lake_bucket_name must be a valid S3 bucket name."
  }
}

variable "lake_prefix" {
  description = "Key prefix of the lake in the lake bucket (the tables are under it: gold/phone_consent, silver/...)."
  type        = string
  default     = "lake"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.lake_prefix))
    error_message = "lake_prefix: one or more path segments, without leading or trailing '/'."
  }
}

variable "athena_results_bucket_name" {
  description = "S3 bucket for Athena query results; empty: \"<lake_bucket_name>-athena-results\"."
  type        = string
  default     = ""
}

variable "access_logs_bucket_name" {
  description = "S3 bucket receiving the S3 server access logs and the ALB access logs; empty: \"<lake_bucket_name>-access-logs\"."
  type        = string
  default     = ""
}

variable "raw_transition_ia_days" {
  description = "Days after which feed files move to S3 Standard-IA (a run lists them but reads only new files)."
  type        = number
  default     = 30
}

variable "raw_transition_glacier_ir_days" {
  description = "Days after which feed files move to S3 Glacier Instant Retrieval (still readable at once, e.g. by run --replace)."
  type        = number
  default     = 180
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept in the versioned buckets."
  type        = number
  default     = 90
}

variable "athena_results_expiration_days" {
  description = "Days Athena query results are kept."
  type        = number
  default     = 30
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete non-empty buckets and the ECR repository with its images (for a trial account; keep false in production)."
  type        = bool
  default     = false
}

# --- Image ----------------------------------------------------------------------------

variable "image_registry" {
  description = "Registry host (and optional namespace) the image is pulled from, e.g. \"ghcr.io/acme\". Empty: an ECR repository named image_repository is created and used."
  type        = string
  default     = ""
}

variable "image_repository" {
  description = "Repository name of the image (the ECR repository's name when image_registry is empty)."
  type        = string
  default     = "phone-consent"
}

variable "image_tag" {
  description = "Image tag the task definitions run (the Makefile passes the git commit, as push-image tags it)."
  type        = string
  default     = "latest"
}

variable "registry_credentials_secret_arn" {
  description = "For a private non-ECR registry: ARN of a Secrets Manager secret {\"username\",\"password\"} ECS pulls with. Empty: none."
  type        = string
  default     = ""
}

# --- Secrets (ARNs only; never values) --------------------------------------------------

variable "api_keys_secret_arn" {
  description = "ARN of an existing Secrets Manager secret holding the API keys, comma-separated (PHONE_CONSENT_API_KEYS). Empty: an empty secret is created; put its value before the API starts."
  type        = string
  default     = ""
}

variable "pii_key_secret_arn" {
  description = "ARN of an existing Secrets Manager secret holding the PII hashing key (PHONE_CONSENT_PII_KEY). Empty: an empty secret is created; put its value before the first run."
  type        = string
  default     = ""
}

# --- Network --------------------------------------------------------------------------

variable "create_vpc" {
  description = "Create a VPC (2 public subnets for the ALB and NAT gateway, 2 private subnets for the tasks, an S3 gateway endpoint). false: use vpc_id and the subnet ids below."
  type        = bool
  default     = true
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when create_vpc is true."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "The two AZs of the created VPC's subnets; empty: \"<region>a\" and \"<region>b\"."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) == 2
    error_message = "availability_zones: none (the default pair) or exactly two."
  }
}

variable "vpc_id" {
  description = "Existing VPC (create_vpc = false)."
  type        = string
  default     = ""
}

variable "public_subnet_ids" {
  description = "Existing subnets for the ALB, in at least two AZs (create_vpc = false)."
  type        = list(string)
  default     = []
}

variable "private_subnet_ids" {
  description = "Existing subnets for the tasks (create_vpc = false); they need a route to ECR, S3, Secrets Manager and CloudWatch Logs (NAT gateway or VPC endpoints)."
  type        = list(string)
  default     = []
}

# --- Pipeline -------------------------------------------------------------------------

variable "pipeline_cpu" {
  description = "Fargate CPU units of the pipeline task (2048 = 2 vCPU: the full 1 GB feed ran in ~101 s on 2 cores)."
  type        = number
  default     = 2048
}

variable "pipeline_memory" {
  description = "Fargate memory (MiB) of the pipeline task (the full run peaked at 1.3 GB RSS)."
  type        = number
  default     = 4096
}

variable "pipeline_schedule_expression" {
  description = "EventBridge schedule of the pipeline run (besides the runs new raw files start)."
  type        = string
  default     = "cron(15 6 * * ? *)"
}

variable "pipeline_fail_on" {
  description = "run --fail-on level: the task exits 2 (and the failure alarm fires) when a data-quality check fires at this level."
  type        = string
  default     = "error"

  validation {
    condition     = contains(["error", "warn"], var.pipeline_fail_on)
    error_message = "pipeline_fail_on is error or warn."
  }
}

variable "arrival_batching_window_seconds" {
  description = "New raw files are collected this long (at most 300 s) before one pipeline run takes them all, so a delivery of many files starts one task, not one per file."
  type        = number
  default     = 300

  validation {
    condition     = var.arrival_batching_window_seconds >= 1 && var.arrival_batching_window_seconds <= 300
    error_message = "arrival_batching_window_seconds is 1-300."
  }
}

# --- API ------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate ARN for the ALB's HTTPS listener (a certificate for the API's DNS name, in this region)."
  type        = string
}

variable "alb_internal" {
  description = "Make the ALB internal, in the private subnets (reachable from the VPC and networks connected to it only)."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the ALB on 443 (the dialer's egress addresses, ideally)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "alb_deletion_protection" {
  description = "ALB deletion protection (set false before terraform destroy)."
  type        = bool
  default     = true
}

variable "api_cpu" {
  description = "Fargate CPU units of an API task."
  type        = number
  default     = 1024
}

variable "api_memory" {
  description = "Fargate memory (MiB) of an API task (every key is held in memory: ~500 MB for 357k keys)."
  type        = number
  default     = 2048
}

variable "api_desired_count" {
  description = "API tasks at creation (autoscaling moves it between min and max afterwards)."
  type        = number
  default     = 2
}

variable "api_min_count" {
  description = "Fewest API tasks."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "Most API tasks."
  type        = number
  default     = 8
}

variable "api_requests_per_target" {
  description = "Target of ALBRequestCountPerTarget (requests per task per minute) for autoscaling."
  type        = number
  default     = 60000
}

variable "api_poll_seconds" {
  description = "serve --poll: how often each API task looks for a newer gold version (each look is S3 requests; the pipeline publishes at most a few times a day)."
  type        = number
  default     = 30
}

variable "api_extra_args" {
  description = "Extra serve flags, e.g. [\"--max-snapshot-age\", \"45\"]."
  type        = list(string)
  default     = []
}

variable "api_deployment_circuit_breaker" {
  description = "Roll a failed API deployment back. Off by default so the first deployment, made before the image is pushed and the secrets are put, keeps retrying until they exist."
  type        = bool
  default     = false
}

# --- Catalog and monitoring -----------------------------------------------------------

variable "glue_database_name" {
  description = "Glue catalog database the lake's tables are registered in (Athena's database; the queries in sql/athena name it phone_consent)."
  type        = string
  default     = "phone_consent"
}

variable "athena_workgroup_name" {
  description = "Athena workgroup (enforced settings, encrypted results)."
  type        = string
  default     = "phone-consent"
}

variable "athena_bytes_scanned_cutoff" {
  description = "Athena cancels a query of the workgroup that scans more than this many bytes."
  type        = number
  default     = 10737418240
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the task and flow logs, and expiry of the access logs (days)."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarms topic (confirm the subscription mail). Empty: none."
  type        = string
  default     = ""
}
