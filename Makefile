# The targets README.md names. Each installs what it needs.
.PHONY: demo test lint bench clean

demo:  ## run the example site on SQLite and send it signed sample events
	./scripts/demo.sh

test:  ## the whole suite: lint, types, migrations, pytest on Django 5.2/6 x SQLite/PostgreSQL/MariaDB
	./scripts/test.sh

lint:
	./scripts/test.sh --lint-only

bench:  ## webhook throughput benchmark on PostgreSQL (see docs/benchmarks.md)
	./scripts/bench.sh

clean:
	rm -rf .venv .venv-django6 example/db.sqlite3* .pytest_cache
