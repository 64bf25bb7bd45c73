.PHONY: run test lint openapi bench docker

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

docker:
	docker build -t crm .
