# phone-consent: develop, benchmark, and deploy on AWS. `make` (or `make help`) lists the
# targets; every variable below can be overridden: make push-data DATA_DIR=... RAW_BUCKET=...
.DEFAULT_GOAL := help

CARGO         ?= cargo
# How generate-data runs the CLI (a built binary works too: PHONE_CONSENT=target/debug/phone-consent).
PHONE_CONSENT ?= $(CARGO) run --quiet --bin phone-consent --
DATA_DIR      ?= ./feed
ACCOUNTS      ?= 1000
SEED          ?=
BENCHES       ?= full-run incremental api

TF            ?= terraform
TF_DIR        ?= infra
TFVARS        ?= $(TF_DIR)/terraform.tfvars
# A string output of the deployed stack, empty before make deploy (-json, not -raw: with no
# state, -raw prints its warning on stdout); evaluated only where used.
tf_output      = $(shell $(TF) -chdir=$(TF_DIR) output -no-color -json $(1) 2>/dev/null | tr -d '"')

IMAGE_TAG        ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
IMAGE            ?= phone-consent:$(IMAGE_TAG)
IMAGE_REPOSITORY ?= phone-consent
# Registry host and optional namespace: the stack's ECR registry by default, or any other
# (REGISTRY=ghcr.io/acme); infra's image_registry variable must name the same one.
REGISTRY         ?= $(call tf_output,image_registry)
REMOTE_IMAGE      = $(REGISTRY)/$(IMAGE_REPOSITORY):$(IMAGE_TAG)
REGISTRY_HOST     = $(firstword $(subst /, ,$(REGISTRY)))
# Non-empty when REGISTRY is an ECR host, <account>.dkr.ecr.<region>.amazonaws.com.
IS_ECR            = $(and $(findstring .dkr.ecr.,$(REGISTRY_HOST)),$(filter %.amazonaws.com %.amazonaws.com.cn,$(REGISTRY_HOST)))
ECR_REGION        = $(word 4,$(subst ., ,$(REGISTRY_HOST)))

RAW_BUCKET    ?= $(call tf_output,raw_bucket)
RAW_PREFIX    ?= $(or $(call tf_output,raw_prefix),feed)
REGION        ?= $(or $(call tf_output,region),$(AWS_REGION))
TF_OUT         = $(TF) -chdir=$(TF_DIR) output -raw

.PHONY: help demo test bench generate-data push-data build push-image deploy destroy run-remote

help: ## List the targets
	@echo "Usage: make TARGET [VARIABLE=value ...]"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: DATA_DIR=$(DATA_DIR) ACCOUNTS=$(ACCOUNTS) IMAGE=$(IMAGE) TFVARS=$(TFVARS)"
	@echo "  REGISTRY, RAW_BUCKET, RAW_PREFIX, REGION: default to the deployed stack's terraform outputs"

demo: ## Generate a small feed, run the pipeline into ./lake, explain five checks
	$(CARGO) run --bin phone-consent -- demo

test: ## Run the test suite (cargo test --workspace)
	$(CARGO) test --workspace

bench: ## Run the benchmarks in bench/ (BENCHES="full-run incremental api"; ~1 GB feed under /tmp)
	set -e; for b in $(BENCHES); do bash bench/$$b.sh; done

generate-data: ## Generate a feed in the client's format into DATA_DIR (ACCOUNTS accounts, optional SEED)
	$(PHONE_CONSENT) generate --out $(DATA_DIR) --accounts $(ACCOUNTS)$(if $(SEED), --seed $(SEED))

push-data: ## Upload DATA_DIR's feed files to s3://RAW_BUCKET/RAW_PREFIX (starts a pipeline run)
	@test -n "$(RAW_BUCKET)" || { echo "RAW_BUCKET is empty: make deploy first, or give RAW_BUCKET=..." >&2; exit 1; }
	aws s3 sync $(DATA_DIR) s3://$(RAW_BUCKET)/$(RAW_PREFIX) --exclude '*' --include 'ENROLLMENT/*' --include 'MAINTENANCE/*'

build: ## Build the Docker image IMAGE (needs BuildKit)
	docker build -t $(IMAGE) .

push-image: ## Tag IMAGE as REGISTRY/IMAGE_REPOSITORY:IMAGE_TAG and push it (ECR login when REGISTRY is ECR)
	@test -n "$(REGISTRY)" || { echo "REGISTRY is empty: make deploy first, or give REGISTRY=..." >&2; exit 1; }
	$(if $(IS_ECR),aws ecr get-login-password --region $(ECR_REGION) | docker login --username AWS --password-stdin $(REGISTRY_HOST))
	docker tag $(IMAGE) $(REMOTE_IMAGE)
	docker push $(REMOTE_IMAGE)

deploy: ## terraform init + apply infra/ with TFVARS, running image tag IMAGE_TAG
	$(TF) -chdir=$(TF_DIR) init -input=false
	$(TF) -chdir=$(TF_DIR) apply -input=false -var-file=$(abspath $(TFVARS)) -var image_tag=$(IMAGE_TAG)

destroy: ## terraform destroy infra/ with TFVARS (set alb_deletion_protection = false and deploy first)
	$(TF) -chdir=$(TF_DIR) destroy -input=false -var-file=$(abspath $(TFVARS)) -var image_tag=$(IMAGE_TAG)

run-remote: ## Start one pipeline run on ECS now (aws ecs run-task with the stack's outputs)
	cluster="$$($(TF_OUT) ecs_cluster_name)" && \
	task_definition="$$($(TF_OUT) pipeline_task_definition)" && \
	group="$$($(TF_OUT) pipeline_task_group)" && \
	subnets="$$($(TF_OUT) pipeline_subnet_ids)" && \
	security_group="$$($(TF_OUT) pipeline_security_group_id)" && \
	region="$$($(TF_OUT) region)" && \
	aws ecs run-task --region "$$region" --cluster "$$cluster" --task-definition "$$task_definition" \
	  --group "$$group" --launch-type FARGATE --count 1 \
	  --network-configuration "awsvpcConfiguration={subnets=[$$subnets],securityGroups=[$$security_group],assignPublicIp=DISABLED}" \
	  --query 'tasks[0].taskArn' --output text
