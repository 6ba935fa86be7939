// lib/result.hpp: the value-or-error type for failures of the environment
// (files, sockets, backends). Peer mistakes are protocol replies, not errors;
// broken invariants are asserts (STYLE.md, section 5).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace lib {

// Temporary errors become 4xx replies or exit 75 (EX_TEMPFAIL): the caller
// should try again later. Permanent errors will not go away by retrying.
enum class ErrorKind { temporary, permanent };

struct Error {
  ErrorKind kind = ErrorKind::permanent;
  std::string message;  // for the admin: names the file, setting, errno text and the fix

  bool temporary() const noexcept { return kind == ErrorKind::temporary; }
};

inline Error temporary_error(std::string message) {
  return Error{ErrorKind::temporary, std::move(message)};
}
inline Error permanent_error(std::string message) {
  return Error{ErrorKind::permanent, std::move(message)};
}

// Result<T> holds either a T or an Error. Result<void> holds only success or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

// "strerror(errno)" as text, thread-safe.
std::string errno_text(int err);

}  // namespace lib
