import Crypto
import GRDB
import KumoCore
import KumoProtocols
import NIOCore
import NIOPosix
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Object bytes in files under `<data>/s3/objects/<ab>/<name>`.
///
/// Keys are never paths: a blob's name is random. A write goes to `tmp/`, is
/// fsynced and renamed into place before the metadata row that points at it is
/// committed, so a reader sees a whole object or none, and a crash leaves at most
/// an unreferenced file (removed at start-up). File I/O runs on NIO's thread pool, but for a
/// small body already in memory, written on the calling thread (`writeNow`).
final class BlobStore: Sendable {
    let root: String
    let syncWrites: Bool
    static let chunkSize = 1 << 20

    /// Small files of replaced objects, renamed to a fresh blob name in their own directory, to be
    /// written over by the next small write (see `retire`): their inode and blocks are reused
    /// instead of freed and allocated again, and that write needs no rename. No row refers to a
    /// spare's name, so no reader finds it, and one left by a crash is removed at start-up with
    /// the other unreferenced files.
    private let spares = Mutex<[(name: String, size: Int)]>([])
    static let maxSpares = 64
    /// Blobs open for reading, by name, with how many times: a replaced file someone still reads
    /// is never written over.
    private let reading = Mutex<[String: Int]>([:])

    var objectsDirectory: String { root + "/objects" }
    var tmpDirectory: String { root + "/tmp" }

    init(root: String, syncWrites: Bool = true) throws {
        self.root = root
        self.syncWrites = syncWrites
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/objects", withIntermediateDirectories: true)
        // Temp files of writes that never finished (kill -9 mid-upload) are garbage.
        try? fm.removeItem(atPath: root + "/tmp")
        try fm.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        // The 256 fan-out directories under objects/ are made on first use (see `placeFile`).
    }

    static func hex2(_ i: Int) -> String {
        let d = Array("0123456789abcdef")
        return String([d[i >> 4], d[i & 15]])
    }

    func path(_ name: String) -> String { objectsDirectory + "/" + name.prefix(2) + "/" + name }

    /// 32 hex digits, unique: a count of names made, mixed with two random words drawn once per
    /// process. SplitMix64's finalizer is a bijection, so the last 16 digits alone differ for every
    /// name a process makes; across runs the random words differ. No system call per name.
    static func newName() -> String {
        let n = nameCount.wrappingAdd(1, ordering: .relaxed).newValue
        let words = (mix(n ^ nameSeeds.0), mix(n &+ nameSeeds.1))
        return withUnsafeBytes(of: words) { Hashing.hex(Array($0)) }
    }

    /// A new name in the same `objects/<ab>/` directory as `name`.
    static func newName(beside name: String) -> String {
        String(name.prefix(2)) + newName().dropFirst(2)
    }

    private static let nameSeeds: (UInt64, UInt64) = {
        var rng = SystemRandomNumberGenerator()
        return (rng.next(), rng.next())
    }()
    private static let nameCount = Atomic<UInt64>(0)

    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// What a finished write produced.
    struct Written: Sendable {
        var name: String
        var size: Int64
        var md5: [UInt8]
        var checksums: [ChecksumAlgorithm: String]
    }

    /// Writes a stream to a new blob, computing its MD5 and the given checksums on the way.
    /// The file is created on the first flush, so a small object costs one trip to the I/O threads.
    func write(_ stream: ByteStream, checksums algorithms: [ChecksumAlgorithm], maxSize: Int64) async throws -> Written {
        if !syncWrites, let whole = stream.buffered, whole.readableBytes <= Self.inlineWriteLimit, Int64(whole.readableBytes) <= maxSize {
            return try writeNow(whole, checksums: algorithms)
        }
        let name = Self.newName()
        let tmp = tmpDirectory + "/" + name
        let file = TempFile(path: tmp)
        var md5 = Insecure.MD5()
        var hashers = algorithms.map { ChecksumHasher($0) }
        var size: Int64 = 0
        var pending = ByteBufferAllocator().buffer(capacity: Self.chunkSize)
        do {
            try await stream.forEach { chunk in
                size += Int64(chunk.readableBytes)
                guard size <= maxSize else {
                    throw AWSError(
                        code: "EntityTooLarge", message: "Your proposed upload exceeds the maximum allowed object size.",
                        fields: [.init("MaxSizeAllowed", String(maxSize))])
                }
                chunk.withUnsafeReadableBytes { bytes in
                    md5.update(bufferPointer: bytes)
                    for i in hashers.indices { hashers[i].update(bytes) }
                }
                var chunk = chunk
                pending.writeBuffer(&chunk)
                if pending.readableBytes >= Self.chunkSize {
                    let full = pending
                    pending = ByteBufferAllocator().buffer(capacity: Self.chunkSize)
                    try await Self.io { try file.append(full) }
                }
            }
            let rest = pending
            let sync = syncWrites
            let final = path(name)
            try await Self.io {
                try file.append(rest)
                try file.finish(sync: sync, renameTo: final)
            }
        } catch {
            file.discard()
            throw error
        }
        var sums: [ChecksumAlgorithm: String] = [:]
        for h in hashers { sums[h.algorithm] = h.base64() }
        return Written(name: name, size: size, md5: Array(md5.finalize()), checksums: sums)
    }

