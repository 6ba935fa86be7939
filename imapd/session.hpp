// imapd/session.hpp: the authenticated and selected states of IMAP4rev1
// (RFC 3501 6.3, 6.4) over the account's Maildir++, with IDLE (RFC 2177),
// NAMESPACE (2342), UIDPLUS (4315), UNSELECT (3691), MOVE (6851), ENABLE
// (5161), ID (2971), SPECIAL-USE (6154), ESEARCH (4731), LITERAL+ (7888),
// SORT (5256, 5957 SORT=DISPLAY), ESORT (5267) and THREAD (5256).
// The command table (imapd/command_table.hpp) maps names to the handlers,
// one file per non-trivial command (imapd/cmd_*.cpp). Handlers append untagged
// data with emit() and return the tagged completion; the session adds the
// pending untagged updates (EXISTS, EXPUNGE, FETCH FLAGS) before it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "imapd/acl.hpp"
#include "imapd/command_reader.hpp"
#include "imapd/condstore.hpp"
#include "imapd/lexer.hpp"
#include "imapd/mailbox.hpp"
#include "imapd/search.hpp"
#include "imapd/sequence_set.hpp"
#include "imapd/settings.hpp"
#include "imapd/shared_virtual.hpp"
#include "imapd/sort.hpp"
#include "lib/io.hpp"

