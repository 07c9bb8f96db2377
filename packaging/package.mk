# `make package`: the one-folder desktop build, with its Linux desktop files, then its smoke test.
# Included from the Makefile (after STAMP and PY are defined) with:
#     include packaging/package.mk
# Why PyInstaller and not pyside6-deploy, with the figures: packaging/README.md.
#
# Output:
#   dist/syncwatch/                        the program: run dist/syncwatch/syncwatch
#   dist/syncwatch/share/                  .desktop file, hicolor icons, AppStream metainfo
#   dist/syncwatch-VERSION-linux-ARCH.tar.gz   the same folder, packed
# PyInstaller lives in its own venv under build/, never in the development venv.

PKG_VENV  ?= build/package-venv
PKG_PY    := $(PKG_VENV)/bin/python
PKG_STAMP := $(PKG_VENV)/.syncwatch-package-tools
DIST      ?= dist
BUNDLE    := $(DIST)/syncwatch
APP_ID    := io.github.syncwatch.Syncwatch

.PHONY: package package-test

$(PKG_STAMP): pyproject.toml packaging/package.mk
	@rm -rf $(PKG_VENV)
	@PYTHON=$$(packaging/find-python) && $$PYTHON -m venv $(PKG_VENV)
	@$(PKG_PY) -m pip install -q --upgrade pip
	@$(PKG_PY) -m pip install -q 'pyinstaller>=6.10,<7' .
	@touch $@

package: system-deps-run $(STAMP) $(PKG_STAMP)
	@# the app as it is now (the stamp only tracks the dependencies)
	@$(PKG_PY) -m pip install -q --no-deps --force-reinstall .
	$(PKG_VENV)/bin/pyinstaller --noconfirm --log-level ERROR --distpath $(DIST) \
	  --workpath build/pyinstaller packaging/pyinstaller/syncwatch.spec
	@$(PY) packaging/render_icons.py resources/icons/syncwatch.svg $(BUNDLE)/share/icons >/dev/null
	@install -Dm644 packaging/linux/$(APP_ID).desktop $(BUNDLE)/share/applications/$(APP_ID).desktop
	@install -Dm644 packaging/linux/$(APP_ID).metainfo.xml $(BUNDLE)/share/metainfo/$(APP_ID).metainfo.xml
	@version=$$($(PKG_PY) -c 'from importlib.metadata import version; print(version("syncwatch"))') && \
	  tar -C $(DIST) -czf $(DIST)/syncwatch-$$version-linux-$$(uname -m).tar.gz syncwatch && \
	  echo "package: $(BUNDLE) ($$(du -sh $(BUNDLE) | cut -f1)) and $(DIST)/syncwatch-$$version-linux-$$(uname -m).tar.gz"
	$(BUNDLE_TEST)

# The built program, headless: --version, the sub-commands, its icons, --self-check.
BUNDLE_TEST = SYNCWATCH_BUNDLE=$(CURDIR)/$(BUNDLE) $(PY) -m pytest -q -p no:cacheprovider tests/packaging/test_bundle.py

# Re-run the smoke test on an existing dist/syncwatch without rebuilding.
package-test: $(STAMP)
	$(BUNDLE_TEST)
