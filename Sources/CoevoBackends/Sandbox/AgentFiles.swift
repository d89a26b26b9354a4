import Foundation
import Glibc

/// Reads what an agent left in a directory it could write, as the worker: every path
/// component is opened without following links, from a directory the agent cannot replace
/// (its workspace or home, whose parent is the worker's), and only a regular file of at
/// most `limit` bytes, owned by the agent when it has a user id of its own, is read. A
/// link to a file outside, a FIFO, a device, a socket, a hard link to another user's file
/// and an oversize file are all refused, so the worker never reads on the agent's behalf
/// what the agent could not read itself, and never blocks on what it left.
public struct AgentFiles: Sendable {
    public let root: URL
    /// The agent's user id, when it has one of its own: files must be its.
    public let owner: UInt32?

    public init(root: URL, owner: UInt32?) {
        self.root = root
        self.owner = owner
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
        /// The file's size, when it was refused for being over the limit.
        public var oversize: Int? = nil
    }

    /// The bytes of `relative` (a path under `root`), or why not.
    public func read(_ relative: String, limit: Int) throws(Refused) -> Data {
        let fd = try open(relative, directory: false)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Refused(description: "\(relative): cannot stat it") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Refused(description: "\(relative) is not a regular file") }
        if let owner, info.st_uid != owner { throw Refused(description: "\(relative) is not the agent's own file") }
        guard info.st_size <= limit else {
            throw Refused(description: "\(relative) is \(info.st_size) bytes, over the \(limit) allowed", oversize: Int(info.st_size))
        }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while data.count <= limit {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        guard data.count <= limit else { throw Refused(description: "\(relative) grew past the \(limit) bytes allowed") }
        return data
    }

    /// The names in directory `relative` (nil when it is not a directory reached without links).
    public func list(_ relative: String) -> [String]? {
        guard let fd = try? open(relative, directory: true), let directory = fdopendir(fd) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether `relative` exists as a regular file reached without links.
    public func exists(_ relative: String) -> Bool {
        guard let fd = try? open(relative, directory: false) else { return false }
        defer { close(fd) }
        var info = stat()
        return fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Opens `relative` one component at a time, none of them a link. Non-blocking, so a
    /// FIFO opens at once (and is then refused as not a regular file).
    private func open(_ relative: String, directory: Bool) throws(Refused) -> Int32 {
        let components = relative.split(separator: "/").map(String.init)
        guard !components.contains(".."), !relative.hasPrefix("/") else { throw Refused(description: "\(relative) leaves its directory") }
        var fd = Glibc.open(root.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Refused(description: "\(root.path) cannot be opened") }
        for (index, component) in components.enumerated() where component != "." {
            let last = index == components.count - 1
            let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (last && !directory ? 0 : O_DIRECTORY)
            let next = openat(fd, component, flags)
            close(fd)
            guard next >= 0 else { throw Refused(description: "\(relative): \(String(cString: strerror(errno)))") }
            fd = next
        }
        return fd
    }
}
