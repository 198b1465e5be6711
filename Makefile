# The two ways in: `make start` runs the platform on its embedded defaults and shows it working;
# `make test` runs every test. Both install what they need first (see scripts/setup.sh).
.PHONY: setup start test generate

# corepack's built-in signing keys lag behind the npm registry's; pnpm stays pinned by version.
export COREPACK_INTEGRITY_KEYS := 0
# Every command runs on the project's pinned Node (.node-version), which setup installs there.
export PATH := $(CURDIR)/.tools/node/bin:$(PATH)

setup:
	bash scripts/setup.sh

start: setup
	pnpm start

# Every suite, then the chart on a real Kubernetes built and started here (tests/cluster); the
# second runs even when the first failed, and either failing fails the target.
test: setup
	status=0; pnpm test || status=1; pnpm test:cluster || status=1; exit $$status

generate: setup
	pnpm generate
