// Following one log file across rotations (issue 11, section 4), by inode and size:
//   - rename (logrotate's default, then USR1 to nginx): the old file is read to its end, then
//     the new one from 0;
//   - copytruncate: the same inode shrinks below the position, or its first bytes change (it
//     grew back past the position before it was read); it is read again from 0 as a new
//     generation of the file. Across a restart only the size tells, the head is not recorded.
// A file is named device:inode:generation, and the position is what ops.log_offsets records:
// the tail moves only when a chunk is committed, so a crash reads the chunk again and
// ops.ship_log() refuses the lines already shipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace expense_ops::worker {

struct LogChunk {
  std::string file_id;
  std::uint64_t from = 0;
  std::uint64_t to = 0;  // the byte after the last complete line
  std::vector<std::string> lines;
};

class LogTail {
 public:
  explicit LogTail(std::string path) : path_(std::move(path)) {}
  ~LogTail();
  LogTail(const LogTail&) = delete;
  LogTail& operator=(const LogTail&) = delete;

  // Where the database says this source was. Forgets any open file.
  void restore(const std::string& file_id, std::uint64_t offset);

  // The complete lines after the position, up to about `max_bytes`; nullopt when there are
  // none yet. Follows a rotation when the current file has been read to its end.
  std::optional<LogChunk> next(std::size_t max_bytes);

  // The chunk is shipped: the position moves past it.
  void committed(const LogChunk& chunk);

  // What happened that an operator should know: lines lost to a rotation while nobody read.
  std::vector<std::string> take_notes();

 private:
  bool open_current();
  bool truncated_in_place();
  std::string file_id() const;

  std::string path_;
  int fd_ = -1;
  std::uint64_t device_ = 0;
  std::uint64_t inode_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t offset_ = 0;
  // The file's first bytes as first read: a copytruncate that the file has already outgrown
  // (its size back past the position) still changes them.
  std::string head_;
  // From the database, before the file is opened.
  std::optional<std::string> restored_file_id_;
  std::uint64_t restored_offset_ = 0;
  std::vector<std::string> notes_;
};

}  // namespace expense_ops::worker
