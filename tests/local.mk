# tests/: GoogleTest unit tests (one binary per folder) and pytest integration
# tests (tests/integration, run by ./check against the built tree).
check_PROGRAMS += tests/lib_test
TESTS += tests/lib_test
tests_lib_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS)
tests_lib_test_SOURCES = \
  tests/lib/test_util.hpp tests/lib/test_util.cpp \
  tests/lib/config_test.cpp \
  tests/lib/dbfile_test.cpp \
  tests/lib/io_test.cpp \
  tests/lib/log_test.cpp \
  tests/lib/maildir_test.cpp \
  tests/lib/maildir_quota_test.cpp \
  tests/lib/mime_test.cpp \
  tests/lib/process_test.cpp \
  tests/lib/rfc5322_test.cpp \
  tests/lib/secret_test.cpp
tests_lib_test_LDADD = $(SUITE_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread

EXTRA_DIST += tests/integration tests/run_tests.py

# Code health (issue 9): lib/atomic_file.hpp, lib/ascii.hpp, lib/utf8.hpp.
tests_lib_test_SOURCES += tests/lib/atomic_file_test.cpp

check_PROGRAMS += tests/esmtpd_test
TESTS += tests/esmtpd_test
tests_esmtpd_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS)
tests_esmtpd_test_SOURCES = \
  tests/lib/test_util.hpp tests/lib/test_util.cpp \
  tests/esmtpd/queue_test.cpp \
  tests/esmtpd/command_test.cpp \
  tests/esmtpd/aliases_test.cpp \
  tests/esmtpd/policy_test.cpp
tests_esmtpd_test_LDADD = $(ESMTPD_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread
# Privilege separation (issue 14): lib/privileges.hpp.
tests_lib_test_SOURCES += tests/lib/privileges_test.cpp

# bench/flow: the delivery half end to end against Debian's Courier (see its README).
EXTRA_DIST += bench/flow

# Access-side performance (issue 16): lib/lazy_library.hpp.
tests_lib_test_SOURCES += tests/lib/lazy_library_test.cpp
