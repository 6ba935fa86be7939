# sysconfdir/: default configuration files. "make install" puts each one in
# place only when the admin has none yet, and always installs the default
# beside it as NAME.dist, so an upgrade never overwrites an edited file.
SYSCONF_FILES = sysconfdir/authdaemonrc sysconfdir/authldaprc sysconfdir/authpgsqlrc
EXTRA_DIST += $(SYSCONF_FILES)

install-data-local: install-sysconf
install-sysconf:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)'
	@for f in $(SYSCONF_FILES); do \
	  name=`basename $$f`; \
	  test -f "$(srcdir)/$$f" || continue; \
	  $(INSTALL_DATA) "$(srcdir)/$$f" "$(DESTDIR)$(sysconfdir)/$$name.dist"; \
	  if test ! -f "$(DESTDIR)$(sysconfdir)/$$name"; then \
	    echo "installing $(sysconfdir)/$$name"; \
	    $(INSTALL_DATA) -m 640 "$(srcdir)/$$f" "$(DESTDIR)$(sysconfdir)/$$name"; \
	  fi; \
	done

uninstall-local:
	@for f in $(SYSCONF_FILES); do rm -f "$(DESTDIR)$(sysconfdir)/`basename $$f`.dist"; done
.PHONY: install-sysconf
