.PHONY: run test lint openapi bench bench-deals bench-purchases crash-test docker

run:
	cargo run --release -p crm-api -- serve

test:
	cargo test --workspace

lint:
	cargo fmt --check && cargo clippy --workspace --all-targets -- -D warnings

openapi:
	UPDATE_OPENAPI=1 cargo test -p crm-api --test api openapi::

bench:
	bash bench/run.sh

# Forecast, board (1 M deals) and the customer timeline only, without the customer suite.
bench-deals:
	SUITES=deals,timeline bash bench/run.sh

# RFM and purchase analytics over 1 M purchases (200 k buying customers) only.
bench-purchases:
	SUITES=purchases CUSTOMERS=200000 bash bench/run.sh

crash-test:
	bash bench/crash.sh

docker:
	docker build -t crm .
