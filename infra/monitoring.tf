# Logs and alarms. Every alarm goes to one SNS topic (alarm_email subscribes to it):
#   - pipeline-failed: a pipeline task stopped with a non-zero exit code (2: a data-quality
#     check fired at the --fail-on level, the run is complete and recorded; 1: the run could
#     not complete, gold is unchanged) or failed to start (EventBridge rule on ECS task state
#     changes of the pipeline's task group);
#   - quality-errors: a run's closing summary reported an error-level data-quality check
#     (metric filter on the pipeline log group; fires whatever --fail-on says);
#   - api-no-healthy-task: the ALB has no healthy API task.

resource "aws_cloudwatch_log_group" "pipeline" {
  name              = "/ecs/${local.name}/pipeline"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "api" {
  name              = "/ecs/${local.name}/api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.create_vpc ? 1 : 0

  name              = "/vpc/${local.name}/flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "EventBridgePublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.pipeline_failed.arn]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

# --- Pipeline task failed -------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "pipeline_failed" {
  name        = "${local.name}-pipeline-failed"
  description = "A phone-consent pipeline task stopped with a non-zero exit code or failed to start"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.main.arn]
      group      = [local.pipeline_group]
      lastStatus = ["STOPPED"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "pipeline_failed" {
  rule      = aws_cloudwatch_event_rule.pipeline_failed.name
  target_id = "alarms-topic"
  arn       = aws_sns_topic.alarms.arn

  input_transformer {
    input_paths = {
      task   = "$.detail.taskArn"
      reason = "$.detail.stoppedReason"
      exit   = "$.detail.containers[0].exitCode"
    }
    input_template = "\"phone-consent pipeline task <task> stopped: exit code <exit> (<reason>). Exit 2: a data-quality check fired at the --fail-on level (the run is recorded; phone-consent report). Exit 1: the run could not complete (gold unchanged). Log group ${aws_cloudwatch_log_group.pipeline.name}.\""
  }
}

# --- Error-level data-quality checks --------------------------------------------------

# A run's closing summary prints one line per fired check, "quality <status>: <check>
# (<value> > <threshold>): <detail>" (crates/cli/src/run.rs, print_fired), so an
# error-level check that fired is a line containing "quality error:".
resource "aws_cloudwatch_log_metric_filter" "quality_errors" {
  name           = "${local.name}-quality-errors"
  log_group_name = aws_cloudwatch_log_group.pipeline.name
  pattern        = "\"quality error:\""

  metric_transformation {
    name      = "QualityChecksFailed"
    namespace = "PhoneConsent"
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "quality_errors" {
  alarm_name          = "${local.name}-quality-errors"
  alarm_description   = "A pipeline run reported an error-level data-quality check (phone-consent report for the run's details)"
  namespace           = "PhoneConsent"
  metric_name         = aws_cloudwatch_log_metric_filter.quality_errors.metric_transformation[0].name
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

# --- API ------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "api_no_healthy_task" {
  alarm_name          = "${local.name}-api-no-healthy-task"
  alarm_description   = "The ALB has no healthy phone-consent API task"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  dimensions = {
    LoadBalancer = aws_lb.api.arn_suffix
    TargetGroup  = aws_lb_target_group.api.arn_suffix
  }
}
