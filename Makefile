# cloudseg_ros: set-up, demo and tests in a plain virtual environment.
#
#   make demo   set up (if needed) and run the end-to-end demo on the embedded scene
#   make test   set up (if needed) and run the default test suite
#
# `make setup` is idempotent: each step leaves a stamp in .venv and reruns only
# when its inputs change.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := $(VENV)/.stamps
DEMO_ARGS ?=
DEMO_OUT ?= demo_out
PYTEST_ARGS ?=

PY_SOURCES := $(shell find cloudseg_ros -name '*.py' -o -name '*.onnx' -o -name '*.pt' -o -name '*.json' -o -name '*.yaml' 2>/dev/null)
MSGS := $(wildcard msg/*.msg)

.PHONY: setup demo test test-slow lint format bench clean distclean

setup: $(STAMPS)/package

$(STAMPS)/venv:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), \
	  "cloudseg_ros needs Python 3.11 (the ROS 2 Kilted wheels are built for it); set PYTHON=..."'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/deps: requirements.txt $(STAMPS)/venv
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

# Messages: rosidl through CMake into the venv prefix (no colcon, no ROS install).
$(STAMPS)/msgs: $(MSGS) CMakeLists.txt package.xml $(STAMPS)/deps
	@mkdir -p build
	AMENT_PREFIX_PATH=$(CURDIR)/$(VENV) cmake -S . -B build/cmake -DCMAKE_PREFIX_PATH=$(CURDIR)/$(VENV) \
	  -DCMAKE_INSTALL_PREFIX=$(CURDIR)/$(VENV) -DPython3_EXECUTABLE=$(CURDIR)/$(BIN)/python3 \
	  -DBUILD_TESTING=OFF -DCLOUDSEG_INSTALL_PYTHON=OFF > build/setup.log 2>&1 || (cat build/setup.log; exit 1)
	cmake --build build/cmake -j2 >> build/setup.log 2>&1 || (tail -50 build/setup.log; exit 1)
	cmake --install build/cmake >> build/setup.log 2>&1 || (tail -50 build/setup.log; exit 1)
	@# rosidl also registers an egg-info named cloudseg_ros; pip would take it for an older
	@# install of this package and delete the whole directory, messages included.
	rm -rf $(VENV)/lib/python3*/site-packages/cloudseg_ros-*.egg-info
	@touch $@

# The Python half: cloudseg command, node executables, shipped weights, config and launch.
# Installed after the messages because rosidl writes an empty cloudseg_ros/__init__.py.
$(STAMPS)/package: $(STAMPS)/msgs setup.py $(PY_SOURCES) $(wildcard config/*) $(wildcard launch/*)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .
	@rm -rf build/lib build/bdist* cloudseg_ros.egg-info
	@touch $@

demo: setup
	$(BIN)/cloudseg demo --out $(DEMO_OUT) $(DEMO_ARGS)

test: setup
	$(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS) test

test-slow: setup
	$(BIN)/pytest -q -m slow $(PYTEST_ARGS) test

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	for b in $(filter-out bench/benchutil.py,$(wildcard bench/*.py)); do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build $(DEMO_OUT) .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
