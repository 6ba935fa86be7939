# imapd/: imaplogin (pre-authentication) and imapd (the IMAP4rev1 server on
# Maildir++), their start scripts, config files and systemd units.
noinst_LIBRARIES += imapd/libimapd.a
imapd_libimapd_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
imapd_libimapd_a_SOURCES = \
  imapd/lexer.cpp imapd/lexer.hpp \
  imapd/sequence_set.cpp imapd/sequence_set.hpp \
  imapd/mutf7.cpp imapd/mutf7.hpp \
  imapd/imap_string.cpp imapd/imap_string.hpp \
  imapd/fetch.cpp imapd/fetch.hpp \
  imapd/search.cpp imapd/search.hpp \
  imapd/sort.cpp imapd/sort.hpp \
  imapd/thread.cpp imapd/thread.hpp \
  imapd/binary_append.cpp imapd/binary_append.hpp \
  imapd/settings.cpp imapd/settings.hpp \
  imapd/replies.cpp imapd/replies.hpp \
  imapd/command_reader.cpp imapd/command_reader.hpp \
  imapd/login_session.cpp imapd/login_session.hpp \
  imapd/handoff.cpp imapd/handoff.hpp \
  imapd/uiddb.cpp imapd/uiddb.hpp \
  imapd/keywords.cpp imapd/keywords.hpp imapd/folder_lock.hpp \
  imapd/folders.cpp imapd/folders.hpp \
  imapd/mailbox.cpp imapd/mailbox.hpp \
  imapd/session.cpp imapd/session.hpp \
  imapd/command_table.cpp imapd/command_table.hpp imapd/verbs.hpp \
  imapd/cmd_select.cpp imapd/cmd_list.cpp imapd/cmd_folder.cpp \
  imapd/cmd_fetch.cpp imapd/cmd_store.cpp imapd/cmd_copy.cpp \
  imapd/cmd_expunge.cpp imapd/cmd_append.cpp imapd/cmd_search.cpp \
  imapd/cmd_status.cpp imapd/cmd_idle.cpp imapd/cmd_quota.cpp \
  imapd/idle.cpp imapd/idle.hpp \
  imapd/imap_url.cpp imapd/imap_url.hpp imapd/urlauth.cpp imapd/urlauth.hpp \
  imapd/catenate.cpp imapd/catenate.hpp imapd/cmd_urlauth.cpp \
  imapd/compress.cpp imapd/compress.hpp imapd/cmd_compress.cpp \
  imapd/binary_part.cpp imapd/binary_part.hpp \
  imapd/objectid.cpp imapd/objectid.hpp

# tls/libtls.a: tls::start_tls() for STARTTLS.
IMAPD_LIBS = imapd/libimapd.a tls/libtls.a $(AUTH_LIBS)

pkglibexec_PROGRAMS += imapd/imaplogin imapd/imapd
imapd_imaplogin_SOURCES = imapd/imaplogin_main.cpp
imapd_imaplogin_LDADD = $(IMAPD_LIBS)
imapd_imapd_SOURCES = imapd/imapd_main.cpp
imapd_imapd_LDADD = $(IMAPD_LIBS) $(ZLIB_LIBS)

check_PROGRAMS += tests/imapd_test
TESTS += tests/imapd_test
tests_imapd_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_imapd_test_SOURCES = \
  tests/lib/test_util.hpp tests/lib/test_util.cpp \
  tests/imapd/lexer_test.cpp \
  tests/imapd/sequence_set_test.cpp \
  tests/imapd/mutf7_test.cpp \
  tests/imapd/imap_string_test.cpp \
  tests/imapd/fetch_test.cpp \
  tests/imapd/search_test.cpp \
  tests/imapd/sort_test.cpp \
  tests/imapd/thread_test.cpp \
  tests/imapd/status_test.cpp \
  tests/imapd/binary_append_test.cpp \
  tests/imapd/uiddb_test.cpp \
  tests/imapd/keywords_test.cpp \
  tests/imapd/folders_test.cpp \
  tests/imapd/login_session_test.cpp \
  tests/imapd/handoff_test.cpp \
  tests/imapd/session_test.cpp \
  tests/imapd/integrity_test.cpp \
  tests/imapd/imap_url_test.cpp \
  tests/imapd/compress_test.cpp
