# One entry point per job. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := $(CURDIR)/tools/bin
export PATH := $(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)

# Tool binaries, built from source with `go install` (no release downloads).
OPA_VERSION := v1.22.0
HELM_VERSION := v3.22.0
KUBECONFORM_VERSION := v0.8.0
REGAL_VERSION := v0.35.1  # pinned in scripts/gotools/regal/go.mod
BUF_VERSION := v1.57.2
SPECTRAL_VERSION := 6.16.3  # @stoplight/spectral-cli from the npm registry
# promtool of Prometheus 3.x (the Go module is versioned v0.3xx.y for Prometheus 3.xx.y)
PROMTOOL_VERSION := v0.316.0
KUBE_SCORE_VERSION := v1.20.0
# open-model HTTP load generator: the pricing benchmark cross-checks its REST figure with it
VEGETA_VERSION := v12.13.0

CHART := charts/carbon-platform
CHART_POLICY_DIR := $(CHART)/files/policies

SERVICES := consent ingest-tax ingest-energy accounting rating loan-pricing
# libs/carbon-devkit is dev tooling (`make run`, bench/, tests/): installed in the venv, in no image.
PY_PACKAGES := libs/carbon-proto libs/carbon-common libs/carbon-ingest libs/carbon-synth $(addprefix services/,$(SERVICES)) ops/carbonctl libs/carbon-devkit
# Strict mypy covers every package but the generated stubs.
MYPY_SOURCES := $(addsuffix /src,$(filter-out libs/carbon-proto,$(PY_PACKAGES)))

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: setup
setup: run-deps test-deps ## Everything: what `make run` needs and what `make test` needs

# Running the stack needs the venv, Debian's redis-server and the CJK font of the PDF report; the test
# judges (tool binaries, Chromium, node tools) come with `make test` only.
.PHONY: run-deps test-deps
run-deps: venv redis-server cjk-font pango
test-deps: run-deps tools $(TOOLS)/weed $(TOOLS)/verapdf chromium node-tools

$(VENV)/.installed: constraints.txt requirements-dev.txt $(foreach p,$(PY_PACKAGES),$(p)/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -c constraints.txt -r requirements-dev.txt $(foreach p,$(PY_PACKAGES),-e $(p))
	touch $@

.PHONY: venv
venv: $(VENV)/.installed

.PHONY: tools
tools: $(TOOLS)/opa $(TOOLS)/helm $(TOOLS)/kubeconform $(TOOLS)/regal $(TOOLS)/buf $(TOOLS)/spectral $(TOOLS)/promtool $(TOOLS)/kube-score $(TOOLS)/vegeta ## Build opa, helm, kubeconform, regal, buf, spectral, promtool, kube-score, vegeta into tools/bin (checkov is a dev dependency)

$(TOOLS)/opa:
	GOBIN=$(TOOLS) go install github.com/open-policy-agent/opa@$(OPA_VERSION)
# helm's release build stamps its default Kubernetes version (from its client-go, v0.37 -> 1.37) with
# -ldflags; a plain `go install` keeps the fallback 1.20, which fails the chart's kubeVersion
# (>=1.29) unless every command passes --kube-version. Same flags as helm's own Makefile.
HELM_KUBE_MINOR := 37
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
  $(foreach pkg,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(pkg).k8sVersionMajor=1 -X helm.sh/helm/v3/$(pkg).k8sVersionMinor=$(HELM_KUBE_MINOR))
$(TOOLS)/helm:
	GOBIN=$(TOOLS) go install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
$(TOOLS)/kubeconform:
	GOBIN=$(TOOLS) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
$(TOOLS)/regal: scripts/gotools/regal/go.mod
	cd scripts/gotools/regal && GOFLAGS=-mod=mod GOBIN=$(TOOLS) go install github.com/styrainc/regal
$(TOOLS)/buf:
	GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
# OpenAPI linter for the services' documents (tests/fuzz/test_openapi.py); npm keeps it under tools/spectral.
$(TOOLS)/spectral:
	npm install --prefix $(CURDIR)/tools/spectral --no-audit --no-fund --loglevel=error @stoplight/spectral-cli@$(strip $(SPECTRAL_VERSION))
	mkdir -p $(TOOLS) && ln -sf ../spectral/node_modules/.bin/spectral $(TOOLS)/spectral
$(TOOLS)/promtool:
	GOBIN=$(TOOLS) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
$(TOOLS)/kube-score:
	GOBIN=$(TOOLS) go install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)
.PHONY: vegeta
vegeta: $(TOOLS)/vegeta ## Build vegeta (the pricing benchmark's REST cross-check) into tools/bin
$(TOOLS)/vegeta:
	GOBIN=$(TOOLS) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

.PHONY: cjk-font
cjk-font: ## Debian's fonts-wqy-zenhei: the CJK font accounting embeds in the PDF report (running and tests)
	@fc-list :lang=zh 2>/dev/null | grep -q . || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fontconfig fonts-wqy-zenhei >/dev/null; }

