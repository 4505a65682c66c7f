# Mosaic: LLM API access on Kubernetes. `make help` lists the targets.

# Images built by `make docker-build` and used by `make deploy`.
IMG ?= mosaic-dev/mosaic-manager:dev
PROXY_IMG ?= mosaic-dev/mosaic-proxy:dev

# Kubernetes version of the envtest control plane (kube-apiserver + etcd).
ENVTEST_K8S_VERSION ?= 1.37.2

GOBIN ?= $(shell go env GOPATH)/bin
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC and webhook configuration from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:allowDangerousTypes=false webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	@mkdir -p charts/mosaic/crds && cp config/crd/bases/*.yaml charts/mosaic/crds/
	@mkdir -p charts/mosaic/files && cp config/rbac/role.yaml charts/mosaic/files/role.yaml && cp config/webhook/manifests.yaml charts/mosaic/files/webhook-manifests.yaml
	go run ./hack/crd-ref config/crd/bases docs/api.md

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: test
test: manifests generate fmt vet envtest sdk-deps helm ## Run every test against a real kube-apiserver + etcd and the official SDKs.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test ./... -count=1 -timeout 30m

.PHONY: test-race
test-race: ## Run the data-plane packages' tests with the race detector.
	go test -race -count=1 ./internal/proxy/... ./internal/proxyconfig/... ./internal/ratelimit/... ./internal/sanitize/... ./cmd/mosaic-proxy/...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s).
	hack/fuzz.sh $${FUZZTIME:-30s}

.PHONY: bench
bench: ## Run the Go benchmarks (sanitizer, limiter, router, proxy vs bare reverse proxy).
	go test -run '^$$' -bench . -benchmem ./internal/...

.PHONY: verify
verify: manifests generate fmt ## Fail when generated files, formatting or go.mod drift from the sources.
	go mod tidy -diff
	@if [ -n "$$(git status --porcelain -- api config charts/mosaic/crds charts/mosaic/files docs/api.md '*.go')" ]; then \
		echo "generated files or formatting drifted; run 'make manifests generate fmt' and commit:"; \
		git status --porcelain -- api config charts/mosaic/crds charts/mosaic/files docs/api.md '*.go'; git diff --stat; exit 1; fi

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager and mosaic-proxy binaries into ./bin.
	go build -o bin/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/mosaic-proxy ./cmd/mosaic-proxy

.PHONY: run
run: manifests generate fmt vet ## Run the operator against the cluster in ~/.kube/config (no webhooks: the API server cannot reach this machine).
	go run ./cmd/manager --webhooks=false

.PHONY: demo
demo: envtest ## Local control plane + operator + sample provider: status, an injected pod, a request through the sidecar.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/demo

.PHONY: docker-build
docker-build: ## Build the manager and mosaic-proxy images (needs a Docker engine).
	docker build --target manager -t $(IMG) .
	docker build --target mosaic-proxy -t $(PROXY_IMG) .

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster in ~/.kube/config.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the cluster.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator (kustomize: config/default) to the cluster in ~/.kube/config.
	kubectl kustomize config/default | sed -e 's#image: mosaic-dev/mosaic-manager:dev#image: $(IMG)#' \
		-e 's#--proxy-image=[^"]*#--proxy-image=$(PROXY_IMG)#' | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster.
	kubectl delete --ignore-not-found -k config/default

##@ Dependencies

LOCALBIN ?= $(CURDIR)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

HELM ?= $(LOCALBIN)/helm
HELM_VERSION ?= v3.22.0

.PHONY: helm
helm: ## Provide helm (pinned) as ./bin/helm: built from its Go module once, cached in ~/.cache/mosaic.
	@HELM_VERSION=$(HELM_VERSION) LOCALBIN=$(LOCALBIN) hack/install-helm.sh >/dev/null

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart.
	$(HELM) lint charts/mosaic

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
SETUP_ENVTEST ?= $(LOCALBIN)/setup-envtest
CONTROLLER_TOOLS_VERSION ?= v0.23.0
SETUP_ENVTEST_VERSION ?= v0.25.1

# Phony, so that a changed pinned version is installed even though ./bin/<tool> exists.
.PHONY: controller-gen
controller-gen: | $(LOCALBIN) ## Install controller-gen into ./bin.
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: setup-envtest
setup-envtest: | $(LOCALBIN) ## Install setup-envtest into ./bin.
	$(call go-install-tool,$(SETUP_ENVTEST),sigs.k8s.io/controller-runtime/tools/setup-envtest,$(SETUP_ENVTEST_VERSION))

.PHONY: envtest
envtest: setup-envtest ## Provide kube-apiserver + etcd for envtest (download, or build from Go modules; cached).
	$(eval ENVTEST_ASSETS := $(shell ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest-assets.sh))
	@test -n "$(ENVTEST_ASSETS)" || { echo "no envtest assets"; exit 1; }
	@echo "KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS)"

.PHONY: sdk-deps
sdk-deps: test/sdk/node_modules/.package-lock.json ## Install the official openai npm package for the SDK tests.
# npm ci writes node_modules/.package-lock.json last, so an interrupted install is redone.
test/sdk/node_modules/.package-lock.json: test/sdk/package.json test/sdk/package-lock.json
	cd test/sdk && npm ci --no-audit --no-fund
	@touch $@

# go-install-tool installs a Go tool at a pinned version as $(1)-$(3), linked from $(1).
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$$(realpath $(1)-$(3))" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) go install $${package} ;\
mv $(1) $(1)-$(3) ;\
} ;\
ln -sf $$(realpath $(1)-$(3)) $(1)
endef
