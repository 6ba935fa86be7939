// tests/lib/atomic_file_test.cpp: lib/atomic_file.hpp, lib/ascii.hpp, lib/utf8.hpp.
#include "lib/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "lib/ascii.hpp"
#include "lib/utf8.hpp"
#include "tests/lib/test_util.hpp"

namespace {

using testutil::TempDir;

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  ::closedir(d);
  return names;
}

mode_t mode_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(AtomicFile, ReplacesContentAndLeavesNoTemporaryFile) {
  TempDir dir;
  auto path = dir / "state";
  ASSERT_TRUE(lib::write_file_atomically(path, "first\n"));
  EXPECT_EQ(testutil::read_file(path), "first\n");
  EXPECT_EQ(mode_of(path), 0600u);
  lib::AtomicFileOptions options;
  options.mode = 0644;
  ASSERT_TRUE(lib::write_file_atomically(path, std::string(100000, 'x'), options));
  EXPECT_EQ(testutil::read_file(path), std::string(100000, 'x'));
  EXPECT_EQ(mode_of(path), 0644u);  // whatever the umask
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"state"});
}

TEST(AtomicFile, GivenTemporaryPathIsUsedAndAStaleOneReplaced) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "tmp").c_str(), 0700), 0);
  testutil::write_file(dir / "tmp/t", "left by a crash");
  lib::AtomicFileOptions options;
  options.temp_path = dir / "tmp/t";
  ASSERT_TRUE(lib::write_file_atomically(dir / "list", "new", options));
  EXPECT_EQ(testutil::read_file(dir / "list"), "new");
  EXPECT_TRUE(names_in(dir / "tmp").empty());
}

TEST(AtomicFile, FailedWriterLeavesTheOldContentAndNoTemporaryFile) {
  TempDir dir;
  auto path = dir / "state";
  testutil::write_file(path, "old");
  auto r = lib::write_file_atomically(path, [](lib::AtomicFile& file) -> lib::Result<void> {
    if (auto w = file.write("half"); !w) return w;
    return lib::permanent_error("the writer gave up");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "the writer gave up");
  EXPECT_EQ(testutil::read_file(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"state"});
}

TEST(AtomicFile, MissingDirectoryNamesTheFileErrnoAndFix) {
  TempDir dir;
  auto r = lib::write_file_atomically(dir / "no/such/state", "x");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().temporary());
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("cannot create " + dir.path() + "/no/such/.tmp.state."), std::string::npos) << m;
  EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
  EXPECT_NE(m.find("check that the directory " + dir.path() + "/no/such exists"), std::string::npos) << m;

  lib::AtomicFileOptions options;
  options.kind = lib::ErrorKind::permanent;
  auto p = lib::write_file_atomically(dir / "no/such/state", "x", options);
  ASSERT_FALSE(p);
  EXPECT_FALSE(p.error().temporary());

  options.classify = [](int err) { return err == ENOENT ? lib::ErrorKind::temporary : lib::ErrorKind::permanent; };
  auto c = lib::write_file_atomically(dir / "no/such/state", "x", options);
  ASSERT_FALSE(c);
  EXPECT_TRUE(c.error().temporary());
}

TEST(AtomicFile, RenameFailureRemovesTheTemporaryFile) {
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "target").c_str(), 0700), 0);
  testutil::write_file(dir / "target/inside", "keeps the directory non-empty");
  auto r = lib::write_file_atomically(dir / "target", "x");  // rename over a non-empty directory
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot rename " + dir.path() + "/.tmp.target."), std::string::npos)
      << r.error().message;
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"target"});
}

TEST(AtomicFile, DeniedDirectorySaysWhoRunsAndTheHint) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  TempDir dir;
  ASSERT_EQ(::mkdir((dir / "ro").c_str(), 0500), 0);
  auto r = lib::write_file_atomically(dir / "ro/state", "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("check the owner and permissions of " + dir.path() + "/ro"),
            std::string::npos)
      << r.error().message;
  lib::AtomicFileOptions options;
  options.denied_hint = "run this as the owner of the files";
  auto h = lib::write_file_atomically(dir / "ro/state", "x", options);
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("; run this as the owner of the files"), std::string::npos);
  ::chmod((dir / "ro").c_str(), 0700);
}

TEST(AtomicFile, KeepOpenReturnsTheDescriptorOfTheFileInPlace) {
  TempDir dir;
  lib::AtomicFileOptions options;
  options.keep_open = true;
  auto file = lib::AtomicFile::create(dir / "size", options);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(::access(file->temp_path().c_str(), F_OK), 0);
  ASSERT_TRUE(file->write("12\n"));
  EXPECT_NE(::access((dir / "size").c_str(), F_OK), 0);  // not visible before commit
  auto fd = file->commit();
  ASSERT_TRUE(fd) << fd.error().message;
  ASSERT_TRUE(fd->valid());
  ASSERT_EQ(::write(fd->get(), "34\n", 3), 3);
  EXPECT_EQ(testutil::read_file(dir / "size"), "12\n34\n");
}

