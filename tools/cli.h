// The shared layer of the `ferry` commands: options every command takes,
// error and JSON output, and a progress line. One file per command
// (push_cmd.cc, verify_cmd.cc, restore_cmd.cc) registers its options and
// returns how to run it; main.cc parses and dispatches. No globals.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/ops.h"
#include "manifest/builds.h"
#include "transport/s3_store.h"
#include "util/cancel.h"
#include "util/glob.h"
#include "util/progress.h"
#include "util/status.h"

namespace ferry::cli {

using json = nlohmann::ordered_json;

// What every command gets: the global options, filled in by parsing.
struct Context {
  StoreOptions store;  // --endpoint-url, --ca-bundle, --no-verify-ssl, --meta-prefix
  bool quiet = false;
  bool verbose = false;
  std::string progress = "auto";  // --progress: auto, tty, lines, none
  double progress_every = 5;      // --progress-every: seconds between lines
  CancelToken* cancel = nullptr;  // SIGINT/SIGTERM; set before a command runs
};

// Output of one command: error lines on stderr and, with --json, one JSON
// report on stdout, also for errors before the command's own report.
class Output {
 public:
  Output(std::string command, bool json_errors)
      : command_(std::move(command)), json_pending_(json_errors) {}
  // Prints `j` on stdout (the command's report).
  void PrintJson(const json& j);
  // Reports `st` (and, with --json and no report printed yet, a JSON error
  // report); returns its exit code.
  int Fail(const Status& st);

 private:
  std::string command_;
  bool json_pending_;
};

// A command: registers its options on `app` and returns what runs it.
using Runner = std::function<int(Output*)>;
Runner AddPushCommand(CLI::App* app, const Context* ctx);
Runner AddVerifyCommand(CLI::App* app, const Context* ctx);
Runner AddRestoreCommand(CLI::App* app, const Context* ctx);
Runner AddDaemonCommand(CLI::App* app, const Context* ctx);
Runner AddWhoamiCommand(CLI::App* app, const Context* ctx);
Runner AddLsCommand(CLI::App* app, const Context* ctx);
Runner AddLogCommand(CLI::App* app, const Context* ctx);
Runner AddDrillCommand(CLI::App* app, const Context* ctx);
Runner AddAuditCommand(CLI::App* app, const Context* ctx);
Runner AddKeyCommand(CLI::App* app, const Context* ctx);
Runner AddPruneCommand(CLI::App* app, const Context* ctx);

// ferry verify's options, and the run: also audit's "DR against its
// manifests" mode (read-only). `command` names it in messages and reports.
struct VerifyArgs {
  std::string store;
  bool json = false;
  std::string junit;
  std::string tag;                      // --tag key=value: the newest build carrying it
  std::vector<std::string> trust_keys;  // --trust-key
  std::string evidence_to, sign_key;    // audit: --evidence-to, --sign-key
  VerifyOptions opts;                   // --ref, --all, --threads, --quick, --read-only
};
int RunVerify(const VerifyArgs& a, const Context& ctx, Output* out, const char* command);

// For CI systems, from a command's JSON report: with $GITHUB_STEP_SUMMARY
// set, a Markdown section appended to that file (the job's summary page);
// with `junit_path`, a JUnit XML file (GitLab, Jenkins and CircleCI show
// it): one test case per destination (push) or one for the command, failed
// with the error or the problems found. A file that cannot be written is a
// warning, not a failure of the command.
void ReportToCi(const std::string& command, const json& report, const std::string& junit_path);

// --tag key=value arguments, in order.
Status ParseTags(const std::vector<std::string>& args,
                 std::vector<std::pair<std::string, std::string>>* tags);

// One build as `ls` and `log` show it: JSON, and a line of text (ID prefix,
// time, files, bytes, tags, superseded).
json BuildJson(const BuildSummary& b);
std::string BuildLine(const BuildSummary& b);

// Names a build for restore, verify and drill: with `tag` ("key=value") the
// newest build carrying it (in ref *what's history if *what is given, else
// in the whole store), and *what becomes its manifest ID.
Status SelectBuildByTag(ObjectStore* meta, const std::string& tag, std::string* what);

// --trust-key: unless build *what (a ref, an ID or its start) carries a
// statement signed by one of the keys in `key_files`, about this manifest
// (and, named through a ref, not rolled back), kUntrusted; then *what is
// pinned to its manifest ID. (*report)["signature"] says what was found;
// without key files only whether a statement exists.
Status CheckTrust(ObjectStore* meta, const std::vector<std::string>& key_files, std::string* what,
                  json* report);

// "1.5 MiB"
// --exclude and --include, added to *filter in command-line order (the last
// rule that matches decides). `owner` keeps *filter alive while `app` parses.
void AddFilterOptions(CLI::App* app, std::shared_ptr<void> owner, PathFilter* filter);

std::string Human(uint64_t bytes);
json ErrorJson(const Status& st);
json ErrorsJson(const std::vector<Status>& errors);

// A "\r"-rewritten progress line on a TTY stderr, updated every 200 ms.
// Progress of one command on stderr while it runs: on a terminal one line
// rewritten in place (tty), elsewhere (a CI log) a line every
// ctx.progress_every seconds with what is done, the rate and the time left
// (lines); auto picks by whether stderr is a terminal; none, --quiet or
// enabled=false print nothing.
class Progress {
 public:
  Progress(const Context& ctx, std::string command, const ProgressMeter* meter,
           bool enabled = true);
  ~Progress();

 private:
  enum class Mode { kNone, kTty, kLines };
  void Loop();
  std::string Line(double seconds) const;
  Mode mode_ = Mode::kNone;
  double every_;
  std::string command_;
  const ProgressMeter* meter_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace ferry::cli
