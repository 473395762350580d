# The targets README.md names. Each installs what it needs.
.PHONY: demo test lint bench bench-mirror bench-saas clean

demo:  ## run the example site on SQLite and send it signed sample events
	./scripts/demo.sh

test:  ## the whole suite: lint, types, migrations, pytest on Django 5.2/6 x SQLite/PostgreSQL/MariaDB
	./scripts/test.sh

lint:
	./scripts/test.sh --lint-only

bench:  ## webhook throughput benchmark on PostgreSQL (see docs/benchmarks.md)
	./scripts/bench.sh

bench-mirror:  ## recorded -> mirrored throughput on PostgreSQL (see docs/benchmarks.md)
	./scripts/bench.sh mirror --workers 3 --batch-size 500

bench-saas:  ## issue 14's benchmark: a simulated SaaS stream, both paths, soaks (library's workers, RQ on Redis DB 9) (see docs/benchmarks.md)
	./scripts/bench.sh saas --customers 3000 --months 6

clean:
	rm -rf .venv .venv-django6 .venv-py313 .venv-localstripe example/db.sqlite3* .pytest_cache
