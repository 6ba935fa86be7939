# authlib/: authdaemond, its modules, the client library and the account tools.
noinst_LIBRARIES += authlib/libauth.a
authlib_libauth_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS) $(XCRYPT_CFLAGS) $(LDAP_CFLAGS) $(PGSQL_CFLAGS)
authlib_libauth_a_SOURCES = \
  authlib/chain.cpp authlib/chain.hpp \
  authlib/client.cpp authlib/client.hpp \
  authlib/daemon.cpp authlib/daemon.hpp \
  authlib/module.cpp authlib/module.hpp \
  authlib/module_pwd.cpp authlib/module_pwd.hpp \
  authlib/module_userdb.cpp authlib/module_userdb.hpp \
  authlib/openssl_handles.hpp \
  authlib/password.cpp authlib/password.hpp \
  authlib/protocol.cpp authlib/protocol.hpp \
  authlib/sasl.cpp authlib/sasl.hpp \
  authlib/sasl_server.cpp authlib/sasl_server.hpp \
  authlib/userdb_source.cpp authlib/userdb_source.hpp
# Account OPTIONS parsing (issue 15: group=, sharedgroup=, disableshared).
authlib_libauth_a_SOURCES += authlib/account_options.cpp authlib/account_options.hpp
AUTH_OPTIONAL_LIBS =
if WITH_PAM
authlib_libauth_a_SOURCES += authlib/module_pam.cpp authlib/module_pam.hpp
AUTH_OPTIONAL_LIBS += $(PAM_LIBS)
endif
if WITH_LDAP
authlib_libauth_a_SOURCES += authlib/module_ldap.cpp authlib/module_ldap.hpp authlib/ldap_settings.cpp
AUTH_OPTIONAL_LIBS += $(LDAP_LIBS)
endif
if WITH_PGSQL
authlib_libauth_a_SOURCES += authlib/module_pgsql.cpp authlib/module_pgsql.hpp authlib/pgsql_settings.cpp
AUTH_OPTIONAL_LIBS += $(PGSQL_LIBS)
endif
EXTRA_DIST += authlib/module_pam.cpp authlib/module_pam.hpp authlib/module_ldap.cpp authlib/module_ldap.hpp \
  authlib/ldap_settings.cpp \
  authlib/module_pgsql.cpp authlib/module_pgsql.hpp authlib/pgsql_settings.cpp

# What a program using authlib links.
AUTH_LIBS = authlib/libauth.a $(SUITE_LIBS) $(XCRYPT_LIBS) $(LIBEVENT_LIBS) $(AUTH_OPTIONAL_LIBS)

sbin_PROGRAMS += authlib/authdaemond authlib/authtest authlib/authenumerate \
  authlib/userdb authlib/makeuserdb authlib/userdbpw authlib/pw2userdb authlib/authpasswd
authlib_authdaemond_SOURCES = authlib/authdaemond_main.cpp
authlib_authdaemond_LDADD = $(AUTH_LIBS)
authlib_authtest_SOURCES = authlib/authtest_main.cpp
authlib_authenumerate_SOURCES = authlib/authenumerate_main.cpp
authlib_authenumerate_LDADD = $(AUTH_LIBS)
authlib_userdb_SOURCES = authlib/userdb_main.cpp
authlib_userdb_LDADD = $(AUTH_LIBS)
authlib_makeuserdb_SOURCES = authlib/makeuserdb_main.cpp
authlib_makeuserdb_LDADD = $(AUTH_LIBS)
authlib_userdbpw_SOURCES = authlib/userdbpw_main.cpp
authlib_userdbpw_LDADD = $(AUTH_LIBS)
authlib_pw2userdb_SOURCES = authlib/pw2userdb_main.cpp
authlib_pw2userdb_LDADD = $(AUTH_LIBS)
authlib_authpasswd_SOURCES = authlib/authpasswd_main.cpp
authlib_authpasswd_LDADD = $(AUTH_LIBS)

dist_man_MANS += doc/userdb.8 doc/makeuserdb.8 doc/userdbpw.8 doc/pw2userdb.8 doc/authpasswd.8 \
  doc/authdaemond.8 doc/authtest.8 doc/authenumerate.8

check_PROGRAMS += tests/authlib_test
TESTS += tests/authlib_test
tests_authlib_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS) $(OPENSSL_CFLAGS) $(LDAP_CFLAGS) $(PGSQL_CFLAGS)
tests_authlib_test_SOURCES = \
  tests/lib/test_util.hpp tests/lib/test_util.cpp \
  tests/authlib/chain_test.cpp \
  tests/authlib/module_userdb_test.cpp \
  tests/authlib/password_test.cpp \
  tests/authlib/protocol_test.cpp \
  tests/authlib/sasl_test.cpp \
  tests/authlib/sasl_server_test.cpp \
  tests/authlib/userdb_source_test.cpp
if WITH_LDAP
tests_authlib_test_SOURCES += tests/authlib/module_ldap_test.cpp
endif
if WITH_PGSQL
tests_authlib_test_SOURCES += tests/authlib/module_pgsql_test.cpp
endif
tests_authlib_test_LDADD = $(AUTH_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread

# Privilege separation (issue 14): the per-peer-uid worker limit.
authlib_libauth_a_SOURCES += authlib/worker_slots.cpp authlib/worker_slots.hpp

# Privilege separation (issue 14): login tickets (the login child's AUTH, the root parent's REDEEM)
# and the login child's hand-over to its root parent.
authlib_libauth_a_SOURCES += authlib/tickets.cpp authlib/tickets.hpp \
  authlib/daemon_tickets.cpp authlib/daemon_tickets.hpp \
  authlib/login_handover.cpp authlib/login_handover.hpp authlib/login_handover_codec.cpp
tests_authlib_test_SOURCES += tests/authlib/tickets_test.cpp tests/authlib/login_handover_test.cpp

# Access-side performance (issue 16): each worker's memory of passwords it has
# just verified (AUTH_CACHE_TTL), and authtest/tools started without loading
# libstdc++ (most of their start-up was the dynamic loader relocating it).
authlib_libauth_a_SOURCES += authlib/verified_cache.cpp authlib/verified_cache.hpp
tests_authlib_test_SOURCES += tests/authlib/verified_cache_test.cpp
authlib_authtest_LDFLAGS = -static-libstdc++ -static-libgcc -Wl,--as-needed
# authtest calls no OpenSSL function (wiping and base64 are lib/'s), so
# --as-needed drops the shared -lcrypto in AUTH_LIBS: loading it cost 2.5
# million instructions of symbol lookups per run (callgrind).
authlib_authtest_LDADD = authlib/libauth.a lib/libsuite.a $(AUTH_LIBS)
EXTRA_DIST += bench/access

# Issue 16: the OpenSSL parts of authlib::sasl (HMAC, precomputed CRAM
# secrets) in their own object, so that imapd, which only builds authdaemon
# requests, does not load libcrypto at each exec.
authlib_libauth_a_SOURCES += authlib/sasl_crypto.cpp authlib/sasl_internal.hpp
tests_authlib_test_SOURCES += tests/authlib/sasl_base64_test.cpp
