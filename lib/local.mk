# lib/: shared code for every program of the suite (DESIGN.md, Source layout).
noinst_LIBRARIES += lib/libsuite.a
lib_libsuite_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
# Two groups (DESIGN.md, Source layout; STYLE.md 1): generic code any program
# uses, and the mail formats. The files stay in lib/ (one folder) until the
# delivery half is merged; the groups say which is which.
lib_libsuite_a_SOURCES =
# --- Generic code: results, RAII, I/O, logging, configuration, processes, text.
lib_libsuite_a_SOURCES += \
  lib/ascii.hpp \
  lib/atomic_file.cpp lib/atomic_file.hpp \
  lib/c_handle.hpp \
  lib/config.cpp lib/config.hpp lib/config_internal.hpp lib/config_shell.cpp \
  lib/event.hpp \
  lib/io.cpp lib/io.hpp \
  lib/log.cpp lib/log.hpp \
  lib/privileges.cpp lib/privileges.hpp \
  lib/process.cpp lib/process.hpp \
  lib/result.hpp \
  lib/secret.cpp lib/secret.hpp lib/openssl_error.cpp lib/openssl_error.hpp \
  lib/unique_fd.cpp lib/unique_fd.hpp \
  lib/utf8.cpp lib/utf8.hpp
# --- Mail formats and stores: Maildir(++), quotas, MIME, RFC 5322, Berkeley DB files, the queue.
lib_libsuite_a_SOURCES += \
  lib/dbfile.cpp lib/dbfile.hpp \
  lib/maildir.cpp lib/maildir.hpp \
  lib/maildir_quota.cpp lib/maildir_quota.hpp \
  lib/mime.cpp lib/mime.hpp lib/mime_internal.hpp \
  lib/mime_charset.cpp lib/mime_params.cpp lib/mime_transfer.cpp lib/mime_words.cpp \
  lib/queue.cpp lib/queue.hpp \
  lib/rfc5322.cpp lib/rfc5322.hpp

# What every program linking lib/libsuite.a needs.
SUITE_LIBS = lib/libsuite.a $(BDB_LIBS) $(OPENSSL_LIBS)
# Filesystem shared folders: shared-maildirs and maildirshared (maildirmake, imapd).
lib_libsuite_a_SOURCES += lib/shared_maildirs.cpp lib/shared_maildirs.hpp


# Access-side performance (issue 16): a shared library loaded on first use
# (imapd's libcrypto for URLAUTH and zlib for COMPRESS).
lib_libsuite_a_SOURCES += lib/lazy_library.cpp lib/lazy_library.hpp
