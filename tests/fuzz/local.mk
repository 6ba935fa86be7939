# tests/fuzz/: libFuzzer targets, built with clang by "make fuzz" (never by
# "make all": the rest of the suite is built with the configured compiler).
# Each target compiles the sources it exercises with the sanitizers; its seed
# corpus is tests/fuzz/corpus/<name>/ (./check runs each target briefly on it).
FUZZ_FLAGS = -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I$(top_srcdir) -I$(top_builddir)
FUZZ_TARGETS = tests/fuzz/fuzz_mime tests/fuzz/fuzz_maildir tests/fuzz/fuzz_sasl tests/fuzz/fuzz_config \
  tests/fuzz/fuzz_userdb

FUZZ_MIME_SRC = tests/fuzz/fuzz_mime.cpp lib/mime_charset.cpp lib/mime_params.cpp lib/mime_transfer.cpp lib/mime_words.cpp \
  lib/mime.cpp lib/rfc5322.cpp lib/utf8.cpp
FUZZ_MAILDIR_SRC = tests/fuzz/fuzz_maildir.cpp lib/maildir.cpp lib/maildir_quota.cpp lib/unique_fd.cpp \
  lib/atomic_file.cpp lib/utf8.cpp
FUZZ_SASL_SRC = tests/fuzz/fuzz_sasl.cpp authlib/sasl.cpp authlib/protocol.cpp lib/secret.cpp lib/unique_fd.cpp
FUZZ_CONFIG_SRC = tests/fuzz/fuzz_config.cpp lib/config.cpp lib/config_shell.cpp lib/unique_fd.cpp lib/utf8.cpp
FUZZ_USERDB_SRC = tests/fuzz/fuzz_userdb.cpp authlib/userdb_source.cpp lib/config.cpp lib/config_shell.cpp lib/dbfile.cpp \
  lib/unique_fd.cpp lib/secret.cpp lib/atomic_file.cpp lib/utf8.cpp lib/privileges.cpp lib/log.cpp

fuzz_build = @mkdir -p tests/fuzz; echo "  FUZZ     $@"; \
  $(FUZZ_CXX) $(FUZZ_FLAGS) -o $@ $(addprefix $(top_srcdir)/,$(1)) $(2)

tests/fuzz/fuzz_mime: $(addprefix $(top_srcdir)/,$(FUZZ_MIME_SRC))
	$(call fuzz_build,$(FUZZ_MIME_SRC))
tests/fuzz/fuzz_maildir: $(addprefix $(top_srcdir)/,$(FUZZ_MAILDIR_SRC))
	$(call fuzz_build,$(FUZZ_MAILDIR_SRC))
tests/fuzz/fuzz_sasl: $(addprefix $(top_srcdir)/,$(FUZZ_SASL_SRC))
	$(call fuzz_build,$(FUZZ_SASL_SRC),-lcrypto)
tests/fuzz/fuzz_config: $(addprefix $(top_srcdir)/,$(FUZZ_CONFIG_SRC))
	$(call fuzz_build,$(FUZZ_CONFIG_SRC))
tests/fuzz/fuzz_userdb: $(addprefix $(top_srcdir)/,$(FUZZ_USERDB_SRC))
	$(call fuzz_build,$(FUZZ_USERDB_SRC),$(BDB_LIBS) -lcrypto)

fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz
CLEANFILES += $(FUZZ_TARGETS)
EXTRA_DIST += tests/fuzz/invariant_check.hpp
EXTRA_DIST += $(filter-out lib/% authlib/%,$(FUZZ_MIME_SRC) $(FUZZ_MAILDIR_SRC) $(FUZZ_SASL_SRC) $(FUZZ_CONFIG_SRC) \
  $(FUZZ_USERDB_SRC)) \
  tests/fuzz/corpus

# imapd: command lexer + sequence sets + FETCH/SEARCH parsers; modified
# UTF-7 + string rendering; FETCH rendering and SEARCH on hostile messages.
FUZZ_TARGETS += tests/fuzz/fuzz_imap_lexer tests/fuzz/fuzz_imap_mutf7 tests/fuzz/fuzz_imap_fetch
FUZZ_IMAP_LEXER_SRC = tests/fuzz/fuzz_imap_lexer.cpp imapd/lexer.cpp imapd/sequence_set.cpp imapd/fetch.cpp \
  imapd/search.cpp imapd/imap_string.cpp lib/mime_charset.cpp lib/mime_params.cpp lib/mime_transfer.cpp lib/mime_words.cpp \
  lib/mime.cpp lib/rfc5322.cpp lib/utf8.cpp
