# Two commands for a newcomer: `make run` (the app with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
PORT ?= 8080
export SINERGI_PORT ?= $(PORT)
FLASK := .venv/bin/flask --app run

.PHONY: run test bootstrap db-start stop demo-data bench

run: bootstrap db-start demo-data
	@.venv/bin/python scripts/banner.py
	@# processes/threads: gunicorn.conf.py (one process while rate limits are counted in memory)
	@# The import jobs' queue worker runs beside gunicorn and is stopped when gunicorn exits.
	$(FLASK) jobs worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; \
	.venv/bin/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(SINERGI_PORT) --access-logfile - 'run:app'

test:
	scripts/bootstrap.sh --test
	scripts/run_tests.sh

bootstrap:
	scripts/bootstrap.sh

db-start:
	python3 scripts/pgcluster.py start

demo-data:
	$(FLASK) db upgrade
	$(FLASK) sinergi init
	$(FLASK) areas load-demo
	$(FLASK) seed demo

# Every workload through HTTP at 1,000,000 households against its bare-SQL baseline (bench/README.md).
# The first run builds the database sinergi_scale (~7 min) and keeps it; later runs reuse it
# (after `flask db upgrade`). Extra options: make bench BENCH_ARGS="--only tile --pairs 5".
BENCH_ARGS ?=
bench: bootstrap db-start
	.venv/bin/python bench/bench_scale.py --keep-db $(BENCH_ARGS)

stop:
	python3 scripts/pgcluster.py stop
