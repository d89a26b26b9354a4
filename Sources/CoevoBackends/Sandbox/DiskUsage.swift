import Foundation
import Glibc

/// The disk space the files under some directories take, counted as the worker counts an
/// agent's files: blocks allocated (a sparse file costs what it holds), each inode once
/// (hard links are not counted twice), links never followed, and no directory entered but
/// through a descriptor opened without following a link, so a tree an agent rearranges
/// while it is walked cannot lead the walk outside it.
public enum DiskUsage {
    /// How deep a walk goes. A tree deeper than this cannot be counted, and counts as over
    /// any limit: otherwise nesting would be a place to hide files from the count.
    public static let maxDepth = 256

    /// Bytes used under `roots` (a root that is missing or a link counts nothing); stops
    /// counting once past `limit`, what a quota needs. Nil: a directory could not be
    /// entered (nested past `maxDepth`, or out of descriptors), so the count is unknown.
    public static func bytes(under roots: [String], limit: Int = .max) -> Int? {
        var seen = Set<UInt64>()
        var total = 0
        for root in roots {
            let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var info = stat()
            if fstat(fd, &info) == 0 { total += Int(info.st_blocks) * 512 }
            guard walk(fd, seen: &seen, total: &total, limit: limit, depth: 0) else { return nil }
            if total > limit { break }
        }
        return total
    }

    /// Adds what directory `fd` holds (and closes `fd`); false when some of it could not be entered.
    private static func walk(_ fd: Int32, seen: inout Set<UInt64>, total: inout Int, limit: Int, depth: Int) -> Bool {
        guard let directory = fdopendir(fd) else { close(fd); return false }
        defer { closedir(directory) }
        while total <= limit, let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if info.st_nlink > 1 && (info.st_mode & S_IFMT) != S_IFDIR {
                guard seen.insert(UInt64(info.st_ino)).inserted else { continue }
            }
            total += Int(info.st_blocks) * 512
            guard (info.st_mode & S_IFMT) == S_IFDIR else { continue }
            guard depth < maxDepth else { return false }
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            // Gone since it was listed (the agent is still writing): nothing to count.
            if child < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) { continue }
            guard child >= 0, walk(child, seen: &seen, total: &total, limit: limit, depth: depth + 1) else { return false }
        }
        return true
    }
}
