// The `ferry` command: push, verify, restore, daemon (one file per command, *_cmd.cc).
// Exit codes: docs/exit-codes.md (the numeric value of ferry::Code).
#include <malloc.h>

#include <string_view>

#include "tools/cli.h"
#include "tools/evidence.h"
#include "util/log.h"

namespace ferry::cli {
namespace {

int Main(int argc, char** argv) {
  CLI::App app{
      "ferry: replicate CI/CD build artifacts to a DR store and prove they arrived intact"};
  app.require_subcommand(1);
  Context ctx;
  app.add_flag("-q,--quiet", ctx.quiet, "Only errors on stderr");
  app.add_flag("-v,--verbose", ctx.verbose, "Debug logging");
  app.add_option("--progress", ctx.progress,
                 "Progress on stderr: auto (a line in place on a terminal, else a line every "
                 "--progress-every seconds, as a CI log wants), tty, lines, none")
      ->check(CLI::IsMember({"auto", "tty", "lines", "none"}))
      ->capture_default_str();
  app.add_option("--progress-every", ctx.progress_every, "Seconds between progress lines")
      ->capture_default_str()
      ->check(CLI::Range(0.2, 3600.0));
  app.add_option("--bwlimit", ctx.store.bwlimit,
                 "S3 bandwidth limit over all parallel transfers: RATE or UP:DOWN in bytes per "
                 "second, K/M/G suffixes (50M, 20M:100M)");
  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "Log lines on stderr: text or json (one object a line)")
      ->check(CLI::IsMember({"text", "json"}));
  app.set_version_flag("--version", std::string("ferry ") + kFerryVersion);
  app.fallthrough();  // store options may come after the subcommand
  app.add_option("--endpoint-url", ctx.store.endpoint_url,
                 "S3 endpoint (else AWS_ENDPOINT_URL, the profile, AWS)");
  app.add_option("--ca-bundle", ctx.store.ca_bundle,
                 "CA certificates for TLS (else AWS_CA_BUNDLE, the system's)");
  app.add_flag("--no-verify-ssl", ctx.store.no_verify_ssl,
               "Do not verify TLS certificates (warns)");
  app.add_option("--meta-prefix", ctx.store.meta_prefix,
                 "s3:// mirrors: keep manifests and refs under this key prefix of the bucket "
                 "(e.g. ferry/), shared by all builds, so a build in a new prefix copies what "
                 "the previous one already sent");
  std::vector<std::pair<std::string, Runner>> commands;
  commands.emplace_back("push", AddPushCommand(&app, &ctx));
  commands.emplace_back("verify", AddVerifyCommand(&app, &ctx));
  commands.emplace_back("restore", AddRestoreCommand(&app, &ctx));
  commands.emplace_back("daemon", AddDaemonCommand(&app, &ctx));
  commands.emplace_back("whoami", AddWhoamiCommand(&app, &ctx));
  commands.emplace_back("ls", AddLsCommand(&app, &ctx));
  commands.emplace_back("log", AddLogCommand(&app, &ctx));
  commands.emplace_back("drill", AddDrillCommand(&app, &ctx));
  commands.emplace_back("audit", AddAuditCommand(&app, &ctx));
  commands.emplace_back("key", AddKeyCommand(&app, &ctx));
  commands.emplace_back("prune", AddPruneCommand(&app, &ctx));

  // --json anywhere: errors, usage errors included, come as JSON on stdout too.
  bool json_errors = false;
  for (int i = 1; i < argc; i++) json_errors |= std::string_view(argv[i]) == "--json";
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (app.get_subcommands().empty()) {
      // The first word that is not an option: a command Ferry does not have?
      for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a.empty() || a[0] == '-') {
          if (a.find('=') == std::string_view::npos &&
              (a == "--endpoint-url" || a == "--ca-bundle" || a == "--meta-prefix" ||
               a == "--log-format" || a == "--progress" || a == "--bwlimit" ||
               a == "--progress-every"))
            i++;  // its value
          continue;
        }
        msg = "unknown command '" + std::string(a) +
              "'; the commands are push, verify, restore, daemon, whoami "
              "(ferry --help)";
        break;
      }
    }
    std::string cmd = app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name();
    Output out(cmd, json_errors);
    return out.Fail(Status::Usage(msg + (cmd.empty() ? "" : " (ferry " + cmd + " --help)")));
  }
  if (ctx.quiet) SetLogLevel(LogLevel::kError);
  if (ctx.verbose) SetLogLevel(LogLevel::kDebug);
  if (log_format == "json") SetLogFormat(LogFormat::kJson);
  // SIGINT/SIGTERM (Ctrl-C, a CI runner cancelling the job): stop cleanly and
  // exit with kInterrupted; a second signal ends the process at once.
  static CancelToken cancel;
  CancelOnSignals(&cancel);
  ctx.cancel = &cancel;
  ctx.store.cancel = &cancel;
  const std::string name = app.get_subcommands()[0]->get_name();
  Output out(name, json_errors);
  for (const auto& [command, run] : commands)
    if (command == name) return run(&out);
  return out.Fail(Status::Internal("no runner for command " + name));
}

}  // namespace
}  // namespace ferry::cli

int main(int argc, char** argv) {
  // Buffers of 1 MiB and more (upload parts, packs, chunk buffers) are mmapped
  // and given back to the kernel when freed. glibc's default threshold rises
  // after the first such free, and then parts freed by one upload thread stay
  // in another's arena: a mirror upload's peak RSS went from 248 MiB to
  // 290-360 MiB with --memory 256 (docs/performance.md).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  return ferry::cli::Main(argc, argv);
}