TEST(AtomicFile, NotDurableStillReplacesWholeAndCleansUp) {
  // durable = false skips the fsyncs only: the rename, the mode, keep_open
  // and the removal of a failed temporary file are the same.
  TempDir dir;
  auto path = dir / "state";
  testutil::write_file(path, "old\n");
  lib::AtomicFileOptions options;
  options.durable = false;
  options.mode = 0640;
  ASSERT_TRUE(lib::write_file_atomically(path, "new content\n", options).ok());
  EXPECT_EQ(testutil::read_file(path), "new content\n");
  EXPECT_EQ(mode_of(path), 0640u);
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"state"});
  options.keep_open = true;
  auto file = lib::AtomicFile::create(path, options);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(file->write("kept\n").ok());
  auto fd = file->commit();
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(fd->valid());
  EXPECT_EQ(::write(fd->get(), "more\n", 5), 5);
  EXPECT_EQ(testutil::read_file(path), "kept\nmore\n");
  options.keep_open = false;
  options.temp_path = dir / "no-such-dir/tmp";
  EXPECT_FALSE(lib::write_file_atomically(path, "x", options).ok());
  EXPECT_EQ(testutil::read_file(path), "kept\nmore\n");
}

TEST(AtomicFile, UncommittedFileIsRemoved) {
  TempDir dir;
  std::string temp;
  {
    auto file = lib::AtomicFile::create(dir / "x");
    ASSERT_TRUE(file);
    temp = file->temp_path();
    EXPECT_EQ(::access(temp.c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(temp.c_str(), F_OK), 0);
  EXPECT_TRUE(names_in(dir.path()).empty());
}

TEST(AtomicFile, FsyncDirectory) {
  TempDir dir;
  EXPECT_TRUE(lib::fsync_directory(dir.path()));
  auto r = lib::fsync_directory(dir / "missing");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(dir / "missing"), std::string::npos);
  EXPECT_EQ(lib::parent_directory("/a/b"), "/a");
  EXPECT_EQ(lib::parent_directory("/b"), "/");
  EXPECT_EQ(lib::parent_directory("b"), ".");
}

TEST(Ascii, CaseMappingLeavesNonAsciiAlone) {
  EXPECT_TRUE(lib::ascii::iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(lib::ascii::iequals("abc", "abd"));
  EXPECT_FALSE(lib::ascii::iequals("abc", "abcd"));
  EXPECT_FALSE(lib::ascii::iequals("\xC3\xA9", "\xC3\x89"));  // é vs É: not ASCII
  EXPECT_TRUE(lib::ascii::istarts_with("INBOX.Sent", "inbox."));
  EXPECT_FALSE(lib::ascii::istarts_with("INB", "inbox"));
  EXPECT_EQ(lib::ascii::to_lower("MiXeD-1\xC3\x89"), "mixed-1\xC3\x89");
  EXPECT_EQ(lib::ascii::to_upper("body.peek[]"), "BODY.PEEK[]");
  static_assert(lib::ascii::to_upper('z') == 'Z' && lib::ascii::to_lower('@') == '@');
}

TEST(Utf8, DecodeAcceptsRfc3629AndRejectsTheRest) {
  auto d = lib::utf8::decode("\xE2\x82\xAC", 0);
  EXPECT_TRUE(d.valid());
  EXPECT_EQ(d.code_point, U'\u20AC');
  EXPECT_EQ(d.length, 3u);
  EXPECT_EQ(lib::utf8::decode("\xF0\x9F\x98\x80", 0).code_point, U'\U0001F600');
  for (std::string bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "\x80"}) {
    EXPECT_FALSE(lib::utf8::valid(bad)) << bad;
  }
  // Maximal invalid prefix: "\xE2\x82" then "A" is two bytes for one U+FFFD.
  auto t = lib::utf8::decode("\xE2\x82" "A", 0);
  EXPECT_FALSE(t.valid());
  EXPECT_EQ(t.invalid_length, 2u);
  EXPECT_EQ(lib::utf8::first_invalid("ok \xC3\xA9 \xE2\x82"), 6u);
  EXPECT_EQ(lib::utf8::first_invalid("ok \xC3\xA9"), std::string_view::npos);
}

TEST(Utf8, AppendRoundTrips) {
  for (char32_t cp : {U'A', U'\u00E9', U'\u20AC', U'\U0001F600', U'\U0010FFFF'}) {
    std::string s;
    lib::utf8::append(s, cp);
    auto d = lib::utf8::decode(s, 0);
    ASSERT_TRUE(d.valid());
    EXPECT_EQ(d.code_point, cp);
    EXPECT_EQ(d.length, s.size());
  }
}

}  // namespace
