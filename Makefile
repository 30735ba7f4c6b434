# The two commands of the README's quick start:
#   make run    set everything up (idempotent) and serve the editor on http://127.0.0.1:8000 (SQLite)
#   make test   set everything up (idempotent) and run the whole test suite (SQLite and PostgreSQL)
.PHONY: run test setup lint bench

run: setup
	SECRET_KEY="$${SECRET_KEY:-$$(cat .stamps/secret_key)}" .venv/bin/python manage.py runserver 127.0.0.1:8000

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy --strict editor/policy

bench: setup
	bash scripts/bench.sh
