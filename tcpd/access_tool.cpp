// tcpd/access_tool.cpp: settings of the make*access tools.
#include "tcpd/access_tool.hpp"

#include <sys/stat.h>

#include "lib/config.hpp"

namespace tcpd {

namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

lib::Result<AccessToolPlan> plan_access_tool(std::string_view program_name, const std::string& sysconfdir,
                                             std::span<const std::string> args) {
  std::string_view name = program_name;
  if (size_t slash = name.rfind('/'); slash != std::string_view::npos) name = name.substr(slash + 1);

  std::vector<std::string> files;
  std::string variable;
  std::string default_source;
  std::vector<std::string> pid_variables;
  if (name == "makesmtpaccess") {
    files = {"esmtpd"};
    variable = "ACCESSFILE";
    default_source = sysconfdir + "/smtpaccess";
    pid_variables = {"PIDFILE"};
  } else if (name == "makesmtpaccess-msa") {
    files = {"esmtpd", "esmtpd-msa"};
    variable = "ACCESSFILE";
    default_source = sysconfdir + "/smtpaccess";
    pid_variables = {"PIDFILE"};
  } else if (name == "makeimapaccess") {
    files = {"imapd", "imapd-ssl"};
    variable = "IMAPACCESSFILE";
    default_source = sysconfdir + "/imapaccess";
    pid_variables = {"PIDFILE", "SSLPIDFILE"};
  } else {
    return lib::permanent_error("I must be run as makesmtpaccess, makesmtpaccess-msa or makeimapaccess, not as " +
                                std::string(name));
  }

  AccessToolPlan plan;
  std::string src_override, dat_override;
  bool hup = true;
  for (const auto& a : args) {
    if (a.rfind("-src=", 0) == 0 && a.size() > 5)
      src_override = a.substr(5);
    else if (a.rfind("-file=", 0) == 0 && a.size() > 6)
      dat_override = a.substr(6);
    else if (a == "-nohup")
      hup = false;
    else
      return lib::permanent_error("unknown argument " + a + " (usage: " + std::string(name) +
                                  " [-src=source] [-file=file.dat] [-nohup])");
  }

  // The variables Courier's scripts define before sourcing the config files.
  lib::Config base;
  base.set("sysconfdir", sysconfdir);
  lib::Config merged = base;
  for (const auto& f : files) {
    std::string path = sysconfdir + "/" + f;
    if (!exists(path)) continue;
    auto cfg = lib::Config::load_file(path, &merged);
    if (!cfg) return cfg.error();
    for (const auto& w : cfg->warnings()) plan.notes.push_back(w);
    merged.merge(*cfg);
  }
  plan.source = src_override.empty() ? merged.get_string(variable, default_source) : src_override;
  if (plan.source.empty())
    return lib::permanent_error(variable + " is empty in " + sysconfdir + "/" + files.back() +
                                "; set it to the access source (a file or a directory)");
  plan.dat = dat_override.empty() ? plan.source + ".dat" : dat_override;
  if (hup)
    for (const auto& v : pid_variables)
      if (auto p = merged.get(v); p && !p->empty()) plan.pid_files.push_back(*p);
  return plan;
}

}  // namespace tcpd
