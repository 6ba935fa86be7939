# lib/: shared code for every program of the suite (DESIGN.md, Source layout).
noinst_LIBRARIES += lib/libsuite.a
lib_libsuite_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
lib_libsuite_a_SOURCES = \
  lib/c_handle.hpp \
  lib/config.cpp lib/config.hpp \
  lib/dbfile.cpp lib/dbfile.hpp \
  lib/event.hpp \
  lib/io.cpp lib/io.hpp \
  lib/log.cpp lib/log.hpp \
  lib/maildir.cpp lib/maildir.hpp \
  lib/maildir_quota.cpp lib/maildir_quota.hpp \
  lib/mime.cpp lib/mime.hpp \
  lib/queue.cpp lib/queue.hpp \
  lib/process.cpp lib/process.hpp \
  lib/result.hpp \
  lib/rfc5322.cpp lib/rfc5322.hpp \
  lib/secret.cpp lib/secret.hpp \
  lib/unique_fd.cpp lib/unique_fd.hpp

# What every program linking lib/libsuite.a needs.
SUITE_LIBS = lib/libsuite.a $(BDB_LIBS) $(OPENSSL_LIBS)
