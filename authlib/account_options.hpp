// authlib/account_options.hpp: Courier's account OPTIONS string
// ("disableimap=1,group=staff,group=team,sharedgroup=eng"), as authdaemond
// returns it and imaplogin/pop3login pass it on (COURIER-COMPAT.md,
// "Account options"). Pure string functions, usable by every program.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authlib {

// The value of the first "name=value" item ("" for a bare "name"); nullopt
// when the options do not name it.
std::optional<std::string> account_option(std::string_view options, std::string_view name);

// Whether a flag option is on: present bare, or with a value starting with
// y/Y/t/T or a non-zero number ("disableshared", "disableshared=1").
bool account_option_set(std::string_view options, std::string_view name);

// Every value of an option that may repeat ("group=a,group=b" -> a, b); empty
// values are left out.
std::vector<std::string> account_option_values(std::string_view options, std::string_view name);

}  // namespace authlib
