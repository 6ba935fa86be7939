# courierd/: the scheduler (courierd), outbound SMTP (courieresmtp), cancelmsg, the
# `courier` start script, default configuration, systemd unit and man pages.
noinst_LIBRARIES += courierd/libcourierd.a
courierd_libcourierd_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
courierd_libcourierd_a_SOURCES = \
  courierd/dsn.cpp courierd/dsn.hpp \
  courierd/local_delivery.cpp courierd/local_delivery.hpp \
  courierd/mx.cpp courierd/mx.hpp \
  courierd/privileges.cpp courierd/privileges.hpp \
  courierd/queue_access.cpp courierd/queue_access.hpp \
  courierd/retry.cpp courierd/retry.hpp \
  courierd/routes.cpp courierd/routes.hpp \
  courierd/scheduler.cpp courierd/scheduler.hpp \
  courierd/settings.cpp courierd/settings.hpp \
  courierd/smtp_client.cpp courierd/smtp_client.hpp \
  courierd/smtp_reply.cpp courierd/smtp_reply.hpp \
  courierd/text.hpp

COURIERD_LIBS = courierd/libcourierd.a tls/libtls.a $(AUTH_LIBS) -lresolv

sbin_PROGRAMS += courierd/courierd
courierd_courierd_SOURCES = courierd/courierd_main.cpp
courierd_courierd_LDADD = $(COURIERD_LIBS)
pkglibexec_PROGRAMS += courierd/courieresmtp
courierd_courieresmtp_SOURCES = courierd/courieresmtp_main.cpp
courierd_courieresmtp_LDADD = $(COURIERD_LIBS)
bin_PROGRAMS += courierd/cancelmsg
courierd_cancelmsg_SOURCES = courierd/cancelmsg_main.cpp
courierd_cancelmsg_LDADD = $(COURIERD_LIBS)

check_PROGRAMS += tests/courierd_test tests/courierd/queue_inject
TESTS += tests/courierd_test
tests_courierd_test_CPPFLAGS = $(AM_CPPFLAGS) $(GTEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_courierd_test_SOURCES = \
  tests/courierd/dsn_test.cpp \
  tests/courierd/retry_test.cpp \
  tests/courierd/routes_test.cpp \
  tests/courierd/settings_test.cpp \
  tests/courierd/smtp_reply_test.cpp
tests_courierd_test_LDADD = $(COURIERD_LIBS) -lgtest_main $(GTEST_LIBS) -lpthread
tests_courierd_queue_inject_SOURCES = tests/courierd/queue_inject.cpp
tests_courierd_queue_inject_LDADD = $(COURIERD_LIBS)

# The `courier` start script (sbin/courier): start|stop|restart|flush|status.
sbin_SCRIPTS += courierd/rc/courier
courierd/rc/courier: $(srcdir)/courierd/courier.rc.in Makefile
	@mkdir -p courierd/rc
	$(AM_V_GEN)$(do_subst) < $(srcdir)/courierd/courier.rc.in > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@
CLEANFILES += courierd/rc/courier
EXTRA_DIST += courierd/courier.rc.in

SYSCONF_FILES += sysconfdir/courierd
systemdunit_DATA += sysconfdir/courier.service
EXTRA_DIST += sysconfdir/courier.service.in
dist_man_MANS += doc/courierd.8 doc/cancelmsg.1 doc/courieresmtp.8
EXTRA_DIST += bench/courierd
