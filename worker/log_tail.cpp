#include "worker/log_tail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace expense_ops::worker {

namespace {

constexpr std::size_t kHeadBytes = 256;

std::optional<struct stat> stat_path(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return std::nullopt;
  }
  return info;
}

std::string id_of(std::uint64_t device, std::uint64_t inode, std::uint64_t generation) {
  return std::to_string(device) + ":" + std::to_string(inode) + ":" + std::to_string(generation);
}

}  // namespace

LogTail::~LogTail() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void LogTail::restore(const std::string& file_id, std::uint64_t offset) {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  restored_file_id_ = file_id;
  restored_offset_ = offset;
}

std::string LogTail::file_id() const {
  return id_of(device_, inode_, generation_);
}

// Opens the file to read: after a restore, the recorded one (at the path, or just rotated to
// path.1) at its recorded position; otherwise what is at the path now, from 0.
bool LogTail::open_current() {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t generation = 0;
  const bool restoring = restored_file_id_ && std::sscanf(restored_file_id_->c_str(), "%lu:%lu:%lu",
                                                          &device, &inode, &generation) == 3;
  // The recorded file first, wherever it is now; else whatever is at the path, from 0.
  std::vector<std::pair<std::string, bool>> candidates;
  if (restoring) {
    candidates = {{path_, true}, {path_ + ".1", true}};
  }
  candidates.emplace_back(path_, false);
  for (const auto& [candidate, must_be_recorded] : candidates) {
    const auto info = stat_path(candidate);
    if (!info) {
      continue;
    }
    const bool recorded = restoring && static_cast<std::uint64_t>(info->st_dev) == device &&
                          static_cast<std::uint64_t>(info->st_ino) == inode;
    if (must_be_recorded && !recorded) {
      continue;
    }
    const int fd = ::open(candidate.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    fd_ = fd;
    head_.clear();
    device_ = static_cast<std::uint64_t>(info->st_dev);
    inode_ = static_cast<std::uint64_t>(info->st_ino);
    if (recorded) {
      generation_ = generation;
      offset_ = restored_offset_;
      if (static_cast<std::uint64_t>(info->st_size) < offset_) {
        ++generation_;  // truncated in place while nobody read it
        offset_ = 0;
      } else {
        // What was shipped already is taken as the file's head from now on.
        head_.assign(static_cast<std::size_t>(std::min<std::uint64_t>(kHeadBytes, offset_)), '\0');
        const ssize_t read = ::pread(fd_, head_.data(), head_.size(), 0);
        head_.resize(read > 0 ? static_cast<std::size_t>(read) : 0);
      }
    } else {
      if (restoring) {
        notes_.push_back("the file shipped before (" + *restored_file_id_ +
                         ") is gone; its lines after byte " + std::to_string(restored_offset_) +
                         " were not shipped");
      }
      generation_ = 0;
      offset_ = 0;
    }
    restored_file_id_.reset();
    return true;
  }
  return false;
}

bool LogTail::truncated_in_place() {
  struct stat open_info {};
  if (::fstat(fd_, &open_info) == 0 && static_cast<std::uint64_t>(open_info.st_size) < offset_) {
    return true;
  }
  if (head_.empty()) {
    return false;
  }
  std::string now(head_.size(), '\0');
  const ssize_t read = ::pread(fd_, now.data(), now.size(), 0);
  return read >= 0 && now.compare(0, static_cast<std::size_t>(read), head_, 0,
                                  static_cast<std::size_t>(read)) != 0;
}

std::optional<LogChunk> LogTail::next(std::size_t max_bytes) {
  if (fd_ < 0 && !open_current()) {
    return std::nullopt;
  }
  if (truncated_in_place()) {
    ++generation_;  // copytruncate: the same inode, read again from the start
    offset_ = 0;
    head_.clear();
  }
  std::string buffer(max_bytes, '\0');
  const ssize_t read = ::pread(fd_, buffer.data(), buffer.size(), static_cast<off_t>(offset_));
  if (read > 0) {
    buffer.resize(static_cast<std::size_t>(read));
    const auto last_newline = buffer.rfind('\n');
    if (last_newline != std::string::npos) {
      if (offset_ == 0 && head_.empty()) {
        head_ = buffer.substr(0, std::min(kHeadBytes, last_newline + 1));
      }
      LogChunk chunk;
      chunk.file_id = file_id();
      chunk.from = offset_;
      chunk.to = offset_ + last_newline + 1;
      std::size_t start = 0;
      while (start <= last_newline) {
        const auto end = buffer.find('\n', start);
        std::string line = buffer.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        if (!line.empty()) {
          chunk.lines.push_back(std::move(line));
        }
        start = end + 1;
      }
      return chunk;
    }
    if (static_cast<std::size_t>(read) == max_bytes) {
      // One line longer than a whole chunk: skipped, so that it cannot stop the file forever.
      LogChunk chunk;
      chunk.file_id = file_id();
      chunk.from = offset_;
      chunk.to = offset_ + static_cast<std::uint64_t>(read);
      notes_.push_back("a line longer than " + std::to_string(max_bytes) + " bytes was skipped");
      return chunk;
    }
    return std::nullopt;  // a line still being written
  }
  // At the end of this file: has it been renamed away?
  const auto at_path = stat_path(path_);
  if (at_path && (static_cast<std::uint64_t>(at_path->st_ino) != inode_ ||
                  static_cast<std::uint64_t>(at_path->st_dev) != device_)) {
    ::close(fd_);  // renamed away and read to its end: the new file, from 0
    fd_ = -1;
    if (open_current()) {
      return next(max_bytes);
    }
  }
  return std::nullopt;
}

void LogTail::committed(const LogChunk& chunk) {
  if (chunk.file_id == file_id() && chunk.from == offset_) {
    offset_ = chunk.to;
  }
}

std::vector<std::string> LogTail::take_notes() {
  std::vector<std::string> notes;
  notes.swap(notes_);
  return notes;
}

}  // namespace expense_ops::worker
