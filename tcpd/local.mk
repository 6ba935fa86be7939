# tcpd/: couriertcpd (the TCP server daemon every service runs behind), its
# access files, and makesmtpaccess / makesmtpaccess-msa / makeimapaccess.
noinst_LIBRARIES += tcpd/libtcpd.a
tcpd_libtcpd_a_SOURCES = \
  tcpd/access.cpp tcpd/access.hpp \
  tcpd/access_tool.cpp tcpd/access_tool.hpp \
  tcpd/address.cpp tcpd/address.hpp \
  tcpd/blocklist.cpp tcpd/blocklist.hpp \
  tcpd/dns_message.cpp tcpd/dns_message.hpp \
  tcpd/ident.cpp tcpd/ident.hpp \
  tcpd/lookup_helper.cpp tcpd/lookup_helper.hpp \
  tcpd/lookup_result.cpp tcpd/lookup_result.hpp \
  tcpd/options.cpp tcpd/options.hpp \
  tcpd/pidfile.cpp tcpd/pidfile.hpp \
  tcpd/proxy_header.cpp tcpd/proxy_header.hpp \
  tcpd/resolver.cpp tcpd/resolver.hpp \
  tcpd/server.cpp tcpd/server.hpp

# What a program using tcpd/ links (evdns lives in libevent_extra, part of LIBEVENT_LIBS).
TCPD_LIBS = tcpd/libtcpd.a $(SUITE_LIBS) $(LIBEVENT_LIBS)

sbin_PROGRAMS += tcpd/couriertcpd tcpd/makesmtpaccess tcpd/makesmtpaccess-msa tcpd/makeimapaccess
# couriertcpd runs "couriertls -server -tcpd ..." in-process (tcpd/tls_inprocess.hpp).
tcpd_couriertcpd_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
tcpd_couriertcpd_SOURCES = tcpd/couriertcpd_main.cpp tcpd/tls_inprocess.cpp tcpd/tls_inprocess.hpp
tcpd_couriertcpd_LDADD = tls/libtls.a $(TCPD_LIBS)
# -z now: every symbol is bound once, at start; lazily bound, each
# connection's forked process would look up (and write into its copy of the
# GOT) every function only a connection uses.
tcpd_couriertcpd_LDFLAGS = $(AM_LDFLAGS) -Wl,-z,now
# One program under Courier's three names: the name picks the config files.
tcpd_makesmtpaccess_SOURCES = tcpd/makeaccess_main.cpp
tcpd_makesmtpaccess_LDADD = $(TCPD_LIBS)
tcpd_makesmtpaccess_msa_SOURCES = tcpd/makeaccess_main.cpp
tcpd_makesmtpaccess_msa_LDADD = $(TCPD_LIBS)
tcpd_makeimapaccess_SOURCES = tcpd/makeaccess_main.cpp
tcpd_makeimapaccess_LDADD = $(TCPD_LIBS)

dist_man_MANS += doc/couriertcpd.8 doc/makesmtpaccess.8

# The default access source sysconfdir/smtpaccess/ (a directory, as Courier
# ships it). Installed only when the admin has none, never overwritten.
EXTRA_DIST += sysconfdir/smtpaccess/default
install-data-local: install-tcpd-access
install-tcpd-access:
	@if test ! -e '$(DESTDIR)$(sysconfdir)/smtpaccess'; then \
	  echo "installing $(sysconfdir)/smtpaccess/default"; \
	  $(MKDIR_P) '$(DESTDIR)$(sysconfdir)/smtpaccess' && \
	  $(INSTALL_DATA) '$(srcdir)/sysconfdir/smtpaccess/default' '$(DESTDIR)$(sysconfdir)/smtpaccess/default'; \
	fi
.PHONY: install-tcpd-access

check_PROGRAMS += tests/tcpd_test
TESTS += tests/tcpd_test
tests_tcpd_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS)
tests_tcpd_test_SOURCES = \
  tests/lib/test_util.hpp tests/lib/test_util.cpp \
  tests/tcpd/access_test.cpp \
  tests/tcpd/access_tool_test.cpp \
  tests/tcpd/address_test.cpp \
  tests/tcpd/blocklist_test.cpp \
  tests/tcpd/dns_message_test.cpp \
  tests/tcpd/ident_test.cpp \
  tests/tcpd/lookup_result_test.cpp \
  tests/tcpd/options_test.cpp \
  tests/tcpd/pidfile_test.cpp \
  tests/tcpd/proxy_header_test.cpp
tests_tcpd_test_LDADD = $(TCPD_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread
