# The two commands of the README, and a few conveniences.
.PHONY: demo test deps kmod install uninstall deb

deps:
	bash .ci/install-deps

demo: deps
	cargo run --release --locked -p warpdrive-benches --bin demo

test:
	bash tests/run.sh

kmod:
	$(MAKE) -C kmod

# Installation the way distributions do it (see scripts/install.sh for what
# goes where): make install PREFIX=/usr/local DESTDIR=  /  make uninstall
PREFIX ?= /usr/local
DESTDIR ?=

install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash scripts/install.sh install

uninstall:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash scripts/install.sh uninstall

# Debian packages (libwarpdrive0, libwarpdrive-dev, warpdrive, warpdrive-zlib,
# warpdrive-openssl-provider, warpdrive-dkms) into $(CARGO_TARGET_DIR)/deb;
# see scripts/deb.sh.
deb:
	bash scripts/deb.sh
