# esmtpd/: the SMTP server (esmtpd, run by couriertcpd per connection), its
# tools (makealiases, makehosteddomains, makeacceptmailfor, sendmail, mailq),
# start scripts (sbin/esmtpd, esmtpd-ssl, esmtpd-msa), configuration, units and
# man pages. The queue itself is lib/queue (shared with courierd).
noinst_LIBRARIES += esmtpd/libesmtpd.a
esmtpd_libesmtpd_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)
esmtpd_libesmtpd_a_SOURCES = \
  esmtpd/aliases.cpp esmtpd/aliases.hpp \
  esmtpd/command.cpp esmtpd/command.hpp \
  esmtpd/dnscheck.cpp esmtpd/dnscheck.hpp \
  esmtpd/mailq.cpp esmtpd/mailq.hpp \
  esmtpd/policy.cpp esmtpd/policy.hpp \
  esmtpd/session.cpp esmtpd/session.hpp

ESMTPD_LIBS = esmtpd/libesmtpd.a tls/libtls.a tcpd/libtcpd.a $(AUTH_LIBS) $(LIBEVENT_LIBS)

pkglibexec_PROGRAMS += esmtpd/esmtpd
esmtpd_esmtpd_SOURCES = esmtpd/esmtpd_main.cpp
esmtpd_esmtpd_LDADD = $(ESMTPD_LIBS)
esmtpd_esmtpd_LDFLAGS = -static-libstdc++ -static-libgcc -Wl,--as-needed

sbin_PROGRAMS += esmtpd/makealiases esmtpd/makehosteddomains esmtpd/makeacceptmailfor
esmtpd_makealiases_SOURCES = esmtpd/makealiases_main.cpp
esmtpd_makealiases_LDADD = $(ESMTPD_LIBS)
esmtpd_makehosteddomains_SOURCES = esmtpd/makedomains_main.cpp
esmtpd_makehosteddomains_LDADD = $(ESMTPD_LIBS)
esmtpd_makeacceptmailfor_SOURCES = esmtpd/makedomains_main.cpp
esmtpd_makeacceptmailfor_LDADD = $(ESMTPD_LIBS)

# sendmail and mailq: local users' submission and the queue listing. sendmail
# is made setgid to the mail group when "make install" runs as root (the
# queue's tmp/ and msgs/ are group-writable, mode 0770): DESIGN's privilege
# model allows a setgid program that only writes the queue.
bin_PROGRAMS += esmtpd/sendmail esmtpd/mailq
esmtpd_sendmail_SOURCES = esmtpd/sendmail_main.cpp
esmtpd_sendmail_LDADD = $(ESMTPD_LIBS)
esmtpd_mailq_SOURCES = esmtpd/mailq_main.cpp
esmtpd_mailq_LDADD = $(ESMTPD_LIBS)
install-exec-hook: install-sendmail-setgid
install-sendmail-setgid:
	@if test "`id -u`" = 0 && getent group $(MAILUSER) >/dev/null 2>&1; then \
	  chgrp $(MAILUSER) '$(DESTDIR)$(bindir)/sendmail' && chmod 2755 '$(DESTDIR)$(bindir)/sendmail' && \
	  echo "sendmail: setgid $(MAILUSER)"; \
	else echo "sendmail: not made setgid (needs root and a group $(MAILUSER)): local users other than the mail user cannot submit"; fi
.PHONY: install-sendmail-setgid

# Start scripts: one template, three names, built in esmtpd/rc/.
ESMTPD_RC = esmtpd/rc/esmtpd esmtpd/rc/esmtpd-ssl esmtpd/rc/esmtpd-msa
sbin_SCRIPTS += $(ESMTPD_RC)
esmtpd/rc/%: $(srcdir)/esmtpd/esmtpd.rc.in Makefile
	@mkdir -p esmtpd/rc
	$(AM_V_GEN)$(do_subst) -e 's|@NAME[@]|$*|g' < $(srcdir)/esmtpd/esmtpd.rc.in > $@.tmp && \
	  chmod +x $@.tmp && mv $@.tmp $@
CLEANFILES += $(ESMTPD_RC)
EXTRA_DIST += esmtpd/esmtpd.rc.in

SYSCONF_FILES += sysconfdir/esmtpd sysconfdir/esmtpd-ssl sysconfdir/esmtpd-msa
systemdunit_DATA += sysconfdir/esmtpd.service sysconfdir/esmtpd-ssl.service sysconfdir/esmtpd-msa.service
EXTRA_DIST += sysconfdir/esmtpd.service.in sysconfdir/esmtpd-ssl.service.in sysconfdir/esmtpd-msa.service.in

dist_man_MANS += doc/esmtpd.8 doc/makealiases.8 doc/makehosteddomains.8 doc/makeacceptmailfor.8 \
  doc/sendmail.1 doc/mailq.1 doc/queue.5
EXTRA_DIST += bench/smtp