FUZZ_IMAP_MUTF7_SRC = tests/fuzz/fuzz_imap_mutf7.cpp imapd/mutf7.cpp imapd/imap_string.cpp imapd/lexer.cpp lib/utf8.cpp
FUZZ_IMAP_FETCH_SRC = tests/fuzz/fuzz_imap_fetch.cpp imapd/fetch.cpp imapd/search.cpp imapd/lexer.cpp \
  imapd/imap_string.cpp imapd/sequence_set.cpp lib/mime_charset.cpp lib/mime_params.cpp lib/mime_transfer.cpp lib/mime_words.cpp \
  lib/mime.cpp lib/rfc5322.cpp lib/utf8.cpp
tests/fuzz/fuzz_imap_lexer: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_LEXER_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_LEXER_SRC))
tests/fuzz/fuzz_imap_mutf7: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_MUTF7_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_MUTF7_SRC))
tests/fuzz/fuzz_imap_fetch: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_FETCH_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_FETCH_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_lexer.cpp tests/fuzz/fuzz_imap_mutf7.cpp tests/fuzz/fuzz_imap_fetch.cpp

# tcpd/: the access-file line parser; DNS replies, ident replies and PROXY headers.
FUZZ_TARGETS += tests/fuzz/fuzz_tcpd_access tests/fuzz/fuzz_tcpd_network
FUZZ_TCPD_ACCESS_SRC = tests/fuzz/fuzz_tcpd_access.cpp tcpd/access.cpp tcpd/address.cpp lib/config.cpp lib/config_shell.cpp \
  lib/dbfile.cpp lib/unique_fd.cpp lib/atomic_file.cpp lib/utf8.cpp
FUZZ_TCPD_NETWORK_SRC = tests/fuzz/fuzz_tcpd_network.cpp tcpd/dns_message.cpp tcpd/ident.cpp \
  tcpd/proxy_header.cpp tcpd/address.cpp lib/unique_fd.cpp
tests/fuzz/fuzz_tcpd_access: $(addprefix $(top_srcdir)/,$(FUZZ_TCPD_ACCESS_SRC))
	$(call fuzz_build,$(FUZZ_TCPD_ACCESS_SRC),$(BDB_LIBS))
tests/fuzz/fuzz_tcpd_network: $(addprefix $(top_srcdir)/,$(FUZZ_TCPD_NETWORK_SRC))
	$(call fuzz_build,$(FUZZ_TCPD_NETWORK_SRC),$(LIBEVENT_LIBS))
EXTRA_DIST += tests/fuzz/fuzz_tcpd_access.cpp tests/fuzz/fuzz_tcpd_network.cpp

# pop3d/: the POP3 command parser, Courier's courierpop3dsizelist, and the
# POP3 size counter / TOP filter.
FUZZ_TARGETS += tests/fuzz/fuzz_pop3
FUZZ_POP3_SRC = tests/fuzz/fuzz_pop3.cpp pop3d/command.cpp pop3d/sizelist.cpp pop3d/message.cpp lib/unique_fd.cpp
tests/fuzz/fuzz_pop3: $(addprefix $(top_srcdir)/,$(FUZZ_POP3_SRC))
	$(call fuzz_build,$(FUZZ_POP3_SRC))
EXTRA_DIST += tests/fuzz/fuzz_pop3.cpp

# tls/: PEM normalisation and splitting, the TLS settings and the ticket-key file.
FUZZ_TARGETS += tests/fuzz/fuzz_tls
FUZZ_TLS_SRC = tests/fuzz/fuzz_tls.cpp tls/pem.cpp lib/openssl_error.cpp tls/settings.cpp tls/ticket_keys.cpp lib/config.cpp lib/config_shell.cpp \
  lib/log.cpp lib/unique_fd.cpp lib/utf8.cpp
tests/fuzz/fuzz_tls: $(addprefix $(top_srcdir)/,$(FUZZ_TLS_SRC))
	$(call fuzz_build,$(FUZZ_TLS_SRC),-lssl -lcrypto)
EXTRA_DIST += tests/fuzz/fuzz_tls.cpp

# imapd/ (session side): courierimapuiddb, courierimapkeywords, mailbox names, LIST patterns.
FUZZ_TARGETS += tests/fuzz/fuzz_imap_store
FUZZ_IMAP_STORE_SRC = tests/fuzz/fuzz_imap_store.cpp imapd/uiddb.cpp imapd/keywords.cpp imapd/folders.cpp \
  lib/config.cpp lib/config_shell.cpp lib/maildir.cpp lib/unique_fd.cpp lib/log.cpp lib/atomic_file.cpp lib/utf8.cpp
