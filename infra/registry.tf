# The image registry. Empty image_registry: an ECR repository is created here (scan on
# push, immutable tags, KMS) and `make push-image` logs in to it. Any other registry
# (ghcr.io/acme, a Docker Hub namespace, another account's ECR) is used as given; a
# private non-ECR one needs registry_credentials_secret_arn.

resource "aws_ecr_repository" "app" {
  count = local.create_ecr ? 1 : 0

  name                 = var.image_repository
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy_buckets

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  count = local.create_ecr ? 1 : 0

  repository = aws_ecr_repository.app[0].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 30 newest images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}
