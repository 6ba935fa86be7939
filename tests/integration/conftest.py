"""Fixtures shared by every integration test module.

The back ends (slapd, postgres, PAM service files, system accounts) and their helpers
live in backends.py; importing the fixture functions here makes pytest offer them to
all tests in this folder. Helpers such as free_port() and wait_for_socket() are used
with a plain `import backends`.
"""

from backends import (  # noqa: F401  (fixtures are found by name)
    _postgres_cluster,
    _suite_public_root,
    mail_accounts,
    pam_service,
    pam_service_factory,
    postgres,
    public_tmp,
    slapd,
    system_account,
    system_account_factory,
)

from suite import mail_system  # noqa: F401,E402  (authdaemond + userdb accounts for service tests)
