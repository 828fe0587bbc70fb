# The two commands of the README, and a few conveniences.
.PHONY: demo test deps kmod install uninstall

deps:
	bash .ci/install-deps

demo: deps
	cargo run --release --locked -p warpdrive-benches --bin demo

test:
	bash tests/run.sh

kmod:
	$(MAKE) -C kmod