tests/fuzz/fuzz_imap_store: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_STORE_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_STORE_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_store.cpp

# maildrop: the filter language lexer and parser.
FUZZ_TARGETS += tests/fuzz/fuzz_maildrop_filter
FUZZ_MAILDROP_FILTER_SRC = tests/fuzz/fuzz_maildrop_filter.cpp maildrop/filter_parser.cpp
tests/fuzz/fuzz_maildrop_filter: $(addprefix $(top_srcdir)/,$(FUZZ_MAILDROP_FILTER_SRC))
	$(call fuzz_build,$(FUZZ_MAILDROP_FILTER_SRC))
EXTRA_DIST += tests/fuzz/fuzz_maildrop_filter.cpp

# esmtpd/: the SMTP command parser with the queue's control-file reader, and
# the alias compiler.
FUZZ_TARGETS += tests/fuzz/fuzz_smtp_command tests/fuzz/fuzz_aliases
FUZZ_SMTP_COMMAND_SRC = tests/fuzz/fuzz_smtp_command.cpp esmtpd/command.cpp lib/queue.cpp lib/atomic_file.cpp \
  lib/unique_fd.cpp tcpd/dns_message.cpp
FUZZ_ALIASES_SRC = tests/fuzz/fuzz_aliases.cpp esmtpd/aliases.cpp esmtpd/command.cpp lib/config.cpp lib/config_shell.cpp lib/dbfile.cpp \
  lib/atomic_file.cpp lib/utf8.cpp \
  lib/unique_fd.cpp
tests/fuzz/fuzz_smtp_command: $(addprefix $(top_srcdir)/,$(FUZZ_SMTP_COMMAND_SRC))
	$(call fuzz_build,$(FUZZ_SMTP_COMMAND_SRC))
tests/fuzz/fuzz_aliases: $(addprefix $(top_srcdir)/,$(FUZZ_ALIASES_SRC))
	$(call fuzz_build,$(FUZZ_ALIASES_SRC),$(BDB_LIBS))
EXTRA_DIST += tests/fuzz/fuzz_smtp_command.cpp tests/fuzz/fuzz_aliases.cpp
# courierd: SMTP replies, EHLO capabilities, esmtproutes, esmtpauthclient.
FUZZ_TARGETS += tests/fuzz/fuzz_courierd
FUZZ_COURIERD_SRC = tests/fuzz/fuzz_courierd.cpp courierd/smtp_reply.cpp courierd/routes.cpp
tests/fuzz/fuzz_courierd: $(addprefix $(top_srcdir)/,$(FUZZ_COURIERD_SRC))
	$(call fuzz_build,$(FUZZ_COURIERD_SRC))
EXTRA_DIST += tests/fuzz/fuzz_courierd.cpp

# tcpd/: the lookup helper's result, as couriertcpd's root daemon reads it.
FUZZ_TARGETS += tests/fuzz/fuzz_tcpd_lookup_result
FUZZ_TCPD_LOOKUP_RESULT_SRC = tests/fuzz/fuzz_tcpd_lookup_result.cpp tcpd/lookup_result.cpp tcpd/blocklist.cpp \
  tcpd/address.cpp
tests/fuzz/fuzz_tcpd_lookup_result: $(addprefix $(top_srcdir)/,$(FUZZ_TCPD_LOOKUP_RESULT_SRC))
	$(call fuzz_build,$(FUZZ_TCPD_LOOKUP_RESULT_SRC))
EXTRA_DIST += tests/fuzz/fuzz_tcpd_lookup_result.cpp

# authlib: the login child's hand-over to its root parent (issue 14).
FUZZ_TARGETS += tests/fuzz/fuzz_login_handover
FUZZ_LOGIN_HANDOVER_SRC = tests/fuzz/fuzz_login_handover.cpp authlib/login_handover_codec.cpp
tests/fuzz/fuzz_login_handover: $(addprefix $(top_srcdir)/,$(FUZZ_LOGIN_HANDOVER_SRC))
	$(call fuzz_build,$(FUZZ_LOGIN_HANDOVER_SRC))
EXTRA_DIST += tests/fuzz/fuzz_login_handover.cpp