tests_imapd_test_LDADD = $(IMAPD_LIBS) $(ZLIB_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread

# Start scripts: one template, two names (sbin/imapd and sbin/imapd-ssl),
# built in imapd/rc/ so that they do not clash with the imapd program.
IMAPD_RC = imapd/rc/imapd imapd/rc/imapd-ssl
sbin_SCRIPTS += $(IMAPD_RC)
IMAPD_RC_DESCRIPTION = IMAP service (port 143, with STARTTLS)
imapd/rc/imapd: $(srcdir)/imapd/imapd.rc.in Makefile
	$(AM_V_GEN)$(call make_start_script,imapd,0,IMAPDSTART,$(IMAPD_RC_DESCRIPTION))
imapd/rc/imapd-ssl: $(srcdir)/imapd/imapd.rc.in Makefile
	$(AM_V_GEN)$(call make_start_script,imapd-ssl,1,IMAPDSSLSTART,IMAP-over-TLS service (port 993))
CLEANFILES += $(IMAPD_RC)
EXTRA_DIST += imapd/imapd.rc.in

# Default configuration, systemd units, man page, benchmark.
SYSCONF_FILES += sysconfdir/imapd sysconfdir/imapd-ssl
systemdunit_DATA += sysconfdir/imapd.service sysconfdir/imapd-ssl.service
EXTRA_DIST += sysconfdir/imapd.service.in sysconfdir/imapd-ssl.service.in
dist_man_MANS += doc/imapd.8
EXTRA_DIST += bench/imap

# The working directory of imaplogin's and pop3login's unprivileged child
# (authlib/login_handover.hpp, issue 14): empty, not writable.
install-data-local: install-login-empty
install-login-empty:
	$(MKDIR_P) '$(DESTDIR)$(localstatedir)/empty'
	chmod 555 '$(DESTDIR)$(localstatedir)/empty'
.PHONY: install-login-empty

# CONDSTORE, QRESYNC (RFC 7162) and CONTEXT=SEARCH/SORT (RFC 5267).
imapd_libimapd_a_SOURCES += \
  imapd/modseq.cpp imapd/modseq.hpp imapd/mailbox_modseq.cpp \
  imapd/condstore.cpp imapd/condstore.hpp \
  imapd/cmd_condstore.cpp imapd/cmd_context.cpp
tests_imapd_test_SOURCES += tests/imapd/modseq_test.cpp

# Access-side performance (issue 16): imaplogin is exec'd for every
# connection and replaced by imapd at login. As for pop3login (pop3d/local.mk):
# only the libraries it calls, and libstdc++ linked in, so the dynamic loader
# has little left to relocate at each exec. imapd keeps the shared libstdc++:
# linked in, its relocated tables cost each idle session about 1 MB of
# private pages (measured: 1,048 KiB against 56 KiB in the shared copy).
imapd_imaplogin_LDFLAGS = -static-libstdc++ -static-libgcc -Wl,--as-needed
imapd_imapd_LDFLAGS = -Wl,--as-needed

# NOTIFY (RFC 5465).
imapd_libimapd_a_SOURCES += imapd/notify.cpp imapd/notify.hpp imapd/cmd_notify.cpp
tests_imapd_test_SOURCES += tests/imapd/notify_test.cpp

# Bulk FETCH streamed from the file (issue 15 item 3).
imapd_libimapd_a_SOURCES += imapd/body_stream.cpp imapd/body_stream.hpp
tests_imapd_test_SOURCES += tests/imapd/body_stream_test.cpp

# The per-mailbox cache, imapd-cache (issue 15 item 2; imapd/mailbox_cache.hpp).
imapd_libimapd_a_SOURCES += \
  imapd/mailbox_cache.cpp imapd/mailbox_cache.hpp imapd/mailbox_cache_file.cpp
tests_imapd_test_SOURCES += tests/imapd/mailbox_cache_test.cpp