namespace imapd {

struct ImapUrl;  // imapd/imap_url.hpp
struct FetchRequest;
struct FetchItem;
struct BodyStreamBuffers;

struct Completion {
  std::string_view status;  // "OK", "NO", "BAD"
  std::string text;
};

class Session {
 public:
  // maildir_root: the account's Maildir (INBOX); login: the account name for
  // the log. Reader and writer are the client connection (fd 0/1).
  Session(Settings settings, std::string maildir_root, std::string login, lib::io::Reader& reader,
          lib::io::Writer& writer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Greets (the tagged OK of imaplogin's LOGIN when login_tag is set, else
  // "* PREAUTH"), then serves commands until LOGOUT, timeout or disconnect.
  // Returns the process exit status.
  int run(const std::string& login_tag);

  // Executes one parsed command; the full reply is buffered in the writer.
  // Returns false when the session must end (LOGOUT, fatal error).
  bool execute(const ParsedCommand& cmd);

  // --- used by the command handlers -------------------------------------
  void emit(std::string_view text);
  Mailbox* selected() { return mailbox_.get(); }
  const Settings& settings() const { return settings_; }
  const std::string& root() const { return root_; }

  // Resolves a mailbox argument (modified UTF-7 astring); nullopt with a NO
  // text in `why` when invalid.
  std::optional<FolderName> mailbox_arg(const Value& v, std::string& why) const;
  std::string folder_dir(const FolderName& f) const;
  // Mailbox name for output: modified UTF-7, or UTF-8 itself once the
  // client has enabled UTF8=ACCEPT (RFC 6855 3); quoted as needed.
  std::string wire_name(std::string_view imap_name_utf8) const;
  // A mailbox name or LIST pattern as the client wrote it, in UTF-8: decoded
  // from modified UTF-7, or (UTF8=ACCEPT) checked to be UTF-8. nullopt: invalid.
  std::optional<std::string> name_from_client(std::string_view wire) const;
  bool utf8_enabled() const { return utf8_enabled_; }

  // Parses a sequence set argument into 0-based message indexes of the
  // selected mailbox (UIDs when uid). nullopt: syntax error.
  std::optional<std::vector<std::size_t>> message_set(const Value& v, bool uid) const;

  // Command handlers (cmd_*.cpp).
  Completion cmd_capability(const ParsedCommand& c);
  Completion cmd_noop(const ParsedCommand& c);
  Completion cmd_logout(const ParsedCommand& c);
  Completion cmd_id(const ParsedCommand& c);
  Completion cmd_enable(const ParsedCommand& c);
  Completion cmd_namespace(const ParsedCommand& c);
  Completion cmd_starttls(const ParsedCommand& c);
  Completion cmd_authenticate(const ParsedCommand& c);
  Completion cmd_select(const ParsedCommand& c);
  Completion cmd_close(const ParsedCommand& c);
  Completion cmd_unselect(const ParsedCommand& c);
  Completion cmd_list(const ParsedCommand& c);
  Completion cmd_lsub(const ParsedCommand& c);
  Completion cmd_subscribe(const ParsedCommand& c);
  Completion cmd_unsubscribe(const ParsedCommand& c);
  Completion cmd_create(const ParsedCommand& c);
  Completion cmd_delete(const ParsedCommand& c);
  Completion cmd_rename(const ParsedCommand& c);
  Completion cmd_status(const ParsedCommand& c);
  Completion cmd_append(const ParsedCommand& c);
  Completion cmd_check(const ParsedCommand& c);
  Completion cmd_expunge(const ParsedCommand& c);
  Completion cmd_fetch(const ParsedCommand& c);
  Completion cmd_store(const ParsedCommand& c);
  Completion cmd_copy(const ParsedCommand& c);
  Completion cmd_move(const ParsedCommand& c);
  Completion cmd_search(const ParsedCommand& c);
  Completion cmd_sort(const ParsedCommand& c);
  Completion cmd_thread(const ParsedCommand& c);
  Completion cmd_getquotaroot(const ParsedCommand& c);
  Completion cmd_getquota(const ParsedCommand& c);
  Completion cmd_setquota(const ParsedCommand& c);
  Completion cmd_idle(const ParsedCommand& c);
  // URLAUTH (RFC 4467, cmd_urlauth.cpp).
  Completion cmd_genurlauth(const ParsedCommand& c);
  Completion cmd_resetkey(const ParsedCommand& c);
  // DELETE/RENAME: forgets the URLAUTH keys of a mailbox (and those below it).
  void forget_urlauth(const std::string& imap_name, bool children);
  Completion cmd_urlfetch(const ParsedCommand& c);
  // The bytes (CRLF form) an IMAP URL names in this account, for CATENATE
  // and (urlfetch: URLAUTH required) URLFETCH; nullopt with the reason in `why`.
  std::optional<std::string> url_data(std::string_view url, bool urlfetch, std::string& why);
  // The file of the message a URL names, checked as for url_data; `parsed` gets the URL.
  std::optional<std::string> url_message(std::string_view url, bool urlfetch, ImapUrl& parsed, std::string& why);
  Completion cmd_compress(const ParsedCommand& c);  // RFC 4978, cmd_compress.cpp
  // NOTIFY (RFC 5465, cmd_notify.cpp).
  Completion cmd_notify(const ParsedCommand& c);
  // Sends STATUS (and LIST for MailboxName/SubscriptionChange) for what
  // changed in the mailboxes the client follows; without `force`, only when
  // the inotify watch saw something (or there is no watch).
  void notify_poll(bool force);
  // The NOTIFY watch's descriptor for IDLE's poll(), -1 when none.
  int notify_fd() const;
  bool notify_active() const { return notify_ != nullptr; }
  // Between commands, with NOTIFY in effect: waits for the client's next
  // command and meanwhile sends what the followed mailboxes report (RFC
  // 5465 notifications are not limited to IDLE). false: the session timed
  // out waiting.
  bool notify_wait();

  // CONDSTORE and QRESYNC (RFC 7162; cmd_condstore.cpp).
  // ENABLE of one capability: true when it is (now) enabled.
  bool enable_extension(std::string_view name);
  // A CONDSTORE-enabling command (FETCH MODSEQ, SEARCH MODSEQ, ...): enables
  // CONDSTORE and, the first time, sends "* OK [HIGHESTMODSEQ n]".
  void condstore_used();
  bool condstore_enabled() const { return condstore_enabled_; }
  bool qresync_enabled() const { return qresync_enabled_; }
  // SELECT/EXAMINE's extra responses: HIGHESTMODSEQ, and with `qresync` the
  // VANISHED (EARLIER) and FETCH of what changed since the client's modseq.
  std::string select_modseq_responses(const SelectParams& params);
  // "* VANISHED (EARLIER) uids" of `set` (a UID set) expunged after modseq.
  std::string vanished_earlier(const SequenceSet* set, std::uint64_t modseq);
  // IMAP4rev2 (RFC 9051; cmd_rev2.cpp): after ENABLE IMAP4rev2.
  bool rev2() const { return rev2_; }
  // SELECT's "* LIST (attributes) "." name" (RFC 9051 6.3.2); empty when the
  // folders cannot be listed (logged).
  std::string select_list_response(const FolderName& name);
  // SEARCH RETURN (SAVE) (RFC 5182, part of IMAP4rev2): `uids` is the result.
  void save_search_result(const SearchReturn& r, const std::vector<std::uint32_t>& uids);
  // CONTEXT=SEARCH/SORT (RFC 5267; cmd_context.cpp).
  Completion cmd_cancelupdate(const ParsedCommand& c);

  // ACL (RFC 4314, Courier's courierimapacl) and "#shared." (cmd_acl.cpp).
  Completion cmd_setacl(const ParsedCommand& c);
  Completion cmd_deleteacl(const ParsedCommand& c);
  Completion cmd_getacl(const ParsedCommand& c);
  Completion cmd_listrights(const ParsedCommand& c);
  Completion cmd_myrights(const ParsedCommand& c);
  // The logged-in identity's rights on a folder: every right without IMAP_ACL.
  // An ACL that cannot be read gives none (logged with path and errno text).
  acl::Rights rights_on(const FolderName& f) const;
  // NO [NOPERM] naming the folder and the first right of `needed` missing,
  // or nullopt when every right is there. With IMAP_ACL=0: always nullopt.
  std::optional<Completion> refuse_unless(const FolderName& f, std::string_view needed) const;
  // The same for the selected mailbox (rights taken at SELECT).
  std::optional<Completion> refuse_unless_selected(std::string_view needed) const;
  // The same on the folder's parent (CREATE needs "k" there; INBOX's parent is INBOX).
  std::optional<Completion> refuse_unless_parent(const FolderName& f, std::string_view needed) const;
  bool selected_may(char right) const { return acl::has(selected_rights_, right); }

 private:
  Completion copy_or_move(const ParsedCommand& c, bool move);
  // 0-based indexes of the selected mailbox's messages matching `program`.
  std::vector<std::size_t> search_matches_in_selected(const SearchProgram& program);
  Completion list_common(const ParsedCommand& c, bool lsub);
  Completion list_extended(const ParsedCommand& c);
  // "* STATUS name (...)\r\n" for the items list (already checked with
  // valid_status_items); nullopt with the reply in `failure`.
  std::optional<std::string> status_response(const FolderName& name, const Value& items, Completion& failure);
  // rescan false: the folder was just scanned (in this command), only tell
  // what that scan found.
  void send_updates(bool allow_expunge, bool rescan = true);
  // Emits "* FLAGS" when the selected mailbox has keywords not yet announced.
  void announce_keywords();
  void flush_if_large();
  // RFC 5267 UPDATE: remembers a SEARCH/SORT whose result the client follows;
  // context_updates() sends ADDTO/REMOVEFROM for each after a command.
  // `uids_before` is the selected mailbox's UID list when the command began
  // (sequence numbers of expunged messages are told as they were).
  void remember_search_update(const std::string& tag, bool uid, const SortProgram* sort,
                              const SearchProgram& search, const std::vector<std::uint32_t>& result_uids);
  void context_updates(const std::vector<std::uint32_t>& uids_before);
  std::vector<std::uint32_t> selected_uids() const;
  std::uint64_t status_highest_modseq(const FolderName& name);
  // Indexes of the selected mailbox's messages matching the SORT's search
  // criteria, in its sort order.
  std::vector<std::size_t> sort_matches_in_selected(const SortProgram& program);

  Settings settings_;
  std::string root_;
  std::string login_;
  lib::io::Reader& in_;
  lib::io::Writer& out_;
  std::unique_ptr<Mailbox> mailbox_;
  bool logout_ = false;
  bool fatal_ = false;
  std::size_t emitted_bytes_ = 0;
  std::vector<std::uint32_t> saved_search_;  // RFC 5182 "$": sorted UIDs (IMAP4rev2 sessions)
  bool condstore_enabled_ = false;
  bool qresync_enabled_ = false;
  bool utf8_enabled_ = false;  // ENABLE UTF8=ACCEPT (RFC 6855)
  bool rev2_ = false;          // ENABLE IMAP4rev2 (RFC 9051)
  // Mailbox names are UTF-8 on the wire (UTF8=ACCEPT, or IMAP4rev2: RFC 9051 5.1).
  bool utf8_names() const { return utf8_enabled_ || rev2_; }
  struct NotifyState;
  std::shared_ptr<NotifyState> notify_;  // NOTIFY SET in effect
  // MessageNew's fetch attributes for the selected mailbox: sent for
  // messages above `uid_before` (cmd_notify.cpp).
  void notify_fetch_new(std::uint32_t uid_before);
  struct SearchUpdate;
  std::vector<std::shared_ptr<SearchUpdate>> search_updates_;
  bool compress_pending_ = false;  // COMPRESS answered: start the relay after the flush
  bool compress_active_ = false;
  bool start_compress();           // cmd_compress.cpp; false: the session must end
  // FETCH of one message whose body streams from its file (cmd_fetch.cpp);
  // gone: the file was expunged by another session (nothing was sent).
  bool stream_one(std::size_t idx, const FetchRequest& req, const FetchItem& body, bool set_seen, bool& gone,
                  std::optional<Completion>& failed);
  std::shared_ptr<BodyStreamBuffers> body_buffers_;  // imapd/body_stream.hpp, during a FETCH
  // cmd_acl.cpp: "#shared.<account>[.<folder>]" to another account's folder.
  std::optional<FolderName> resolve_shared(const std::string& utf8, std::string& why) const;
  const std::vector<shared::Account>& shared_accounts() const;
  // "* LIST" lines of the #shared names matching `pattern` the user may see (l).
  std::string list_shared(const std::string& pattern) const;
  mutable std::optional<std::vector<shared::Account>> shared_accounts_;
  acl::Rights selected_rights_ = acl::all_rights();  // set by SELECT/EXAMINE
  LiteralSpool spool_;  // APPEND's message, when read_command spooled it
};

// IMAP4rev2 (cmd_rev2.cpp): whether a SEARCH program uses \Recent (RECENT,
// NEW, OLD: not in RFC 9051); whether SEARCH's arguments ask for RETURN (SAVE).
bool search_uses_recent(const SearchKey& key);
bool search_saves(const std::vector<Value>& args);

// STATUS items (RFC 3501 6.3.10, RFC 8438 SIZE): a non-empty list of known ones.
bool valid_status_items(const Value& items);

// Empties folders listed in IMAP_EMPTYTRASH ("Trash:7,Sent:30": messages
// older than that many days by ctime), as Courier does at login.
void empty_trash(const std::string& root, const std::string& spec);

}  // namespace imapd
