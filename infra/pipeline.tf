# The pipeline: `phone-consent run s3://RAW/PREFIX --lake s3://LAKE/PREFIX --fail-on error`
# as a one-shot Fargate task, started
#   - on a schedule (EventBridge rule, pipeline_schedule_expression), and
#   - when feed files arrive: S3 "Object Created" events of the raw prefix go to EventBridge,
#     a rule queues them in SQS, and an EventBridge Pipe starts ONE task per batch collected
#     over arrival_batching_window_seconds. A delivery of 400 files thus starts one run, not
#     400; the run takes every file its ledger does not have, whichever event named it.
# The task exits 0 (done), 2 (a check fired at the --fail-on level) or 1 (could not
# complete); monitoring.tf alarms on non-zero exits.

resource "aws_ecs_task_definition" "pipeline" {
  family                   = local.pipeline_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.pipeline_cpu
  memory                   = var.pipeline_memory
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.pipeline_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # The root filesystem is read-only; /tmp is task storage.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "pipeline"
    image                  = local.image
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    command                = ["run", local.raw_uri, "--lake", local.lake_uri, "--fail-on", var.pipeline_fail_on]
    environment = [
      { name = "AWS_REGION", value = var.region },
      { name = "PHONE_CONSENT_LOG", value = "warn,phone_consent=info" },
    ]
    secrets = [
      { name = "PHONE_CONSENT_PII_KEY", valueFrom = local.pii_key_secret_arn },
    ]
    mountPoints           = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    repositoryCredentials = local.repository_credentials
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.pipeline.name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "pipeline"
      }
    }
  }])
}

# --- On a schedule --------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "pipeline_schedule" {
  name                = "${local.name}-pipeline-schedule"
  description         = "Runs the phone-consent pipeline on a schedule"
  schedule_expression = var.pipeline_schedule_expression
}

resource "aws_cloudwatch_event_target" "pipeline_schedule" {
  rule      = aws_cloudwatch_event_rule.pipeline_schedule.name
  target_id = "pipeline"
  arn       = aws_ecs_cluster.main.arn
  role_arn  = aws_iam_role.events_run_pipeline.arn

  ecs_target {
    task_definition_arn = aws_ecs_task_definition.pipeline.arn
    task_count          = 1
    launch_type         = "FARGATE"
    platform_version    = "LATEST"
    group               = local.pipeline_group

    network_configuration {
      subnets          = local.private_subnet_ids
      security_groups  = [aws_security_group.pipeline.id]
      assign_public_ip = false
    }
  }
}

# --- When feed files arrive -----------------------------------------------------------

resource "aws_cloudwatch_event_rule" "raw_object_created" {
  name        = "${local.name}-raw-object-created"
  description = "Feed files created under the raw prefix"
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.raw.id] }
      object = { key = [{ prefix = "${local.raw_prefix}/" }] }
    }
  })
}

resource "aws_sqs_queue" "raw_arrivals" {
  name                       = "${local.name}-raw-arrivals"
  sqs_managed_sse_enabled    = true
  message_retention_seconds  = 86400
  visibility_timeout_seconds = 600
}

data "aws_iam_policy_document" "raw_arrivals_queue" {
  statement {
    sid       = "EventBridgeSends"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.raw_arrivals.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.raw_object_created.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "raw_arrivals" {
  queue_url = aws_sqs_queue.raw_arrivals.id
  policy    = data.aws_iam_policy_document.raw_arrivals_queue.json
}

resource "aws_cloudwatch_event_target" "raw_arrivals" {
  rule      = aws_cloudwatch_event_rule.raw_object_created.name
  target_id = "arrivals-queue"
  arn       = aws_sqs_queue.raw_arrivals.arn
}

resource "aws_pipes_pipe" "raw_arrivals" {
  name        = "${local.name}-raw-arrivals"
  description = "One pipeline run per batch of new feed files"
  role_arn    = aws_iam_role.pipe_run_pipeline.arn
  source      = aws_sqs_queue.raw_arrivals.arn
  target      = aws_ecs_cluster.main.arn

  source_parameters {
    sqs_queue_parameters {
      batch_size                         = 10000
      maximum_batching_window_in_seconds = var.arrival_batching_window_seconds
    }
  }

  target_parameters {
    ecs_task_parameters {
      task_definition_arn = aws_ecs_task_definition.pipeline.arn
      task_count          = 1
      launch_type         = "FARGATE"
      platform_version    = "LATEST"
      group               = local.pipeline_group

      network_configuration {
        aws_vpc_configuration {
          subnets          = local.private_subnet_ids
          security_groups  = [aws_security_group.pipeline.id]
          assign_public_ip = "DISABLED"
        }
      }
    }
  }

  depends_on = [aws_iam_role_policy.pipe_run_pipeline]
}
