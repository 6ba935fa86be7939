# sysconfdir/: default configuration files. "make install" puts each one in
# place only when the admin has none yet, and always installs the default
# beside it as NAME.dist, so an upgrade never overwrites an edited file.
# Each folder's local.mk adds its files with SYSCONF_FILES += ...; authldaprc
# and authpgsqlrc hold passwords and are installed mode 600.
SYSCONF_FILES += sysconfdir/authdaemonrc sysconfdir/authldaprc sysconfdir/authpgsqlrc
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
	    mode=644; case $$name in auth*rc) mode=600;; esac; \
	    $(INSTALL_DATA) -m $$mode "$(srcdir)/$$f" "$(DESTDIR)$(sysconfdir)/$$name"; \
	  fi; \
	done

uninstall-local:
	@for f in $(SYSCONF_FILES); do rm -f "$(DESTDIR)$(sysconfdir)/`basename $$f`.dist"; done
.PHONY: install-sysconf

systemdunit_DATA += sysconfdir/authdaemond.service
CLEANFILES += $(systemdunit_DATA)
EXTRA_DIST += sysconfdir/authdaemond.service.in
