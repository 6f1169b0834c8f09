# `terraform test` with a mocked AWS provider: no credentials, no AWS calls. It evaluates
# the whole configuration (counts, conditionals, JSON documents) and checks the commands,
# secrets and wiring that matter. Run: terraform init -backend=false && terraform test
# (.ci/scripts/infra.sh runs it when terraform and an AWS provider mirror are at hand).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_elb_service_account" {
    defaults = {
      arn = "arn:aws:iam::127311923021:root"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/phone-consent"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/phone-consent"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/phone-consent-mock"
    }
  }

  mock_resource "aws_lb" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/phone-consent-api/0123456789abcdef"
    }
  }

  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/phone-consent-api/0123456789abcdef"
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:phone-consent-alarms"
    }
  }

  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:phone-consent-raw-arrivals"
    }
  }

  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:cluster/phone-consent"
    }
  }

  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/phone-consent-pipeline:1"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/phone-consent/mock"
    }
  }

  mock_resource "aws_cloudwatch_event_rule" {
    defaults = {
      arn = "arn:aws:events:us-east-1:123456789012:rule/phone-consent-mock"
    }
  }

  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::acme-phone-consent-mock"
    }
  }

  mock_resource "aws_subnet" {
    defaults = {
      id = "subnet-0123456789abcdef0"
    }
  }

  mock_resource "aws_security_group" {
    defaults = {
      id = "sg-0123456789abcdef0"
    }
  }

  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:phone-consent/created-AbCdEf"
    }
  }
}

variables {
  raw_bucket_name  = "acme-phone-consent-raw"
  lake_bucket_name = "acme-phone-consent-lake"
  certificate_arn  = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  image_tag        = "0123456789ab"
}

run "defaults" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.pipeline.container_definitions)[0].command == ["run", "s3://acme-phone-consent-raw/feed", "--lake", "s3://acme-phone-consent-lake/lake", "--fail-on", "error"]
    error_message = "The pipeline task must run the raw prefix into the lake with --fail-on error."
  }

  assert {
    condition     = [for s in jsondecode(aws_ecs_task_definition.pipeline.container_definitions)[0].secrets : s.name] == ["PHONE_CONSENT_PII_KEY"]
    error_message = "The pipeline task gets the PII key, and only it, from Secrets Manager."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.api.container_definitions)[0].command == ["serve", "--addr", "0.0.0.0:8080", "--lake", "s3://acme-phone-consent-lake/lake", "--poll", "30"]
    error_message = "The API task must serve the lake on 0.0.0.0:8080."
  }

  assert {
    condition     = [for s in jsondecode(aws_ecs_task_definition.api.container_definitions)[0].secrets : s.name] == ["PHONE_CONSENT_API_KEYS"]
    error_message = "The API task gets the API keys, and no PII key."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.api.container_definitions)[0].image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/phone-consent:0123456789ab"
    error_message = "Without image_registry the image comes from the created ECR repository."
  }

  assert {
    condition     = length(aws_ecr_repository.app) == 1 && aws_ecr_repository.app[0].image_tag_mutability == "IMMUTABLE"
    error_message = "An ECR repository with immutable tags is created by default."
  }

  assert {
    condition     = aws_glue_catalog_table.lake["phone_consent"].storage_descriptor[0].location == "s3://acme-phone-consent-lake/lake/gold/phone_consent"
    error_message = "Gold phone_consent is registered at the lake's gold path."
  }

  assert {
    condition     = aws_glue_catalog_table.lake["phone_consent"].parameters["table_type"] == "DELTA" && aws_glue_catalog_table.lake["phone_state"].parameters["spark.sql.sources.provider"] == "delta"
    error_message = "The lake's tables are registered as Delta tables."
  }

  assert {
    condition     = [for c in aws_glue_catalog_table.lake["phone_consent"].storage_descriptor[0].columns : "${c.name}:${c.type}"] == ["account_number:string", "phone_number:string", "phone_source:string", "has_sms_consent:boolean", "sms_consent_updated_at:date", "is_deleted:boolean", "delete_type:string", "deleted_at:date"]
    error_message = "Gold's Glue columns are SPEC.md's."
  }

  assert {
    condition     = strcontains(aws_athena_named_query.shipped["can_send_sms.sql"].query, "phone_consent.phone_consent") && aws_athena_named_query.shipped["can_send_sms.sql"].database == "phone_consent" && aws_athena_workgroup.main.configuration[0].enforce_workgroup_configuration
    error_message = "The named query reads gold in an enforced workgroup."
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.quality_errors.pattern == "\"quality error:\""
    error_message = "The quality alarm matches the run summary's error lines."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.raw_object_created.event_pattern).detail.object.key[0].prefix == "feed/"
    error_message = "Only objects under the raw prefix start runs."
  }

  assert {
    condition     = aws_ecs_service.api.network_configuration[0].assign_public_ip == false && length(aws_subnet.private) == 2
    error_message = "API tasks run in the created private subnets without public IPs."
  }

  assert {
    condition     = aws_appautoscaling_policy.api_requests.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ALBRequestCountPerTarget"
    error_message = "The API scales on requests per target."
  }

  assert {
    condition     = length(aws_secretsmanager_secret.api_keys) == 1 && length(aws_secretsmanager_secret.pii_key) == 1
    error_message = "Without ARNs, the two secrets are created (empty)."
  }
}

run "external_registry_vpc_and_secrets" {
  command = apply

  variables {
    image_registry      = "ghcr.io/acme"
    create_vpc          = false
    vpc_id              = "vpc-0123456789abcdef0"
    public_subnet_ids   = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
    private_subnet_ids  = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
    api_keys_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"
    pii_key_secret_arn  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pii-AbCdEf"
  }

  assert {
    condition     = length(aws_ecr_repository.app) == 0 && jsondecode(aws_ecs_task_definition.pipeline.container_definitions)[0].image == "ghcr.io/acme/phone-consent:0123456789ab"
    error_message = "With image_registry set, no ECR repository is created and the image comes from that registry."
  }

  assert {
    condition     = length(aws_vpc.main) == 0 && length(aws_nat_gateway.main) == 0
    error_message = "With create_vpc = false, no network is created."
  }

  assert {
    condition     = aws_ecs_service.api.network_configuration[0].subnets == toset(["subnet-0000000000000000c", "subnet-0000000000000000d"])
    error_message = "The API tasks go into the given private subnets."
  }

  assert {
    condition     = length(aws_secretsmanager_secret.api_keys) == 0 && jsondecode(aws_ecs_task_definition.api.container_definitions)[0].secrets[0].valueFrom == "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"
    error_message = "Given secret ARNs are used as they are, nothing created."
  }
}
