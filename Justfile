# aesdata tasks. `./setup.sh` bootstraps everything, including `just` itself (in .venv/bin).
set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var('PATH')
export RAY_USAGE_STATS_ENABLED := "0"

# list the tasks
default:
    @just --list

# install system packages (as root), the venv and the offline asset store
setup:
    ./setup.sh

# build the bundled demo dataset into runs/demo and show where it is
demo *ARGS:
    aesdata build demo {{ARGS}}

# run the test suite
test *ARGS:
    pytest -q --durations=15 {{ARGS}}

# run every benchmark script (prints ratios against an in-process baseline)
bench:
    for f in bench/bench_*.py; do echo "== $f"; python "$f"; done
    echo "== bench/bench_determinism.py --corpus realpages"; python bench/bench_determinism.py --corpus realpages

# lint and format check
lint:
    ruff check aesdata tests bench
    ruff format --check aesdata tests bench

# check what this machine has (browser, fonts, sandbox, GPU)
doctor:
    aesdata doctor
