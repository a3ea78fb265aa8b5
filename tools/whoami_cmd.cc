// ferry whoami: which AWS credentials Ferry would use, and from where (never
// the secret): what to run first when a pipeline says "no credentials".
#include <ctime>

#include "tools/cli.h"
#include "transport/s3_store.h"
#include "util/text.h"

namespace ferry::cli {
namespace {

// AKIA...WXYZ: enough to tell keys apart, not enough to use them.
std::string Masked(const std::string& id) {
  if (id.size() <= 8) return std::string(id.size(), '*');
  return id.substr(0, 4) + std::string(id.size() - 8, '*') + id.substr(id.size() - 4);
}

int RunWhoami(bool as_json, const Context& ctx, Output* out) {
  auto config = S3ConfigFromEnvironment(ctx.store);
  if (!config.ok()) return out->Fail(config.status());
  auto keys = config->credentials->Get();
  if (!keys.ok()) return out->Fail(keys.status());
  const auto expiry = config->credentials->expiry();
  std::string expires = "never";
  if (expiry) expires = UtcTime(Clock::to_time_t(*expiry));
  json j = {{"status", "ok"},
            {"source", config->credentials->source()},
            {"access_key_id", Masked(keys->access_key_id)},
            {"session", !keys->session_token.empty()},
            {"expires", expiry ? json(expires) : json(nullptr)},
            {"region", config->region},
            {"endpoint", config->endpoint}};
  if (as_json) {
    out->PrintJson(j);
    return 0;
  }
  std::printf(
      "credentials: %s\naccess key:  %s%s\nexpires:     %s\nregion:      %s\nendpoint:    %s\n",
      config->credentials->source().c_str(), Masked(keys->access_key_id).c_str(),
      keys->session_token.empty() ? "" : " (temporary, with a session token)", expires.c_str(),
      config->region.c_str(), config->endpoint.c_str());
  return 0;
}

}  // namespace

Runner AddWhoamiCommand(CLI::App* app, const Context* ctx) {
  auto* w = app->add_subcommand(
      "whoami", "Say which AWS credentials Ferry would use and where they came from");
  auto as_json = std::make_shared<bool>(false);
  w->add_flag("--json", *as_json, "Print a JSON report on stdout");
  return [as_json, ctx](Output* out) { return RunWhoami(*as_json, *ctx, out); };
}

}  // namespace ferry::cli
