#include "daemon/journal.h"

#include <sqlite3.h>

#include <memory>

namespace ferry::daemon {

namespace {

constexpr int kSchemaVersion = 1;

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
  path TEXT PRIMARY KEY,         -- relative path; '' = the whole tree
  first_seen REAL NOT NULL,      -- unix seconds of the first event
  last_event REAL NOT NULL,
  writing INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cycles (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started REAL NOT NULL, finished REAL NOT NULL,
  manifest TEXT NOT NULL DEFAULT '',
  files INTEGER NOT NULL DEFAULT 0, objects INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '');
)";

// A prepared statement, finalized on scope exit.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

}  // namespace

Journal::~Journal() { sqlite3_close(db_); }

Status Journal::Error(const std::string& what) const {
  return Status::TargetUnwritable("journal " + path_ + ": " + what + ": " + sqlite3_errmsg(db_) +
                                  " (is the state directory writable, and the disk not full?)");
}

Status Journal::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "error";
    sqlite3_free(err);
    return Status::TargetUnwritable("journal " + path_ + ": " + m);
  }
  return Status::OK();
}

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<Journal> j(new Journal(db, path));
  if (rc != SQLITE_OK) return j->Error("cannot open");
  sqlite3_busy_timeout(db, 5000);
  // WAL, and synchronous=FULL: a returned write survives a power cut.
  RETURN_IF_ERROR(j->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  RETURN_IF_ERROR(j->Exec(kSchema));
  RETURN_IF_ERROR(j->Exec("INSERT OR IGNORE INTO meta VALUES ('schema', '" +
                          std::to_string(kSchemaVersion) + "');"));
  Stmt st;
  if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema'", -1, &st.s, nullptr) !=
          SQLITE_OK ||
      sqlite3_step(st.s) != SQLITE_ROW)
    return j->Error("cannot read its schema version");
  int version = sqlite3_column_int(st.s, 0);
  if (version != kSchemaVersion)
    return Status::Usage("journal " + path + " has schema version " + std::to_string(version) +
                         ", this ferry reads " + std::to_string(kSchemaVersion) +
                         ": use the ferry that wrote it, or another --state directory");
  return j;
}

// Runs `sql` once per row in one transaction (synced at COMMIT); bind(stmt, i)
// binds row i. All or nothing.
template <typename Bind>
Status Journal::Batch(const char* sql, size_t rows, const char* what, Bind bind) {
  if (rows == 0) return Status::OK();
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Stmt st;
  Status err;
  if (sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr) != SQLITE_OK) err = Error(what);
  for (size_t i = 0; err.ok() && i < rows; i++) {
    bind(st.s, i);
    if (sqlite3_step(st.s) != SQLITE_DONE) err = Error(what);
    sqlite3_reset(st.s);
  }
  if (err.ok()) return Exec("COMMIT");
  (void)Exec("ROLLBACK");
  return err;
}

Status Journal::AddPending(const std::map<std::string, Pending>& changes) {
  std::vector<std::pair<const std::string*, const Pending*>> rows;
  for (const auto& [path, p] : changes) rows.emplace_back(&path, &p);
  return Batch(
      "INSERT INTO pending VALUES (?1, ?2, ?3, ?4) ON CONFLICT(path) DO UPDATE "
      "SET last_event=?3, writing=?4",
      rows.size(), "cannot record a pending change", [&](sqlite3_stmt* s, size_t i) {
        const std::string& path = *rows[i].first;
        sqlite3_bind_text(s, 1, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
        sqlite3_bind_double(s, 2, rows[i].second->first_seen);
        sqlite3_bind_double(s, 3, rows[i].second->last_event);
        sqlite3_bind_int(s, 4, rows[i].second->writing ? 1 : 0);
      });
}

Status Journal::RemovePending(const std::vector<std::string>& paths) {
  return Batch("DELETE FROM pending WHERE path=?1", paths.size(),
               "cannot clear a replicated change", [&](sqlite3_stmt* s, size_t i) {
                 sqlite3_bind_text(s, 1, paths[i].data(), static_cast<int>(paths[i].size()),
                                   SQLITE_TRANSIENT);
               });
}

Status Journal::AddCycle(const CycleRecord& c) {
  return Batch(
      "INSERT INTO cycles (started, finished, manifest, files, objects, bytes, error) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
      1, "cannot record a cycle", [&](sqlite3_stmt* s, size_t) {
        sqlite3_bind_double(s, 1, c.started);
        sqlite3_bind_double(s, 2, c.finished);
        sqlite3_bind_text(s, 3, c.manifest.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(c.files));
        sqlite3_bind_int64(s, 5, static_cast<sqlite3_int64>(c.objects));
        sqlite3_bind_int64(s, 6, static_cast<sqlite3_int64>(c.bytes));
        sqlite3_bind_text(s, 7, c.error.c_str(), -1, SQLITE_TRANSIENT);
      });
}

Result<std::map<std::string, Pending>> Journal::LoadPending() {
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT path, first_seen, last_event, writing FROM pending", -1,
                         &st.s, nullptr) != SQLITE_OK)
    return Error("cannot prepare");
  std::map<std::string, Pending> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0));
    out[p ? p : ""] = Pending{sqlite3_column_double(st.s, 1), sqlite3_column_double(st.s, 2),
                              sqlite3_column_int(st.s, 3) != 0};
  }
  if (rc != SQLITE_DONE) return Error("cannot read the pending changes");
  return out;
}

Result<std::vector<CycleRecord>> Journal::RecentCycles(size_t n) {
  Stmt st;
  if (sqlite3_prepare_v2(db_,
                         "SELECT started, finished, manifest, files, objects, bytes, error FROM "
                         "cycles ORDER BY id DESC LIMIT ?1",
                         -1, &st.s, nullptr) != SQLITE_OK)
    return Error("cannot prepare");
  sqlite3_bind_int64(st.s, 1, static_cast<sqlite3_int64>(n));
  std::vector<CycleRecord> out;
  int rc;
  auto text = [&](int col) {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(st.s, col));
    return std::string(p ? p : "");
  };
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW)
    out.push_back({sqlite3_column_double(st.s, 0), sqlite3_column_double(st.s, 1), text(2),
                   static_cast<uint64_t>(sqlite3_column_int64(st.s, 3)),
                   static_cast<uint64_t>(sqlite3_column_int64(st.s, 4)),
                   static_cast<uint64_t>(sqlite3_column_int64(st.s, 5)), text(6)});
  if (rc != SQLITE_DONE) return Error("cannot read the cycles");
  return out;
}

}  // namespace ferry::daemon
