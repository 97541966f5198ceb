import KumoCore
import NIOCore
import Testing
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

@testable import KumoS3

/// Replaced small files are written over by the next small write, but never while someone reads
/// them or while another blob shares them (a hard-linked copy).
@Suite struct BlobStoreTests {
    let root: String
    let blobs: BlobStore

    init() throws {
        root = FileManager.default.temporaryDirectory.path + "/kumo-blobs-" + BlobStore.newName()
        blobs = try BlobStore(root: root, syncWrites: false)
    }

    func write(_ text: String) throws -> BlobStore.Written {
        try blobs.writeNow(ByteBuffer(string: text), checksums: [])
    }

    func contents(_ name: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: blobs.path(name)))).map { String(decoding: $0, as: UTF8.self) }
    }

    func inode(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    /// Every file under objects/, by name.
    func objectFiles() -> Set<String> {
        let fm = FileManager.default
        var names = Set<String>()
        for dir in (try? fm.contentsOfDirectory(atPath: blobs.objectsDirectory)) ?? [] {
            names.formUnion((try? fm.contentsOfDirectory(atPath: blobs.objectsDirectory + "/" + dir)) ?? [])
        }
        return names
    }

    @Test func aRetiredFileIsWrittenOverByTheNextSmallWrite() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let old = try write("a longer first version")
        let oldInode = inode(blobs.path(old.name))
        blobs.retire([old.name])
        #expect(contents(old.name) == nil)
        #expect(blobs.spareCount == 1)
        // The spare sits beside where the old file was, under a name no row has.
        let spare = try #require(objectFiles().first)
        #expect(objectFiles().count == 1 && spare.prefix(2) == old.name.prefix(2) && spare != old.name)
        let new = try write("short")
        #expect(new.name == spare)
        #expect(contents(new.name) == "short")  // the old bytes past the new end are cut
        #expect(inode(blobs.path(new.name)) == oldInode)
        #expect(blobs.spareCount == 0)
        #expect(objectFiles() == [new.name])
    }

    @Test func aSpareIsKeptByTheStartUpSweepButAnOldOrphanIsNot() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let orphan = try write("left by a crash")
        let kept = try write("still referenced")
        let old = try write("replaced")
        usleep(50_000)
        let started = Date()
        blobs.retire([old.name])  // after start: the rename makes the spare new
        #expect(blobs.removeUnreferenced(keeping: [kept.name], before: started) == 1)
        #expect(contents(orphan.name) == nil)
        #expect(contents(kept.name) == "still referenced")
        #expect(contents(try write("new").name) == "new")
        #expect(objectFiles().count == 2)
    }

    @Test func aFileOpenForReadingIsNotReused() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let old = try write("version one")
        let (reader, first) = try #require(try blobs.openNow(old.name, preload: 0, length: 11))
        #expect(String(buffer: first) == "version one")
        blobs.retire([old.name])
        #expect(blobs.spareCount == 0)
        let new = try write("VERSION TWO")
        #expect(contents(new.name) == "VERSION TWO")
        // The reader still reads the old bytes.
        #expect(String(buffer: try BlobStore.read(reader, at: 0, count: 11)) == "version one")
        withExtendedLifetime(reader) {}
    }

    @Test func aClosedReaderNoLongerHoldsTheFile() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let old = try write("version one")
        do {
            let opened = try blobs.openNow(old.name, preload: 0, length: 11)
            #expect(opened != nil)
        }
        blobs.retire([old.name])
        #expect(blobs.spareCount == 1)
    }

    @Test func aHardLinkedCopyIsNotReused() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let old = try write("shared bytes")
        let copy = try await blobs.clone(old.name)
        blobs.retire([old.name])
        #expect(blobs.spareCount == 0)
        _ = try write("other bytes!")
        #expect(contents(copy) == "shared bytes")
    }

    @Test func aMissingFileIsSkipped() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        blobs.retire(["00000000000000000000000000000000"])
        #expect(blobs.spareCount == 0)
        #expect(contents(try write("fine").name) == "fine")
    }
}
