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
  imapd/compress.cpp imapd/compress.hpp imapd/zlib_library.cpp imapd/zlib_library.hpp imapd/cmd_compress.cpp \
  imapd/binary_part.cpp imapd/binary_part.hpp \
  imapd/objectid.cpp imapd/objectid.hpp \
  imapd/cmd_rev2.cpp

# tls/libtls.a: tls::start_tls() for STARTTLS.
IMAPD_LIBS = imapd/libimapd.a tls/libtls.a $(AUTH_LIBS)

pkglibexec_PROGRAMS += imapd/imaplogin imapd/imapd
imapd_imaplogin_SOURCES = imapd/imaplogin_main.cpp
imapd_imaplogin_LDADD = $(IMAPD_LIBS)
imapd_imapd_SOURCES = imapd/imapd_main.cpp
# zlib is loaded when a session first needs it: COMPRESS, the message cache (imapd/zlib_library.hpp).
imapd_imapd_LDADD = $(IMAPD_LIBS)

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
# Folder state files across a power loss (durable reservations).
tests_imapd_test_SOURCES += tests/imapd/state_durability_test.cpp

# Access-side performance (issue 16): imaplogin is exec'd for every
# connection and replaced by imapd at login. As for pop3login (pop3d/local.mk):
# only the libraries they call (no OpenSSL, no zlib: imapd loads those with
# dlopen when a session first uses URLAUTH or COMPRESS), and libstdc++ linked
# in, so the dynamic loader has little left to relocate at each exec. Measured
# on imapd once libcrypto was gone (bench/access/README.md): CPU per exec 1.72
# -> 1.2 ms, idle session PSS 743 -> 627 KiB. The cost: about 1 MB more on
# disk, and a libstdc++ fix reaches imapd when it is rebuilt (as for
# imaplogin, pop3login, pop3d and authtest already).
# -z now (full RELRO: the GOT read-only too): with libc the only library left
# it costs nothing measurable at exec (1.06-1.18 ms against 1.04-1.12).
IMAPD_EXEC_LINK = -static-libstdc++ -static-libgcc -Wl,--as-needed -Wl,-z,now
imapd_imaplogin_LDFLAGS = $(IMAPD_EXEC_LINK)
imapd_imapd_LDFLAGS = $(IMAPD_EXEC_LINK)

# NOTIFY (RFC 5465).
imapd_libimapd_a_SOURCES += imapd/notify.cpp imapd/notify.hpp imapd/cmd_notify.cpp
tests_imapd_test_SOURCES += tests/imapd/notify_test.cpp

# Bulk FETCH streamed from the file (issue 15 item 3).
imapd_libimapd_a_SOURCES += imapd/body_stream.cpp imapd/body_stream.hpp
tests_imapd_test_SOURCES += tests/imapd/body_stream_test.cpp

# ACL (RFC 4314) over Courier's courierimapacl, and the "#shared." virtual
# shared folders (issue 15).
imapd_libimapd_a_SOURCES += imapd/acl.cpp imapd/acl_files.cpp imapd/acl.hpp \
  imapd/shared_virtual.cpp imapd/shared_virtual.hpp imapd/cmd_acl.cpp
tests_imapd_test_SOURCES += tests/imapd/acl_test.cpp
bin_PROGRAMS += imapd/maildiracl
imapd_maildiracl_SOURCES = imapd/maildiracl_main.cpp
imapd_maildiracl_LDADD = $(IMAPD_LIBS)
dist_man_MANS += doc/maildiracl.1
sbin_SCRIPTS += imapd/rc/sharedindexinstall
imapd/rc/sharedindexinstall: $(srcdir)/imapd/sharedindexinstall.in Makefile
	@mkdir -p imapd/rc
	$(AM_V_GEN)$(do_subst) < $(srcdir)/imapd/sharedindexinstall.in > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@
CLEANFILES += imapd/rc/sharedindexinstall
EXTRA_DIST += imapd/sharedindexinstall.in

# Filesystem shared folders: the shared. namespace (imapd/shared_fs.hpp).
imapd_libimapd_a_SOURCES += imapd/shared_fs.cpp imapd/shared_fs.hpp
# Unit tests of shared-maildirs/maildirshared and of the shared. namespace.
check_PROGRAMS += tests/fsshared_test
TESTS += tests/fsshared_test
tests_fsshared_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_fsshared_test_SOURCES = tests/lib/test_util.hpp tests/lib/test_util.cpp \
  tests/lib/shared_maildirs_test.cpp tests/imapd/shared_fs_test.cpp
tests_fsshared_test_LDADD = $(IMAPD_LIBS) $(ZLIB_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread

# The per-mailbox cache, imapd-cache (issue 15 item 2; imapd/mailbox_cache.hpp).
imapd_libimapd_a_SOURCES += \
  imapd/mailbox_cache.cpp imapd/mailbox_cache.hpp imapd/mailbox_cache_file.cpp
tests_imapd_test_SOURCES += tests/imapd/mailbox_cache_test.cpp

# MessageState's compact storage (branch compact, issue 16 idle memory).
imapd_libimapd_a_SOURCES += imapd/message_state.cpp
tests_imapd_test_SOURCES += tests/imapd/message_state_test.cpp

# Lock-free reads of the state files (bench/imap/README.md, "imaptest stress").
tests_imapd_test_SOURCES += tests/imapd/state_lock_test.cpp tests/imapd/maildir_folder_test.hpp