    /// The largest body `write` writes on the calling thread (an event loop) when it is already in
    /// memory and writes are not fsynced: creating, writing and renaming a small file takes a few
    /// system calls, fewer than the hop to NIO's I/O threads and back (as a small GET's read does).
    static let inlineWriteLimit = 64 << 10

    /// `write` of bytes in memory, on the calling thread.
    func writeNow(_ bytes: ByteBuffer, checksums algorithms: [ChecksumAlgorithm]) throws -> Written {
        var md5 = Insecure.MD5()
        var hashers = algorithms.map { ChecksumHasher($0) }
        bytes.withUnsafeReadableBytes { raw in
            md5.update(bufferPointer: raw)
            for i in hashers.indices { hashers[i].update(raw) }
        }
        let spare = spares.withLock { $0.popLast() }
        let name: String
        if let spare, overwrite(spare, with: bytes) {
            name = spare.name
        } else {
            if let spare { unlink(path(spare.name)) }
            name = Self.newName()
            let file = TempFile(path: tmpDirectory + "/" + name)
            do {
                try file.append(bytes)
                try file.finish(sync: syncWrites, renameTo: path(name))
            } catch {
                file.discard()
                throw error
            }
        }
        var sums: [ChecksumAlgorithm: String] = [:]
        for h in hashers { sums[h.algorithm] = h.base64() }
        return Written(name: name, size: Int64(bytes.readableBytes), md5: Array(md5.finalize()), checksums: sums)
    }

