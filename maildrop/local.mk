# maildrop/: maildrop (the delivery agent and its filter language),
# deliverquota and maildirmake; their man pages; unit tests in
# tests/maildrop_test, a fuzz target for the filter parser.
noinst_LIBRARIES += maildrop/libmaildrop.a
maildrop_libmaildrop_a_CPPFLAGS = $(AM_CPPFLAGS) $(PCRE2_CFLAGS)
maildrop_libmaildrop_a_SOURCES = \
  maildrop/filter_ast.hpp \
  maildrop/filter_parser.cpp maildrop/filter_parser.hpp \
  maildrop/interpreter.cpp maildrop/interpreter.hpp \
  maildrop/delivery.cpp maildrop/delivery.hpp \
  maildrop/dot_courier.cpp maildrop/dot_courier.hpp \
  maildrop/kvdb.cpp maildrop/kvdb.hpp \
  maildrop/message.cpp maildrop/message.hpp \
  maildrop/regex.cpp maildrop/regex.hpp

MAILDROP_LIBS = maildrop/libmaildrop.a $(AUTH_LIBS) $(PCRE2_LIBS)

bin_PROGRAMS += maildrop/maildrop maildrop/deliverquota maildrop/maildirmake
maildrop_maildrop_CPPFLAGS = $(AM_CPPFLAGS) $(PCRE2_CFLAGS)
maildrop_maildrop_SOURCES = maildrop/maildrop_main.cpp
maildrop_maildrop_LDADD = $(MAILDROP_LIBS)
maildrop_deliverquota_CPPFLAGS = $(AM_CPPFLAGS) $(PCRE2_CFLAGS)
maildrop_deliverquota_SOURCES = maildrop/deliverquota_main.cpp
maildrop_deliverquota_LDADD = $(MAILDROP_LIBS)
maildrop_maildirmake_SOURCES = maildrop/maildirmake_main.cpp
maildrop_maildirmake_LDADD = $(SUITE_LIBS)
# maildrop runs once per delivered message: as for pop3d, link libstdc++
# statically and only what is used, so each exec starts fast (bench/maildrop).
MAILDROP_EXEC_LINK = -static-libstdc++ -static-libgcc -Wl,--as-needed
maildrop_maildrop_LDFLAGS = $(MAILDROP_EXEC_LINK)
maildrop_deliverquota_LDFLAGS = $(MAILDROP_EXEC_LINK)

check_PROGRAMS += tests/maildrop_test
TESTS += tests/maildrop_test
tests_maildrop_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS) $(PCRE2_CFLAGS)
tests_maildrop_test_SOURCES = \
  tests/maildrop/test_support.hpp \
  tests/maildrop/filter_parser_test.cpp \
  tests/maildrop/interpreter_test.cpp \
  tests/maildrop/delivery_test.cpp \
  tests/maildrop/dot_courier_test.cpp
tests_maildrop_test_LDADD = $(MAILDROP_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread

dist_man_MANS += doc/maildrop.1 doc/maildropfilter.5 doc/deliverquota.8 doc/maildirmake.1
EXTRA_DIST += bench/maildrop
# The system filter (comments only by default).
SYSCONF_FILES += sysconfdir/maildroprc
