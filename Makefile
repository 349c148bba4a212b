# The two commands of the README: `make demo` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
VENV := .venv
TWIN := $(VENV)/bin/twin
PYTEST := $(VENV)/bin/pytest

.PHONY: setup demo test lint viewer bench screenshots clean

setup:
	@bash scripts/setup.sh

viewer: setup
	@if [ -f viewer/package.json ]; then bash scripts/build-viewer.sh; fi

# the district loaded, then alive: broker, bridge, simulator and GTFS-realtime poller in the
# background while it serves; Ctrl-C stops them all (the broker stays: `twin broker stop`)
demo: setup viewer
	$(TWIN) demo --serve --live

# pytest on two workers (pytest-xdist), each with its own cluster and broker, a test file
# on one worker: half of a single process's time was spent waiting
test: setup viewer
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PYTEST) -q -n 2 --dist loadfile

# the README's pictures: the browser tests, saving their screenshots into docs/
screenshots: setup viewer
	TWIN_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PYTEST) -q tests/test_viewer_browser.py tests/test_viewer_live.py tests/test_viewer_flood.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup
	$(VENV)/bin/python bench/import.py
	$(VENV)/bin/python bench/tiles.py
	$(VENV)/bin/python bench/viewer.py
	$(VENV)/bin/python bench/access.py
	$(VENV)/bin/python bench/auth.py
	$(VENV)/bin/python bench/ingest.py
	$(VENV)/bin/python bench/lorawan.py
	$(VENV)/bin/python bench/simulate.py
	$(VENV)/bin/python bench/export.py

clean:
	-$(TWIN) db stop
	rm -rf var
