# tests/fuzz/: libFuzzer targets, built with clang by "make fuzz" (never by
# "make all": the rest of the suite is built with the configured compiler).
# Each target compiles the lib/ sources it exercises with the sanitizers.
FUZZ_FLAGS = -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I$(top_srcdir) -I$(top_builddir)
FUZZ_TARGETS = tests/fuzz/fuzz_mime

tests/fuzz/fuzz_mime: $(top_srcdir)/tests/fuzz/fuzz_mime.cpp $(top_srcdir)/lib/mime.cpp \
    $(top_srcdir)/lib/rfc5322.cpp $(top_srcdir)/lib/mime.hpp $(top_srcdir)/lib/rfc5322.hpp
	@mkdir -p tests/fuzz
	$(AM_V_CXX)$(FUZZ_CXX) $(FUZZ_FLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_mime.cpp \
	  $(top_srcdir)/lib/mime.cpp $(top_srcdir)/lib/rfc5322.cpp

fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz
CLEANFILES += $(FUZZ_TARGETS)
EXTRA_DIST += tests/fuzz/fuzz_mime.cpp tests/fuzz/corpus