# imapd/: imapd-modseq files and the CONDSTORE/QRESYNC command parameters.
FUZZ_TARGETS += tests/fuzz/fuzz_imap_modseq
FUZZ_IMAP_MODSEQ_SRC = tests/fuzz/fuzz_imap_modseq.cpp imapd/modseq.cpp imapd/condstore.cpp imapd/lexer.cpp \
  imapd/sequence_set.cpp imapd/uiddb.cpp imapd/keywords.cpp lib/config.cpp lib/config_shell.cpp lib/maildir.cpp \
  lib/unique_fd.cpp lib/log.cpp lib/atomic_file.cpp lib/utf8.cpp
tests/fuzz/fuzz_imap_modseq: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_MODSEQ_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_MODSEQ_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_modseq.cpp

# imapd: IMAP URLs (CATENATE, URLAUTH) and CATENATE's part list.
FUZZ_TARGETS += tests/fuzz/fuzz_imap_url
FUZZ_IMAP_URL_SRC = tests/fuzz/fuzz_imap_url.cpp imapd/imap_url.cpp imapd/catenate.cpp imapd/lexer.cpp
tests/fuzz/fuzz_imap_url: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_URL_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_URL_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_url.cpp

# imapd: NOTIFY's arguments (RFC 5465).
FUZZ_TARGETS += tests/fuzz/fuzz_imap_notify
FUZZ_IMAP_NOTIFY_SRC = tests/fuzz/fuzz_imap_notify.cpp imapd/notify.cpp imapd/lexer.cpp
tests/fuzz/fuzz_imap_notify: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_NOTIFY_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_NOTIFY_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_notify.cpp

# imapd: the chunked LF -> CRLF conversion of streamed FETCH bodies (issue 15 item 3).
FUZZ_TARGETS += tests/fuzz/fuzz_imap_crlf
FUZZ_IMAP_CRLF_SRC = tests/fuzz/fuzz_imap_crlf.cpp imapd/body_stream.cpp lib/io.cpp lib/unique_fd.cpp
tests/fuzz/fuzz_imap_crlf: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_CRLF_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_CRLF_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_crlf.cpp

# imapd: courierimapacl files, ACL2=UNION rights, the #shared index (issue 15).
FUZZ_TARGETS += tests/fuzz/fuzz_imap_acl
FUZZ_IMAP_ACL_SRC = tests/fuzz/fuzz_imap_acl.cpp imapd/acl.cpp imapd/shared_virtual.cpp authlib/account_options.cpp lib/config.cpp \
  lib/config_shell.cpp lib/log.cpp lib/atomic_file.cpp lib/unique_fd.cpp lib/utf8.cpp
tests/fuzz/fuzz_imap_acl: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_ACL_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_ACL_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_acl.cpp

# Filesystem shared folders: shared-maildirs / maildirshared parsing.
FUZZ_TARGETS += tests/fuzz/fuzz_shared_maildirs
FUZZ_SHARED_MAILDIRS_SRC = tests/fuzz/fuzz_shared_maildirs.cpp lib/shared_maildirs.cpp lib/config.cpp \
  lib/config_shell.cpp lib/unique_fd.cpp lib/utf8.cpp
tests/fuzz/fuzz_shared_maildirs: $(addprefix $(top_srcdir)/,$(FUZZ_SHARED_MAILDIRS_SRC))
	$(call fuzz_build,$(FUZZ_SHARED_MAILDIRS_SRC))
EXTRA_DIST += tests/fuzz/fuzz_shared_maildirs.cpp

# Issue 16: sasl.cpp's OpenSSL parts are in sasl_crypto.cpp, and its base64
# encoder is lib/mime's.
FUZZ_SASL_SRC += authlib/sasl_crypto.cpp lib/openssl_error.cpp lib/mime.cpp lib/mime_charset.cpp lib/mime_params.cpp lib/mime_transfer.cpp \
  lib/mime_words.cpp lib/rfc5322.cpp lib/utf8.cpp

# imapd: the imapd-cache file parser (the per-mailbox cache, issue 15 item 2).
FUZZ_TARGETS += tests/fuzz/fuzz_imap_cache
FUZZ_IMAP_CACHE_SRC = tests/fuzz/fuzz_imap_cache.cpp imapd/mailbox_cache_file.cpp imapd/zlib_library.cpp lib/lazy_library.cpp
tests/fuzz/fuzz_imap_cache: $(addprefix $(top_srcdir)/,$(FUZZ_IMAP_CACHE_SRC))
	$(call fuzz_build,$(FUZZ_IMAP_CACHE_SRC))
EXTRA_DIST += tests/fuzz/fuzz_imap_cache.cpp