    /// Writes `bytes` over a spare file from its start and cuts what is left of its old bytes;
    /// false when any step failed (the caller removes the spare).
    private func overwrite(_ spare: (name: String, size: Int), with bytes: ByteBuffer) -> Bool {
        let fd = Glibc.open(path(spare.name), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        do { try Self.writeAll(fd, bytes) } catch { return false }
        return spare.size <= bytes.readableBytes || ftruncate(fd, off_t(bytes.readableBytes)) == 0
    }

    /// Takes the files of blobs no row refers to any more (an overwritten object), on the
    /// calling thread, after the commit (the writer's, or the event loop that wrote the row). A small one becomes a spare for
    /// the next small write, unless it is open for reading or has another name (a copy made with
    /// a hard link); the rest are removed. Creating and deleting a file per PUT costs the file
    /// system an inode allocated and freed (on ext4 also a scan past recently freed inodes).
    func retire(_ names: [String]) {
        for name in names {
            let from = path(name)
            guard !syncWrites, spares.withLock({ $0.count }) < Self.maxSpares else {
                unlink(from)
                continue
            }
            // A new name beside the old one: a rename within one directory.
            let spareName = Self.newName(beside: name)
            let spare = path(spareName)
            guard Glibc.rename(from, spare) == 0 else {
                unlink(from)
                continue
            }
            // Checked after the rename: a reader that opens the blob from now on finds no file,
            // and one that opened it before is counted in `reading` (it counts before it opens).
            var info = stat()
            guard stat(spare, &info) == 0, info.st_nlink == 1, info.st_size <= Self.inlineWriteLimit,
                reading.withLock({ $0[name] == nil })
            else {
                unlink(spare)
                continue
            }
            spares.withLock { $0.append((spareName, Int(info.st_size))) }
        }
    }

    /// How many spare files wait to be written over (for tests).
    var spareCount: Int { spares.withLock { $0.count } }

    /// Forgets the spare files (a reset removes every unreferenced file).
    func dropSpares() { spares.withLock { $0.removeAll() } }

    /// A file being written under `tmp/`; used from one task at a time (the writer's).
    final class TempFile: @unchecked Sendable {
        let path: String
        var fd: Int32 = -1

        init(path: String) { self.path = path }

        func append(_ buffer: ByteBuffer) throws {
            if fd < 0 {
                fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw BlobStore.posixError("open", path) }
            }
            try BlobStore.writeAll(fd, buffer)
        }

        func finish(sync: Bool, renameTo final: String) throws {
            if fd < 0 { try append(ByteBuffer()) }
            if sync { _ = fsync(fd) }
            Glibc.close(fd)
            fd = -1
            try BlobStore.placeFile(final) { Glibc.rename(path, final) == 0 ? 0 : errno }
        }

        func discard() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
            unlink(path)
        }
    }

    /// A new blob holding the given blobs one after the other (completing a multipart upload).
    func concatenate(_ names: [String], checksums algorithms: [ChecksumAlgorithm]) async throws -> (name: String, checksums: [ChecksumAlgorithm: String]) {
        let name = Self.newName()
        let tmp = tmpDirectory + "/" + name
        let sources = names.map(path)
        let final = path(name)
        let sync = syncWrites
        let sums = try await Self.io { () throws -> [ChecksumAlgorithm: String] in
            var hashers = algorithms.map { ChecksumHasher($0) }
            let out = Glibc.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard out >= 0 else { throw Self.posixError("open", tmp) }
            defer { Glibc.close(out) }
            var buffer = [UInt8](repeating: 0, count: Self.chunkSize)
            for source in sources {
                let input = Glibc.open(source, O_RDONLY | O_CLOEXEC)
                guard input >= 0 else { unlink(tmp); throw Self.posixError("open", source) }
                defer { Glibc.close(input) }
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
                    if n < 0 { unlink(tmp); throw Self.posixError("read", source) }
                    if n == 0 { break }
                    try buffer.withUnsafeBytes { all in
                        let bytes = UnsafeRawBufferPointer(rebasing: all[0..<n])
                        for i in hashers.indices { hashers[i].update(bytes) }
                        try Self.writeAll(out, bytes)
                    }
                }
            }
            if sync { _ = fsync(out) }
            try Self.placeFile(final) { Glibc.rename(tmp, final) == 0 ? 0 : errno }
            var sums: [ChecksumAlgorithm: String] = [:]
            for h in hashers { sums[h.algorithm] = h.base64() }
            return sums
        }
        return (name, sums)
    }

    /// A new name for the same bytes (blobs never change, so a hard link is a copy).
    func clone(_ name: String) async throws -> String {
        let copy = Self.newName()
        let from = path(name), to = path(copy)
        try await Self.io {
            try Self.placeFile(to) { Glibc.link(from, to) == 0 ? 0 : errno }
        }
        return copy
    }

    /// A new blob with `length` bytes of `name` from `offset` (UploadPartCopy with a range).
    func copyRange(_ name: String, offset: Int64, length: Int64, checksums: [ChecksumAlgorithm]) async throws -> Written {
        guard let (blob, first) = try await open(name, preload: offset, length: length) else {
            throw AWSError.internalFailure("The object's data is missing.")
        }
        return try await write(stream(blob, offset: offset, length: length, first: first), checksums: checksums, maxSize: .max)
    }

    /// An open blob; the file stays readable after an overwrite unlinks it (and is not reused as
    /// a spare while it is open).
    final class OpenBlob: Sendable {
        let fd: Int32
        let name: String
        let store: BlobStore
        init(fd: Int32, name: String, store: BlobStore) {
            self.fd = fd
            self.name = name
            self.store = store
        }
        deinit {
            Glibc.close(fd)
            store.closed(name)
        }
    }

    /// Opens a blob for reading, counted in `reading` from before the file is opened; nil when the
    /// file is gone (an overwrite committed in between).
    func openForReading(_ name: String) throws -> OpenBlob? {
        reading.withLock { $0[name, default: 0] += 1 }
        let p = path(name)
        let fd = Glibc.open(p, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let failure = errno
            closed(name)
            if failure == ENOENT { return nil }
            errno = failure
            throw Self.posixError("open", p)
        }
        return OpenBlob(fd: fd, name: name, store: self)
    }

    func closed(_ name: String) {
        reading.withLock { counts in
            if let n = counts[name], n > 1 { counts[name] = n - 1 } else { counts[name] = nil }
        }
    }

    /// Opens a blob and reads its first chunk from `offset` in the same trip to the I/O
    /// threads; nil when the file is gone (an overwrite committed in between).
    func open(_ name: String, preload offset: Int64 = 0, length: Int64 = 0) async throws -> (OpenBlob, ByteBuffer)? {
        try await Self.io { try self.openNow(name, preload: offset, length: length) }
    }

    /// `open` on the calling thread.
    func openNow(_ name: String, preload offset: Int64, length: Int64) throws -> (OpenBlob, ByteBuffer)? {
        guard let blob = try openForReading(name) else { return nil }
        return (blob, try Self.read(blob, at: offset, count: Int(min(Int64(Self.chunkSize), length))))
    }

    static func read(_ blob: OpenBlob, at offset: Int64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        guard count > 0 else { return buffer }
        let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { p -> Int in
            let n = pread(blob.fd, p.baseAddress, count, off_t(offset))
            guard n >= 0 else { throw Self.posixError("pread", "blob") }
            return n
        }
        guard n > 0 else { throw Self.posixError("pread (short file)", "blob") }
        return buffer
    }

    /// The bytes `offset..<offset+length` of an open blob, read as the consumer takes them;
    /// `first` is what `open` already read from `offset`.
    func stream(_ blob: OpenBlob, offset: Int64, length: Int64, first: ByteBuffer? = nil) -> ByteStream {
        ByteStream(length: length) { sink in
            var position = offset
            let end = offset + length
            if let first, first.readableBytes > 0 {
                position += Int64(first.readableBytes)
                try await sink(first)
            }
            while position < end {
                let want = Int(min(Int64(Self.chunkSize), end - position))
                let at = position
                let buffer = try await Self.io { try Self.read(blob, at: at, count: want) }
                position += Int64(buffer.readableBytes)
                try await sink(buffer)
            }
        }
    }

    /// Removes the files once the current transaction commits, on the writer's thread
    /// (no extra hop; nothing is removed when the transaction rolls back).
    func removeAfterCommit(_ names: [String], in db: Database) {
        guard !names.isEmpty else { return }
        let paths = names.map(path)
        db.afterNextTransaction { _ in for p in paths { unlink(p) } }
    }

    func remove(_ names: [String]) async {
        guard !names.isEmpty else { return }
        let paths = names.map(path)
        try? await Self.io { for p in paths { unlink(p) } }
    }

    /// Runs a rename or link that creates `final` under `objects/<ab>/`, making the
    /// fan-out directory when it is missing. `operation` returns 0 or an errno.
    static func placeFile(_ final: String, _ operation: () -> Int32) throws {
        var failure = operation()
        if failure == ENOENT {
            let dir = String(final[..<final.lastIndex(of: "/")!])
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw posixError("mkdir", dir) }
            failure = operation()
        }
        if failure != 0 {
            errno = failure
            throw posixError("rename", final)
        }
    }

    /// Deletes blobs no row refers to and that are older than `before` (a crash between
    /// writing a file and committing its row leaves them; newer ones may be in flight). Age is
    /// the inode's change time, which a rename sets: a spare made since `before` (an old file under
    /// a new name, about to be written over) is kept. The kernel stamps files from a clock that
    /// may lag by a tick (up to 10 ms), hence the margin.
    func removeUnreferenced(keeping referenced: Set<String>, before: Date) -> Int {
        let cutoff = before.timeIntervalSince1970 - 0.02
        var removed = 0
        let fm = FileManager.default
        for dir in (try? fm.contentsOfDirectory(atPath: objectsDirectory)) ?? [] {
            let path = objectsDirectory + "/" + dir
            for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where !referenced.contains(name) {
                var info = stat()
                guard stat(path + "/" + name, &info) == 0,
                    Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9 < cutoff
                else { continue }
                unlink(path + "/" + name)
                removed += 1
            }
        }
        return removed
    }

    static func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    static func writeAll(_ fd: Int32, _ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { try writeAll(fd, $0) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw posixError("write", "blob")
            }
            offset += n
        }
    }

    static func posixError(_ call: String, _ path: String) -> AWSError {
        AWSError.internalFailure("Storage error: \(call) \(path) failed (errno \(errno)).")
    }
}
