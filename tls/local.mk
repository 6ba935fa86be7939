# tls/: the TLS layer on OpenSSL 3 (settings, PEM loading, contexts, the relay),
# couriertls, tls::start_tls() for STARTTLS, mkdhparams and the certificate
# makers mkimapdcert, mkpop3dcert, mkesmtpdcert (see doc/couriertls.8).
noinst_LIBRARIES += tls/libtls.a
tls_libtls_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
tls_libtls_a_SOURCES = \
  tls/openssl_handles.hpp \
  tls/context.cpp tls/context.hpp \
  tls/couriertls_options.cpp tls/couriertls_options.hpp \
  tls/couriertls_serve.cpp tls/couriertls_serve.hpp \
  tls/dhparams.cpp tls/dhparams.hpp \
  tls/pem.cpp tls/pem.hpp \
  tls/relay.cpp tls/relay.hpp \
  tls/session.cpp tls/session.hpp \
  tls/settings.cpp tls/settings.hpp \
  tls/starttls.cpp tls/starttls.hpp \
  tls/ticket_keys.cpp tls/ticket_keys.hpp \
  tls/tls_variables.cpp tls/tls_variables.hpp

# What a program using tls/ links (imaplogin and pop3login for tls::start_tls).
TLS_LIBS = tls/libtls.a $(SUITE_LIBS)

bin_PROGRAMS += tls/couriertls
tls_couriertls_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
tls_couriertls_SOURCES = tls/couriertls_main.cpp
tls_couriertls_LDADD = $(TLS_LIBS)

sbin_PROGRAMS += tls/mkdhparams
tls_mkdhparams_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
tls_mkdhparams_SOURCES = tls/mkdhparams_main.cpp
tls_mkdhparams_LDADD = $(TLS_LIBS)

# One script, three names: mk<service>cert makes <service>.pem from <service>.cnf.
TLS_CERT_TOOLS = tls/mkimapdcert tls/mkpop3dcert tls/mkesmtpdcert
sbin_SCRIPTS += $(TLS_CERT_TOOLS)
$(TLS_CERT_TOOLS): $(srcdir)/tls/mkcert.in Makefile
	@mkdir -p tls
	$(AM_V_GEN)service=`basename $@ | sed -e 's/^mk//' -e 's/cert$$//'`; \
	  $(do_subst) -e "s|@SERVICE[@]|$$service|g" < $(srcdir)/tls/mkcert.in > $@.tmp && \
	  chmod +x $@.tmp && mv $@.tmp $@
CLEANFILES += $(TLS_CERT_TOOLS)
EXTRA_DIST += tls/mkcert.in

SYSCONF_FILES += sysconfdir/imapd.cnf sysconfdir/pop3d.cnf sysconfdir/esmtpd.cnf
dist_man_MANS += doc/couriertls.8 doc/mkdhparams.8 doc/mkimapdcert.8

check_PROGRAMS += tests/tls_test
TESTS += tests/tls_test
tests_tls_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_tls_test_SOURCES = \
  tests/lib/test_util.hpp tests/lib/test_util.cpp \
  tests/tls/tls_test_util.cpp tests/tls/tls_test_util.hpp \
  tests/tls/context_test.cpp \
  tests/tls/couriertls_options_test.cpp \
  tests/tls/dhparams_test.cpp \
  tests/tls/pem_test.cpp \
  tests/tls/relay_test.cpp \
  tests/tls/settings_test.cpp \
  tests/tls/ticket_keys_test.cpp
tests_tls_test_LDADD = $(TLS_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread
# The STARTTLS peer of tests/integration/test_tls.py (tls::start_tls as imaplogin uses it).
check_PROGRAMS += tests/tls/starttls_server
tests_tls_starttls_server_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
tests_tls_starttls_server_SOURCES = tests/tls/starttls_server.cpp
tests_tls_starttls_server_LDADD = $(TLS_LIBS)
EXTRA_DIST += bench/tcpd/tls_bench.py
