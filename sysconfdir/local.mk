# sysconfdir/: default configuration files, installed once (never over an
# admin's edited copy) into $(sysconfdir).
EXTRA_DIST += sysconfdir
