// ferry key generate: an Ed25519 key pair for signed builds and reports
// (docs/signatures.md); ferry key verify: checks signed drill and audit
// reports (docs/evidence.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "crypto/sign.h"
#include "tools/cli.h"
#include "tools/evidence.h"
#include "util/posix.h"

namespace ferry::cli {
namespace {

struct KeyArgs {
  std::string out;
  bool force = false, json = false;
  std::vector<std::string> reports, trust_keys;  // key verify
};

// Writes `text` to `path` with `mode`, refusing to replace a file unless force.
Status WriteNew(const std::string& path, const std::string& text, mode_t mode, bool force) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
  if (fd < 0) {
    if (errno == EEXIST)
      return Status::Usage(path + " exists: choose another --out, or --force to replace it");
    return Status::TargetUnwritable(PosixError("cannot write " + path, errno).message());
  }
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = fchmod(fd, mode) == 0 && ok;
  ok = close(fd) == 0 && ok;
  return ok ? Status::OK()
            : Status::TargetUnwritable(PosixError("cannot write " + path, errno).message());
}

int RunKeyGenerate(const KeyArgs& a, const Context& ctx, Output* out) {
  if (a.out.empty()) return out->Fail(Status::Usage("--out needs a file name"));
  const std::string pub = a.out + ".pub";
  // Neither file is written if either exists: no half-made key pair.
  for (const auto& f : {a.out, pub})
    if (!a.force && access(f.c_str(), F_OK) == 0)
      return out->Fail(
          Status::Usage(f + " exists: choose another --out, or --force to replace it"));
  auto key = SigningKey::Generate();
  if (!key.ok()) return out->Fail(key.status());
  if (Status st = WriteNew(a.out, (*key)->PrivatePem(), 0600, a.force); !st.ok())
    return out->Fail(st);
  if (Status st = WriteNew(pub, (*key)->PublicPem(), 0644, a.force); !st.ok()) return out->Fail(st);
  if (a.json)
    out->PrintJson(json{
        {"status", "ok"}, {"key_id", (*key)->id()}, {"private_key", a.out}, {"public_key", pub}});
  else if (!ctx.quiet)
    std::fprintf(stderr,
                 "ferry key: key %s: private key %s (keep it secret: the CI secret store), "
                 "public key %s (for --trust-key)\n",
                 (*key)->id().c_str(), a.out.c_str(), pub.c_str());
  return 0;
}

// Each report: signed by a trusted key over its canonical form, or not.
int RunKeyVerify(const KeyArgs& a, const Context& ctx, Output* out) {
  if (a.trust_keys.empty())
    return out->Fail(Status::Usage("key verify needs --trust-key PUB (the signer's public key)"));
  TrustedKeys trusted;
  for (const auto& f : a.trust_keys)
    if (Status t = trusted.Add(f); !t.ok()) return out->Fail(t);
  json results = json::array();
  size_t bad = 0;
  for (const auto& path : a.reports) {
    json r = {{"report", path}};
    std::string key;
    auto text = ReadFileToString(path);
    Status st = text.ok() ? Status::OK() : Status::Usage(text.status().message());
    if (st.ok()) {
      auto j = ParseReport(*text, path);
      st = j.ok() ? CheckReportSignature(*j, trusted, &key) : j.status();
    }
    r["status"] = st.ok() ? "trusted" : "untrusted";
    r["key"] = key.empty() ? json(nullptr) : json(key);
    if (!st.ok()) {
      bad++;
      r["error"] = ErrorJson(st);
      std::fprintf(stderr, "ferry key verify: %s: %s\n", path.c_str(), st.message().c_str());
    } else if (!ctx.quiet) {
      std::fprintf(stderr, "ferry key verify: %s: signed by key %s, unaltered\n", path.c_str(),
                   key.c_str());
    }
    results.push_back(std::move(r));
  }
  const Status verdict =
      bad ? Status::Untrusted(std::to_string(bad) + " of " + std::to_string(a.reports.size()) +
                              " report(s) not signed by a trusted key, or altered")
          : Status::OK();
  if (a.json) {
    json j = {{"status", bad ? "untrusted" : "trusted"}, {"reports", results}};
    if (bad) j["error"] = ErrorJson(verdict);
    out->PrintJson(j);
  }
  return bad ? static_cast<int>(verdict.code()) : 0;
}

}  // namespace

Runner AddKeyCommand(CLI::App* app, const Context* ctx) {
  auto* key = app->add_subcommand("key", "Signing keys for signed builds and signed reports");
  key->require_subcommand(1);
  auto* gen = key->add_subcommand("generate", "Write a new Ed25519 key pair: FILE and FILE.pub");
  auto a = std::make_shared<KeyArgs>();
  gen->add_option("--out", a->out, "Private key file (the public key goes to FILE.pub)")
      ->required();
  gen->add_flag("--force", a->force, "Replace existing files");
  gen->add_flag("--json", a->json, "Print a JSON report on stdout");
  auto* ver = key->add_subcommand(
      "verify", "Check that drill or audit reports were signed by a trusted key and not altered");
  ver->add_option("report", a->reports, "Report files (JSON, as drill/audit wrote them)")
      ->required();
  ver->add_option("--trust-key", a->trust_keys, "The signer's public key (repeatable)")
      ->allow_extra_args(false);
  ver->add_flag("--json", a->json, "Print a JSON report on stdout");
  return [a, ctx, ver](Output* out) {
    return ver->parsed() ? RunKeyVerify(*a, *ctx, out) : RunKeyGenerate(*a, *ctx, out);
  };
}

}  // namespace ferry::cli
