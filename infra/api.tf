# The API: `phone-consent serve --addr 0.0.0.0:8080 --lake s3://LAKE/PREFIX` as a Fargate
# service in the private subnets behind an HTTPS ALB, scaled on requests per task. Each task
# loads the newest gold version into memory and polls the lake for newer ones (--poll).

resource "aws_lb" "api" {
  #checkov:skip=CKV2_AWS_28:No WAF: every /v1 route needs a bearer key, ingress is limited to alb_ingress_cidrs, and WAF's $0.60 per million requests costs more than the Fargate tasks themselves at the rates the API is sized for (thousands of requests per second).
  name                       = "${local.name}-api"
  load_balancer_type         = "application"
  internal                   = var.alb_internal
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.alb_internal ? local.private_subnet_ids : local.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection

  access_logs {
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = "alb"
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; serve speaks plain HTTP, and its tasks sit in private subnets that only the ALB's security group can reach.
  name                 = "${local.name}-api"
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = local.api_port
  vpc_id               = local.vpc_id
  deregistration_delay = 30
  # A new task gets a growing share of requests over its first 30 s: it loads gold
  # (about 1.5 s for 357k keys) and answers 503 with Retry-After until it has.
  slow_start = 30

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_ecs_task_definition" "api" {
  family                   = local.api_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.api_cpu
  memory                   = var.api_memory
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.api_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "api"
    image                  = local.image
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    command                = concat(["serve", "--addr", "0.0.0.0:${local.api_port}", "--lake", local.lake_uri, "--poll", tostring(var.api_poll_seconds)], var.api_extra_args)
    portMappings           = [{ containerPort = local.api_port, protocol = "tcp" }]
    environment = [
      { name = "AWS_REGION", value = var.region },
      { name = "PHONE_CONSENT_LOG", value = "warn,phone_consent=info" },
    ]
    secrets = [
      { name = "PHONE_CONSENT_API_KEYS", valueFrom = local.api_keys_secret_arn },
    ]
    healthCheck = {
      command     = ["CMD", "bash", "-c", local.api_health_command]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    mountPoints           = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    repositoryCredentials = local.repository_credentials
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.api.name
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = "api"
      }
    }
  }])
}

resource "aws_ecs_service" "api" {
  name                              = "${local.name}-api"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.api.arn
  desired_count                     = var.api_desired_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.api.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "api"
    container_port   = local.api_port
  }

  deployment_circuit_breaker {
    enable   = var.api_deployment_circuit_breaker
    rollback = var.api_deployment_circuit_breaker
  }

  # Autoscaling owns the count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener.https]
}

resource "aws_appautoscaling_target" "api" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.api.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_min_count
  max_capacity       = var.api_max_count
}

resource "aws_appautoscaling_policy" "api_requests" {
  name               = "${local.name}-api-requests-per-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.api_requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.api.arn_suffix}/${aws_lb_target_group.api.arn_suffix}"
    }
  }
}
