# flatnet: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the tests and the lab need (installed only when missing).
SYSTEM_PACKAGES := iproute2 iputils-ping util-linux procps containernetworking-plugins bird2 frr iptables

.PHONY: demo test deps system-deps lint typecheck layers unit bench clean

# The fabric lab end to end (root): BIRD ToR, IPAM, 2 node agents, 4 pods; pings, BGP routes,
# blocks, ledger; taken down at the end (flatnet lab demo --keep leaves it up).
demo: system-deps deps
	$(BIN)/flatnet lab demo

test: system-deps deps lint typecheck layers
	$(BIN)/python -m pytest

deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: deps
	$(BIN)/mypy

layers: deps
	$(BIN)/lint-imports

bench: deps
	$(BIN)/python -m bench.ipam_claims
	$(BIN)/python -m bench.audit_lookup
	$(BIN)/python -m bench.bgp_convergence
	$(BIN)/python -m bench.fabric_add
	$(BIN)/python -m bench.tor_config
	$(BIN)/python -m bench.drift

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
