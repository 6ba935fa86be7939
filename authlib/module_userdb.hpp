// authlib/module_userdb.hpp: authuserdb, accounts from userdb.dat and their
// passwords from userdbshadow.dat, as makeuserdb builds them
// (authlib/userdb_source.hpp; Courier's authuserdb).
//
// Files: authdaemonrc USERDB=<path> (our extension, for tests and the
// sandbox) names the userdb source; the databases are <path>.dat and
// <path>shadow.dat. The default path is <sysconfdir>/userdb.
//
// Accounts: home=, uid=, gid= are required (an account without them is
// rejected, naming the field and the fix); mail= becomes MAILDIR=, quota=
// QUOTA=, gecos= NAME=, options= OPTIONS= (DEFAULTOPTIONS of authdaemonrc
// when the account has none). A login is looked up as typed, then in lower
// case (Courier wants lower-case addresses; a capitalised login still works).
//
// Passwords, as Courier's authuserdb: for a login, "<service>pw" (imappw,
// pop3pw, esmtppw...) if the account has it, else "systempw"; a service
// name with a TLS suffix also tries its plain name first (imaps -> imappw,
// pop3s -> pop3pw, smtps/esmtps -> esmtppw), so one field serves both ports.
// For CRAM-MD5/SHA1/SHA256, "<service>-hmac-md5pw", then "hmac-md5pw" (and
// -sha1, -sha256), in the precomputed form `userdbpw -hmac-md5` prints.
//
// A rebuilt database is picked up at the next request (no restart). A
// missing userdb.dat rejects (next module) with a reason that says to run
// makeuserdb, and notes when the source changed after the database was
// built (the classic "account silently absent" trap); a corrupt or
// unreadable one is a temporary failure naming the file and the fix.
//
// PASSWD (change_password) works as Courier's: it checks the old password
// against the field a login would use, writes a new yescrypt hash into that
// field of the account's source file (and updates hmac-*pw fields that
// matched the old password), rebuilds both databases, then replaces the
// source file; a source that does not compile changes nothing. authdaemond
// must be able to write the userdb files for that.
#pragma once

#include <memory>

#include "authlib/module.hpp"

namespace authlib {

// Creates authuserdb. Fails only for a malformed USERDB= (not an absolute
// path); missing databases are reported per request, so that running
// makeuserdb later needs no restart.
lib::Result<std::unique_ptr<Module>> make_userdb_module(const ModuleContext& context);

}  // namespace authlib