.PHONY: pango
pango: ## Debian's pango (and harfbuzz's subsetter): WeasyPrint lays out the tagged PDF reports with it (running and tests)
	@ldconfig -p | grep -q 'libpangoft2-1.0.so.0' && ldconfig -p | grep -q 'libharfbuzz-subset.so.0' || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 >/dev/null; }

.PHONY: chromium
chromium: cjk-font ## Debian's chromium (browser tests) and poppler-utils (pdftotext for the report tests)
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null; }

.PHONY: redis-server
redis-server: ## Debian's redis-server (security-maintained) for `make run`, the benchmarks and the tests
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

.PHONY: node-tools
node-tools: node_modules/.installed ## axe-core (browser tests) and readme-generator-for-helm (chart schema) from npm, pinned in package-lock.json, into node_modules/

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --silent
	touch $@

.PHONY: proto
proto: venv ## Regenerate the Python stubs from proto/
	$(PY) scripts/gen_proto.py

.PHONY: catalog
catalog: venv ## Regenerate the chart catalog and docs tables from carbon_common.catalog
	$(PY) scripts/gen_catalog.py

.PHONY: run
run: run-deps ## Redis and every service as local processes (Ctrl-C stops all); installs only what running needs
	$(PY) -m carbon_devkit.local

.PHONY: demo
demo: venv ## Against the running stack: a small region end to end
	$(PY) scripts/demo.py

.PHONY: test
test: test-deps ## The whole test suite (brings the test tools: tool binaries, SeaweedFS, Chromium, axe-core)
	$(PY) -m pytest

.PHONY: lint
lint: venv $(TOOLS)/buf $(TOOLS)/regal ## ruff, strict mypy (every package), buf lint, regal
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(MYPY_SOURCES)
	$(PY) scripts/gen_proto.py --out build/proto-lint >/dev/null && cd proto && $(TOOLS)/buf lint
	$(TOOLS)/regal lint policies

.PHONY: chart-schema
chart-schema: venv node-tools ## The chart's values.schema.json and README parameter tables from values.yaml's @param annotations (+ values.schema.constraints.yaml)
	$(PY) scripts/gen_chart_schema.py

.PHONY: chart-policies
chart-policies: ## Copy the pricing policy bundle (policies/products, no *_test.rego) into the chart
	find $(CHART_POLICY_DIR) -mindepth 1 ! -name README.md -delete
	cd policies/products && find . -type f \( -name '*.rego' -o -name '*.json' -o -name '.manifest' \) \
	  ! -name '*_test.rego' -exec install -D -m 0644 {} $(CURDIR)/$(CHART_POLICY_DIR)/{} \;

.PHONY: chart-test
chart-test: venv tools ## Chart: opa test of policies/cluster, then helm lint/template + kubeconform + opa eval + kube-score + checkov per profile, promtool on the alerts
	$(TOOLS)/opa test policies/cluster
	$(PY) -m pytest tests/chart

.PHONY: bench
bench: venv $(TOOLS)/vegeta ## Benchmarks; each prints one JSON object on its last line
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

.PHONY: images
images: ## Container images, where a container engine runs
	@docker info >/dev/null 2>&1 || { echo "no container engine here: skipping image build"; exit 0; }; \
	for s in $(SERVICES); do docker build -f services/$$s/Dockerfile -t carbon/$$s:dev . || exit 1; done

# SeaweedFS, the S3-compatible server the object-storage tests run against. Its go.mod has replace
# directives, so `go install pkg@version` refuses it: download the module, build ./weed inside a
# writable copy (the module cache is read-only), install the binary into tools/bin.
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
.PHONY: seaweedfs
seaweedfs: $(TOOLS)/weed ## Build SeaweedFS (weed, the S3 server of the object-storage tests) into tools/bin
# veraPDF (the PDF/UA-1 judge of the report PDFs) from Maven Central, run by Debian's Java; pinned in its pom.
.PHONY: verapdf
verapdf: $(TOOLS)/verapdf
$(TOOLS)/verapdf: scripts/verapdf/pom.xml
	@command -v java >/dev/null && command -v mvn >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless maven >/dev/null; }
	rm -rf $(TOOLS)/verapdf-lib
	mvn -q -B -f scripts/verapdf/pom.xml dependency:copy-dependencies -DoutputDirectory=$(TOOLS)/verapdf-lib
	printf '#!/bin/sh\nexec java -cp "$$(dirname "$$0")/verapdf-lib/*" org.verapdf.apps.GreenfieldCliWrapper "$$@"\n' > $@
	chmod +x $@

$(TOOLS)/weed:
	go mod download github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION)
	src=$$(mktemp -d) && trap 'chmod -R u+w "$$src"; rm -rf "$$src"' EXIT && \
	  cp -R "$$(go env GOMODCACHE)/github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION)/." "$$src" && \
	  chmod -R u+w "$$src" && cd "$$src" && go build -trimpath -o $@ ./weed

.PHONY: clean
clean: ## Remove local state (venv and tools stay)
	rm -rf .run var build
